"""load_snapshot reads business hours, holidays, device schedules and expected trunks from the
registry, so decide() routes by the hour and flags anomalies without touching the database."""

from __future__ import annotations

from datetime import UTC, datetime

from routing.policy import CallFacts, decide
from routing.snapshot import SnapshotOptions, load_snapshot
from tests import factories as f


def test_snapshot_carries_schedules_holidays_and_trunks(session) -> None:
    day = f.center(session, name="Day", sip_uris=["sip:day@127.0.0.1:5070"], languages=["de"])
    night = f.center(session, name="Night", sip_uris=["sip:night@127.0.0.1:5080"], languages=["en"])
    office = f.schedule(session, holidays=["2026-12-25"])
    always = f.schedule(
        session,
        name="help point",
        windows=[{"days": [0, 1, 2, 3, 4, 5, 6], "start": "06:00", "end": "22:00"}],
    )
    site = f.site(
        session,
        day_center=day.id,
        out_of_hours_center=night.id,
        business_hours=office.id,
        holidays=["2026-12-24"],
    )
    carrier = f.trunk(session)
    other = f.trunk(session, name="other", source_addresses=["127.0.0.9"])
    device = f.device(session, site.id, trunk=carrier.id, active_schedule=always.id, kind="door_intercom")
    session.commit()

    snap = load_snapshot(session, SnapshotOptions(default_center="Day"))
    entry = snap.devices[device.ani]
    assert (entry.trunk_id, entry.active_schedule_id) == (carrier.id, always.id)
    trunk = snap.trunks[carrier.id]

    def call(at: str, via: int = carrier.id) -> list[str]:
        instant = datetime.fromisoformat(at).replace(tzinfo=UTC)
        d = decide(snap, CallFacts(device.ani, instant, ani_verified=True, trunk=snap.trunks[via]))
        return [t.center_name for t in d.targets] + [a.code for a in d.anomalies]

    assert trunk.name == "loopback"
    assert call("2026-11-25T10:00") == ["Day", "Night"]  # Wednesday 11:00 CET
    assert call("2026-11-25T18:00") == ["Night", "Day"]  # 19:00 CET
    assert call("2026-12-24T10:00") == ["Night", "Day"]  # the site's holiday
    assert call("2026-12-25T10:00") == ["Night", "Day"]  # the schedule's holiday
    assert call("2026-11-25T22:00") == ["Night", "Day", "out_of_hours"]  # 23:00: outside the device's hours
    assert call("2026-11-25T10:00", other.id) == ["Day", "Night", "wrong_trunk"]
