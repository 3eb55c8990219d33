"""Read side of the reports: calls per day and hour, anomalies per kind and day, alarms per severity
with the time to acknowledge, repeat callers and top ANIs, over a period and always within what the
actor may see (``routing.queries.visible_calls``, ``alarms.service.alarm_scope``).

Counting is done by the database (GROUP BY, the same SQL on SQLite and PostgreSQL) wherever it can
be: calls are counted per UTC quarter hour there and folded into local days and hours here. Two
things are read row by row and bounded by :data:`ROW_LIMIT` (the page says when it was reached):
the anomalies of calls (a JSON list: unnesting it is not portable) and the times to acknowledge
(SQLite has no percentile function). May import sqlalchemy, the registry, routing and alarms cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Integer, Select, Text, cast, func, select
from sqlalchemy.orm import Session

from alarms.choices import PerceivedSeverity
from alarms.models import Alarm
from alarms.service import alarm_scope
from registry.actors import Actor
from registry.models import Device, Site
from reports import stats
from routing.models import CallRecord
from routing.queries import visible_calls

#: most rows read one by one for a figure (anomalies, times to acknowledge)
ROW_LIMIT = 50_000
#: most ANIs listed as top or repeat callers
TOP_ANIS = 10
REPEAT_CALLERS = 50


@dataclass(frozen=True)
class Scope:
    """What a report covers: the actor's view, an optional site or center, and the period
    [start, end) (aware UTC instants of local midnights in ``tz``, whose days the charts count)."""

    actor: Actor
    first_day: date
    end_day: date
    tz: ZoneInfo
    start: datetime
    end: datetime
    site_id: int | None = None
    center_id: int | None = None


def calls_in(scope: Scope) -> Select[Any]:
    """The scope's calls (test calls included), as a SELECT to narrow down or aggregate."""
    stmt = visible_calls(scope.actor).where(
        CallRecord.received_at >= scope.start, CallRecord.received_at < scope.end
    )
    if scope.site_id is not None:
        stmt = stmt.where(CallRecord.site_id == scope.site_id)
    if scope.center_id is not None:
        stmt = stmt.where(CallRecord.center_id == scope.center_id)
    return stmt


def _quarter(session: Session) -> ColumnElement[int]:
    """Seconds since the epoch // 900 of a call's arrival, in the database's own words (SQLite
    keeps UTC text, PostgreSQL a timestamptz)."""
    col = CallRecord.received_at
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", col) / stats.QUARTER), BigInteger)
    return cast(func.strftime("%s", col), Integer) // stats.QUARTER


@dataclass(frozen=True)
class CallCounts:
    per_day: dict[date, int]
    per_hour: list[int]
    total: int
    #: EN 81-28 test calls of the period: not in the figures above (they have their own report)
    test_calls: int


def call_counts(session: Session, scope: Scope) -> CallCounts:
    base = calls_in(scope).with_only_columns(_quarter(session).label("q"), CallRecord.test_call.label("test"))
    sq = base.subquery()
    rows = session.execute(select(sq.c.q, sq.c.test, func.count()).group_by(sq.c.q, sq.c.test)).all()
    calls = [(int(q), n) for q, test, n in rows if not test]
    per_day, per_hour = stats.fold_quarters(calls, scope.tz, scope.first_day, scope.end_day)
    return CallCounts(per_day, per_hour, sum(n for _, n in calls), sum(n for _, test, n in rows if test))


@dataclass(frozen=True)
class AnomalyCounts:
    #: code -> local day -> calls that carried it
    per_code: dict[str, dict[date, int]]
    #: more calls with anomalies than :data:`ROW_LIMIT`: only the first ones are counted
    truncated: bool = False

    def total(self, code: str) -> int:
        return sum(self.per_code[code].values())


def anomaly_counts(session: Session, scope: Scope, limit: int = ROW_LIMIT) -> AnomalyCounts:
    stmt = (
        calls_in(scope)
        # a JSON list is written as "[]" when empty on both backends (json.dumps)
        .where(cast(CallRecord.anomalies, Text) != "[]")
        .with_only_columns(CallRecord.received_at, CallRecord.anomalies)
        .order_by(CallRecord.received_at)
        .limit(limit + 1)
    )
    rows = session.execute(stmt).all()
    per_code = stats.anomalies_per_day(((at, a or []) for at, a in rows[:limit]), scope.tz)
    return AnomalyCounts(per_code, len(rows) > limit)


def alarms_in(scope: Scope) -> Select[Any]:
    """The scope's alarms raised in the period."""
    stmt = select(Alarm).where(
        alarm_scope(scope.actor), Alarm.first_at >= scope.start, Alarm.first_at < scope.end
    )
    if scope.site_id is not None:
        stmt = stmt.where(Alarm.site_id == scope.site_id)
    if scope.center_id is not None:
        stmt = stmt.where(Alarm.center_id == scope.center_id)
    return stmt


@dataclass(frozen=True)
class SeverityStats:
    severity: PerceivedSeverity
    raised: int
    acknowledged: int
    #: time to acknowledge (acked_at - first_at) in seconds, nearest-rank; None when none was
    median_ack: float | None
    p90_ack: float | None


