"""The CSV job runner against a real database: two processes never run one job, a job left running
by a process that stopped is queued again (or failed, saying why) when a runner starts, a stop puts
a running check back in the queue, and an import that lost its job writes nothing."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bootstrap import Services, build_services
from config import Settings
from registry import csvjobs
from registry.accounts import actor_for_user
from registry.choices import CsvJobPhase, CsvJobState
from registry.csvjobs import CsvJobRunner, submit_job
from registry.models import ChangeLog, CsvJob, Device, User
from tests import factories as f
from tests.web_support import user

GOOD = "ani,kind,site\n030 2390 5601,other,tower-a\n030 2390 5602,door_intercom,tower-a\n"


@pytest.fixture
def ada(session: Session) -> User:
    f.site(session)
    session.commit()
    return user(session, "ada", "facility_manager", sites=["tower-a"])


@pytest.fixture
def folder(settings: Settings) -> Path:
    return csvjobs.uploads_dir(settings.instance_dir)


@pytest.fixture
def other_process(settings: Settings, services: Services) -> Iterator[Services]:
    """A second set of services on the same database: another web process's engine and runner."""
    svc = build_services(settings)
    yield svc
    svc.close()


def _submit(session: Session, owner: User, folder: Path, text: str = GOOD) -> CsvJob:
    job = submit_job(session, actor_for_user(owner, "web"), "device", text, "devices.csv", folder, "DE")
    session.commit()
    return job


def _job(session: Session, job_id: int) -> CsvJob:
    session.expire_all()
    job = session.get(CsvJob, job_id)
    assert job is not None
    return job


def _devices(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Device)) or 0


def _left_running(session: Session, job: CsvJob, claimed_by: str, **values: Any) -> None:
    values = {"heartbeat_at": datetime.now(UTC), "attempts": 1} | values
    session.execute(
        update(CsvJob)
        .where(CsvJob.id == job.id)
        .values(state=CsvJobState.RUNNING, claimed_by=claimed_by, started_at=datetime.now(UTC), **values)
    )
    session.commit()


