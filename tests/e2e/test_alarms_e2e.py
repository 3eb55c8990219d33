"""Over real SIP: a registered lift phone calls (sipp), and within 2 s the worker's recorder has raised
an active, unacknowledged ``lift_emergency`` naming the device and its place, with the outbox holding
the call's ``CallRouted`` and then its ``AlarmRaised``."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from alarms.models import Alarm, AlarmTransition
from alarms.service import AlarmService
from app import create_app
from config import Settings
from registry.accounts import create_token, create_user
from registry.actors import Actor
from registry.outbox import read_events
from registry.services import create_object, update_object
from tests import factories as f
from tests.e2e.sipp import run_sipp

ADMIN = f.ADMIN


@pytest.fixture
def lift_place(estate_db):  # type: ignore[no-untyped-def]
    """The e2e estate's lift phone hangs in cabin 'Lift 1', North core, floor 12."""
    with estate_db.factory() as s:
        loc = create_object(
            s,
            ADMIN,
            "location",
            {
                "site": estate_db.objects["site"].id,
                "kind": "elevator_cabin",
                "name": "Lift 1",
                "building": "North core",
                "floor": "12",
                "camera_ref": "cam-17",
            },
        )
        update_object(s, ADMIN, "device", estate_db.objects["lift"].id, {"location": loc.id})
        s.commit()
    return loc


@pytest.fixture
def web_app(estate_db, tmp_path):  # type: ignore[no-untyped-def]
    """The web app of this database, as `make run` serves it."""
    app = create_app(
        settings=Settings.from_env({}, database_url=estate_db.url, instance_dir=tmp_path / "web", demo=False)
    )
    yield app
    app.extensions["anigate"].close()


def test_a_lift_call_raises_a_lift_emergency_within_2_s_after_its_call_routed(
    lift_place, estate_db, worker, web_app, tmp_path
) -> None:
    with estate_db.factory() as s:
        operator = create_user(
            s, "olga", "correct horse battery", "operator", center=estate_db.objects["berlin"].id
        )
        _, secret = create_token(s, operator, "console", ["alarms:read"])
        s.commit()
    client = web_app.test_client()  # asked by an operator of the center
    result = run_sipp(
        tmp_path,
        worker.port,
        headers=["P-Asserted-Identity: <tel:+493012345678>"],
    )
    answered = time.monotonic()
    assert result.returncode == 0, result.output + worker.log()[-2000:]
    (call_id,) = result.values("ANSWERED")
    lift = estate_db.objects["lift"]

    shown = None
    while time.monotonic() - answered < 2.0 and shown is None:
        body = client.get(
            "/api/v1/alarms?active=true", headers={"Authorization": f"Bearer {secret}"}
        ).get_json()
        shown = next((a for a in body["items"] if a["call_id"] == call_id), None)
        if shown is None:
            time.sleep(0.05)
    assert shown is not None, f"the API showed no alarm within 2 s of the 302: {body}"
    assert (shown["kind"], shown["state"], shown["severity"], shown["latched"]) == (
        "lift_emergency",
        "active_unacknowledged",
        "critical",
        True,
    )
    assert (shown["device_id"], shown["site_id"], shown["center_id"]) == (
        lift.id,
        estate_db.objects["site"].id,
        estate_db.objects["berlin"].id,
    )
    assert shown["place"] == {
        "device_ani": "+493012345678",
        "device_kind": "elevator_phone",
        "site_name": "Tower A",
        "building": "North core",
        "location": "Lift 1",
        "floor": "12",
    }
    assert (
        shown["specific_problem"]
        == "Emergency call from +493012345678 (Tower A, North core, Lift 1, floor 12)"
    )
    with estate_db.factory() as s:
        alarm = s.get(Alarm, shown["id"])
    assert alarm is not None

    with estate_db.factory() as s:
        events = [e for e in read_events(s, limit=10_000) if getattr(e.event, "call_id", None) == call_id]
    assert [e.event.type for e in events] == ["call.routed", "alarm.raised"]
    routed, raised = (e.event for e in events)
    assert (routed.device_id, routed.building, routed.location, routed.floor, routed.camera_ref) == (  # type: ignore[attr-defined]
        lift.id,
        "North core",
        "Lift 1",
        "12",
        "cam-17",
    )
    assert (raised.alarm_id, raised.building, raised.location, raised.floor) == (  # type: ignore[attr-defined]
        alarm.id,
        "North core",
        "Lift 1",
        "12",
    )
    assert events[0].seq < events[1].seq


def _wait_for(factory, check, timeout: float = 3.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        with factory() as s:
            value = check(s)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.fixture
def rescue_marker(estate_db):  # type: ignore[no-untyped-def]
    with estate_db.factory() as s:
        update_object(
            s,
            ADMIN,
            "trunk",
            estate_db.objects["loop"].id,
            {"rescue_ended_marker": "X-Alarm-Type: rescue-ended"},
        )
        s.commit()


def test_the_lifts_rescue_ended_call_closes_its_acknowledged_lift_alarm(
    rescue_marker, lift_place, estate_db, worker, tmp_path
) -> None:
    pai = "P-Asserted-Identity: <tel:+493012345678>"
    first = run_sipp(tmp_path, worker.port, headers=[pai])
    assert first.returncode == 0, first.output
    (call_id,) = first.values("ANSWERED")
    alarm = _wait_for(
        estate_db.factory, lambda s: s.scalars(select(Alarm).where(Alarm.call_id == call_id)).first()
    )
    assert alarm is not None and alarm.state.value == "active_unacknowledged"
    with estate_db.factory() as s:
        AlarmService().acknowledge(s, Actor.system("test", "olga"), alarm.id)
        s.commit()

    # the technician's "rescue ended" from the lift phone: routed as any call, and it closes the alarm
    done = run_sipp(tmp_path, worker.port, headers=[pai, "X-Alarm-Type: rescue-ended"])
    assert done.returncode == 0, done.output
    closed = _wait_for(
        estate_db.factory,
        lambda s: s.scalars(select(Alarm).where(Alarm.id == alarm.id, Alarm.state == "closed")).first(),
    )
    assert closed is not None, worker.log()[-3000:]
    with estate_db.factory() as s:
        assert s.scalar(select(func.count()).select_from(Alarm)) == 1  # the rescue call raised nothing
        notes = [
            t.action.value
            for t in s.scalars(select(AlarmTransition).where(AlarmTransition.alarm_id == alarm.id))
        ]
    assert notes == ["raise", "acknowledge", "rescue_ended"]
