"""The alarms API: the list (filters, newest first, scoped by role), one alarm with its transitions,
each operator action with the alarm as it is after it (and its transition and event kept), the
refusals (409 for an action the state does not allow, 422, 403, 404) and the token scopes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alarms.models import Alarm, AlarmTransition
from alarms.service import AlarmService
from registry.accounts import create_token, create_user
from registry.db import utcnow
from registry.errors import ValidationFailed
from registry.events import CallRouted
from registry.outbox import head, read_events
from tests import factories as f
from tests.api_support import assert_problem, bearer
from tests.fakes import FakeClock

ALARMS_RW = ("alarms:read", "alarms:write")


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def clock() -> FakeClock:
    # the API acts in real time: the alarms were raised a few minutes ago
    return FakeClock(utcnow().replace(microsecond=0) - timedelta(minutes=10))


def _call(
    est: dict[str, Any], device: Any, site: Any, center: Any, at: datetime, n: int, **kw: Any
) -> CallRouted:
    values: dict[str, Any] = {
        "occurred_at": at,
        "call_id": f"call-{n}@pbx",
        "record_id": f"r{n}",
        "ani": device.ani,
        "device_id": device.id,
        "device_kind": device.kind.value,
        "site_id": site.id,
        "site_name": site.name,
        "trunk_id": est["trunk"].id,
        "center_id": center.id,
        "target_center_ids": (center.id,),
        "line": "emergency",
    }
    return CallRouted(**(values | kw))


@pytest.fixture
def world(session: Session, clock: FakeClock) -> dict[str, Any]:
    """Tower A (center Berlin) with a lift phone and a help point; Far (center Elsewhere) with an
    emergency phone. Four alarms: the lift's (latched), the help point's emergency and its
    out-of-hours call a minute later, and Far's emergency a minute after that."""
    est = f.estate(session)
    help_point = f.device(session, est["site"].id, ani="+493012345679", kind="car_park_help_point")
    other = f.center(session, name="Elsewhere", sip_uris=["sip:else@127.0.0.1:5090"])
    far = f.site(session, name="Far", slug="far", day_center=other.id, out_of_hours_center=other.id)
    far_phone = f.device(session, far.id, ani="+493099887766", kind="emergency_phone")
    session.commit()
    t0 = clock()
    site, center = est["site"], est["center"]
    AlarmService(clock).on_calls(
        session,
        [
            _call(est, est["device"], site, center, t0, 1, building="A", location="Lift 1"),
            _call(
                est,
                help_point,
                site,
                center,
                t0 + timedelta(minutes=1),
                2,
                anomalies=({"code": "out_of_hours", "evidence": {}},),
                reason="outside business hours",
            ),
            _call(est, far_phone, far, other, t0 + timedelta(minutes=2), 3),
        ],
    )
    session.commit()
    ids = {(a.kind.value, a.device_id): a.id for a in session.scalars(select(Alarm))}
    return est | {
        "t0": t0,
        "help_point": help_point,
        "other": other,
        "far": far,
        "far_phone": far_phone,
        "lift": ids[("lift_emergency", est["device"].id)],
        "help": ids[("emergency_call", help_point.id)],
        "hours": ids[("out_of_hours", help_point.id)],
        "far_alarm": ids[("emergency_call", far_phone.id)],
    }


@pytest.fixture
def admin_auth(session: Session) -> dict[str, str]:
    return bearer(session, "ada", scopes=ALARMS_RW)


@pytest.fixture
def olga(session: Session, world: dict[str, Any]) -> dict[str, str]:
    """An operator of Berlin, the center of Tower A's alarms."""
    return bearer(session, "olga", role="operator", scopes=ALARMS_RW, center=world["center"].id)