def _dead_pid() -> int:
    """The id of a process of this host that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _wait(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def test_two_processes_claiming_at_once_never_take_the_same_job(
    session, ada, folder, services, other_process
) -> None:
    jobs = [_submit(session, ada, folder).id for _ in range(12)]
    runners = [services.csv_jobs, other_process.csv_jobs]
    for i, runner in enumerate(runners):
        runner.worker_id = f"{socket.gethostname()}:0:runner{i}"
    claimed: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def take(i: int) -> None:
        start.wait()
        while (job_id := runners[i].claim()) is not None:
            claimed[i].append(job_id)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(claimed[0] + claimed[1]) == jobs  # every job once, none twice
    for i, ids in enumerate(claimed):
        for job_id in ids:
            job = _job(session, job_id)
            assert (job.state, job.claimed_by, job.attempts) == (
                CsvJobState.RUNNING,
                f"{runners[i].worker_id}",
                1,
            )


def test_a_job_left_running_by_a_process_that_died_is_checked_again_when_a_runner_starts(
    session, ada, folder, services
) -> None:
    job = _submit(session, ada, folder)
    _left_running(session, job, f"{socket.gethostname()}:{_dead_pid()}:gone", rows_done=1, rows_total=2)
    runner = services.csv_jobs
    runner.start()  # what a restarted web process does
    done = _wait(lambda: _job(session, job.id).state == CsvJobState.DONE and _job(session, job.id))
    assert done.message == csvjobs.RESTARTED
    assert done.attempts == 2 and done.claimed_by == runner.worker_id
    assert done.report is not None and done.report["created"] == 2 and done.report["error_count"] == 0
    assert _devices(session) == 0  # a check


def test_a_job_whose_process_keeps_dying_fails_with_a_message(session, ada, folder, services) -> None:
    job = _submit(session, ada, folder)
    _left_running(session, job, f"{socket.gethostname()}:{_dead_pid()}:gone", attempts=csvjobs.MAX_ATTEMPTS)
    assert services.csv_jobs.recover() == 1
    failed = _job(session, job.id)
    assert failed.state == CsvJobState.FAILED
    assert failed.message == (
        "The web process running this job stopped 2 times before it finished; nothing was imported. "
        "Upload the file again, or import it on the command line."
    )
    assert not (folder / f"{job.token}.csv").exists()


def test_a_silent_job_of_another_host_is_taken_back_a_live_one_is_left_alone(
    session, ada, folder, services
) -> None:
    silent, busy, here = (_submit(session, ada, folder) for _ in range(3))
    long_ago = datetime.now(UTC) - timedelta(seconds=csvjobs.STALE_SECONDS + 30)
    _left_running(session, silent, "web2.example:4242:ab12cd34", heartbeat_at=long_ago)
    _left_running(session, busy, "web2.example:4242:ab12cd34")
    _left_running(session, here, f"{socket.gethostname()}:{os.getpid()}:another-runner")
    assert services.csv_jobs.recover() == 1
    assert _job(session, silent.id).state == CsvJobState.QUEUED
    assert _job(session, busy.id).state == CsvJobState.RUNNING
    assert _job(session, here.id).state == CsvJobState.RUNNING


def test_a_stopping_process_puts_its_running_check_back_in_the_queue(
    session, ada, folder, services, other_process
) -> None:
    lines = "".join(f"030 2{i:07d},other,tower-a\n" for i in range(20_000))
    job = _submit(session, ada, folder, "ani,kind,site\n" + lines)
    runner = services.csv_jobs
    runner.start()
    _wait(lambda: _job(session, job.id).rows_total == 20_000)  # reading done, checking rows
    runner.stop(timeout=10)
    back = _job(session, job.id)
    assert (back.state, back.attempts, back.claimed_by) == (CsvJobState.QUEUED, 0, "")

    assert other_process.csv_jobs.run_pending() == 1  # the next process checks it from the start
    done = _job(session, job.id)
    assert done.state == CsvJobState.DONE and done.report is not None and done.report["created"] == 20_000


def test_an_import_whose_job_was_taken_over_writes_nothing(session, ada, folder, services) -> None:
    job = _submit(session, ada, folder)
    runner = services.csv_jobs
    assert runner.run_pending() == 1
    assert csvjobs.confirm_job(session, actor_for_user(ada, "web"), _job(session, job.id), folder) is None
    session.commit()
    assert runner.claim() == job.id
    # meanwhile another process decided this one was gone and took the job
    session.execute(update(CsvJob).where(CsvJob.id == job.id).values(claimed_by="web2.example:1:other"))
    session.commit()
    runner.run(job.id)
    assert _devices(session) == 0
    assert _job(session, job.id).state == CsvJobState.RUNNING  # still the other process's

    session.execute(update(CsvJob).where(CsvJob.id == job.id).values(claimed_by=runner.worker_id))
    session.commit()
    runner.run(job.id)  # its own again: imports, rows and the job's end in one commit
    assert _devices(session) == 2
    done = _job(session, job.id)
    assert (done.phase, done.state) == (CsvJobPhase.IMPORT, CsvJobState.DONE)
    assert not (folder / f"{job.token}.csv").exists()


def test_a_disabled_account_or_a_lost_file_fails_the_job_with_a_message(
    session, ada, folder, services
) -> None:
    gone = _submit(session, ada, folder)
    (folder / f"{gone.token}.csv").unlink()
    disabled = _submit(session, ada, folder)
    session.execute(update(User).where(User.id == ada.id).values(is_active=False))
    session.commit()
    assert services.csv_jobs.run_pending() == 2
    assert (_job(session, gone.id).state, _job(session, gone.id).message) == (
        CsvJobState.FAILED,
        csvjobs.GONE,
    )
    failed = _job(session, disabled.id)
    assert (failed.state, failed.message) == (
        CsvJobState.FAILED,
        "The account that uploaded the file is disabled.",
    )


def test_the_change_log_names_the_job_that_imported_a_row(session, ada, folder, services) -> None:
    job = _submit(session, ada, folder)
    runner = services.csv_jobs
    runner.run_pending()
    csvjobs.confirm_job(session, actor_for_user(ada, "web"), _job(session, job.id), folder)
    session.commit()
    runner.run_pending()
    logs = session.scalars(select(ChangeLog).where(ChangeLog.object_type == "device")).all()
    assert {(log.actor, log.source, log.request_id, log.user_id) for log in logs} == {
        ("ada", "csv", f"csv-job-{job.id}", ada.id)
    }


def _checked_and_confirmed(
    session: Session, owner: User, folder: Path, runner: CsvJobRunner, *texts: str
) -> list[int]:
    """Jobs for ``texts``, checked and confirmed: their imports wait in the queue."""
    jobs = [_submit(session, owner, folder, text).id for text in texts]
    assert runner.run_pending() == len(jobs)
    for job_id in jobs:
        assert (
            csvjobs.confirm_job(session, actor_for_user(owner, "web"), _job(session, job_id), folder) is None
        )
    session.commit()
    return jobs


def test_on_sqlite_a_second_import_waits_in_the_queue_while_one_runs(
    session, ada, folder, services, other_process
) -> None:
    runner = services.csv_jobs
    other_rows = GOOD.replace("5601", "5611").replace("5602", "5612")
    first, second = _checked_and_confirmed(session, ada, folder, runner, GOOD, other_rows)
    check = _submit(session, ada, folder).id
    assert runner.claim() == first
    sqlite = session.get_bind().dialect.name == "sqlite"
    # SQLite has one writer at a time: the second import would wait for the first one's lock;
    # PostgreSQL locks rows, so both import at once
    assert other_process.csv_jobs.claim() == (check if sqlite else second)
    runner.run(first)
    assert other_process.csv_jobs.claim() == (second if sqlite else check)


def test_a_job_the_database_is_too_busy_for_waits_and_runs_once_the_lock_is_gone(
    session, ada, folder, services, database_url, caplog
) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock (rows are locked, the import waits)")
    runner = services.csv_jobs
    (job_id,) = _checked_and_confirmed(session, ada, folder, runner, GOOD)
    assert runner.claim() == job_id
    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a command-line import writing, say: holds the write lock
    run = threading.Thread(target=runner.run, args=(job_id,))
    try:
        run.start()  # checks the rows, then waits for the lock past the 5 s busy timeout
        _wait(lambda: any("the database was busy" in r.getMessage() for r in caplog.records), timeout=30)
    finally:
        other.execute("ROLLBACK")
        other.close()
    run.join(30)
    waited = _job(session, job_id)
    assert (waited.state, waited.message, _devices(session)) == (CsvJobState.QUEUED, csvjobs.WAITED, 0)
    assert runner.run_pending() == 1
    done = _job(session, job_id)
    assert done.state == CsvJobState.DONE and done.report is not None and done.report["created"] == 2
    assert _devices(session) == 2
