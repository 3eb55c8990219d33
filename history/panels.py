"""The device page's history panel: the device's last calls, its open and last alarms, its last
EN 81-28 test calls, and its test-call supervision state (interval, last test, next due, overdue),
decided by ``alarms.supervision`` as the missed-test-call job decides it. Every query is scoped.

A web module: may import flask, webcore, the registry, routing and alarms cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import render_template
from markupsafe import Markup

from alarms.choices import AlarmState
from alarms.models import Alarm
from alarms.queries import AlarmFilter, alarm_query
from alarms.supervision import DEFAULT_GRACE, Supervised, due_at
from history.alarm_views import severity_cell, state_cell
from history.call_views import status_cell
from history.common import when
from registry.actors import Actor
from registry.choices import DeviceStatus
from registry.db import utcnow
from registry.models import Device
from routing.models import CallRecord
from routing.queries import call_query
from webcore.context import db

LAST_CALLS = 10
LAST_ALARMS = 10
LAST_TESTS = 5
#: the statuses whose devices the missed-test-call job supervises
SUPERVISED_STATUSES = frozenset({DeviceStatus.ACTIVE, DeviceStatus.MAINTENANCE})


@dataclass(frozen=True)
class TestState:
    """EN 81-28 supervision of one device at ``now``; ``supervised`` False: no test calls expected."""

    supervised: bool
    why_not: str = ""
    interval_hours: int | None = None
    last_test_at: datetime | None = None
    next_due: datetime | None = None
    overdue: bool = False


def test_state(device: Device, now: datetime) -> TestState:
    """As ``alarms.supervision.check_test_calls`` sees the device: due one interval (plus the grace)
    after its last test call, or after its registration when it never made one."""
    if not device.test_interval_hours or device.test_interval_hours <= 0:
        return TestState(False, "no test-call interval set")
    if device.status not in SUPERVISED_STATUSES:
        return TestState(False, f"not supervised while {device.status.label.lower()}")
    supervised = Supervised(
        device_id=device.id,
        ani=device.ani,
        kind=device.kind.value,
        site_id=device.site_id,
        trunk_id=device.trunk_id,
        interval=timedelta(hours=device.test_interval_hours),
        since=device.last_test_call_at or device.created_at,
        last_test_at=device.last_test_call_at,
    )
    due = due_at(supervised, DEFAULT_GRACE)
    return TestState(True, "", device.test_interval_hours, device.last_test_call_at, due, due <= now)


OPEN_STATES = tuple(s for s in AlarmState if s != AlarmState.CLOSED)


def device_panel(device: Device, actor: Actor) -> Markup:
    session = db()
    now = utcnow()
    calls = session.scalars(call_query(actor, device=device.id).limit(LAST_CALLS)).all()
    tests = session.scalars(
        call_query(actor, device=device.id).where(CallRecord.test_call.is_(True)).limit(LAST_TESTS)
    ).all()
    open_alarms = session.scalars(
        alarm_query(actor, AlarmFilter(device=device.id, states=OPEN_STATES)).limit(LAST_ALARMS)
    ).all()
    open_ids = {a.id for a in open_alarms}
    last_alarms: list[Alarm] = [
        a
        for a in session.scalars(alarm_query(actor, AlarmFilter(device=device.id)).limit(LAST_ALARMS))
        if a.id not in open_ids
    ]
    html = render_template(
        "history/_device_panel.html",
        device=device,
        calls=calls,
        tests=tests,
        open_alarms=open_alarms,
        last_alarms=last_alarms,
        state=test_state(device, now),
        grace_minutes=int(DEFAULT_GRACE.total_seconds() // 60),
        when=when,
        status_cell=status_cell,
        state_cell=state_cell,
        severity_cell=severity_cell,
    )
    # rendered by an autoescaping template: everything from outside in it is escaped already
    return Markup(html)
