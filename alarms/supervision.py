"""Supervision: EN 81-28 test calls and OPTIONS heartbeats. A lift phone silent past its interval plus
a grace raises ``missed_test_call``; when every supervised phone of a trunk (or a site) is silent,
one ``trunk_silent`` (``site_silent``) alarm inhibits the per-device ones. And anigate itself: a
worker whose health row reports calls it cannot journal, calls lost, or answers from the registry
snapshot on disk raises ``service_degraded``. Run by the jobs (``alarms.jobs``); time is an input.
Must not import flask or integrations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alarms.choices import AlarmKind, AlarmState, PerceivedSeverity, Trigger
from alarms.models import Alarm
from alarms.rules import Raise, RuleBook, device_resource
from alarms.service import AlarmService, load_rulebook
from registry.choices import DeviceStatus
from registry.models import Device, Site, Trunk
from routing.models import WorkerStatus

#: a test call may come this late before it counts as missed (the device's clock, the network)
DEFAULT_GRACE = timedelta(minutes=15)
#: a device that sent OPTIONS keep-alives and has been quiet this long has lost its heartbeat
DEFAULT_HEARTBEAT_TIMEOUT = timedelta(minutes=10)
#: a trunk or site with fewer supervised phones than this gets no group alarm (one silent phone is a
#: phone fault, not a trunk fault)
MIN_GROUP = 2


@dataclass(frozen=True)
class Supervised:
    device_id: int
    ani: str
    kind: str
    site_id: int
    trunk_id: int | None
    interval: timedelta
    #: the last test call, or the device's creation for one that never made one (a new device gets
    #: one interval from its registration)
    since: datetime
    last_test_at: datetime | None


def due_at(d: Supervised, grace: timedelta) -> datetime:
    return d.since + d.interval + grace


@dataclass(frozen=True)
class SupervisionReport:
    overdue: int
    raised: int
    ended: int
    groups: int
    inhibited: int


def supervised_devices(session: Session) -> list[Supervised]:
    rows = session.execute(
        select(
            Device.id,
            Device.ani,
            Device.kind,
            Device.site_id,
            Device.trunk_id,
            Device.test_interval_hours,
            Device.last_test_call_at,
            Device.created_at,
        ).where(
            Device.test_interval_hours.is_not(None),
            Device.test_interval_hours > 0,
            Device.status.in_([DeviceStatus.ACTIVE.value, DeviceStatus.MAINTENANCE.value]),
        )
    )
    return [
        Supervised(dev, ani, kind.value, site, trunk, timedelta(hours=hours or 0), last or created, last)
        for dev, ani, kind, site, trunk, hours, last, created in rows
    ]


def check_test_calls(
    session: Session, service: AlarmService, now: datetime, grace: timedelta = DEFAULT_GRACE
) -> SupervisionReport:
    """Raise ``missed_test_call`` for each overdue phone (once: an open alarm only repeats when its
    finding is new), end it for phones that are due no more, and group whole silent trunks and
    sites."""
    book = load_rulebook(session)
    devices = supervised_devices(session)
    overdue = [d for d in devices if due_at(d, grace) <= now]
    overdue_ids = {d.device_id for d in overdue}
    open_missed = {
        a.device_id: a
        for a in session.scalars(
            select(Alarm).where(
                Alarm.kind == AlarmKind.MISSED_TEST_CALL.value, Alarm.state != AlarmState.CLOSED.value
            )
        )
    }
    raised = ended = 0
    for alarm in list(open_missed.values()):
        if alarm.device_id not in overdue_ids and service.end_condition(
            session, AlarmKind.MISSED_TEST_CALL, alarm.resource, now
        ):
            ended += 1
    names = _site_names(session, {d.site_id for d in overdue})
    for d in overdue:
        if d.device_id in open_missed:
            continue  # still overdue: the open alarm says so already
        rule = book.find(Trigger.MISSED_TEST_CALL, d.kind)
        if rule is None:
            continue
        last = d.last_test_at.isoformat(timespec="minutes") if d.last_test_at else "never"
        hours = d.interval // timedelta(hours=1)
        service.raise_finding(
            session,
            Raise(
                kind=rule.kind,
                severity=rule.severity,
                resource=device_resource(d.device_id),
                latched=rule.latched,
                specific_problem=f"No test call from {d.ani} ({names.get(d.site_id, '')}) within {hours} h",
                additional_text=f"last test call: {last}; due by {due_at(d, grace):%Y-%m-%d %H:%M} UTC",
                device_id=d.device_id,
                site_id=d.site_id,
                trunk_id=d.trunk_id,
                center_id=_center_of(session, d.site_id),
            ),
            now,
        )
        raised += 1
    session.flush()
    groups, inhibited = _group_silences(session, service, book, devices, overdue_ids, now)
    return SupervisionReport(len(overdue), raised, ended, groups, inhibited)


def _site_names(session: Session, site_ids: set[int]) -> dict[int, str]:
    if not site_ids:
        return {}
    return {
        sid: name
        for sid, name in session.execute(select(Site.id, Site.name).where(Site.id.in_(sorted(site_ids))))
    }


def _center_of(session: Session, site_id: int) -> int | None:
    site = session.get(Site, site_id)
    if site is None:
        return None
    return site.day_center_id or site.out_of_hours_center_id


def _group_silences(
    session: Session,
    service: AlarmService,
    book: RuleBook,
    devices: list[Supervised],
    overdue_ids: set[int],
    now: datetime,
) -> tuple[int, int]:
    """One ``trunk_silent`` per trunk whose supervised phones are all overdue (then ``site_silent``
    for sites not covered by such a trunk alarm), inhibiting the per-device alarms; a group that
    speaks again ends its alarm, which releases the devices still overdue."""
    by_trunk: dict[int, list[Supervised]] = defaultdict(list)
    by_site: dict[int, list[Supervised]] = defaultdict(list)
    for d in devices:
        if d.trunk_id is not None:
            by_trunk[d.trunk_id].append(d)
        by_site[d.site_id].append(d)
    groups = inhibited = 0
    covered: set[int] = set()
    for kind, trigger, members_of, prefix in (
        (AlarmKind.TRUNK_SILENT, Trigger.TRUNK_SILENT, by_trunk, "trunk"),
        (AlarmKind.SITE_SILENT, Trigger.SITE_SILENT, by_site, "site"),
    ):
        for target, members in members_of.items():
            resource = f"{prefix}:{target}"
            ids = {m.device_id for m in members}
            silent = len(members) >= MIN_GROUP and ids <= overdue_ids and not ids <= covered
            if not silent:
                service.end_condition(session, kind, resource, now)
                continue
            rule = book.find(trigger, None)
            if rule is None:
                continue
            label = _group_label(session, prefix, target)
            parent = service.raise_finding(
                session,
                Raise(
                    kind=rule.kind,
                    severity=rule.severity,
                    resource=resource,
                    latched=False,
                    specific_problem=f"All {len(members)} supervised phones of {prefix} {label} "
                    "missed their test call",
                    additional_text="per-device missed_test_call alarms are inhibited by this one",
                    site_id=target if prefix == "site" else None,
                    trunk_id=target if prefix == "trunk" else None,
                    center_id=_center_of(session, members[0].site_id),
                ),
                now,
            )
            session.flush()
            children = session.scalars(
                select(Alarm).where(
                    Alarm.kind == AlarmKind.MISSED_TEST_CALL.value,
                    Alarm.device_id.in_(sorted(ids)),
                    Alarm.state != AlarmState.CLOSED.value,
                )
            ).all()
            inhibited += service.inhibit(session, parent, children)
            covered |= ids
            groups += 1
    return groups, inhibited


def _group_label(session: Session, prefix: str, target: int) -> str:
    if prefix == "trunk":
        trunk = session.get(Trunk, target)
        return trunk.name if trunk else str(target)
    site = session.get(Site, target)
    return site.name if site else str(target)


def check_heartbeats(
    session: Session, service: AlarmService, now: datetime, timeout: timedelta = DEFAULT_HEARTBEAT_TIMEOUT
) -> tuple[int, int]:
    """``heartbeat_lost`` for devices that sent OPTIONS keep-alives and stopped; ended when they come
    back. Returns (raised, ended)."""
    book = load_rulebook(session)
    rows = session.execute(
        select(
            Device.id, Device.ani, Device.kind, Device.site_id, Device.trunk_id, Device.last_heartbeat_at
        ).where(
            Device.last_heartbeat_at.is_not(None),
            Device.status.in_([DeviceStatus.ACTIVE.value, DeviceStatus.MAINTENANCE.value]),
        )
    ).all()
    open_lost = {
        a.device_id: a
        for a in session.scalars(
            select(Alarm).where(
                Alarm.kind == AlarmKind.HEARTBEAT_LOST.value, Alarm.state != AlarmState.CLOSED.value
            )
        )
    }
    raised = ended = 0
    for dev, ani, kind, site, trunk, beat in rows:
        assert beat is not None  # selected so
        lost = beat + timeout <= now
        if not lost:
            if dev in open_lost and service.end_condition(
                session, AlarmKind.HEARTBEAT_LOST, device_resource(dev), now
            ):
                ended += 1
            continue
        if dev in open_lost:
            continue
        rule = book.find(Trigger.HEARTBEAT_LOST, kind.value)
        if rule is None:
            continue
        service.raise_finding(
            session,
            Raise(
                kind=rule.kind,
                severity=rule.severity,
                resource=device_resource(dev),
                latched=False,
                specific_problem=f"No OPTIONS keep-alive from {ani} since {beat:%Y-%m-%d %H:%M} UTC",
                device_id=dev,
                site_id=site,
                trunk_id=trunk,
                center_id=_center_of(session, site),
            ),
            now,
        )
        raised += 1
    return raised, ended


def service_resource(worker: str) -> str:
    return f"worker:{worker}"[:64]


def _at(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else "unknown"


def service_fault(row: WorkerStatus) -> str:
    """What is degraded about a worker as its row last said ("" when nothing is)."""
    faults = []
    if row.calls_held:
        faults.append(
            f"{row.calls_held} answered calls not journaled (held since {_at(row.calls_held_since)})"
        )
    if row.calls_lost:
        faults.append(f"{row.calls_lost} calls lost (never recorded)")
    if row.snapshot_source != "database":
        faults.append(f"answering from the registry snapshot on disk of {_at(row.snapshot_taken_at)}")
    return "; ".join(faults)


def _evidence(row: WorkerStatus) -> str:
    return (
        f"worker {row.worker} (pid {row.pid}, started {_at(row.started_at)}, last report "
        f"{_at(row.heartbeat_at)}): calls held {row.calls_held} since {_at(row.calls_held_since)}, "
        f"answered while the journal failed {row.calls_unjournaled}, lost {row.calls_lost}; "
        f"snapshot from {row.snapshot_source}, taken {_at(row.snapshot_taken_at)}"
    )


def check_service(session: Session, service: AlarmService, now: datetime) -> tuple[int, int]:
    """``service_degraded`` (critical, no center: every center's operators see it) for each worker
    whose last report holds calls it could not journal or answers from the snapshot on disk; ended
    when a report says held 0 and the live snapshot. A worker that reported calls answered while
    the journal failed, or lost, with no such alarm since its start (the fault came and went while
    the database was away, so no tick saw it) gets one raised and returned to normal at once: an
    operator still sees and acknowledges it. A stale row keeps its last word (a worker that died
    holding calls leaves its alarm open). Returns (raised, ended)."""
    raised = ended = 0
    open_ids = {
        a.resource
        for a in session.scalars(
            select(Alarm).where(
                Alarm.kind == AlarmKind.SERVICE_DEGRADED.value, Alarm.state != AlarmState.CLOSED.value
            )
        )
    }
    for row in session.scalars(select(WorkerStatus).order_by(WorkerStatus.worker)):
        resource = service_resource(row.worker)
        active = bool(row.calls_held) or row.snapshot_source != "database"
        if not active:
            if resource in open_ids and service.end_condition(
                session, AlarmKind.SERVICE_DEGRADED, resource, now
            ):
                ended += 1
            if not (row.calls_unjournaled or row.calls_lost):
                continue
            seen = session.scalar(
                select(Alarm.id)
                .where(
                    Alarm.kind == AlarmKind.SERVICE_DEGRADED.value,
                    Alarm.resource == resource,
                    Alarm.first_at >= row.started_at,
                )
                .limit(1)
            )
            if seen is not None:
                continue
        elif resource in open_ids:
            continue  # still degraded: the open alarm says so already
        what = (
            service_fault(row)
            or f"{row.calls_unjournaled} calls answered while the journal could not be written"
        )
        service.raise_finding(
            session,
            Raise(
                kind=AlarmKind.SERVICE_DEGRADED,
                severity=PerceivedSeverity.CRITICAL,
                resource=resource,
                latched=False,
                specific_problem=f"{row.worker}: {what}"[:255],
                additional_text=_evidence(row),
            ),
            now,
        )
        raised += 1
        if not active:  # it came and went unseen: recorded, and over
            session.flush()
            service.end_condition(session, AlarmKind.SERVICE_DEGRADED, resource, now)
    return raised, ended
