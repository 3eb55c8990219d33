"""The routing rules over real SIP: a repeat caller stays with its center across a registry change,
test calls reach the test receiver and move the device's last test call, a blocklisted stranger on
the intercom line gets 603 Decline, and a lift calling again and again is recorded as a flood."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app import create_app
from config import Settings
from registry.models import Device, DnisRule, NumberListEntry, Trunk
from routing.models import CallRecord
from tests.api_support import bearer
from tests.e2e.siptools import header, invite, status_line, udp_exchange

LIFT, INTERCOM, PRANKSTER = "+493012345678", "+493023905601", "+493099990001"


@pytest.fixture
def worker_env(worker_env: dict[str, str], estate_db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with estate_db.factory() as s:
        s.add_all(
            [
                DnisRule(number="7777", line="intercom", priority="normal"),
                NumberListEntry(pattern=PRANKSTER, kind="block", reason="pranks at the gate"),
            ]
        )
        s.get(Trunk, estate_db.objects["loop"].id).test_call_marker = "X-Alarm-Type: test"
        s.commit()
    return worker_env | {"ANIGATE_TEST_RECEIVER": "sip:atu@127.0.0.1:5099"}


def _call(port: int, ani: str, *, uri: str | None = None, extra: tuple[str, ...] = ()) -> bytes:
    msg = invite(
        port, ani_headers=(f"P-Asserted-Identity: <tel:{ani}>",), from_user=ani, uri=uri, extra=extra
    )
    resp = udp_exchange(port, msg)
    assert resp is not None
    return resp


def _stored(estate_db, call_id: str, timeout: float = 10.0) -> CallRecord:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        with estate_db.factory() as s:
            row = s.scalars(select(CallRecord).where(CallRecord.call_id == call_id)).first()
            if row is not None:
                s.expunge(row)
                return row
        assert time.monotonic() < deadline, f"call {call_id} not recorded"
        time.sleep(0.1)


def test_a_repeat_caller_stays_with_the_center_of_its_last_call(worker, estate_db, tmp_path) -> None:
    assert header(_call(worker.port, LIFT), "Contact").startswith("<sip:berlin@")
    app = create_app(
        Settings.from_env(
            {}, database_url=estate_db.url, instance_dir=tmp_path / "web", secret_key="t", demo=False
        )
    )
    with estate_db.factory() as s:
        auth = bearer(s, "admin")
    site_id, london = estate_db.objects["site"].id, estate_db.objects["london"].id
    resp = app.test_client().patch(f"/api/v1/sites/{site_id}", json={"day_center": london}, headers=auth)
    assert resp.status_code == 200
    app.extensions["anigate"].close()
    time.sleep(2.5)  # the worker sees a change within 2 s (tests/e2e/test_registry_changes.py)
    # a device that has not called goes to the new day center ...
    assert header(_call(worker.port, INTERCOM), "Contact").startswith("<sip:london@127.0.0.1:5080>;q=1.0")
    # the lift called minutes ago: the responder who took that call takes this one
    assert header(_call(worker.port, LIFT), "Contact") == (
        "<sip:berlin@127.0.0.1:5070>;q=1.0, <sip:berlin-backup@127.0.0.1:5071>;q=0.9, "
        "<sip:london@127.0.0.1:5080>;q=0.8"
    )


def test_a_marked_test_call_reaches_the_test_receiver_and_moves_the_last_test_call(worker, estate_db) -> None:
    resp = _call(worker.port, LIFT, extra=("X-Alarm-Type: TEST",))
    assert status_line(resp) == "SIP/2.0 302 Moved Temporarily"
    assert header(resp, "Contact") == "<sip:atu@127.0.0.1:5099>;q=1.0"
    row = _stored(estate_db, header(resp, "Call-ID"))
    assert (row.test_call, row.priority, row.center_id) == (True, "non-urgent", None)
    deadline = time.monotonic() + 5
    while True:
        with estate_db.factory() as s:
            tested = s.get(Device, estate_db.objects["lift"].id).last_test_call_at
        if tested is not None:
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert abs(tested.timestamp() - row.received_at.timestamp()) < 0.001


def test_a_blocklisted_stranger_on_the_intercom_line_gets_603(worker, estate_db) -> None:
    resp = _call(worker.port, PRANKSTER, uri=f"sip:7777@127.0.0.1:{worker.port}")
    assert status_line(resp) == "SIP/2.0 603 Decline"
    assert header(resp, "Contact") is None
    row = _stored(estate_db, header(resp, "Call-ID"))
    assert row.status == 603 and [a["code"] for a in row.anomalies] == ["unknown_ani", "blocklisted"]
    # the same stranger calling the emergency line is never turned away
    assert status_line(_call(worker.port, PRANKSTER)) == "SIP/2.0 302 Moved Temporarily"
    # and a registered intercom on the intercom line is routed
    resp = _call(worker.port, INTERCOM, uri=f"sip:7777@127.0.0.1:{worker.port}")
    assert status_line(resp) == "SIP/2.0 302 Moved Temporarily"


def test_a_lift_calling_four_times_in_ten_minutes_is_a_critical_flood(worker, estate_db) -> None:
    ids = [header(_call(worker.port, LIFT), "Call-ID") for _ in range(4)]
    rows = [_stored(estate_db, i) for i in ids]
    assert [[a["code"] for a in r.anomalies] for r in rows[:3]] == [[], [], []]
    assert rows[3].anomalies == [
        {
            "code": "call_flood",
            "severity": "critical",
            "evidence": {
                "scope": "ani",
                "calls": 4,
                "max_calls": 3,
                "window_seconds": 600,
                "effect": "urgent",
            },
        }
    ]
    assert rows[3].priority == "emergency"
