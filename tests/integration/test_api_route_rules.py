"""POST /api/v1/calls/route with the rules that need the call history or the rule tables: the
history comes from the ``calls`` table (repeat caller, flood), the rules from the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from registry.models import Device, DnisRule, NumberListEntry
from routing.models import CallRecord
from tests import factories as f
from tests.api_support import bearer

ROUTE = ("registry:read", "calls:route")


def _setup(session):
    est = f.estate(session)  # center "Berlin Control" by day and night, trunk "loopback"
    other = f.center(session, name="Night watch", sip_uris=["sip:night@127.0.0.1:5090"], languages=["de"])
    session.add_all(
        [
            DnisRule(
                number="+4930555900", line="test", priority="non-urgent", target_uri="sip:atu@127.0.0.1:5099"
            ),
            DnisRule(number="7777", line="intercom", priority="normal"),
            NumberListEntry(pattern="+493099990001", kind="block", reason="pranks"),
        ]
    )
    session.commit()
    return est, other, bearer(session, "pbx", scopes=ROUTE)


def _route(client, auth, **body):
    body = {"trunk": "loopback", "caller_id": body.get("ani"), **body}
    resp = client.post("/api/v1/calls/route", json=body, headers=auth)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def test_repeat_caller_goes_to_the_center_of_its_last_call(client, session) -> None:
    est, other, auth = _setup(session)
    dev = est["device"]
    # the night watch took this lift's call five minutes ago
    session.add(
        CallRecord(
            record_id="earlier",
            call_id="earlier@pbx",
            received_at=datetime.now(UTC) - timedelta(minutes=5),
            source="127.0.0.1:5062",
            transport="UDP",
            ani=dev.ani,
            device_id=dev.id,
            site_id=dev.site_id,
            center_id=other.id,
            status=302,
            latency_us=100,
        )
    )
    session.commit()
    d = _route(client, auth, ani=dev.ani, dnis="112")
    assert [t["uri"] for t in d["targets"]] == ["sip:night@127.0.0.1:5090", "sip:berlin@127.0.0.1:5070"]
    assert "repeat caller (last call 300 s ago went to) 'Night watch' first" in d["reason"]
    stored = session.get(CallRecord, d["call"])
    assert stored.center_id == other.id  # and the next call repeats from here


def test_a_test_call_reaches_the_test_receiver_and_moves_the_last_test_call(client, session) -> None:
    est, _other, auth = _setup(session)
    d = _route(client, auth, ani=est["device"].ani, dnis="030555900")
    assert (d["status"], d["test_call"], d["priority"], d["line"]) == (302, True, "non-urgent", "test")
    assert d["contact"] == "<sip:atu@127.0.0.1:5099>;q=1.0"
    assert d["targets"] == [
        {"center_id": None, "center": "test receiver", "uri": "sip:atu@127.0.0.1:5099", "q": 1.0}
    ]
    stored = session.get(CallRecord, d["call"])
    assert (stored.test_call, stored.line, stored.center_id) == (True, "test", None)


def test_a_blocklisted_caller_on_the_intercom_line_is_declined_and_recorded(client, session) -> None:
    _est, _other, auth = _setup(session)
    d = _route(client, auth, ani="+493099990001", dnis="7777")
    assert (d["status"], d["contact"], d["targets"]) == (603, "", [])
    assert [a["code"] for a in d["anomalies"]] == ["unknown_ani", "blocklisted"]
    assert session.get(CallRecord, d["call"]).status == 603
    # the same caller on the emergency line is routed, flagged
    d = _route(client, auth, ani="+493099990001", dnis="112")
    assert d["status"] == 302 and "blocklisted" in [a["code"] for a in d["anomalies"]]


def test_a_lift_calling_again_and_again_floods_from_the_fourth_call(client, session) -> None:
    est, _other, auth = _setup(session)
    floods = []
    for _ in range(4):
        d = _route(client, auth, ani=est["device"].ani, dnis="112")
        floods.append([a for a in d["anomalies"] if a["code"] == "call_flood"])
    assert floods[:3] == [[], [], []]
    assert floods[3] == [
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


def test_an_opted_in_trunk_adds_unknown_callers_as_pending_devices_via_the_recorder_only(
    client, session
) -> None:
    est, _other, auth = _setup(session)
    est["trunk"].pending_site_id = est["site"].id
    session.commit()
    d = _route(client, auth, ani="+493099990000", dnis="112")
    assert "added to site" in d["reason"] and d["status"] == 302
    # the HTTP path records the call and adds the device in the same transaction
    session.expire_all()
    pending = session.scalars(select(Device).where(Device.ani == "+493099990000")).one()
    assert (pending.status.value, pending.site_id) == ("pending", est["site"].id)
