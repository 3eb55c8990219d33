"""The supervision jobs' runner: a tick runs once (the job_runs lease), a failing job is logged and
the next tick tries again, and retention removes what is older than its limit and nothing else."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from alarms.jobs import JobRunner, JobSettings, tick_of
from alarms.models import Alarm, JobRun
from alarms.service import AlarmService
from registry.events import DeviceStatusChanged
from registry.models import OutboxEvent
from registry.outbox import add_event
from routing.models import CallRecord
from tests.fakes import FakeClock


def runner(services, clock: FakeClock, worker: str = "w1", **kw) -> JobRunner:  # type: ignore[no-untyped-def]
    return JobRunner(services.session_factory, worker, AlarmService(clock), JobSettings(**kw), clock)


def count(session, model) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_tick_runs_in_the_first_worker_only(services, session) -> None:
    clock = FakeClock()
    one, two = runner(services, clock, "w1"), runner(services, clock, "w2")
    assert one.run("supervision") is True
    assert two.run("supervision") is False  # the same minute: w1 has it
    clock.advance(seconds=60)
    assert two.run("supervision") is True
    assert (one.ran, two.ran, two.skipped) == ({"supervision": 1}, {"supervision": 1}, {"supervision": 1})
    rows = session.scalars(select(JobRun).order_by(JobRun.tick)).all()
    assert [(r.worker, r.tick) for r in rows] == [
        ("w1", tick_of(clock() - timedelta(seconds=60), 60)),
        ("w2", tick_of(clock(), 60)),
    ]
    assert all(r.finished_at is not None and r.result.startswith("test calls: 0 overdue") for r in rows)


def test_ticks_are_the_same_for_every_worker_whatever_second_they_start() -> None:
    clock = FakeClock()
    start = tick_of(clock(), 60)
    assert tick_of(clock() + timedelta(seconds=59.9), 60) == start
    assert tick_of(clock() + timedelta(seconds=60), 60) == start + timedelta(seconds=60)
    assert tick_of(clock() + timedelta(seconds=7), 5) == start + timedelta(seconds=5)


def test_a_failing_job_is_logged_and_the_next_tick_runs_again(services, caplog) -> None:
    clock = FakeClock()
    r = runner(services, clock)

    def broken(session, now):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    r.supervise = broken  # type: ignore[method-assign]
    assert r.run("supervision") is True
    assert "job supervision tick" in caplog.text and "failed" in caplog.text
    clock.advance(seconds=60)
    assert r.run("supervision") is True


def test_retention_removes_old_calls_events_and_closed_alarms_only(services, session) -> None:
    clock = FakeClock()
    old, recent = clock() - timedelta(days=401), clock() - timedelta(days=399)
    for n, at in enumerate([old, recent]):
        session.add(
            CallRecord(
                record_id=f"r{n}",
                call_id=f"c{n}",
                received_at=at,
                source="x",
                transport="UDP",
                status=302,
                latency_us=1,
            )
        )
    session.commit()
    add_event(session, DeviceStatusChanged(occurred_at=old, device_id=1, site_id=1, status="online"))
    session.commit()
    session.execute(OutboxEvent.__table__.update().values(recorded_at=old))
    session.commit()
    add_event(session, DeviceStatusChanged(occurred_at=recent, device_id=1, site_id=1, status="online"))
    session.commit()
    common = dict(
        kind="out_of_hours",
        severity="minor",
        event_type="securityServiceOrMechanismViolation",
        first_at=old,
        last_at=old,
        target_center_ids=[],
    )
    session.add_all(
        [
            Alarm(resource="device:1", state="closed", closed_at=old, **common),
            Alarm(resource="device:2", state="closed", closed_at=recent, **common),
            Alarm(resource="device:3", state="active_unacknowledged", **common),  # open: kept however old
        ]
    )
    session.commit()
    r = runner(services, clock)
    assert r.run("retention")
    assert (count(session, CallRecord), count(session, OutboxEvent), count(session, Alarm)) == (1, 1, 2)
    result = session.scalars(select(JobRun.result).where(JobRun.job == "retention")).one()
    assert result.startswith("removed 1 calls, 1 events, 1 closed alarms older than")
