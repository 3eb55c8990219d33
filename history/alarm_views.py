"""The alarm history pages: ``/alarms/`` (filtered, newest first, paginated) and ``/alarms/<id>/``
(every field, the place, the triggering call and the transitions). Read-only: the actions live on
the console. Scoped by ``alarms.queries.alarm_query`` / ``alarms.service.get_alarm``.

A web module: may import flask, webcore, the registry, routing and alarms cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from flask import current_app, render_template, request, url_for
from flask_login import login_required

from alarms.choices import AlarmKind, AlarmState, PerceivedSeverity
from alarms.models import Alarm
from alarms.queries import AlarmFilter, Place, alarm_places, alarm_query, alarm_transitions
from alarms.service import get_alarm
from history import bp
from history.common import PER_PAGE, chosen_id, names_of, page_number, page_url, site_options, utc, when
from history.forms import STATE_OPEN, UTC_HINT, AlarmFilterForm
from registry.queries import paginate
from registry.web.auth import current_actor
from registry.web.tables import DASH, Cell
from routing.models import CallRecord
from routing.queries import visible_calls
from webcore.context import db

_SEVERITY_BADGE = {
    PerceivedSeverity.CRITICAL: "bad",
    PerceivedSeverity.MAJOR: "bad",
    PerceivedSeverity.MINOR: "warn",
    PerceivedSeverity.WARNING: "warn",
}
_STATE_BADGE = {
    AlarmState.UNACK: "bad",
    AlarmState.RTN_UNACK: "bad",
    AlarmState.ACKED: "warn",
    AlarmState.LATCHED: "warn",
    AlarmState.CLOSED: "",
}


def severity_cell(s: PerceivedSeverity) -> Cell:
    return Cell(s.label, badge=_SEVERITY_BADGE.get(s, ""))


def state_cell(s: AlarmState) -> Cell:
    return Cell(s.label, badge=_STATE_BADGE.get(s, ""))


def place_text(place: Place | None) -> str:
    """Building / location / floor, as a rescuer reads it."""
    if place is None:
        return ""
    parts = [p for p in (place.building, place.location) if p]
    text = " / ".join(parts)
    if place.floor:
        text = f"{text}, floor {place.floor}" if text else f"floor {place.floor}"
    return text


C = TypeVar("C", AlarmState, PerceivedSeverity, AlarmKind)


def _choice(cls: type[C], value: str | None) -> list[C]:
    """The one chosen member, or none (any) for a blank or unknown value."""
    return [cls(value)] if value and value in cls.values() else []


def alarm_filter(form: AlarmFilterForm) -> AlarmFilter:
    state = form.state.data or ""
    return AlarmFilter(
        states=[s for s in AlarmState if s != AlarmState.CLOSED]
        if state == STATE_OPEN
        else _choice(AlarmState, state),
        severities=_choice(PerceivedSeverity, form.severity.data),
        kinds=_choice(AlarmKind, form.kind.data),
        site=chosen_id(form.site.data),
        first_since=utc(form.since.data),
        first_until=utc(form.until.data),
    )


@dataclass(frozen=True)
class AlarmRow:
    id: int
    raised_at: str
    kind: str
    severity: Cell
    state: Cell
    device: Cell
    site: Cell
    place: str
    count: int
    acked_by: str
    closed_at: str


def alarm_rows(alarms: list[Alarm]) -> list[AlarmRow]:
    session = db()
    places = alarm_places(session, alarms)
    names = names_of(session, (a.device_id for a in alarms), (a.site_id for a in alarms), ())
    return [
        AlarmRow(
            id=a.id,
            raised_at=when(a.first_at),
            kind=a.kind.label,
            severity=severity_cell(a.severity),
            state=state_cell(a.state),
            device=names.device(a.device_id),
            site=names.site(a.site_id),
            place=place_text(places.get(a.id)),
            count=a.count,
            acked_by=a.acked_by or DASH,
            closed_at=when(a.closed_at) if a.closed_at else DASH,
        )
        for a in alarms
    ]


@bp.get("/alarms/")
@login_required
def alarm_list() -> str:
    actor = current_actor()
    session = db()
    form = AlarmFilterForm(formdata=request.args)
    form.site.choices = site_options(session, actor)
    form.validate()  # the time fields' parse errors
    invalid = any(field.errors for field in form)
    result = (
        None
        if invalid
        else paginate(session, alarm_query(actor, alarm_filter(form)), page_number(), PER_PAGE)
    )
    return render_template(
        "history/alarms.html",
        form=form,
        result=result,
        rows=alarm_rows(list(result.items)) if result else [],
        filtering=any(v for k, v in request.args.items() if k != "page"),
        page_url=page_url,
        utc_hint=UTC_HINT,
    )


@dataclass(frozen=True)
class Prop:
    key: str
    label: str
    cell: Cell


def _text(value: object) -> Cell:
    return Cell() if value is None or value == "" else Cell(str(value))


def _moment(value: object) -> Cell:
    return Cell(when(value)) if value is not None else Cell()  # type: ignore[arg-type]


def alarm_props(a: Alarm, place: Place | None, call: CallRecord | None) -> list[Prop]:
    names = names_of(db(), [a.device_id], [a.site_id], [a.center_id])
    if call is not None:
        caller = f"{when(call.received_at)} from {call.ani or 'no number'}"
        if call.display_name:
            caller += f" ({call.display_name})"
        call_cell = Cell(caller, url_for("history.call_detail", id=call.id))
    else:
        call_cell = _text(a.call_id)
    return [
        Prop("kind", "Kind", Cell(a.kind.label)),
        Prop("state", "State", state_cell(a.state)),
        Prop("severity", "Severity (X.733)", severity_cell(a.severity)),
        Prop("event_type", "Event type", Cell(a.event_type.label)),
        Prop("probable_cause", "Probable cause", _text(a.probable_cause)),
        Prop("specific_problem", "Specific problem", _text(a.specific_problem)),
        Prop(
            "additional_text",
            "Additional text",
            Cell(a.additional_text, multiline=True) if a.additional_text else Cell(),
        ),
        Prop("resource", "Resource", _text(a.resource)),
        Prop("latched", "Latched (EN 81-28)", Cell("yes" if a.latched else "no")),
        Prop("device", "Device", names.device(a.device_id)),
        Prop("site", "Site", names.site(a.site_id)),
        Prop("place", "Place", _text(place_text(place))),
        Prop("center", "Center", names.center(a.center_id)),
        Prop("call", "Raised by call", call_cell),
        Prop("first_at", "Raised", _moment(a.first_at)),
        Prop("last_at", "Last seen", _moment(a.last_at)),
        Prop("count", "Count", Cell(str(a.count))),
        Prop("ack_deadline_at", "Acknowledge by", _moment(a.ack_deadline_at)),
        Prop("acked", "Acknowledged", Cell(f"{when(a.acked_at)} by {a.acked_by}") if a.acked_at else Cell()),
        Prop("escalations", "Escalations", Cell(str(a.escalations))),
        Prop("returned_at", "Returned to normal", _moment(a.returned_at)),
        Prop("shelved_until", "Shelved until", _moment(a.shelved_until)),
        Prop("closed_at", "Closed", _moment(a.closed_at)),
    ]


@bp.get("/alarms/<id:id>/")
@login_required
def alarm_detail(id: int) -> str:
    actor = current_actor()
    session = db()
    alarm = get_alarm(session, actor, id)  # NotFound (out of scope too): the 404 page
    call = None
    if alarm.call_id:
        # the call as the actor may see it: an alarm in scope may come from a call that is not
        call = session.scalars(
            visible_calls(actor).where(CallRecord.call_id == alarm.call_id).order_by(CallRecord.received_at)
        ).first()
    place = alarm_places(session, [alarm]).get(alarm.id)
    return render_template(
        "history/alarm_detail.html",
        alarm=alarm,
        props=alarm_props(alarm, place, call),
        transitions=alarm_transitions(session, alarm.id),
        console="console.console" in current_app.view_functions,
        when=when,
    )