@dataclass(frozen=True)
class AlarmStats:
    by_severity: list[SeverityStats]
    truncated: bool = False

    @property
    def raised(self) -> int:
        return sum(s.raised for s in self.by_severity)


def alarm_stats(session: Session, scope: Scope, limit: int = ROW_LIMIT) -> AlarmStats:
    sq = alarms_in(scope).subquery()
    counts: dict[Any, int] = dict(
        session.execute(select(sq.c.severity, func.count()).group_by(sq.c.severity)).all()
    )
    acked = session.execute(
        alarms_in(scope)
        .where(Alarm.acked_at.is_not(None))
        .with_only_columns(Alarm.severity, Alarm.first_at, Alarm.acked_at)
        .order_by(Alarm.first_at)
        .limit(limit + 1)
    ).all()
    waits: dict[PerceivedSeverity, list[float]] = {}
    for severity, first_at, acked_at in acked[:limit]:
        assert acked_at is not None  # selected so
        waits.setdefault(PerceivedSeverity(severity), []).append((acked_at - first_at).total_seconds())
    rows = []
    for severity in PerceivedSeverity:
        raised = counts.get(severity, 0) or counts.get(severity.value, 0)
        ack = waits.get(severity, [])
        if raised or ack:
            rows.append(
                SeverityStats(
                    severity, raised, len(ack), stats.nearest_rank(ack, 50), stats.nearest_rank(ack, 90)
                )
            )
    return AlarmStats(rows, len(acked) > limit)


@dataclass(frozen=True)
class Caller:
    ani: str
    calls: int
    first_at: datetime
    last_at: datetime
    #: the registered device of that ANI, when the actor may see it
    device_id: int | None = None
    site_name: str = ""
    #: the display name (From) of this ANI's last call that had one: it names unknown callers
    display_name: str = ""


@dataclass(frozen=True)
class Callers:
    top: list[Caller]
    repeat: list[Caller]
    #: how many ANIs called twice or more (``repeat`` lists at most :data:`REPEAT_CALLERS`)
    repeat_count: int = 0
    devices: dict[str, tuple[int, str]] = field(default_factory=dict)


def callers(session: Session, scope: Scope) -> Callers:
    """Top ANIs by calls and the repeat callers (two calls or more), test calls left out."""
    sq = (
        calls_in(scope)
        .where(CallRecord.ani.is_not(None), CallRecord.test_call.is_(False))
        .with_only_columns(CallRecord.ani, CallRecord.received_at)
        .subquery()
    )
    n = func.count().label("n")
    grouped = select(sq.c.ani, n, func.min(sq.c.received_at), func.max(sq.c.received_at)).group_by(sq.c.ani)
    top_rows = session.execute(grouped.order_by(n.desc(), sq.c.ani).limit(TOP_ANIS)).all()
    repeat_stmt = grouped.having(func.count() >= 2)
    repeat_rows = session.execute(repeat_stmt.order_by(n.desc(), sq.c.ani).limit(REPEAT_CALLERS)).all()
    repeat_count = session.scalar(select(func.count()).select_from(repeat_stmt.subquery())) or 0
    anis = sorted({r[0] for r in top_rows} | {r[0] for r in repeat_rows})
    devices = _devices_by_ani(session, scope.actor, anis)
    names = _display_names(session, scope, anis)

    def caller(row: Any) -> Caller:
        ani, count, first, last = row
        dev = devices.get(ani)
        return Caller(
            ani,
            count,
            _aware(first),
            _aware(last),
            dev[0] if dev else None,
            dev[1] if dev else "",
            names.get(ani, ""),
        )

    return Callers([caller(r) for r in top_rows], [caller(r) for r in repeat_rows], repeat_count, devices)


def _display_names(session: Session, scope: Scope, anis: list[str]) -> dict[str, str]:
    """Per ANI, the display name of its last call in the period that carried one."""
    if not anis:
        return {}
    stmt = (
        calls_in(scope)
        .where(CallRecord.ani.in_(anis), CallRecord.display_name.is_not(None), CallRecord.display_name != "")
        .with_only_columns(CallRecord.ani, CallRecord.display_name)
        .order_by(CallRecord.received_at.desc(), CallRecord.id.desc())
        .limit(10 * len(anis))
    )
    names: dict[str, str] = {}
    for ani, name in session.execute(stmt):
        names.setdefault(ani, name)
    return names


def _devices_by_ani(session: Session, actor: Actor, anis: list[str]) -> dict[str, tuple[int, str]]:
    """The registered devices of ``anis`` the actor may see (the scoping of ``registry.queries``)."""
    if not anis:
        return {}
    stmt = (
        select(Device.ani, Device.id, Site.name)
        .join(Site, Site.id == Device.site_id)
        .where(actor.site_filter(), Device.ani.in_(anis))
    )
    return {ani: (dev, site) for ani, dev, site in session.execute(stmt)}


def _aware(value: datetime) -> datetime:
    """MIN/MAX over a subquery lose the column's type on SQLite: it hands back naive UTC (or text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
