"""Call history over the API: newest first, filtered, and scoped like the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from routing.models import CallRecord
from tests import factories as f
from tests.api_support import READ, assert_problem, bearer

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _call(n: int, **kw) -> CallRecord:
    data = dict(
        record_id=f"rec{n}",
        call_id=f"call-{n}@pbx",
        received_at=T0 + timedelta(minutes=n),
        source="127.0.0.1:5062",
        transport="UDP",
        trunk_name="loopback",
        ani="+493012345678",
        ani_source="pai-tel",
        status=302,
        targets=["sip:berlin@127.0.0.1:5070"],
        reason="device at site tower-a",
        anomalies=[],
        latency_us=150,
    )
    return CallRecord(**(data | kw))


def _estate_with_calls(session):
    est = f.estate(session)
    other_center = f.center(session, name="Elsewhere", sip_uris=["sip:else@127.0.0.1:5090"])
    far = f.site(session, name="Far", slug="far", day_center=other_center.id)
    far_dev = f.device(session, far.id, ani="+493099887766", kind="door_intercom")
    dev = est["device"]
    session.add_all(
        [
            _call(1, device_id=dev.id, site_id=est["site"].id, center_id=est["center"].id),
            _call(2, device_id=dev.id, site_id=est["site"].id, center_id=est["center"].id),
            _call(3, device_id=far_dev.id, site_id=far.id, center_id=other_center.id, ani="+493099887766"),
            _call(4, ani="+4989111222", center_id=est["center"].id, reason="unknown ANI"),
        ]
    )
    session.commit()
    return est, far, other_center


def test_admin_lists_calls_newest_first_with_filters(client, session) -> None:
    est, _far, _ = _estate_with_calls(session)
    auth = bearer(session, "admin", scopes=READ)
    body = client.get("/api/v1/calls", headers=auth).get_json()
    assert [c["call_id"] for c in body["items"]] == ["call-4@pbx", "call-3@pbx", "call-2@pbx", "call-1@pbx"]
    assert body["total"] == 4
    first = body["items"][-1]
    assert first["targets"] == ["sip:berlin@127.0.0.1:5070"] and first["ani_source"] == "pai-tel"
    by_device = client.get(f"/api/v1/calls?device={est['device'].id}", headers=auth).get_json()
    assert [c["call_id"] for c in by_device["items"]] == ["call-2@pbx", "call-1@pbx"]
    by_ani = client.get("/api/v1/calls?ani=030%2012345678", headers=auth).get_json()
    assert by_ani["total"] == 2
    since = client.get("/api/v1/calls?since=2026-11-26T03:03:00%2B00:00", headers=auth).get_json()
    assert [c["call_id"] for c in since["items"]] == ["call-4@pbx", "call-3@pbx"]


def test_manager_sees_own_sites_calls_only(client, session) -> None:
    est, far, _ = _estate_with_calls(session)
    auth = bearer(session, "fm", role="facility_manager", scopes=READ, sites=[est["site"].id])
    body = client.get("/api/v1/calls", headers=auth).get_json()
    assert [c["call_id"] for c in body["items"]] == ["call-2@pbx", "call-1@pbx"]
    far_call = session.scalars(select(CallRecord).where(CallRecord.site_id == far.id)).one()
    assert_problem(client.get(f"/api/v1/calls/{far_call.id}", headers=auth), 404)


def test_operator_sees_calls_of_own_center(client, session) -> None:
    _est, _far, other_center = _estate_with_calls(session)
    auth = bearer(session, "op", role="operator", scopes=READ, center=other_center.id)
    body = client.get("/api/v1/calls", headers=auth).get_json()
    assert [c["call_id"] for c in body["items"]] == ["call-3@pbx"]


def test_calls_need_a_token(client, session) -> None:
    _estate_with_calls(session)
    assert_problem(client.get("/api/v1/calls"), 401)


def test_times_must_be_iso_with_an_offset(client, session) -> None:
    auth = bearer(session, "admin", scopes=READ)
    for bad in ("0.5", "2026-11-26T03:00:00", "yesterday"):
        body = assert_problem(client.get(f"/api/v1/calls?until={bad}", headers=auth), 422)
        assert "until" in body["errors"]
