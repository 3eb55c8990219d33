"""What the console shows, read from the database: a call card per routed call (the call with the
device, its place, whom to send and its recent history) and a row per alarm.

Read side only; the same builders serve the page's first render and every live update, so a card
looks the same whether it was there on load or arrived over the event stream. Must not import flask.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from alarms.choices import UNACKNOWLEDGED, AlarmKind, AlarmState, PerceivedSeverity
from alarms.models import Alarm
from alarms.queries import Place, alarm_places
from alarms.service import alarm_scope
from registry.actors import Actor
from registry.choices import DeviceKind
from registry.models import Device, SecurityCenter
from routing.models import CallRecord
from routing.queries import visible_calls

#: how far back the console shows calls on load, and how many at most
CALL_WINDOW = timedelta(hours=12)
MAX_CARDS = 50
#: a device's history on its card
RECENT = 5

_ANOMALY_LABELS = {
    "call_flood": "Call flood",
    "wrong_trunk": "Wrong trunk",
    "out_of_hours": "Out of hours",
    "low_attestation": "Weak attestation",
    "unknown_ani": "Unknown number",
    "decommissioned_device": "Decommissioned device",
}


@dataclass(frozen=True)
class AnomalyView:
    code: str
    label: str
    severity: str
    #: ``key: value`` pairs of the evidence, in the order the detector gave them
    evidence: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CallCard:
    """A routed call as the operator sees it before answering."""

    record: CallRecord
    device: Device | None
    center_name: str
    anomalies: tuple[AnomalyView, ...]
    last_calls: tuple[CallRecord, ...] = ()
    alarms: tuple[Alarm, ...] = ()

    @property
    def key(self) -> str:
        return f"call-{self.record.record_id}"

    @property
    def kind_label(self) -> str:
        if self.device is None:
            return "Unregistered caller"
        return DeviceKind(self.device.kind).label

    @property
    def maintenance_contact(self) -> str:
        if self.device is None:
            return ""
        return self.device.maintenance_contact or self.device.site.maintenance_contact

    @property
    def responder_notes(self) -> str:
        loc = self.device.location if self.device is not None else None
        return loc.notes if loc is not None else ""


@dataclass(frozen=True)
class AlarmRow:
    """An alarm line of the console with its place and whether it still needs someone."""

    alarm: Alarm
    place: Place
    #: every action the alarm's state still allows, for its buttons
    actions: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return f"alarm-{self.alarm.id}"

    @property
    def unacknowledged(self) -> bool:
        return AlarmState(self.alarm.state) in UNACKNOWLEDGED

    @property
    def kind_label(self) -> str:
        return AlarmKind(self.alarm.kind).label

    @property
    def severity(self) -> PerceivedSeverity:
        return PerceivedSeverity(self.alarm.severity)

    @property
    def open(self) -> bool:
        return AlarmState(self.alarm.state) is not AlarmState.CLOSED


def _evidence(value: object) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict):
        return tuple((str(k), _plain(v)) for k, v in value.items())
    return (("detail", _plain(value)),) if value not in (None, "", {}) else ()


def _plain(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return "" if value is None else str(value)


def anomaly_views(anomalies: Iterable[dict[str, object]]) -> tuple[AnomalyView, ...]:
    return tuple(
        AnomalyView(
            code=str(a.get("code", "")),
            label=_ANOMALY_LABELS.get(str(a.get("code", "")), str(a.get("code", ""))),
            severity=str(a.get("severity", "")),
            evidence=_evidence(a.get("evidence")),
        )
        for a in anomalies
    )


def actions_for(alarm: Alarm) -> tuple[str, ...]:
    """The buttons an alarm in its state offers (the service still checks each action)."""
    state = AlarmState(alarm.state)
    if state is AlarmState.CLOSED:
        return ()
    out = ["note"]
    if state in UNACKNOWLEDGED:
        out.insert(0, "acknowledge")
    if not alarm.latched:
        out.append("clear")
    out.append("reset")
    if state in (AlarmState.UNACK, AlarmState.ACKED, AlarmState.RTN_UNACK, AlarmState.LATCHED):
        out.append("shelve")
    return tuple(out)


# ---- reading -------------------------------------------------------------------------------------


def recent_records(session: Session, actor: Actor, now: datetime, limit: int = MAX_CARDS) -> list[CallRecord]:
    """The calls routed to the actor's center (all for admins) in the last :data:`CALL_WINDOW`."""
    stmt = (
        _console_calls(actor)
        .where(CallRecord.received_at >= now - CALL_WINDOW)
        .order_by(CallRecord.received_at.desc(), CallRecord.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _console_calls(actor: Actor):  # type: ignore[no-untyped-def]
    """An operator's console shows the calls sent to their center, not every call of a covered site
    (the history pages show those): the same scope the event stream files calls under."""
    if actor.is_admin:
        return select(CallRecord)
    return visible_calls(actor).where(CallRecord.center_id == actor.center_id)


def records_by_id(session: Session, actor: Actor, record_ids: Sequence[str]) -> list[CallRecord]:
    if not record_ids:
        return []
    stmt = _console_calls(actor).where(CallRecord.record_id.in_(list(record_ids)))
    return list(session.scalars(stmt))


def call_cards(session: Session, actor: Actor, records: Sequence[CallRecord]) -> list[CallCard]:
    """Cards for ``records`` (newest first as given), with a few queries for the whole list."""
    device_ids = sorted({r.device_id for r in records if r.device_id is not None})
    devices = {
        d.id: d
        for d in session.scalars(
            select(Device)
            .where(Device.id.in_(device_ids))
            .options(joinedload(Device.site), joinedload(Device.location))
        )
    }
    center_ids = sorted({r.center_id for r in records if r.center_id is not None})
    centers: dict[int, str] = {
        center_id: name
        for center_id, name in session.execute(
            select(SecurityCenter.id, SecurityCenter.name).where(SecurityCenter.id.in_(center_ids))
        )
    }
    cards = []
    for r in records:
        last: tuple[CallRecord, ...] = ()
        alarms: tuple[Alarm, ...] = ()
        if r.device_id is not None:
            last = tuple(
                session.scalars(
                    visible_calls(actor)
                    .where(CallRecord.device_id == r.device_id, CallRecord.id != r.id)
                    .where(CallRecord.received_at <= r.received_at)
                    .order_by(CallRecord.received_at.desc(), CallRecord.id.desc())
                    .limit(RECENT)
                )
            )
            alarms = tuple(
                session.scalars(
                    select(Alarm)
                    .where(Alarm.device_id == r.device_id, alarm_scope(actor))
                    .order_by(Alarm.first_at.desc(), Alarm.id.desc())
                    .limit(RECENT)
                )
            )
        cards.append(
            CallCard(
                record=r,
                device=devices.get(r.device_id) if r.device_id is not None else None,
                center_name=centers.get(r.center_id, "") if r.center_id is not None else "",
                anomalies=anomaly_views(r.anomalies or []),
                last_calls=last,
                alarms=alarms,
            )
        )
    return cards


def active_alarms(session: Session, actor: Actor) -> list[AlarmRow]:
    """The annunciated alarms the actor may see, most severe and oldest first."""
    alarms = session.scalars(
        select(Alarm)
        .where(alarm_scope(actor), Alarm.state.in_([s.value for s in _ON_CONSOLE]))
        .order_by(Alarm.first_at, Alarm.id)
        .limit(500)
    ).all()
    rows = alarm_rows(session, alarms)
    return sorted(
        rows, key=lambda r: (list(PerceivedSeverity).index(r.severity), r.alarm.first_at, r.alarm.id)
    )


#: what the console lists: annunciated alarms and shelved ones (an operator must see what they
#: shelved come back); suppressed alarms are in the history, not here
_ON_CONSOLE = (
    AlarmState.UNACK,
    AlarmState.ACKED,
    AlarmState.RTN_UNACK,
    AlarmState.LATCHED,
    AlarmState.SHELVED,
)


def alarm_rows(session: Session, alarms: Sequence[Alarm]) -> list[AlarmRow]:
    places = alarm_places(session, alarms)
    return [AlarmRow(a, places[a.id], actions_for(a)) for a in alarms]


def on_console(alarm: Alarm) -> bool:
    return AlarmState(alarm.state) in _ON_CONSOLE


def alarms_by_id(session: Session, actor: Actor, ids: Sequence[int]) -> list[Alarm]:
    if not ids:
        return []
    return list(session.scalars(select(Alarm).where(Alarm.id.in_(list(ids)), alarm_scope(actor))))
