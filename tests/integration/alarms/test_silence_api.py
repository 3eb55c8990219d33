"""The silences API: create (with its checks), list with filters, get, change the end or the reason,
end one now (the row kept, its suppressed alarms active again at once), each change logged; and who
may do what: admins anything, facility managers their sites' devices and sites, operators read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alarms.models import Alarm, Silence
from alarms.service import AlarmService
from registry.db import utcnow
from registry.models import ChangeLog
from tests import factories as f
from tests.api_support import assert_problem, bearer

ALARMS_RW = ("alarms:read", "alarms:write")


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    """Tower A (center Berlin, its lift phone on trunk loopback) and Far (center Elsewhere, a phone
    on trunk far-carrier)."""
    est = f.estate(session)
    other = f.center(session, name="Elsewhere", sip_uris=["sip:else@127.0.0.1:5090"])
    far = f.site(session, name="Far", slug="far", day_center=other.id, out_of_hours_center=other.id)
    far_trunk = f.trunk(session, name="far-carrier", source_addresses=["192.0.2.7"])
    far_phone = f.device(session, far.id, ani="+493099887766", kind="emergency_phone", trunk=far_trunk.id)
    session.commit()
    return est | {"other": other, "far": far, "far_trunk": far_trunk, "far_phone": far_phone}


@pytest.fixture
def ada(session: Session) -> dict[str, str]:
    return bearer(session, "ada", scopes=ALARMS_RW)


@pytest.fixture
def fay(session: Session, world: dict[str, Any]) -> dict[str, str]:
    return bearer(session, "fay", role="facility_manager", scopes=ALARMS_RW, sites=[world["site"].id])


def _create(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/silences", json=body, headers=headers)


def _fresh(body: dict[str, Any], key: str, since: datetime) -> None:
    at = datetime.fromisoformat(body[key])
    assert since - timedelta(seconds=1) <= at <= utcnow() + timedelta(seconds=1), (key, body[key])
    body[key] = "<now>"


def test_an_admin_creates_a_device_silence_starting_now(client, session, world, ada) -> None:
    ends = (utcnow() + timedelta(hours=4)).replace(microsecond=0)
    before = utcnow()
    dev = world["device"]
    resp = _create(
        client, ada, scope="device", target_id=dev.id, ends_at=ends.isoformat(), reason=" lift refurbishment "
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert resp.headers["Location"].endswith(f"/api/v1/silences/{body['id']}")
    _fresh(body, "starts_at", before)
    _fresh(body, "created_at", before)
    assert body == {
        "id": body["id"],
        "scope": "device",
        "target_id": dev.id,
        "starts_at": "<now>",
        "ends_at": iso(ends),
        "reason": "lift refurbishment",
        "created_by": "ada",
        "created_at": "<now>",
        "expired_at": None,
        "active": True,
    }
    got = client.get(f"/api/v1/silences/{body['id']}", headers=ada).get_json()
    assert (got["id"], got["reason"], got["active"]) == (body["id"], "lift refurbishment", True)
    log = session.scalars(select(ChangeLog).where(ChangeLog.object_type == "silence")).one()
    assert (log.action.value, log.object_id, log.actor, log.source) == ("create", body["id"], "ada", "api")
    assert log.after is not None and log.after["reason"] == "lift refurbishment"


def test_a_silence_is_checked_before_it_is_stored(client, session, world, ada) -> None:
    now = utcnow()
    dev = world["device"].id

    def errors(**body: Any) -> dict[str, str]:
        return assert_problem(_create(client, ada, **body), 422)["errors"]  # type: ignore[no-any-return]

    later = (now + timedelta(hours=2)).isoformat()
    assert errors(scope="device", target_id=dev, ends_at=later) == {"reason": "Field required"}
    assert errors(scope="device", target_id=dev, ends_at=later, reason="  ") == {
        "reason": "a silence needs a reason (for example: lift 3 refurbished, phone disconnected)"
    }
    assert errors(
        scope="device",
        target_id=dev,
        starts_at=later,
        ends_at=(now + timedelta(hours=1)).isoformat(),
        reason="x",
    ) == {"ends_at": "must be after starts_at"}
    assert errors(
        scope="device",
        target_id=dev,
        starts_at=(now - timedelta(hours=3)).isoformat(),
        ends_at=(now - timedelta(hours=1)).isoformat(),
        reason="x",
    ) == {"ends_at": "must be in the future"}
    assert errors(
        scope="device", target_id=dev, ends_at=(now + timedelta(days=32)).isoformat(), reason="x"
    ) == {"ends_at": "a silence lasts at most 31 days"}
    assert errors(scope="device", target_id=999999, ends_at=later, reason="x") == {
        "target_id": "no device 999999"
    }
    assert list(errors(scope="building", target_id=dev, ends_at=later, reason="x")) == ["scope"]
    assert list(errors(scope="device", target_id=dev, ends_at="2026-12-24 18:00", reason="x")) == ["ends_at"]
    assert session.scalars(select(Silence)).all() == []


def test_the_list_filters_by_active_scope_and_target(client, world, ada) -> None:
    now = utcnow()
    dev, site, trunk = world["device"].id, world["site"].id, world["far_trunk"].id
    later = (now + timedelta(hours=5)).isoformat()
    s_dev = _create(client, ada, scope="device", target_id=dev, ends_at=later, reason="a").get_json()["id"]
    s_site = _create(
        client,
        ada,
        scope="site",
        target_id=site,
        starts_at=(now + timedelta(hours=1)).isoformat(),
        ends_at=later,
        reason="b",
    ).get_json()["id"]
    s_trunk = _create(client, ada, scope="trunk", target_id=trunk, ends_at=later, reason="c").get_json()["id"]

    def ids(query: str = "") -> list[int]:
        resp = client.get(f"/api/v1/silences?{query}", headers=ada)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return [s["id"] for s in resp.get_json()["items"]]

    assert ids() == [s_site, s_trunk, s_dev]  # latest start first
    assert ids("active=true") == [s_trunk, s_dev]
    assert ids("active=false") == [s_site]  # planned, not in force yet
    assert ids("scope=trunk") == [s_trunk]
    assert ids(f"scope=device&target={dev}") == [s_dev]
    assert ids(f"target={site}&scope=site") == [s_site]


def test_changing_a_silence_moves_its_end_or_its_reason_only(client, session, world, ada) -> None:
    now = utcnow()
    sid = _create(
        client,
        ada,
        scope="site",
        target_id=world["site"].id,
        ends_at=(now + timedelta(hours=2)).isoformat(),
        reason="a",
    ).get_json()["id"]
    new_end = (now + timedelta(hours=6)).replace(microsecond=0)
    resp = client.patch(
        f"/api/v1/silences/{sid}",
        json={"ends_at": new_end.isoformat(), "reason": "longer works"},
        headers=ada,
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert (resp.get_json()["ends_at"], resp.get_json()["reason"]) == (iso(new_end), "longer works")
    body = assert_problem(client.patch(f"/api/v1/silences/{sid}", json={"scope": "device"}, headers=ada), 422)
    assert list(body["errors"]) == ["scope"]
    assert_problem(client.patch(f"/api/v1/silences/{sid}", json={"ends_at": None}, headers=ada), 422)
    past = assert_problem(
        client.patch(
            f"/api/v1/silences/{sid}", json={"ends_at": (now - timedelta(minutes=1)).isoformat()}, headers=ada
        ),
        422,
    )
    assert past["errors"] == {"ends_at": "must be in the future"}
    log = session.scalars(
        select(ChangeLog).where(ChangeLog.object_type == "silence", ChangeLog.action == "update")
    ).one()
    assert log.before is not None and log.after is not None
    assert (log.before["reason"], log.after["reason"]) == ("a", "longer works")


def test_ending_a_silence_keeps_it_and_wakes_its_suppressed_alarms_at_once(
    client, session, world, ada
) -> None:
    dev = world["device"]
    sid = _create(
        client,
        ada,
        scope="device",
        target_id=dev.id,
        ends_at=(utcnow() + timedelta(hours=2)).isoformat(),
        reason="works",
    ).get_json()["id"]
    call = f.lift_call(world)
    AlarmService().on_calls(session, [call])
    session.commit()
    alarm = session.scalars(select(Alarm)).one()
    assert (alarm.state.value, alarm.silence_id) == ("suppressed", sid)
    listed = client.get("/api/v1/alarms?active=true", headers=ada).get_json()
    assert listed["items"] == []  # suppressed: recorded, not shown as active

    before = utcnow()
    resp = client.delete(f"/api/v1/silences/{sid}", headers=ada)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    _fresh(body, "ends_at", before)
    _fresh(body, "expired_at", before)
    assert (body["active"], body["ends_at"], body["expired_at"]) == (False, "<now>", "<now>")
    assert session.get(Silence, sid) is not None  # the row is kept
    woken = client.get(f"/api/v1/alarms/{alarm.id}", headers=ada).get_json()
    assert (woken["state"], woken["silence_id"]) == ("active_unacknowledged", None)
    assert [(t["action"], t["to_state"], t["note"]) for t in woken["transitions"]] == [
        ("raise", "suppressed", f"in silence {sid}: works"),
        ("unsuppress", "active_unacknowledged", f"silence {sid} ended"),
    ]
    again = assert_problem(client.delete(f"/api/v1/silences/{sid}", headers=ada), 409)
    assert again["detail"] == f"silence {sid} has ended"
    assert_problem(client.patch(f"/api/v1/silences/{sid}", json={"reason": "x"}, headers=ada), 409)


def test_ending_a_planned_silence_means_it_never_starts(client, world, ada) -> None:
    now = utcnow()
    sid = _create(
        client,
        ada,
        scope="site",
        target_id=world["site"].id,
        starts_at=(now + timedelta(days=1)).isoformat(),
        ends_at=(now + timedelta(days=2)).isoformat(),
        reason="next week",
    ).get_json()["id"]
    body = client.delete(f"/api/v1/silences/{sid}", headers=ada).get_json()
    assert body["starts_at"] == body["ends_at"] and body["active"] is False


# ---- who may ------------------------------------------------------------------------------------


def test_a_facility_manager_silences_their_sites_devices_and_sites_only(client, world, fay) -> None:
    later = (utcnow() + timedelta(hours=2)).isoformat()
    assert (
        _create(
            client, fay, scope="device", target_id=world["device"].id, ends_at=later, reason="a"
        ).status_code
        == 201
    )
    assert (
        _create(client, fay, scope="site", target_id=world["site"].id, ends_at=later, reason="b").status_code
        == 201
    )
    other = assert_problem(
        _create(client, fay, scope="device", target_id=world["far_phone"].id, ends_at=later, reason="c"), 422
    )
    assert other["errors"] == {"target_id": f"no device {world['far_phone'].id}"}  # as if it did not exist
    trunk = assert_problem(
        _create(client, fay, scope="trunk", target_id=world["trunk"].id, ends_at=later, reason="d"), 403
    )
    assert trunk["detail"] == "only an administrator may silence a trunk (it serves other owners' sites too)"


def test_operators_read_the_silences_touching_their_centers_sites_and_plan_none(
    client, session, world, ada
) -> None:
    later = (utcnow() + timedelta(hours=2)).isoformat()
    mine = _create(
        client, ada, scope="device", target_id=world["device"].id, ends_at=later, reason="a"
    ).get_json()["id"]
    my_trunk = _create(
        client, ada, scope="trunk", target_id=world["trunk"].id, ends_at=later, reason="b"
    ).get_json()["id"]
    far = _create(client, ada, scope="site", target_id=world["far"].id, ends_at=later, reason="c").get_json()[
        "id"
    ]
    far_trunk = _create(
        client, ada, scope="trunk", target_id=world["far_trunk"].id, ends_at=later, reason="d"
    ).get_json()["id"]
    olga = bearer(session, "olga", role="operator", scopes=ALARMS_RW, center=world["center"].id)
    items = client.get("/api/v1/silences", headers=olga).get_json()["items"]
    assert sorted(s["id"] for s in items) == sorted([mine, my_trunk])  # the trunk her site's lift calls over
    assert client.get(f"/api/v1/silences/{mine}", headers=olga).status_code == 200
    assert_problem(client.get(f"/api/v1/silences/{far}", headers=olga), 404)
    assert_problem(client.get(f"/api/v1/silences/{far_trunk}", headers=olga), 404)
    refused = assert_problem(
        _create(client, olga, scope="device", target_id=world["device"].id, ends_at=later, reason="e"), 403
    )
    assert (
        refused["detail"]
        == "only facility managers and administrators plan silences; operators shelve an alarm"
    )
    assert_problem(client.delete(f"/api/v1/silences/{mine}", headers=olga), 403)
    assert_problem(client.patch(f"/api/v1/silences/{mine}", json={"reason": "x"}, headers=olga), 403)


def test_a_facility_manager_may_not_end_an_admins_trunk_silence_nor_see_other_sites(
    client, world, ada, fay
) -> None:
    later = (utcnow() + timedelta(hours=2)).isoformat()
    trunk = _create(
        client, ada, scope="trunk", target_id=world["trunk"].id, ends_at=later, reason="a"
    ).get_json()["id"]
    far = _create(client, ada, scope="site", target_id=world["far"].id, ends_at=later, reason="b").get_json()[
        "id"
    ]
    assert [s["id"] for s in client.get("/api/v1/silences", headers=fay).get_json()["items"]] == [trunk]
    assert_problem(client.delete(f"/api/v1/silences/{trunk}", headers=fay), 403)
    assert_problem(client.delete(f"/api/v1/silences/{far}", headers=fay), 404)


def test_a_read_only_alarm_token_may_not_plan_a_silence(client, session, world) -> None:
    viewer = bearer(session, "vic", scopes=("alarms:read",))
    later = (utcnow() + timedelta(hours=2)).isoformat()
    resp = _create(client, viewer, scope="device", target_id=world["device"].id, ends_at=later, reason="a")
    assert_problem(resp, 403)
    assert 'scope="alarms:write"' in resp.headers["WWW-Authenticate"]
    assert client.get("/api/v1/silences", headers=viewer).status_code == 200
