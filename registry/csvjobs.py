"""Web CSV uploads as background jobs: a file is checked (a dry run of :func:`registry.csvio.import_csv`)
and, once its owner confirms, imported by the job thread of some web process, never in the request.

Owns the ``csv_jobs`` rows, their files (``<instance dir>/uploads/<token>.csv``, 0600) and
:class:`CsvJobRunner`, the one job thread of a process. Processes that share the database share the
instance folder (its secret key too). Must not import flask.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, exists, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased, sessionmaker

from registry.accounts import actor_for_user
from registry.actors import Actor
from registry.choices import CsvJobPhase, CsvJobState
from registry.csvio import COLUMNS, ImportReport, RowError, import_csv
from registry.db import utcnow
from registry.errors import Forbidden, NotFound
from registry.logins import best_effort_update
from registry.models import CsvJob

log = logging.getLogger(__name__)

#: rows one web upload may have (the command line takes any number); a 50,000-row file takes a few
#: seconds to check and to import, and a few hundred MB while it runs
MAX_WEB_ROWS = 50_000
#: a checked file waits this long for its owner's confirmation, then it is deleted
CONFIRM_TTL_SECONDS = 3600
#: finished jobs are listed this long, then deleted
KEEP_SECONDS = 7 * 86400
#: a running job whose heartbeat is older than this was left by a process that stopped
STALE_SECONDS = 120
#: runs of one phase before a job whose process keeps dying fails instead of starting again
MAX_ATTEMPTS = 2
#: runs of a job that the database was too busy for before it fails, and the pause before the next
MAX_BUSY_RUNS = 5
BUSY_PAUSE_SECONDS = 1.0
#: progress (and heartbeat) is written at most this often
PROGRESS_SECONDS = 1.0
#: how often an idle runner looks for queued jobs that another process took in
POLL_SECONDS = 2.0
#: how often the runner looks for abandoned jobs and expired files
SWEEP_SECONDS = 30.0
#: row errors kept in a job's report (and listed on its page); the rest are counted
MAX_ERRORS_KEPT = 500

GONE = "The uploaded file is gone (an upload waits an hour for its confirmation). Upload the file again."
CHANGED = (
    "The registry changed during the import (someone else wrote a clashing row); "
    "nothing was imported. Upload the file again."
)
FAILED = "The job stopped on an internal error; nothing was imported. Upload the file again."
DIED = (
    "The web process running this job stopped {n} times before it finished; nothing was imported. "
    "Upload the file again, or import it on the command line."
)
EXPIRED = "That upload has expired (an upload waits an hour for its confirmation). Upload the file again."
BUSY = "The database stayed busy (another import or a long write); nothing was imported. Try again later."
WAITED = "Tried again: the database was busy with another write; nothing had been written."
RESTARTED = "Started again: the web process that was running it stopped."


# --- reports -------------------------------------------------------------------------------------


@dataclass
class JobReport:
    """What a job's check or import found, as kept in ``csv_jobs.report``."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    bad_rows: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @classmethod
    def of(cls, report: ImportReport) -> JobReport:
        return cls(
            report.rows,
            report.created,
            report.updated,
            report.unchanged,
            report.errors[:MAX_ERRORS_KEPT],
            len(report.errors),
            report.bad_rows,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": [[e.row, e.column, e.reason] for e in self.errors],
            "error_count": self.error_count,
            "bad_rows": self.bad_rows,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> JobReport | None:
        if data is None:
            return None
        return cls(
            data["rows"],
            data["created"],
            data["updated"],
            data["unchanged"],
            [RowError(row, column, reason) for row, column, reason in data["errors"]],
            data["error_count"],
            data["bad_rows"],
        )


def report_of(job: CsvJob) -> JobReport | None:
    return JobReport.from_json(job.report)


# --- use cases of the web pages ------------------------------------------------------------------


def uploads_dir(instance_dir: Path | str) -> Path:
    """Where uploaded files wait for their job (inside the owner-only instance folder)."""
    return Path(instance_dir) / "uploads"


def _file(folder: Path, job: CsvJob) -> Path:
    return folder / f"{job.token}.csv"


def submit_job(
    session: Session,
    actor: Actor,
    object_type: str,
    text: str,
    filename: str,
    folder: Path,
    default_region: str,
) -> CsvJob:
    """Queue the check of an uploaded file for ``actor``; the caller commits (then wakes a runner)."""
    if object_type not in COLUMNS or actor.user_id is None:
        raise ValueError(f"a CSV job needs a user and one of {', '.join(COLUMNS)}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(folder / f"{token}.csv", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write(text)
    job = CsvJob(
        user_id=actor.user_id,
        object_type=object_type,
        filename=filename[:120],
        token=token,
        default_region=default_region,
        phase=CsvJobPhase.CHECK,
        state=CsvJobState.QUEUED,
        rows_done=0,
        rows_total=0,
        attempts=0,
        claimed_by="",
        message="",
        created_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


def visible_job(session: Session, actor: Actor, job_id: int) -> CsvJob:
    """A job its owner sees, and every administrator; anyone else gets :class:`NotFound`."""
    job = session.get(CsvJob, job_id)
    if job is None or not (actor.is_admin or job.user_id == actor.user_id):
        raise NotFound("csv_job", job_id)
    return job


def list_jobs(
    session: Session, actor: Actor, limit: int = 50, *, object_type: str | None = None, own: bool = False
) -> list[CsvJob]:
    """The newest jobs the actor sees: their own; administrators everyone's (unless ``own``)."""
    stmt = select(CsvJob).order_by(CsvJob.id.desc()).limit(limit)
    if own or not actor.is_admin:
        stmt = stmt.where(CsvJob.user_id == actor.user_id)
    if object_type is not None:
        stmt = stmt.where(CsvJob.object_type == object_type)
    return list(session.scalars(stmt))


def expired(job: CsvJob, now: datetime | None = None) -> bool:
    """A checked file whose confirmation did not come within the hour."""
    now = now or utcnow()
    return (
        job.phase == CsvJobPhase.CHECK
        and job.state == CsvJobState.DONE
        and job.finished_at is not None
        and now - job.finished_at > timedelta(seconds=CONFIRM_TTL_SECONDS)
    )


def awaits_confirmation(job: CsvJob, now: datetime | None = None) -> bool:
    report = report_of(job)
    return (
        job.phase == CsvJobPhase.CHECK
        and job.state == CsvJobState.DONE
        and report is not None
        and report.ok
        and not expired(job, now)
    )


def confirm_job(session: Session, actor: Actor, job: CsvJob, folder: Path) -> str | None:
    """Queue the import of a job its owner has checked; the reason it cannot be, or None.

    Only the owner confirms (an administrator looking at someone else's job may not). A job is
    confirmed once: a second confirmation (another tab, a double click) changes nothing.
    """
    if job.user_id != actor.user_id:
        raise Forbidden("only the user who uploaded a file may import it")
    if not awaits_confirmation(job):
        if expired(job):
            _file(folder, job).unlink(missing_ok=True)
            return EXPIRED
        return "This upload is not waiting for a confirmation."
    if not _file(folder, job).exists():
        return GONE
    moved = session.execute(
        update(CsvJob)
        .where(CsvJob.id == job.id, CsvJob.phase == CsvJobPhase.CHECK, CsvJob.state == CsvJobState.DONE)
        .values(
            phase=CsvJobPhase.IMPORT,
            state=CsvJobState.QUEUED,
            rows_done=0,
            attempts=0,
            claimed_by="",
            message="",
            started_at=None,
            finished_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.expire(job)
    return None if moved.rowcount == 1 else "This upload is not waiting for a confirmation."  # type: ignore[attr-defined]


# --- the runner ----------------------------------------------------------------------------------


class _Stopping(Exception):
    """Raised out of the progress callback: the process is stopping, the job goes back in the queue."""


def _host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process has that id now
        return True
    return True


class CsvJobRunner:
    """The job thread of one process: claims queued jobs and runs them one at a time.

    A claim is a conditional ``UPDATE ... WHERE state = 'queued'`` that one process wins, so two
    processes never run one job. A job left running by a process that stopped (its pid is gone on
    this host, or its heartbeat is older than :data:`STALE_SECONDS`) is queued again, or failed with
    a message after :data:`MAX_ATTEMPTS` runs, when a runner starts and every half minute after.
    An import commits its rows and its job's end in one transaction, so a run that dies in between
    has written nothing and may run again.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        folder: Path,
        *,
        clock: Callable[[], datetime] = utcnow,
        poll_seconds: float = POLL_SECONDS,
    ):
        self.session_factory = session_factory
        self._engine: Engine = session_factory.kw["bind"]
        self.uploads_dir = Path(folder)
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.worker_id = ""
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        #: the job this runner is running now, if any
        self._current: int | None = None
        self._pid = 0

    # -- thread life --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread once (later calls do nothing), in the process that will run the jobs."""
        with self._lock:
            # a thread started before a fork (gunicorn --preload) did not come along: start anew
            if (self._thread is not None and self._pid == os.getpid()) or self._stopping.is_set():
                return
            self._pid = os.getpid()
            self.worker_id = f"{_host()}:{self._pid}:{secrets.token_hex(4)}"
            self._thread = threading.Thread(target=self._loop, name="csv-jobs", daemon=True)
            self._thread.start()
            atexit.register(self.stop)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """A job was queued in this process: look now, not at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the thread; a job in its check or in the validation of its import goes back in the
        queue for the next process (an import already writing is left to finish or to die)."""
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        atexit.unregister(self.stop)

    def _loop(self) -> None:
        next_sweep = 0.0
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                if time.monotonic() >= next_sweep:
                    self.recover()
                    self.sweep()
                    next_sweep = time.monotonic() + SWEEP_SECONDS
                while not self._stopping.is_set() and self.run_next():
                    pass
                failures = 0
            except OperationalError as exc:  # SQLite locked past the busy timeout, a lost connection
                failures += 1
                log.warning("CSV job runner %s: the database is busy or away: %s", self.worker_id, exc.orig)
            except Exception:
                failures += 1
                if failures <= 3 or failures % 100 == 0:
                    log.exception("CSV job runner %s: could not look for jobs", self.worker_id)
            self._wake.wait(self.poll_seconds if not failures else min(30.0, self.poll_seconds * failures))

    # -- one step at a time (the thread's loop; tests and the bench call them directly) ----------------

    def run_pending(self) -> int:
        """Run queued jobs in this thread until none is left; how many ran."""
        if not self.worker_id:
            self.worker_id = f"{_host()}:{os.getpid()}:{secrets.token_hex(4)}"
        n = 0
        while self.run_next():
            n += 1
        return n

    def run_next(self) -> bool:
        job_id = self.claim()
        if job_id is None:
            return False
        self.run(job_id)
        return True

    def claim(self) -> int | None:
        """Take the oldest queued job nobody else took first, or None."""
        with self.session_factory() as session:
            queued = session.scalars(
                select(CsvJob.id).where(CsvJob.state == CsvJobState.QUEUED).order_by(CsvJob.id).limit(10)
            ).all()
            sqlite = session.get_bind().dialect.name == "sqlite"
            for job_id in queued:
                now = self.clock()
                stmt = update(CsvJob).where(CsvJob.id == job_id, CsvJob.state == CsvJobState.QUEUED)
                if sqlite:
                    # one writer at a time: a second import would only wait for the first one's write
                    # lock, past the busy timeout; it waits in the queue instead
                    other = aliased(CsvJob)
                    importing = exists().where(
                        other.phase == CsvJobPhase.IMPORT, other.state == CsvJobState.RUNNING
                    )
                    stmt = stmt.where(~((CsvJob.phase == CsvJobPhase.IMPORT) & importing))
                taken = session.execute(
                    stmt.values(
                        state=CsvJobState.RUNNING,
                        claimed_by=self.worker_id,
                        attempts=CsvJob.attempts + 1,
                        started_at=now,
                        heartbeat_at=now,
                        rows_done=0,
                    ).execution_options(synchronize_session=False)
                )
                session.commit()
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    return job_id
        return None

    def _mine(self, job_id: int) -> Any:
        return (
            (CsvJob.id == job_id)
            & (CsvJob.state == CsvJobState.RUNNING)
            & (CsvJob.claimed_by == self.worker_id)
        )

    def _set(self, job_id: int, session: Session | None = None, **values: Any) -> bool:
        """Update this runner's own running job; False when it is no longer ours."""
        stmt = update(CsvJob).where(self._mine(job_id)).values(**values)
        stmt = stmt.execution_options(synchronize_session=False)
        if session is not None:
            return bool(session.execute(stmt).rowcount == 1)  # type: ignore[attr-defined]
        for attempt in range(5):
            try:
                with self.session_factory() as own:
                    done = own.execute(stmt).rowcount == 1  # type: ignore[attr-defined]
                    own.commit()
                    return bool(done)
            except OperationalError:  # SQLite: another import holds the write lock past the timeout
                if attempt == 4:
                    raise
                time.sleep(1 + attempt)
        return False

    def _progress(self, job_id: int) -> Callable[[int, int], None]:
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if self._stopping.is_set():
                raise _Stopping
            now = time.monotonic()
            if done and done < total and now - last[0] < PROGRESS_SECONDS:
                return
            last[0] = now
            # best effort, waiting 100 ms at most for a lock: the next call writes it
            stmt = update(CsvJob).where(self._mine(job_id))
            best_effort_update(
                self._engine, stmt.values(rows_done=done, rows_total=total, heartbeat_at=self.clock())
            )

        return progress

    def run(self, job_id: int) -> None:
        """Run one claimed job to its end (done or failed), or back into the queue when stopping."""
        with self.session_factory() as session:
            job = session.get(CsvJob, job_id)
            if job is None:
                return
            phase, attempts, path = job.phase, job.attempts, _file(self.uploads_dir, job)
            self._current = job_id
            try:
                self._run(session, job, path)
            except _Stopping:
                session.rollback()
                self._set(job_id, state=CsvJobState.QUEUED, attempts=CsvJob.attempts - 1, claimed_by="")
                log.info("CSV job %s (%s) back in the queue: this process is stopping", job_id, phase.value)
            except OperationalError:
                # SQLite: another writer (a command-line import, the call recorder) held the write lock
                # past the busy timeout; a lost connection. Nothing was written: try again in a moment.
                session.rollback()
                log.warning("CSV job %s (%s): the database was busy", job_id, phase.value, exc_info=True)
                if attempts >= MAX_BUSY_RUNS:
                    self._end(job_id, CsvJobState.FAILED, message=BUSY)
                    path.unlink(missing_ok=True)
                else:
                    self._set(job_id, state=CsvJobState.QUEUED, claimed_by="", message=WAITED)
                    self._stopping.wait(BUSY_PAUSE_SECONDS)
            except Exception:
                session.rollback()
                log.exception("CSV job %s (%s) failed", job_id, phase.value)
                self._end(job_id, CsvJobState.FAILED, message=FAILED)
                path.unlink(missing_ok=True)
            finally:
                self._current = None

    def _end(
        self,
        job_id: int,
        state: CsvJobState,
        *,
        report: JobReport | None = None,
        message: str = "",
        session: Session | None = None,
    ) -> bool:
        values: dict[str, Any] = {"state": state, "finished_at": self.clock(), "heartbeat_at": self.clock()}
        if report is not None:
            values.update(report=report.to_json(), rows_total=report.rows, rows_done=report.rows)
        if message:
            values["message"] = message
        return self._set(job_id, session, **values)

    def _run(self, session: Session, job: CsvJob, path: Path) -> None:
        job_id, phase = job.id, job.phase
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._end(job_id, CsvJobState.FAILED, message=GONE)
            return
        user = job.user
        if not user.is_active:
            self._end(job_id, CsvJobState.FAILED, message="The account that uploaded the file is disabled.")
            path.unlink(missing_ok=True)
            return
        # the change log names the job: "csv-job-7" is where a row came from
        actor = actor_for_user(user, "csv", request_id=f"csv-job-{job_id}")
        dry_run = phase == CsvJobPhase.CHECK
        try:
            report = import_csv(
                session,
                actor,
                job.object_type,
                io.StringIO(text, newline=""),
                dry_run=dry_run,
                default_region=job.default_region,
                progress=self._progress(job_id),
                max_rows=MAX_WEB_ROWS,
            )
        except Forbidden as exc:
            session.rollback()
            self._end(job_id, CsvJobState.FAILED, message=f"Not allowed: {exc}.")
            path.unlink(missing_ok=True)
            return
        except IntegrityError:
            session.rollback()
            self._end(job_id, CsvJobState.FAILED, message=CHANGED)
            path.unlink(missing_ok=True)
            return
        result = JobReport.of(report)
        if dry_run:
            session.rollback()
            self._end(job_id, CsvJobState.DONE, report=result)
            if not result.ok:
                path.unlink(missing_ok=True)
            return
        if not result.ok:  # the registry changed since the check: nothing written, say what now
            session.rollback()
            self._end(job_id, CsvJobState.DONE, report=result)
        elif self._end(job_id, CsvJobState.DONE, report=result, session=session):
            session.commit()  # the rows and the job's end together
        else:  # another process took the job over meanwhile: it imports, not this one
            session.rollback()
            log.warning("CSV job %s was taken over by another process; this run wrote nothing", job_id)
            return
        path.unlink(missing_ok=True)

    # -- housekeeping -------------------------------------------------------------------------------

    def recover(self) -> int:
        """Queue again (or fail) the jobs that processes which stopped left running; how many."""
        host = _host()
        now = self.clock()
        moved = 0
        with self.session_factory() as session:
            running = session.scalars(select(CsvJob).where(CsvJob.state == CsvJobState.RUNNING)).all()
            for job in running:
                if job.claimed_by == self.worker_id and job.id == self._current:
                    continue
                owner_host, _, rest = job.claimed_by.partition(":")
                pid = rest.partition(":")[0]
                # this runner's own job that it is not running (a run that could not even record
                # its end) is as abandoned as one of a process that stopped
                gone = job.claimed_by == self.worker_id or (
                    owner_host == host and pid.isdigit() and not _pid_alive(int(pid))
                )
                silent = job.heartbeat_at is None or now - job.heartbeat_at > timedelta(seconds=STALE_SECONDS)
                if not (gone or silent):
                    continue
                if job.attempts >= MAX_ATTEMPTS:
                    values: dict[str, Any] = {
                        "state": CsvJobState.FAILED,
                        "finished_at": now,
                        "message": DIED.format(n=job.attempts),
                    }
                    _file(self.uploads_dir, job).unlink(missing_ok=True)
                else:
                    values = {"state": CsvJobState.QUEUED, "claimed_by": "", "message": RESTARTED}
                taken = session.execute(
                    update(CsvJob)
                    .where(
                        CsvJob.id == job.id,
                        CsvJob.state == CsvJobState.RUNNING,
                        CsvJob.claimed_by == job.claimed_by,
                    )
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    moved += 1
                    log.warning(
                        "CSV job %s left running by %s: %s",
                        job.id,
                        job.claimed_by,
                        "failed" if values["state"] == CsvJobState.FAILED else "queued again",
                    )
            session.commit()
        if moved:
            self._wake.set()
        return moved

    def sweep(self) -> None:
        """Delete files nobody confirmed within the hour, and jobs older than a week."""
        now = self.clock()
        with self.session_factory() as session:
            waiting = session.scalars(
                select(CsvJob).where(CsvJob.phase == CsvJobPhase.CHECK, CsvJob.state == CsvJobState.DONE)
            ).all()
            for job in waiting:
                if expired(job, now):
                    _file(self.uploads_dir, job).unlink(missing_ok=True)
            old = session.scalars(
                select(CsvJob).where(
                    CsvJob.created_at < now - timedelta(seconds=KEEP_SECONDS),
                    CsvJob.state != CsvJobState.RUNNING,
                )
            ).all()
            for job in old:
                _file(self.uploads_dir, job).unlink(missing_ok=True)
            if old:
                session.execute(delete(CsvJob).where(CsvJob.id.in_([j.id for j in old])))
            tokens = set(session.scalars(select(CsvJob.token)))
            session.commit()
        if self.uploads_dir.is_dir():
            for path in self.uploads_dir.glob("*.csv"):
                with contextlib.suppress(FileNotFoundError):  # another process swept it first
                    stale = time.time() - path.stat().st_mtime > CONFIRM_TTL_SECONDS
                    if path.stem not in tokens and stale:
                        path.unlink()
