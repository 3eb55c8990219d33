"""The HTTP route API records its call like the SIP path does: a CallRouted event and the alarms the
call raises, in the same transaction as the call row."""

from __future__ import annotations

from sqlalchemy import select

from alarms.models import Alarm
from registry.outbox import head, read_events
from routing.models import CallRecord
from tests import factories as f
from tests.api_support import bearer


def test_a_lift_call_routed_over_http_raises_its_lift_emergency(client, session) -> None:
    est = f.estate(session)
    auth = bearer(session, "pbx", role="integration", scopes=["calls:route"])
    mark = head(session)
    resp = client.post(
        "/api/v1/calls/route",
        json={"trunk": "loopback", "ani": est["device"].ani, "dnis": "112", "call_id": "http-1@pbx"},
        headers=auth,
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    session.expire_all()
    call = session.scalars(select(CallRecord)).one()
    alarm = session.scalars(select(Alarm)).one()
    assert (alarm.kind.value, alarm.state.value, alarm.call_id) == (
        "lift_emergency",
        "active_unacknowledged",
        call.call_id,
    )
    assert [e.event.type for e in read_events(session, after=mark)] == ["call.routed", "alarm.raised"]