def _fresh(body: dict[str, Any], key: str, since: datetime) -> None:
    """``body[key]`` is a time between ``since`` and now; it becomes "<now>" for an exact comparison."""
    at = datetime.fromisoformat(body[key])
    assert since - timedelta(seconds=1) <= at <= utcnow() + timedelta(seconds=1), (key, body[key])
    body[key] = "<now>"


def lift_json(w: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The lift's alarm as the API shows it right after the call (``updated_at`` as "<now>")."""
    dev, t0 = w["device"], w["t0"]
    return {
        "id": w["lift"],
        "kind": "lift_emergency",
        "state": "active_unacknowledged",
        "severity": "critical",
        "event_type": "environmentalAlarm",
        "probable_cause": "emergencyCall",
        "specific_problem": "Emergency call from +493012345678 (Tower A, A, Lift 1)",
        "additional_text": "",
        "resource": f"device:{dev.id}",
        "latched": True,
        "center_id": w["center"].id,
        "device_id": dev.id,
        "site_id": w["site"].id,
        "trunk_id": w["trunk"].id,
        "call_id": "call-1@pbx",
        "first_at": iso(t0),
        "last_at": iso(t0),
        "count": 1,
        "ack_deadline_at": iso(t0 + timedelta(seconds=45)),
        "acked_at": None,
        "acked_by": "",
        "escalations": 0,
        "returned_at": None,
        "shelved_until": None,
        "silence_id": None,
        "inhibited_by_id": None,
        "closed_at": None,
        "updated_at": "<now>",
        "place": {
            "device_ani": "+493012345678",
            "device_kind": "elevator_phone",
            "site_name": "Tower A",
            "building": "A",
            "location": "Lift 1",
            "floor": "",
        },
    } | changes


RAISED = {
    "action": "raise",
    "from_state": None,
    "to_state": "active_unacknowledged",
    "by": "anigate",
    "note": "",
}


def _ids(resp: Any) -> list[int]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [a["id"] for a in resp.get_json()["items"]]


# ---- reading ------------------------------------------------------------------------------------


def test_an_admin_lists_every_alarm_newest_first_with_its_place(client, world, admin_auth) -> None:
    body = client.get("/api/v1/alarms", headers=admin_auth).get_json()
    w = world
    # by first occurrence, newest first; the help point's two alarms came with one call (id order)
    assert [a["id"] for a in body["items"]] == [w["far_alarm"], w["hours"], w["help"], w["lift"]]
    assert (body["total"], body["page"], body["per_page"]) == (4, 1, 50)
    lift = body["items"][-1]
    _fresh(lift, "updated_at", w["t0"])
    assert lift == lift_json(w)
    hours = body["items"][1]
    assert (hours["kind"], hours["severity"], hours["latched"], hours["additional_text"]) == (
        "out_of_hours",
        "minor",
        False,
        "outside business hours",
    )
    assert hours["place"] == {
        "device_ani": "+493012345679",
        "device_kind": "car_park_help_point",
        "site_name": "Tower A",
        "building": None,
        "location": None,
        "floor": None,
    }
    page2 = client.get("/api/v1/alarms?per_page=3&page=2", headers=admin_auth).get_json()
    assert [a["id"] for a in page2["items"]] == [w["lift"]] and page2["total"] == 4


def test_the_list_filters_by_state_severity_kind_site_center_device_and_time(
    client, session, world, admin_auth
) -> None:
    w = world
    AlarmService().acknowledge(session, f.ADMIN, w["lift"])  # -> latched
    AlarmService().clear(session, f.ADMIN, w["hours"])  # -> closed
    session.commit()

    def ids(query: str) -> list[int]:
        return _ids(client.get(f"/api/v1/alarms?{query}", headers=admin_auth))

    assert ids("state=latched") == [w["lift"]]
    assert ids("state=latched&state=closed") == [w["hours"], w["lift"]]
    assert ids("active=true") == [w["far_alarm"], w["help"], w["lift"]]  # latched is annunciated
    assert ids("active=false") == [w["hours"]]
    assert ids("active=true&state=active_unacknowledged") == [w["far_alarm"], w["help"]]
    assert ids("severity=minor") == [w["hours"]]
    assert ids("severity=critical&kind=emergency_call") == [w["far_alarm"], w["help"]]
    assert ids("kind=lift_emergency&kind=out_of_hours") == [w["hours"], w["lift"]]
    assert ids(f"site={w['far'].id}") == [w["far_alarm"]]
    assert ids(f"center={w['center'].id}") == [w["hours"], w["help"], w["lift"]]
    assert ids(f"device={w['help_point'].id}") == [w["hours"], w["help"]]
    one = quote_iso(w["t0"] + timedelta(minutes=1))
    assert ids(f"first_since={one}") == [w["far_alarm"], w["hours"], w["help"]]
    assert ids(f"first_until={one}") == [w["lift"]]
    assert ids(f"last_since={quote_iso(w['t0'] + timedelta(minutes=2))}") == [w["far_alarm"]]
    assert ids(f"last_until={one}&active=true") == [w["lift"]]
    assert ids(f"site={w['far'].id}&center={w['center'].id}") == []


def quote_iso(dt: datetime) -> str:
    return dt.isoformat().replace("+", "%2B")


def test_the_list_refuses_unknown_filters_and_values(client, world, admin_auth) -> None:
    body = assert_problem(client.get("/api/v1/alarms?state=open", headers=admin_auth), 422)
    assert list(body["errors"]) == ["state.0"]
    body = assert_problem(client.get("/api/v1/alarms?first_since=2026-12-01T03:00", headers=admin_auth), 422)
    assert body["errors"] == {
        "first_since": "Value error, needs a UTC offset, e.g. 2026-12-02T03:00:00+01:00"
    }
    assert_problem(client.get("/api/v1/alarms?colour=red", headers=admin_auth), 422)


def test_one_alarm_comes_with_its_transitions(client, world, admin_auth) -> None:
    resp = client.get(f"/api/v1/alarms/{world['lift']}", headers=admin_auth)
    assert resp.status_code == 200
    body = resp.get_json()
    _fresh(body, "updated_at", world["t0"])
    assert body == lift_json(world, transitions=[RAISED | {"at": iso(world["t0"])}])
    assert_problem(client.get("/api/v1/alarms/999999", headers=admin_auth), 404)


# ---- actions ------------------------------------------------------------------------------------


def test_acknowledging_the_lift_alarm_latches_it_and_keeps_the_transition_and_event(
    client, session, world, olga
) -> None:
    mark, before = head(session), utcnow()
    resp = client.post(
        f"/api/v1/alarms/{world['lift']}/acknowledge", json={"note": "on the phone"}, headers=olga
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    for key in ("updated_at", "acked_at"):
        _fresh(body, key, before)
    _fresh(body["transitions"][1], "at", before)
    acked = {
        "action": "acknowledge",
        "from_state": "active_unacknowledged",
        "to_state": "latched",
        "by": "olga",
        "at": "<now>",
        "note": "on the phone",
    }
    assert body == lift_json(
        world,
        state="latched",
        acked_at="<now>",
        acked_by="olga",
        transitions=[RAISED | {"at": iso(world["t0"])}, acked],
    )
    # the transition and the event are in the database, not only in the answer
    row = session.scalars(
        select(AlarmTransition)
        .where(AlarmTransition.alarm_id == world["lift"])
        .order_by(AlarmTransition.id.desc())
    ).first()
    assert row is not None and (row.action.value, row.by, row.note) == ("acknowledge", "olga", "on the phone")
    (ev,) = [e.event for e in read_events(session, after=mark)]
    assert (ev.type, ev.alarm_id, ev.state, ev.by) == ("alarm.acknowledged", world["lift"], "latched", "olga")  # type: ignore[attr-defined]
    # acknowledging it again is refused: the state does not allow it
    again = assert_problem(
        client.post(f"/api/v1/alarms/{world['lift']}/acknowledge", json={}, headers=olga), 409
    )
    assert again["detail"] == "an alarm that is latched (awaiting rescue ended) cannot be acknowledged"


def test_a_note_is_kept_without_changing_the_state_and_needs_text(client, world, olga) -> None:
    url = f"/api/v1/alarms/{world['help']}/notes"
    missing = assert_problem(client.post(url, json={}, headers=olga), 422)
    assert missing["errors"] == {"note": "Field required"}
    blank = assert_problem(client.post(url, json={"note": "   "}, headers=olga), 422)
    assert blank["errors"] == {"note": "a note needs some text"}
    body = client.post(url, json={"note": "caller says the barrier is stuck"}, headers=olga).get_json()
    assert body["state"] == "active_unacknowledged"
    assert [
        (t["action"], t["from_state"], t["to_state"], t["by"], t["note"]) for t in body["transitions"]
    ] == [
        ("raise", None, "active_unacknowledged", "anigate", ""),
        (
            "note",
            "active_unacknowledged",
            "active_unacknowledged",
            "olga",
            "caller says the barrier is stuck",
        ),
    ]


def test_clearing_a_latched_lift_alarm_is_refused_with_409_and_changes_nothing(
    client, session, world, olga
) -> None:
    body = assert_problem(client.post(f"/api/v1/alarms/{world['lift']}/clear", json={}, headers=olga), 409)
    assert body["detail"] == "a latched lift alarm closes on rescue ended or a reset with a reason"
    session.expire_all()
    assert session.get(Alarm, world["lift"]).state.value == "active_unacknowledged"  # type: ignore[union-attr]
    assert (
        len(session.scalars(select(AlarmTransition).where(AlarmTransition.alarm_id == world["lift"])).all())
        == 1
    )


def test_clearing_an_alarm_that_is_not_latched_closes_it(client, world, olga) -> None:
    before = utcnow()
    resp = client.post(
        f"/api/v1/alarms/{world['hours']}/clear", json={"note": "cleaner, known"}, headers=olga
    )
    body = resp.get_json()
    assert resp.status_code == 200 and body["state"] == "closed"
    _fresh(body, "closed_at", before)
    _fresh(body, "returned_at", before)
    assert (body["transitions"][-1]["action"], body["transitions"][-1]["note"]) == ("clear", "cleaner, known")
    assert_problem(client.post(f"/api/v1/alarms/{world['hours']}/clear", json={}, headers=olga), 409)


def test_a_reset_needs_a_reason_and_closes_a_latched_lift_alarm(client, world, olga) -> None:
    url = f"/api/v1/alarms/{world['lift']}/reset"
    missing = assert_problem(client.post(url, json={}, headers=olga), 422)
    assert missing["errors"] == {"reason": "Field required"}
    blank = assert_problem(client.post(url, json={"reason": " "}, headers=olga), 422)
    assert blank["errors"] == {
        "reason": "a reset needs a reason (for example: passengers freed by the fire brigade)"
    }
    client.post(f"/api/v1/alarms/{world['lift']}/acknowledge", json={}, headers=olga)
    before = utcnow()
    body = client.post(url, json={"reason": "passengers freed by the fire brigade"}, headers=olga).get_json()
    for key in ("updated_at", "acked_at", "returned_at", "closed_at"):
        _fresh(body, key, before - timedelta(seconds=5))
    for t in body["transitions"][1:]:
        _fresh(t, "at", before - timedelta(seconds=5))
    assert body["state"] == "closed"
    assert [
        (t["action"], t["from_state"], t["to_state"], t["by"], t["note"]) for t in body["transitions"]
    ] == [
        ("raise", None, "active_unacknowledged", "anigate", ""),
        ("acknowledge", "active_unacknowledged", "latched", "olga", ""),
        ("reset", "latched", "closed", "olga", "passengers freed by the fire brigade"),
    ]


def test_shelving_takes_minutes_or_an_end_and_is_time_limited(client, world, olga) -> None:
    url = f"/api/v1/alarms/{world['help']}/shelve"
    both = {"minutes": 30, "until": iso(utcnow() + timedelta(hours=1))}
    assert assert_problem(client.post(url, json=both, headers=olga), 422)["errors"] == {
        "until": "give either until or minutes"
    }
    assert_problem(client.post(url, json={"note": "x"}, headers=olga), 422)
    past = assert_problem(
        client.post(url, json={"until": iso(utcnow() - timedelta(minutes=1))}, headers=olga), 422
    )
    assert past["errors"] == {"until": "the end of the shelving must be in the future"}
    too_long = assert_problem(client.post(url, json={"minutes": 24 * 60 + 1}, headers=olga), 422)
    assert list(too_long["errors"]) == ["minutes"]
    before = utcnow()
    body = client.post(url, json={"minutes": 30, "note": "engineer on site"}, headers=olga).get_json()
    until = datetime.fromisoformat(body["shelved_until"])
    assert before + timedelta(minutes=30) <= until <= utcnow() + timedelta(minutes=30)
    assert body["state"] == "shelved"
    assert (body["transitions"][-1]["action"], body["transitions"][-1]["note"]) == (
        "shelve",
        "engineer on site",
    )
    # a shelved alarm is not acknowledged; with an explicit end it may be shelved again later
    assert_problem(client.post(f"/api/v1/alarms/{world['help']}/acknowledge", json={}, headers=olga), 409)
    other = f"/api/v1/alarms/{world['lift']}/shelve"
    end = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    assert client.post(other, json={"until": end.isoformat()}, headers=olga).get_json()[
        "shelved_until"
    ] == iso(end)


def test_an_action_body_must_be_a_json_object(client, world, olga) -> None:
    url = f"/api/v1/alarms/{world['lift']}/acknowledge"
    assert_problem(client.post(url, headers=olga), 422)
    assert_problem(client.post(url, json={"note": "x", "by": "someone else"}, headers=olga), 422)
    assert_problem(client.post(url, data="note", headers=olga | {"Content-Type": "text/plain"}), 415)


# ---- scoping ------------------------------------------------------------------------------------


def test_an_operator_of_another_center_neither_lists_nor_gets_nor_acts_on_an_alarm(
    client, session, world
) -> None:
    otto = bearer(session, "otto", role="operator", scopes=ALARMS_RW, center=world["other"].id)
    assert _ids(client.get("/api/v1/alarms", headers=otto)) == [world["far_alarm"]]
    assert_problem(client.get(f"/api/v1/alarms/{world['lift']}", headers=otto), 404)
    assert_problem(client.post(f"/api/v1/alarms/{world['lift']}/acknowledge", json={}, headers=otto), 404)
    body = client.post(f"/api/v1/alarms/{world['far_alarm']}/acknowledge", json={}, headers=otto).get_json()
    assert (body["state"], body["acked_by"]) == ("active_acknowledged", "otto")


def test_an_operator_sees_their_centers_alarms(client, world, olga) -> None:
    assert _ids(client.get("/api/v1/alarms", headers=olga)) == [world["hours"], world["help"], world["lift"]]
    assert_problem(client.get(f"/api/v1/alarms/{world['far_alarm']}", headers=olga), 404)


def test_a_facility_manager_reads_their_sites_alarms_but_may_not_act(client, session, world) -> None:
    fay = bearer(session, "fay", role="facility_manager", scopes=ALARMS_RW, sites=[world["site"].id])
    assert _ids(client.get("/api/v1/alarms", headers=fay)) == [world["hours"], world["help"], world["lift"]]
    assert client.get(f"/api/v1/alarms/{world['lift']}", headers=fay).status_code == 200
    assert_problem(client.get(f"/api/v1/alarms/{world['far_alarm']}", headers=fay), 404)
    body = assert_problem(
        client.post(f"/api/v1/alarms/{world['lift']}/acknowledge", json={}, headers=fay), 403
    )
    assert body["detail"] == "only security center operators and administrators act on alarms"
    session.expire_all()
    assert session.get(Alarm, world["lift"]).state.value == "active_unacknowledged"  # type: ignore[union-attr]


def test_an_admin_acts_on_any_alarm(client, world, admin_auth) -> None:
    body = client.post(
        f"/api/v1/alarms/{world['far_alarm']}/acknowledge", json={}, headers=admin_auth
    ).get_json()
    assert (body["state"], body["acked_by"]) == ("active_acknowledged", "ada")


# ---- token scopes -------------------------------------------------------------------------------


def test_a_registry_token_gets_insufficient_scope_on_alarms(client, session, world) -> None:
    reader = bearer(session, "rita", scopes=("registry:read", "registry:write"))
    resp = client.get("/api/v1/alarms", headers=reader)
    body = assert_problem(resp, 403)
    assert body["detail"] == "the token lacks the scope 'alarms:read'"
    assert (
        resp.headers["WWW-Authenticate"]
        == 'Bearer realm="anigate", error="insufficient_scope", scope="alarms:read"'
    )
    assert_problem(client.get(f"/api/v1/alarms/{world['lift']}", headers=reader), 403)
    assert_problem(client.get("/api/v1/silences", headers=reader), 403)
    assert_problem(client.get("/api/v1/alarm-rules", headers=reader), 403)


def test_a_read_only_alarm_token_may_not_act(client, session, world) -> None:
    viewer = bearer(session, "vic", role="operator", scopes=("alarms:read",), center=world["center"].id)
    assert _ids(client.get("/api/v1/alarms", headers=viewer)) == [
        world["hours"],
        world["help"],
        world["lift"],
    ]
    resp = client.post(f"/api/v1/alarms/{world['lift']}/acknowledge", json={}, headers=viewer)
    assert_problem(resp, 403)
    assert 'scope="alarms:write"' in resp.headers["WWW-Authenticate"]


def test_an_integration_account_may_not_hold_alarm_scopes(client, session, world) -> None:
    pbx = create_user(session, "pbx", "correct horse battery", "integration")
    with pytest.raises(ValidationFailed) as err:
        create_token(session, pbx, "pbx", ["calls:route", "alarms:read"])
    assert (
        err.value.errors["scopes"]
        == "an integration account's tokens carry only 'calls:route', not 'alarms:read'"
    )


def test_without_a_token_the_alarms_answer_401(client, world) -> None:
    resp = client.get("/api/v1/alarms")
    assert_problem(resp, 401)
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="anigate"'


def test_the_openapi_document_lists_the_alarm_endpoints(client) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    paths = {p: sorted(ops) for p, ops in doc["paths"].items() if "alarm" in p or "silence" in p}
    assert paths == {
        "/api/v1/alarms": ["get"],
        "/api/v1/alarms/{id}": ["get"],
        "/api/v1/alarms/{id}/acknowledge": ["post"],
        "/api/v1/alarms/{id}/notes": ["post"],
        "/api/v1/alarms/{id}/clear": ["post"],
        "/api/v1/alarms/{id}/reset": ["post"],
        "/api/v1/alarms/{id}/shelve": ["post"],
        "/api/v1/silences": ["get", "post"],
        "/api/v1/silences/{id}": ["delete", "get", "patch"],
        "/api/v1/alarm-rules": ["get"],
        "/api/v1/alarm-rules/{trigger}/{device_kind}": ["delete", "put"],
    }
    clear = doc["paths"]["/api/v1/alarms/{id}/clear"]["post"]
    assert clear["security"] == [{"bearerAuth": []}]
    assert "409" in clear["responses"] and "application/problem+json" in clear["responses"]["409"]["content"]
