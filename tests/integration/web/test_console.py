"""The console through the Flask client: the page with its cards and alarms, the SSE stream from an
event id, the alarm actions, and who may see what."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import pytest
from sqlalchemy import select

from alarms.models import Alarm
from registry.outbox import head
from routing.models import CallRecord
from tests import factories as f
from tests.api_support import bearer
from tests.web_support import csrf_token, login, text_of, user

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def world(session) -> dict[str, Any]:
    est = f.estate(session)
    other = f.center(session, name="Hamburg Control", sip_uris=["sip:hh@127.0.0.1:5090"])
    session.commit()
    # the place a responder needs: notes, camera, maintenance contact
    loc = est["location"]
    loc.building, loc.floor, loc.notes, loc.camera_ref = (
        "Tower A",
        "7",
        "machine-room key at reception",
        "cam-lift-1",
    )
    est["device"].maintenance_contact = "sip:kone-service@127.0.0.1"
    session.commit()
    user(session, "olga", "operator", center=est["center"].id)
    user(session, "hans", "operator", center=other.id)
    user(session, "fiona", "facility_manager", sites=[est["site"].id])
    est["auth"] = bearer(session, "pbx", role="integration", scopes=["calls:route"])
    est["other"] = other
    return est


def route(client, world, n: int = 1, display_name: str | None = None) -> dict[str, Any]:
    body = {
        "trunk": world["trunk"].name,
        "ani": world["device"].ani,
        "dnis": "112",
        "call_id": f"console-{n}@pbx",
    }
    if display_name is not None:
        body["display_name"] = display_name
    resp = client.post("/api/v1/calls/route", json=body, headers=world["auth"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


class Stream:
    """An SSE response read in a thread: its messages as (id, event, data) in arrival order."""

    def __init__(self, client, resp) -> None:
        self.app = client.application
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.mimetype == "text/event-stream"
        self.resp = resp
        self.messages: queue.Queue[tuple[int | None, str, dict[str, Any]]] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buf = ""
        for chunk in self.resp.response:
            buf += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in buf:
                block, buf = buf.split("\n\n", 1)
                fields = dict(
                    line.split(": ", 1)
                    for line in block.splitlines()
                    if ": " in line and not line.startswith(":")
                )
                if "data" in fields:
                    self.messages.put(
                        (int(fields["id"]), fields.get("event", "message"), json.loads(fields["data"]))
                    )

    def next(self, timeout: float = 5.0) -> tuple[int | None, str, dict[str, Any]]:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        """End the stream as a stopping server does, then close the response."""
        self.app.extensions["console"].stopping.set()
        self.thread.join(5)
        self.app.extensions["console"].stopping.clear()
        self.app.extensions["console"].feed.stop()
        self.resp.close()


def test_an_operator_sees_the_call_card_with_the_place_and_the_alarm_it_raised(
    client, session, world
) -> None:
    route(client, world, display_name=XSS)
    login(client, "olga")
    page = client.get("/console/").get_data(as_text=True)
    card = text_of(page, "call-" + session.scalars(select(CallRecord.record_id)).one())
    assert card is not None
    for text in (
        "Tower A",
        "Lift 1",
        "7",
        "machine-room key at reception",
        "cam-lift-1",
        "sip:kone-service@127.0.0.1",
    ):
        assert text in card, text
    assert world["device"].ani in card
    assert XSS in card  # as text: the markup below is escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and XSS not in page
    alarm = session.scalars(select(Alarm)).one()
    row = text_of(page, f"alarm-{alarm.id}")
    assert row is not None and "Lift emergency call" in row and "Critical" in row


def test_the_stream_sends_a_new_call_and_its_alarm_from_the_event_id_on(client, session, world) -> None:
    login(client, "olga")
    stream = Stream(client, client.get(f"/console/stream?after={head(session)}", buffered=False))
    try:
        route(client, world)
        first = stream.next()
        second = stream.next()
        assert first[1] == "call" and "Lift 1" in first[2]["html"]
        assert second[1] == "alarm" and second[2]["alert"] is True and second[2]["severity"] == "critical"
        assert first[0] < second[0]
    finally:
        stream.close()


def test_a_reconnect_with_last_event_id_replays_exactly_what_came_after_it(client, session, world) -> None:
    start = head(session)
    route(client, world, 1)
    route(client, world, 2)
    login(client, "olga")
    stream = Stream(
        client, client.get("/console/stream", headers={"Last-Event-ID": str(start)}, buffered=False)
    )
    try:
        got = [stream.next() for _ in range(3)]  # call 1, its alarm, call 2 (the alarm repeats)
        ids = [m[0] for m in got]
        assert ids == sorted(ids) and len(set(ids)) == 3
        resumed = Stream(
            client, client.get("/console/stream", headers={"Last-Event-ID": str(ids[0])}, buffered=False)
        )
        try:
            assert resumed.next()[0] == ids[1]
        finally:
            resumed.close()
    finally:
        stream.close()


def test_an_operator_of_another_center_sees_neither_card_nor_alarm(client, session, world) -> None:
    login(client, "hans")
    stream = Stream(client, client.get(f"/console/stream?after={head(session)}", buffered=False))
    try:
        route(client, world)
        with pytest.raises(queue.Empty):
            stream.next(timeout=1.5)
    finally:
        stream.close()
    page = client.get("/console/").get_data(as_text=True)
    assert world["device"].ani not in page
    assert "No active alarms." in page and "No calls yet." in page


def test_acknowledging_on_the_console_moves_the_alarm_and_says_so(client, session, world) -> None:
    route(client, world)
    login(client, "olga")
    alarm = session.scalars(select(Alarm)).one()
    token = csrf_token(client, "/console/")
    resp = client.post(
        f"/console/alarms/{alarm.id}/acknowledge",
        data={"csrf_token": token, "note": "on my way"},
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 200 and resp.get_json() == {"message": f"Alarm {alarm.id}: acknowledged"}
    session.expire_all()
    assert session.get(Alarm, alarm.id).state.value == "latched"  # a lift alarm waits for rescue ended
    again = client.post(
        f"/console/alarms/{alarm.id}/acknowledge",
        data={"csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 409 and "cannot be acknowledged" in again.get_json()["message"]
    refused = client.post(
        f"/console/alarms/{alarm.id}/reset",
        data={"csrf_token": token, "reason": ""},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 422 and "needs a reason" in refused.get_json()["message"]


def test_an_action_without_the_csrf_token_is_refused(client, session, world) -> None:
    route(client, world)
    login(client, "olga")
    alarm = session.scalars(select(Alarm)).one()
    assert client.post(f"/console/alarms/{alarm.id}/acknowledge").status_code == 400
    session.expire_all()
    assert session.get(Alarm, alarm.id).state.value == "active_unacknowledged"


def test_another_centers_operator_cannot_act_on_the_alarm(client, session, world) -> None:
    route(client, world)
    login(client, "hans")
    alarm = session.scalars(select(Alarm)).one()
    token = csrf_token(client, "/console/")
    resp = client.post(f"/console/alarms/{alarm.id}/acknowledge", data={"csrf_token": token})
    assert resp.status_code == 404


def test_a_facility_manager_has_no_console(client, world) -> None:
    login(client, "fiona")
    assert client.get("/console/").status_code == 403
    assert client.get("/console/stream").status_code == 403


def test_a_bad_last_event_id_is_refused(client, world) -> None:
    login(client, "olga")
    assert client.get("/console/stream", headers={"Last-Event-ID": "x"}).status_code == 400


def test_a_sites_grouped_alarms_show_on_load_and_arrive_live_to_its_center_only(
    client, session, world
) -> None:
    from datetime import timedelta

    from alarms.groups import GroupSettings, group_alarms
    from registry.db import utcnow

    world["site"].name = f"Tower A {XSS}"
    session.commit()
    route(client, world)
    login(client, "olga")
    stream = Stream(client, client.get(f"/console/stream?after={head(session)}", buffered=False))
    try:
        group_alarms(session, utcnow() + timedelta(seconds=11), GroupSettings())
        session.commit()
        _seq, event, data = stream.next()
        assert event == "group" and data["key"] == f"group-{world['site'].id}-{world['center'].id}"
        assert "1 new" in data["html"] and "Lift emergency call raised" in data["html"]
        assert "&lt;img src=x onerror=alert(1)&gt;" in data["html"] and XSS not in data["html"]
    finally:
        stream.close()
    page = client.get("/console/").get_data(as_text=True)
    row = text_of(page, data["key"])
    assert row is not None and "1 Lift emergency call raised" in " ".join(row.split())
    assert '<p id="no-groups" class="muted" hidden>' in page
    login(client, "hans")
    assert text_of(client.get("/console/").get_data(as_text=True), data["key"]) is None
