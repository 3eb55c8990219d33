"""Supervision jobs on APScheduler, run by ``worker.py`` only (never under gunicorn): EN 81-28 test
calls and heartbeats, the workers' health (``service_degraded``), the acknowledgement deadline,
shelving and silence expiry, alarm grouping per site (``alarms.groups``), retention.

Each tick of a job runs once however many workers share the database: the first worker to insert
the ``job_runs`` row ``(job, tick)`` runs it, the others find the row and skip (a primary key acts
the same on SQLite and PostgreSQL, and no lock is held while the job runs). Must not import flask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from alarms.choices import AlarmState
from alarms.groups import GroupSettings, group_alarms
from alarms.models import Alarm, JobRun
from alarms.service import AlarmService
from alarms.supervision import check_heartbeats, check_service, check_test_calls
from registry.db import utcnow
from registry.models import OutboxEvent
from routing.models import CallRecord

log = logging.getLogger(__name__)

#: alarms escalated per transaction of the deadlines job
ESCALATE_BATCH = 500


@dataclass(frozen=True)
class JobSettings:
    """How often each job runs and what it uses (``config.Settings`` gives them)."""

    test_call_grace: timedelta = timedelta(minutes=15)
    heartbeat_timeout: timedelta = timedelta(minutes=10)
    retention: timedelta = timedelta(days=400)
    supervision_every: float = 60.0
    deadlines_every: float = 5.0
    expiry_every: float = 30.0
    retention_every: float = 3600.0
    #: the workers' health rows (``service_degraded``)
    service_every: float = 5.0
    #: alarm grouping per site: how long a new group gathers, how often a busy site is notified
    group_wait: timedelta = timedelta(seconds=10)
    group_interval: timedelta = timedelta(seconds=60)

    @property
    def groups_every(self) -> float:
        """The grouping job's tick: a fraction of ``group_wait`` (a notification is at most this
        late), at least a second."""
        return max(1.0, min(5.0, self.group_wait.total_seconds() / 2))


def tick_of(now: datetime, every: float) -> datetime:
    """The start of the interval ``now`` falls in: the same for every worker that runs the job."""
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % every, UTC)


class JobRunner:
    """Runs a job's tick if this worker wins its lease; ``clock`` is an input."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        worker: str,
        service: AlarmService,
        settings: JobSettings = JobSettings(),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.factory = factory
        self.worker = worker
        self.service = service
        self.settings = settings
        self.clock = clock
        self.ran: dict[str, int] = {}
        self.skipped: dict[str, int] = {}

    def jobs(self) -> dict[str, tuple[float, Callable[[Session, datetime], str]]]:
        s = self.settings
        return {
            "supervision": (s.supervision_every, self.supervise),
            "deadlines": (s.deadlines_every, self.deadlines),
            "expiry": (s.expiry_every, self.expiry),
            "retention": (s.retention_every, self.retain),
            "service": (s.service_every, self.service_health),
            "groups": (s.groups_every, self.groups),
        }

    def run(self, name: str) -> bool:
        """Run ``name``'s current tick unless another worker has; True when this worker ran it."""
        every, job = self.jobs()[name]
        now = self.clock()
        tick = tick_of(now, every)
        try:
            with self.factory() as session:
                session.execute(
                    insert(JobRun).values(job=name, tick=tick, worker=self.worker, started_at=now, result="")
                )
                session.commit()
        except IntegrityError:
            self.skipped[name] = self.skipped.get(name, 0) + 1
            log.debug("job %s tick %s: another worker runs it", name, tick.isoformat())
            return False
        try:
            with self.factory() as session:
                result = job(session, now)
                row = session.get(JobRun, (name, tick))
                if row is not None:
                    row.finished_at, row.result = self.clock(), result[:2000]
                session.commit()
        except Exception:
            log.exception("job %s tick %s failed; the next tick tries again", name, tick.isoformat())
            return True
        self.ran[name] = self.ran.get(name, 0) + 1
        log.info("job %s tick %s ran: %s", name, tick.isoformat(timespec="seconds"), result)
        return True

    # ---- the jobs ----------------------------------------------------------------------------------

    def supervise(self, session: Session, now: datetime) -> str:
        calls = check_test_calls(session, self.service, now, self.settings.test_call_grace)
        raised, ended = check_heartbeats(session, self.service, now, self.settings.heartbeat_timeout)
        return (
            f"test calls: {calls.overdue} overdue, {calls.raised} raised, {calls.ended} ended, "
            f"{calls.groups} silent groups, {calls.inhibited} inhibited; "
            f"heartbeats: {raised} lost, {ended} back"
        )

    def service_health(self, session: Session, now: datetime) -> str:
        raised, ended = check_service(session, self.service, now)
        return f"service_degraded: {raised} raised, {ended} ended"

    def groups(self, session: Session, now: datetime) -> str:
        settings = GroupSettings(self.settings.group_wait, self.settings.group_interval)
        sent = group_alarms(session, now, settings)
        return f"{len(sent)} site notifications, {sum(g.total_raised for g in sent)} alarms raised in them"

    def deadlines(self, session: Session, now: datetime) -> str:
        """Escalations in transactions of ``ESCALATE_BATCH``: in a blackout every stuck car's alarm
        passes its deadline within seconds of the others, and one transaction of 100,000 loaded
        alarms held the worker's memory at its peak (each batch is committed, so a failure later
        in the tick keeps what was escalated before it)."""
        total = 0
        while True:
            moved = len(self.service.escalate_due(session, limit=ESCALATE_BATCH))
            total += moved
            if moved < ESCALATE_BATCH:
                return f"{total} escalated"
            session.commit()

    def expiry(self, session: Session, now: datetime) -> str:
        shelves = self.service.expire_shelves(session)
        woken = self.service.end_silences(session)
        return f"{len(shelves)} unshelved, {len(woken)} out of silence"

    def retain(self, session: Session, now: datetime) -> str:
        """Calls, events and closed alarms older than the retention go; job leases after a day."""
        cut = now - self.settings.retention
        calls = session.execute(delete(CallRecord).where(CallRecord.received_at < cut)).rowcount  # type: ignore[attr-defined]
        events = session.execute(delete(OutboxEvent).where(OutboxEvent.recorded_at < cut)).rowcount  # type: ignore[attr-defined]
        alarms = session.execute(
            delete(Alarm).where(Alarm.state == AlarmState.CLOSED.value, Alarm.closed_at < cut)
        ).rowcount  # type: ignore[attr-defined]
        session.execute(delete(JobRun).where(JobRun.tick < now - timedelta(days=1)))
        return f"removed {calls} calls, {events} events, {alarms} closed alarms older than {cut:%Y-%m-%d}"


def build_scheduler(runner: JobRunner) -> BackgroundScheduler:
    """An APScheduler that runs each job on its interval; missed runs coalesce into one (a busy or
    paused worker does not replay a backlog of ticks)."""
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
    for name, (every, _) in runner.jobs().items():
        scheduler.add_job(
            runner.run,
            IntervalTrigger(seconds=every, timezone=UTC),
            args=[name],
            id=name,
            name=name,
            misfire_grace_time=max(1, int(every)),
            next_run_time=datetime.now(UTC) + timedelta(seconds=min(every, 2.0)),
        )
    return scheduler
