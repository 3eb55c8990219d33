"""Registry rows holding a URI no 302 may carry (written before the cleaners checked them, or behind
their back) are left out of the snapshot, logged once per snapshot, and calls go to the next target."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import update

from registry.models import Device, DnisRule, SecurityCenter, Site
from routing.policy import CallFacts, decide
from routing.snapshot import SnapshotOptions, load_snapshot
from tests import factories as f

SEEN = "sip:a@127.0.0.1\x01\x7f\x1bX\u200b?X-Evil=1&Route=%3Csip:evil@198.51.100.66%3E"
HEADERS = "sip:tech@127.0.0.1:5090?Route=%3Csip:evil@198.51.100.66%3E"
AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_bad_targets_in_raw_rows_never_reach_a_decision(session, caplog) -> None:
    berlin = f.center(
        session, name="Berlin", sip_uris=["sip:berlin@127.0.0.1:5070", "sip:berlin-backup@127.0.0.1:5071"]
    )
    london = f.center(session, name="London", sip_uris=["sip:london@127.0.0.1:5080"], languages=["en"])
    site = f.site(session, day_center=berlin.id, out_of_hours_center=london.id)
    trunk = f.trunk(session)
    lift = f.device(session, site.id, trunk=trunk.id, status="maintenance")
    rule = f.dnis_rule(session, number="+493023905099", line="test", target_uri="sip:rx@127.0.0.1:5095")
    session.commit()
    # behind the cleaners' back, as an old row or a hand-made SQL fix would be
    session.execute(
        update(SecurityCenter)
        .where(SecurityCenter.id == berlin.id)
        .values(sip_uris=[SEEN, "sip:berlin-backup@127.0.0.1:5071"])
    )
    session.execute(
        update(SecurityCenter).where(SecurityCenter.id == london.id).values(sip_uris=["sip:a b@h"])
    )
    session.execute(update(Device).where(Device.id == lift.id).values(maintenance_contact=HEADERS))
    session.execute(
        update(Site).where(Site.id == site.id).values(maintenance_contact="sip:facility@127.0.0.1:5091")
    )
    session.execute(update(DnisRule).where(DnisRule.id == rule.id).values(target_uri="sip:rx@127.0.0.1\x7f"))
    session.commit()

    with caplog.at_level(logging.WARNING, logger="routing.snapshot"):
        snap = load_snapshot(session, SnapshotOptions(default_center="London"))
    warnings = sorted(r.getMessage() for r in caplog.records if r.name == "routing.snapshot")
    assert warnings == [  # each once
        f"DNIS rule {rule.id} target_uri left out of redirects: "
        "control character U+007F in a SIP URI: 'sip:rx@127.0.0.1\\x7f'",
        f"center {berlin.id} sip_uris left out of redirects: control character U+0001 in a SIP URI: {SEEN!r}",
        f"center {london.id} sip_uris left out of redirects: white space in a SIP URI: 'sip:a b@h'",
        f"device {lift.id} maintenance_contact left out of redirects: "
        f"URI headers (?...) are not allowed in a redirect target: {HEADERS!r}",
    ]
    assert snap.centers[berlin.id].uris == ("sip:berlin-backup@127.0.0.1:5071",)
    assert snap.centers[london.id].uris == ()
    assert snap.devices[lift.ani].maintenance_contact == ""
    assert snap.dnis[rule.number].target_uri == ""

    # a device in maintenance: its own bad contact is skipped for the site's, then the good centers
    call = decide(snap, CallFacts(lift.ani, AT, ani_verified=True, trunk=snap.trunks[trunk.id]))
    assert call.contacts() == [
        ("sip:facility@127.0.0.1:5091", 1.0),
        ("sip:berlin-backup@127.0.0.1:5071", 0.9),
    ]
    # a test call whose line's receiver is unusable, and no other receiver: 480, never the bad URI
    test = decide(snap, CallFacts(lift.ani, AT, ani_verified=True, dnis="+493023905099"))
    assert (test.status, test.contacts()) == (480, [])


def test_a_bad_test_receiver_setting_is_left_out_too(session, caplog) -> None:
    f.center(session)
    session.commit()
    with caplog.at_level(logging.WARNING, logger="routing.snapshot"):
        snap = load_snapshot(session, SnapshotOptions(test_receiver="sip:rx@127.0.0.1?Route=%3Csip:x@y%3E"))
    assert snap.test_receiver is None
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["test receiver left out of redirects"]
