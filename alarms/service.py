"""The alarm service: raises and de-duplicates alarms from recorded calls and supervision findings,
applies operators' actions, escalates what nobody acknowledged, and honours silences, shelving and
inhibition. Every change keeps its transition and writes its event to the outbox in the caller's
transaction. Time is an input (``clock``). Must not import flask or integrations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from alarms.choices import (
    ANNUNCIATED,
    SERVICE_KINDS,
    UNACKNOWLEDGED,
    AlarmAction,
    AlarmKind,
    AlarmState,
    PerceivedSeverity,
    SilenceScope,
)
from alarms.lifecycle import TransitionRefused, next_state
from alarms.models import Alarm, AlarmRule, AlarmTransition, Silence
from alarms.rules import End, Raise, Rule, RuleBook, evaluate_call
from registry.actors import Actor
from registry.choices import DeviceStatus, Role, TokenScope
from registry.db import utcnow
from registry.errors import Forbidden, ValidationFailed
from registry.events import (
    AlarmAcknowledged,
    AlarmCleared,
    AlarmEscalated,
    AlarmEvent,
    AlarmNoted,
    AlarmRaised,
    AlarmRepeated,
    AlarmReset,
    AlarmShelved,
    AlarmSuppressed,
    CallRouted,
    DeviceStatusChanged,
)
from registry.models import Device, Location, SecurityCenter, Site
from registry.outbox import add_event
from registry.queries import scoped_get

log = logging.getLogger(__name__)

#: ASME A17.1-2019 §2.27.1.1.3: a lift alarm nobody acknowledges in 45 s moves to an alternate location
DEFAULT_ACK_DEADLINES: Mapping[PerceivedSeverity, timedelta] = {
    PerceivedSeverity.CRITICAL: timedelta(seconds=45)
}

#: who the engine and its jobs are in transitions and events
ENGINE = "anigate"

#: what a building-management system shows for a device while an alarm of these kinds is open on it
DEVICE_STATUS = {AlarmKind.MISSED_TEST_CALL: "overdue", AlarmKind.HEARTBEAT_LOST: "fault"}

#: longest an operator may shelve an alarm (ISA-18.2 wants shelving time-limited)
MAX_SHELVE = timedelta(hours=24)


def load_rulebook(session: Session) -> RuleBook:
    rows = session.scalars(select(AlarmRule))
    return RuleBook(Rule(r.trigger, r.device_kind, r.kind, r.severity, r.latched, r.enabled) for r in rows)


class DeadlineSettings(Protocol):
    """What :meth:`AlarmService.from_settings` reads of ``config.Settings``."""

    @property
    def ack_deadlines(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class _Place:
    device_kind: str | None
    device_ani: str | None
    site_name: str
    building: str
    location: str
    floor: str
    maintenance_until: datetime | None


@dataclass
class _Batch:
    """What a batch of calls needs from the database, read once (silences in force around the batch's
    calls, the centers' own deadlines), so that no query runs per alarm."""

    silences: list[Silence]
    deadlines: dict[int, dict[str, int]]


class AlarmService:
    """Alarm use cases over a session; the caller commits (one transaction with its cause)."""

    def __init__(
        self,
        clock: Callable[[], datetime] = utcnow,
        ack_deadlines: Mapping[PerceivedSeverity, timedelta] | None = None,
    ) -> None:
        self.clock = clock
        self.ack_deadlines = dict(DEFAULT_ACK_DEADLINES if ack_deadlines is None else ack_deadlines)

    @classmethod
    def from_settings(
        cls, settings: DeadlineSettings, clock: Callable[[], datetime] = utcnow
    ) -> AlarmService:
        """The service with the configured acknowledgement deadlines (seconds per severity name)."""
        deadlines = {PerceivedSeverity(k): timedelta(seconds=v) for k, v in settings.ack_deadlines.items()}
        return cls(clock, deadlines)

    # ---- from calls (the recorder's batch) ---------------------------------------------------------

    def on_calls(self, session: Session, events: Sequence[CallRouted]) -> None:
        """Raise, repeat and end alarms for a batch of recorded calls, in the batch's transaction."""
        if not events:
            return
        book = load_rulebook(session)
        outcomes = [evaluate_call(ev, book) for ev in events]
        raises = [r for o in outcomes for r in o.raises]
        ends = [e for o in outcomes for e in o.ends]
        if not raises and not ends:
            return
        keys = {(r.kind, r.resource) for r in raises} | {(e.kind, e.resource) for e in ends}
        open_alarms = self._open_alarms(session, keys)
        places = self._places(session, {r.device_id for r in raises if r.device_id is not None})
        times = [ev.occurred_at for ev in events]
        batch = _Batch(
            self._silences_between(session, min(times), max(times)), self._center_deadlines(session)
        )
        repeated: dict[Alarm, None] = {}
        for ev, outcome in zip(events, outcomes, strict=True):
            for end in outcome.ends:
                alarm = open_alarms.get((end.kind, end.resource))
                moved = alarm is not None and self._end(session, alarm, end, ev.occurred_at)
                if moved and alarm is not None and alarm.state is AlarmState.CLOSED:
                    del open_alarms[(end.kind, end.resource)]
            for r in outcome.raises:
                alarm = open_alarms.get((r.kind, r.resource))
                if alarm is None:
                    alarm = self._new_alarm(session, r, ev.occurred_at, places.get(r.device_id), batch)
                    open_alarms[(r.kind, r.resource)] = alarm
                else:
                    self._repeat(session, alarm, ev.occurred_at)
                    repeated[alarm] = None
        for alarm in repeated:  # one event per alarm and batch, not per call
            self._emit(session, AlarmRepeated, alarm, count=alarm.count, call_id=alarm.call_id)

    def raise_finding(self, session: Session, finding: Raise, at: datetime) -> Alarm:
        """Raise (or repeat) the alarm of a supervision finding (a missed test call, a silent trunk)."""
        alarm = self._open_alarms(session, {(finding.kind, finding.resource)}).get(
            (finding.kind, finding.resource)
        )
        if alarm is not None:
            self._repeat(session, alarm, at)
            return alarm
        places = self._places(session, {finding.device_id} if finding.device_id is not None else set())
        alarm = self._new_alarm(session, finding, at, places.get(finding.device_id))
        session.flush()  # its id: the devices' alarms it may inhibit point at it
        return alarm

    def end_condition(self, session: Session, kind: AlarmKind, resource: str, at: datetime) -> bool:
        """The condition of the open ``kind`` alarm on ``resource`` ended (automatic clear); True when
        that moved an alarm."""
        alarm = self._open_alarms(session, {(kind, resource)}).get((kind, resource))
        return alarm is not None and self._end(session, alarm, End(kind, resource), at)

    # ---- operators' actions ------------------------------------------------------------------------

    def acknowledge(self, session: Session, actor: Actor, alarm_id: object, note: str = "") -> Alarm:
        alarm = self._for_action(session, actor, alarm_id)
        now = self.clock()
        self._move(session, alarm, AlarmAction.ACKNOWLEDGE, actor, note, now)
        alarm.acked_at, alarm.acked_by = now, actor.name
        self._emit(session, AlarmAcknowledged, alarm, by=actor.name, note=note)
        return alarm

    def add_note(self, session: Session, actor: Actor, alarm_id: object, note: str) -> Alarm:
        if not note.strip():
            raise ValidationFailed({"note": "a note needs some text"})
        alarm = self._for_action(session, actor, alarm_id)
        self._move(session, alarm, AlarmAction.NOTE, actor, note, self.clock())
        self._emit(session, AlarmNoted, alarm, by=actor.name, note=note)
        return alarm

    def clear(self, session: Session, actor: Actor, alarm_id: object, note: str = "") -> Alarm:
        alarm = self._for_action(session, actor, alarm_id)
        now = self.clock()
        self._move(session, alarm, AlarmAction.CLEAR, actor, note, now)
        alarm.returned_at = alarm.returned_at or now
        self._emit(session, AlarmCleared, alarm, by=actor.name, note=note)
        return alarm

    def reset(self, session: Session, actor: Actor, alarm_id: object, reason: str) -> Alarm:
        """Close an alarm, latched ones included, with a reason (EN 81-28: rescue ended by hand)."""
        if not reason.strip():
            raise ValidationFailed(
                {"reason": "a reset needs a reason (for example: passengers freed by the fire brigade)"}
            )
        alarm = self._for_action(session, actor, alarm_id)
        now = self.clock()
        self._move(session, alarm, AlarmAction.RESET, actor, reason, now)
        alarm.returned_at = alarm.returned_at or now
        self._emit(session, AlarmReset, alarm, by=actor.name, note=reason)
        return alarm

    def shelve(
        self, session: Session, actor: Actor, alarm_id: object, until: datetime, note: str = ""
    ) -> Alarm:
        now = self.clock()
        if until <= now:
            raise ValidationFailed({"until": "the end of the shelving must be in the future"})
        if until - now > MAX_SHELVE:
            raise ValidationFailed(
                {"until": f"an alarm may be shelved for at most {MAX_SHELVE // timedelta(hours=1)} hours"}
            )
        alarm = self._for_action(session, actor, alarm_id)
        before = alarm.state
        self._move(session, alarm, AlarmAction.SHELVE, actor, note, now)
        alarm.resume_state, alarm.shelved_until = before, until
        self._emit(session, AlarmShelved, alarm, by=actor.name, note=note, until=until)
        return alarm

    # ---- jobs --------------------------------------------------------------------------------------

    def escalate_due(self, session: Session, limit: int | None = None) -> list[Alarm]:
        """Escalate, once, each alarm whose acknowledgement deadline passed unacknowledged: it moves to
        the next center of its call's targets (ASME A17.1: an alternate location). At most ``limit``
        of them, oldest first (the job takes a storm's in bounded transactions)."""
        now = self.clock()
        due = session.scalars(
            select(Alarm)
            .where(
                Alarm.state.in_([s.value for s in UNACKNOWLEDGED]),
                Alarm.ack_deadline_at.is_not(None),
                Alarm.ack_deadline_at <= now,
                Alarm.escalations == 0,
            )
            .order_by(Alarm.id)
            .limit(limit)
        ).all()
        for alarm in due:
            before = alarm.center_id
            chain = list(alarm.target_center_ids or [])
            after = next((c for c in chain[chain.index(before) + 1 :]), None) if before in chain else None
            if after is None:
                after = next((c for c in chain if c != before), None)
            waited = (now - alarm.first_at).total_seconds()
            note = (
                f"not acknowledged within {waited:.0f} s: moved to center {after}"
                if after is not None
                else f"not acknowledged within {waited:.0f} s: no further center to move it to"
            )
            self._move(session, alarm, AlarmAction.ESCALATE, None, note, now)
            alarm.escalations += 1
            if after is not None:
                alarm.center_id = after
            self._emit(
                session,
                AlarmEscalated,
                alarm,
                by=ENGINE,
                note=note,
                from_center_id=before,
                to_center_id=after,
            )
        return list(due)

    def expire_shelves(self, session: Session) -> list[Alarm]:
        """Shelved alarms whose time is up return to the state they were shelved in."""
        now = self.clock()
        done = session.scalars(
            select(Alarm).where(Alarm.state == AlarmState.SHELVED.value, Alarm.shelved_until <= now)
        ).all()
        for alarm in done:
            self._move(session, alarm, AlarmAction.UNSHELVE, None, "shelving time is up", now)
            alarm.shelved_until = None
            self._emit(
                session,
                AlarmRaised,
                alarm,
                by=ENGINE,
                note="shelving time is up",
                **self._raised_fields(session, alarm),
            )
        return list(done)

    def end_silences(self, session: Session) -> list[Alarm]:
        """Silences that ended: their suppressed alarms become active if the condition still holds,
        and close if it ended meanwhile."""
        now = self.clock()
        ended = session.scalars(
            select(Silence).where(Silence.ends_at <= now, Silence.expired_at.is_(None))
        ).all()
        woken: list[Alarm] = []
        for silence in ended:
            woken += self.wake_silenced(session, silence)
        # devices whose maintenance ended (their alarms were suppressed without a silence row)
        maintained = session.scalars(
            select(Alarm)
            .join(Device, Device.id == Alarm.device_id)
            .where(
                Alarm.state == AlarmState.SUPPRESSED.value,
                Alarm.silence_id.is_(None),
                Alarm.inhibited_by_id.is_(None),
                or_(Device.maintenance_until.is_(None), Device.maintenance_until <= now),
                Device.status != DeviceStatus.MAINTENANCE.value,
            )
        ).all()
        for alarm in maintained:
            woken.append(self._wake(session, alarm, "the device's maintenance ended", now))
        return woken

    def wake_silenced(self, session: Session, silence: Silence) -> list[Alarm]:
        """``silence`` ended (its time is up, or someone ended it): mark it processed, and the alarms
        it suppressed become active (those whose condition ended meanwhile were closed then)."""
        now = self.clock()
        silence.expired_at = now
        alarms = session.scalars(
            select(Alarm)
            .where(Alarm.silence_id == silence.id, Alarm.state == AlarmState.SUPPRESSED.value)
            .order_by(Alarm.id)
        ).all()
        return [self._wake(session, alarm, f"silence {silence.id} ended", now) for alarm in alarms]

    def inhibit(self, session: Session, parent: Alarm, children: Iterable[Alarm]) -> int:
        """Mark ``children`` (per-device alarms) as inhibited by ``parent`` (a trunk or site alarm):
        suppressed, not annunciated, one alarm instead of hundreds (Alertmanager's inhibition)."""
        now = self.clock()
        n = 0
        for child in children:
            if child.state not in ANNUNCIATED or child.id == parent.id:
                continue
            before = child.state
            note = f"inhibited by alarm {parent.id} ({parent.kind.label.lower()})"
            self._move(session, child, AlarmAction.SUPPRESS, None, note, now)
            child.resume_state, child.inhibited_by_id = before, parent.id
            self._emit(session, AlarmSuppressed, child, by=ENGINE, note=note, inhibited_by=parent.id)
            n += 1
        return n

    def release_inhibited(self, session: Session, parent: Alarm) -> list[Alarm]:
        """The wider alarm closed: the alarms it inhibited whose condition still holds become active."""
        now = self.clock()
        if parent.id is None:  # raised in this batch: it inhibits nothing yet
            return []
        children = session.scalars(
            select(Alarm).where(
                Alarm.inhibited_by_id == parent.id, Alarm.state == AlarmState.SUPPRESSED.value
            )
        ).all()
        return [self._wake(session, c, f"alarm {parent.id} closed", now) for c in children]

    # ---- internals ---------------------------------------------------------------------------------

    def _open_alarms(
        self, session: Session, keys: set[tuple[AlarmKind, str]]
    ) -> dict[tuple[AlarmKind, str], Alarm]:
        if not keys:
            return {}
        resources = sorted({r for _, r in keys})
        found: dict[tuple[AlarmKind, str], Alarm] = {}
        for i in range(0, len(resources), 500):
            rows = session.scalars(
                select(Alarm).where(
                    Alarm.resource.in_(resources[i : i + 500]), Alarm.state != AlarmState.CLOSED.value
                )
            )
            for alarm in rows:
                if (alarm.kind, alarm.resource) in keys:
                    found[(alarm.kind, alarm.resource)] = alarm
        return found

    def _places(self, session: Session, device_ids: set[int]) -> dict[int | None, _Place]:
        if not device_ids:
            return {}
        rows = session.execute(
            select(
                Device.id,
                Device.kind,
                Device.ani,
                Site.name,
                Location.building,
                Location.name,
                Location.floor,
                Device.maintenance_until,
                Device.status,
            )
            .join(Site, Site.id == Device.site_id)
            .outerjoin(Location, Location.id == Device.location_id)
            .where(Device.id.in_(sorted(device_ids)))
        )
        out: dict[int | None, _Place] = {}
        for dev_id, kind, ani, site, building, loc, floor, until, status in rows:
            in_maintenance = until if status == DeviceStatus.MAINTENANCE else None
            if status == DeviceStatus.MAINTENANCE and until is None:
                in_maintenance = datetime.max.replace(tzinfo=self.clock().tzinfo)
            out[dev_id] = _Place(
                kind.value, ani, site, building or "", loc or "", floor or "", in_maintenance
            )
        return out

    @staticmethod
    def _silences_between(session: Session, first: datetime, last: datetime) -> list[Silence]:
        return list(
            session.scalars(
                select(Silence).where(
                    Silence.starts_at <= last, Silence.ends_at > first, Silence.expired_at.is_(None)
                )
            )
        )

    @staticmethod
    def _center_deadlines(session: Session) -> dict[int, dict[str, int]]:
        return {
            cid: d for cid, d in session.execute(select(SecurityCenter.id, SecurityCenter.ack_deadlines)) if d
        }

    @staticmethod
    def _silence(silences: Sequence[Silence], r: Raise, at: datetime) -> Silence | None:
        """The silence covering ``r`` at ``at`` that lasts longest, if any."""
        targets = {
            (SilenceScope.DEVICE, r.device_id),
            (SilenceScope.SITE, r.site_id),
            (SilenceScope.TRUNK, r.trunk_id),
        }
        covering = [
            s for s in silences if (s.scope, s.target_id) in targets and s.starts_at <= at < s.ends_at
        ]
        return max(covering, key=lambda s: s.ends_at, default=None)

    def deadline_for(
        self,
        session: Session,
        center_id: int | None,
        severity: PerceivedSeverity,
        deadlines: Mapping[int, Mapping[str, int]] | None = None,
    ) -> timedelta | None:
        """The center's own acknowledgement deadline for ``severity``, else the service's."""
        if deadlines is None:
            deadlines = self._center_deadlines(session)
        own = deadlines.get(center_id, {}).get(severity.value) if center_id is not None else None
        return timedelta(seconds=own) if own else self.ack_deadlines.get(severity)

    def _new_alarm(
        self, session: Session, r: Raise, at: datetime, place: _Place | None, batch: _Batch | None = None
    ) -> Alarm:
        """A new alarm, added to the session but not flushed: its id (for the transition and the
        events) is filled in at the batch's flush, so a batch of calls costs one INSERT round."""
        if batch is None:
            batch = _Batch(self._silences_between(session, at, at), self._center_deadlines(session))
        # a service alarm has no center, hence none to escalate it to
        deadline = (
            None
            if r.kind in SERVICE_KINDS
            else self.deadline_for(session, r.center_id, r.severity, batch.deadlines)
        )
        alarm = Alarm(
            kind=r.kind,
            resource=r.resource,
            state=AlarmState.UNACK,
            severity=r.severity,
            event_type=r.event_type,
            probable_cause=r.probable_cause,
            specific_problem=r.specific_problem,
            additional_text=r.additional_text,
            latched=r.latched,
            center_id=r.center_id,
            device_id=r.device_id,
            site_id=r.site_id,
            trunk_id=r.trunk_id,
            call_id=r.call_id,
            target_center_ids=list(r.target_center_ids),
            first_at=at,
            last_at=at,
            count=1,
            ack_deadline_at=at + deadline if deadline is not None else None,
            escalations=0,
            acked_by="",
        )
        silence = self._silence(batch.silences, r, at)
        maintenance = place.maintenance_until if place is not None else None
        if silence is not None or (maintenance is not None and maintenance > at):
            alarm.state, alarm.resume_state = AlarmState.SUPPRESSED, AlarmState.UNACK
            alarm.silence_id = silence.id if silence is not None else None
            note = (
                f"in silence {silence.id}: {silence.reason}"
                if silence is not None
                else "the device is in maintenance"
            )
        else:
            note = ""
        session.add(alarm)
        self._transition(session, alarm, AlarmAction.RAISE, None, alarm.state, None, note, at)
        if alarm.state is AlarmState.SUPPRESSED:
            self._emit(session, AlarmSuppressed, alarm, by=ENGINE, note=note, silence_id=alarm.silence_id)
        else:
            self._emit(session, AlarmRaised, alarm, by=ENGINE, **self._raised_fields(session, alarm, place))
        self._device_status(session, alarm, DEVICE_STATUS.get(alarm.kind), "online", at)
        return alarm

    def _raised_fields(
        self, session: Session, alarm: Alarm, place: _Place | None = None
    ) -> dict[str, object]:
        if place is None and alarm.device_id is not None:
            place = self._places(session, {alarm.device_id}).get(alarm.device_id)
        fields: dict[str, object] = {
            "event_type": alarm.event_type.value,
            "probable_cause": alarm.probable_cause,
            "specific_problem": alarm.specific_problem,
            "additional_text": alarm.additional_text,
            "call_id": alarm.call_id,
            "latched": alarm.latched,
        }
        if place is not None:
            fields.update(
                device_kind=place.device_kind,
                device_ani=place.device_ani,
                site_name=place.site_name,
                building=place.building,
                location=place.location,
                floor=place.floor,
            )
        return fields

    def _repeat(self, session: Session, alarm: Alarm, at: datetime) -> None:
        alarm.count += 1
        alarm.last_at = max(alarm.last_at, at)
        if alarm.state is AlarmState.RTN_UNACK:  # the condition is back before anyone acknowledged
            alarm.returned_at = None
            self._move(session, alarm, AlarmAction.RAISE, None, "the condition occurred again", at)

    def _end(self, session: Session, alarm: Alarm, end: End, at: datetime) -> bool:
        """Apply an automatic end; True when it moved the alarm (returned to normal or closed)."""
        action = AlarmAction.RESCUE_ENDED if end.rescue else AlarmAction.RETURN
        if end.rescue and not alarm.latched:
            action = AlarmAction.RETURN
        try:
            after = next_state(alarm.state, action, latched=alarm.latched, resume=alarm.resume_state)
        except TransitionRefused:
            return False
        if after is alarm.state:
            return False
        alarm.returned_at = at
        note = "rescue ended (from the device)" if end.rescue else "the condition ended"
        self._move(session, alarm, action, None, note, at)
        self._emit(session, AlarmCleared, alarm, by=ENGINE, note=note)
        self._device_status(
            session,
            alarm,
            "online" if alarm.kind in DEVICE_STATUS else None,
            DEVICE_STATUS.get(alarm.kind),
            at,
        )
        self.release_inhibited(session, alarm)  # a trunk speaks again: its devices' own alarms count
        return True

    def _wake(self, session: Session, alarm: Alarm, why: str, now: datetime) -> Alarm:
        """A suppressed alarm whose silence, maintenance or inhibiting alarm ended: active again (an
        alarm whose condition ended while suppressed was closed then, see :meth:`_end`)."""
        self._move(session, alarm, AlarmAction.UNSUPPRESS, None, why, now)
        alarm.silence_id = alarm.inhibited_by_id = None
        deadline = self.deadline_for(session, alarm.center_id, alarm.severity)
        if deadline is not None:  # the deadline runs from now: nobody was shown it before
            alarm.ack_deadline_at = now + deadline
        self._emit(session, AlarmRaised, alarm, by=ENGINE, note=why, **self._raised_fields(session, alarm))
        return alarm

    def _move(
        self,
        session: Session,
        alarm: Alarm,
        action: AlarmAction,
        actor: Actor | None,
        note: str,
        at: datetime,
    ) -> None:
        before = alarm.state
        after = next_state(before, action, latched=alarm.latched, resume=alarm.resume_state)
        alarm.state = after
        if action in (AlarmAction.UNSHELVE, AlarmAction.UNSUPPRESS):
            alarm.resume_state = None
        if after is AlarmState.CLOSED:
            alarm.closed_at = at
        self._transition(session, alarm, action, actor, after, before, note, at)

    @staticmethod
    def _transition(
        session: Session,
        alarm: Alarm,
        action: AlarmAction,
        actor: Actor | None,
        to_state: AlarmState,
        from_state: AlarmState | None,
        note: str,
        at: datetime,
    ) -> None:
        session.add(
            AlarmTransition(
                alarm=alarm,
                at=at,
                action=action,
                from_state=from_state,
                to_state=to_state,
                by=actor.name if actor is not None else ENGINE,
                user_id=actor.user_id if actor is not None else None,
                note=note,
            )
        )

    @staticmethod
    def _device_status(
        session: Session, alarm: Alarm, status: str | None, previous: str | None, at: datetime
    ) -> None:
        """A device's EN 81-28 state moved (``overdue``, ``fault``, back ``online``): the event a BMS
        keeps as the device's retained status."""
        if status is None or alarm.device_id is None:
            return
        device_id, site_id, kind = alarm.device_id, alarm.site_id, alarm.kind.label.lower()
        add_event(
            session,
            lambda: DeviceStatusChanged(
                occurred_at=at,
                device_id=device_id,
                site_id=site_id,
                status=status,
                previous=previous,
                reason=f"alarm {alarm.id}: {kind}",
            ),
        )

    def _emit(self, session: Session, cls: type[AlarmEvent], alarm: Alarm, **extra: object) -> None:
        """The event of ``alarm`` as it is now; its id is taken at commit (a new alarm has none yet)."""
        fields: dict[str, object] = {
            "occurred_at": self.clock(),
            "kind": alarm.kind.value,
            "severity": alarm.severity.value,
            "state": alarm.state.value,
            "center_id": alarm.center_id,
            "device_id": alarm.device_id,
            "site_id": alarm.site_id,
            "trunk_id": alarm.trunk_id,
            "resource": alarm.resource,
            **extra,
        }
        add_event(session, lambda: cls(alarm_id=alarm.id, **fields))  # type: ignore[arg-type]

    def _for_action(self, session: Session, actor: Actor, alarm_id: object) -> Alarm:
        actor.require_scope(TokenScope.ALARMS_WRITE)
        if actor.role not in (Role.ADMIN, Role.OPERATOR):
            raise Forbidden("only security center operators and administrators act on alarms")
        return get_alarm(session, actor, alarm_id, for_update=True)


# ---- reading, scoped -------------------------------------------------------------------------------


def alarm_scope(actor: Actor) -> ColumnElement[bool]:
    """SQL condition on :class:`Alarm` keeping what ``actor`` may see: admins all, operators their
    center's and anigate's own (``SERVICE_KINDS``), facility managers their sites'."""
    if actor.is_admin:
        return true()
    if actor.role == Role.OPERATOR and actor.center_id is not None:
        # alarms about anigate itself belong to no center: every center's operators see them
        return or_(Alarm.center_id == actor.center_id, Alarm.kind.in_(sorted(k.value for k in SERVICE_KINDS)))
    if actor.role == Role.FACILITY_MANAGER and actor.site_ids:
        return Alarm.site_id.in_(sorted(actor.site_ids))
    return false()


def get_alarm(session: Session, actor: Actor, alarm_id: object, for_update: bool = False) -> Alarm:
    """The alarm ``actor`` may see (404 otherwise); ``for_update`` locks it for an action."""
    if not for_update:
        actor.require_scope(TokenScope.ALARMS_READ)
    return scoped_get(session, Alarm, "alarm", alarm_id, alarm_scope(actor), for_update)
