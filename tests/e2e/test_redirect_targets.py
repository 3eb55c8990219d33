"""A registry row holding a URI no 302 may carry (inserted behind the cleaners' back) never reaches
the wire: the real worker's 302 over UDP and TCP carries the next target, or is a 480."""

from __future__ import annotations

import re

from sqlalchemy import update

from registry.models import Device, DnisRule, SecurityCenter
from tests import factories as f
from tests.e2e.conftest import start_worker
from tests.e2e.siptools import header, invite, status_line, tcp_exchange, udp_exchange

SEEN = "sip:a@127.0.0.1\x01\x7f\x1bX\u200b?X-Evil=1&Route=%3Csip:evil@198.51.100.66%3E"
HEADERS = "sip:tech@127.0.0.1:5090?Route=%3Csip:evil@198.51.100.66%3E"


def test_a_raw_bad_row_never_appears_in_a_302(estate_db, worker_env, tmp_path) -> None:
    o = estate_db.objects
    with estate_db.factory() as s:
        rule = f.dnis_rule(s, number="+493023905099", line="test", target_uri="sip:rx@127.0.0.1:5095")
        s.commit()
        s.execute(
            update(SecurityCenter)
            .where(SecurityCenter.id == o["berlin"].id)
            .values(sip_uris=[SEEN, "sip:berlin-backup@127.0.0.1:5071"])
        )
        s.execute(
            update(Device)
            .where(Device.id == o["intercom"].id)
            .values(status="maintenance", maintenance_contact=HEADERS)
        )
        s.execute(update(DnisRule).where(DnisRule.id == rule.id).values(target_uri="sip:rx@127.0.0.1\u200b"))
        s.commit()
    w = start_worker(worker_env, tmp_path / "w.log")
    try:
        # the lift: Berlin's first URI is unusable, so its backup is first, then London
        for transport in ("UDP", "TCP", "UDP"):
            msg = invite(w.port)
            resp = udp_exchange(w.port, msg) if transport == "UDP" else tcp_exchange(w.port, msg)[0]
            assert status_line(resp) == "SIP/2.0 302 Moved Temporarily"
            assert header(resp, "Contact") == (
                "<sip:berlin-backup@127.0.0.1:5071>;q=1.0, <sip:london@127.0.0.1:5080>;q=0.9"
            )
            assert re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\xff]", resp) is None
            assert b"Evil" not in resp and b"Route" not in resp
        # the intercom in maintenance: its contact is unusable, the site has none: the centers
        msg = invite(w.port, ani_headers=("P-Asserted-Identity: <tel:+493023905601>",))
        resp = udp_exchange(w.port, msg)
        assert status_line(resp) == "SIP/2.0 302 Moved Temporarily"
        assert header(resp, "Contact").startswith("<sip:berlin-backup@127.0.0.1:5071>;q=1.0")
        # a test call to a line whose receiver is unusable, with no other receiver: 480
        resp = udp_exchange(w.port, invite(w.port, uri=f"sip:+493023905099@127.0.0.1:{w.port}"))
        assert status_line(resp) == "SIP/2.0 480 Temporarily Unavailable"
        assert header(resp, "Contact") is None
    finally:
        w.stop()
    log = w.log()
    # logged once per snapshot (one snapshot here), not once per call
    assert log.count("left out of redirects") == 3, log[-3000:]
    assert log.count(f"center {o['berlin'].id} sip_uris left out of redirects: control character U+0001") == 1
    assert f"device {o['intercom'].id} maintenance_contact left out of redirects: URI headers" in log
    assert f"DNIS rule {rule.id} target_uri left out of redirects: non-ASCII character U+200B" in log
