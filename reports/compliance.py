"""EN 81-28 test-call compliance of the lift phones an actor may see: which are inside their test
interval now, which are overdue (with their last test call), and each one's test calls in a period.

"Inside the interval" is the supervision job's own rule (``alarms.supervision.supervised_devices``
and ``due_at``, grace included), so this report and the ``missed_test_call`` alarms never disagree.
May import sqlalchemy, the registry, routing and alarms cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlalchemy.orm import Session

from alarms.supervision import Supervised, due_at, supervised_devices
from registry.choices import DeviceKind, DeviceStatus
from registry.models import Device, Location, Site
from registry.queries import visible
from reports import stats
from reports.queries import ROW_LIMIT, Scope
from routing.models import CallRecord
from routing.queries import visible_calls

#: the device kinds EN 81-28 is about
LIFT_KINDS = (DeviceKind.ELEVATOR_PHONE,)


@dataclass(frozen=True)
class LiftPhone:
    device_id: int
    ani: str
    site_name: str
    location: str
    status: DeviceStatus
    #: None: not supervised (no interval, or not in service)
    interval: timedelta | None
    last_test_at: datetime | None
    due_by: datetime | None
    overdue: bool
    #: this phone's test calls in the report's period, oldest first
    test_calls: list[datetime]
    #: the longest stretch of the period (up to now) without a test call
    longest_gap: timedelta | None

    @property
    def supervised(self) -> bool:
        return self.interval is not None


@dataclass(frozen=True)
class Compliance:
    phones: list[LiftPhone]
    now: datetime
    truncated: bool = False

    @property
    def supervised(self) -> list[LiftPhone]:
        return [p for p in self.phones if p.supervised]

    @property
    def overdue(self) -> list[LiftPhone]:
        return [p for p in self.phones if p.overdue]

    @property
    def compliant(self) -> int:
        return sum(1 for p in self.supervised if not p.overdue)

    @property
    def share(self) -> float | None:
        """Supervised lift phones inside their interval, 0..1 (None without any)."""
        return self.compliant / len(self.supervised) if self.supervised else None


def compliance(
    session: Session, scope: Scope, now: datetime, grace: timedelta, limit: int = ROW_LIMIT
) -> Compliance:
    stmt = visible(scope.actor, Device).where(Device.kind.in_([k.value for k in LIFT_KINDS]))
    if scope.actor.is_admin:  # visible() joins the site for the others only
        stmt = stmt.join(Site, Site.id == Device.site_id)
    if scope.site_id is not None:
        stmt = stmt.where(Device.site_id == scope.site_id)
    if scope.center_id is not None:
        stmt = stmt.where(
            or_(Site.day_center_id == scope.center_id, Site.out_of_hours_center_id == scope.center_id)
        )
    listed = (
        stmt.outerjoin(Location, Location.id == Device.location_id)
        .with_only_columns(Device.id, Device.ani, Device.status, Site.name, Location.building, Location.name)
        .order_by(Site.name, Device.ani)
    )
    rows = session.execute(listed).all()
    ids = [r[0] for r in rows]
    wanted = set(ids)
    # the supervision job's view of every supervised phone, narrowed to those in the report
    watched: dict[int, Supervised] = {
        d.device_id: d for d in supervised_devices(session) if d.device_id in wanted
    }
    calls, truncated = _test_calls(session, scope, ids, limit)
    until = min(scope.end, now)
    phones = []
    for dev_id, ani, status, site_name, building, location in rows:
        d = watched.get(dev_id)
        due = due_at(d, grace) if d else None
        times = calls.get(dev_id, [])
        gap = stats.longest_gap(times, scope.start, until) if d and until > scope.start else None
        phones.append(
            LiftPhone(
                device_id=dev_id,
                ani=ani,
                site_name=site_name,
                location=", ".join(x for x in (building, location) if x),
                status=status,
                interval=d.interval if d else None,
                last_test_at=d.last_test_at if d else None,
                due_by=due,
                overdue=due is not None and due <= now,
                test_calls=times,
                longest_gap=gap,
            )
        )
    return Compliance(phones, now, truncated)


def _test_calls(
    session: Session, scope: Scope, device_ids: list[int], limit: int
) -> tuple[dict[int, list[datetime]], bool]:
    if not device_ids:
        return {}, False
    # by device, not by the calls' site or center: a test call may go to a test receiver, no center
    stmt = (
        visible_calls(scope.actor)
        .where(
            CallRecord.received_at >= scope.start,
            CallRecord.received_at < scope.end,
            CallRecord.test_call.is_(True),
            CallRecord.device_id.in_(device_ids),
        )
        .with_only_columns(CallRecord.device_id, CallRecord.received_at)
        .order_by(CallRecord.received_at)
        .limit(limit + 1)
    )
    rows = session.execute(stmt).all()
    out: dict[int, list[datetime]] = {}
    for dev, at in rows[:limit]:
        if dev is not None:  # selected so
            out.setdefault(dev, []).append(at)
    return out, len(rows) > limit
