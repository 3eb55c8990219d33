"""Worker health: the ``worker_status`` row a worker writes about itself, and the readiness rule that
``/readyz`` applies to those rows. Pure apart from the two session functions; never imports flask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from routing.journal import JournalReader, Position
from routing.models import JournalCheckpoint, WorkerStatus

#: a worker writes its row every 2 s; a row older than this means the worker is gone or stuck
HEARTBEAT_MAX_AGE = 10.0


class RecorderState(StrEnum):
    """The call recorder process as its worker sees it."""

    RUNNING = "running"
    #: it died; the worker starts it again after a backoff (calls still go to the journal)
    RESTARTING = "restarting"
    #: not started, cannot be started, or stopped with the worker
    DOWN = "down"


@dataclass(frozen=True)
class WorkerReport:
    """What a worker says about itself in one heartbeat."""

    worker: str
    host: str
    pid: int
    started_at: datetime
    recorder_state: RecorderState
    recorder_pid: int | None
    recorder_restarts: int
    recorder_last_error: str


def journal_backlog(
    session: Session, journal_dir: Path, name: str = "calls", checkpoint: str | None = None
) -> int:
    """Journal bytes not yet stored in the database (after the committed checkpoint)."""
    reader = JournalReader(journal_dir, name)
    cp = session.get(JournalCheckpoint, checkpoint or name)
    pos = Position(cp.segment, cp.offset) if cp else reader.first_position()
    return reader.backlog_bytes(pos)


def record_worker_status(
    session: Session, report: WorkerReport, at: datetime, journal_dir: Path, checkpoint: str | None = None
) -> None:
    """Insert or update the worker's row (the caller commits)."""
    row = session.get(WorkerStatus, report.worker)
    if row is None:
        row = WorkerStatus(worker=report.worker)
        session.add(row)
    row.host = report.host
    row.pid = report.pid
    row.started_at = report.started_at
    row.heartbeat_at = at
    row.recorder_state = report.recorder_state.value
    row.recorder_pid = report.recorder_pid
    row.recorder_restarts = report.recorder_restarts
    row.recorder_last_error = report.recorder_last_error
    row.journal_backlog_bytes = journal_backlog(session, journal_dir, checkpoint=checkpoint)


def worker_statuses(session: Session) -> list[WorkerStatus]:
    return list(session.scalars(select(WorkerStatus).order_by(WorkerStatus.worker)))


@dataclass(frozen=True)
class Readiness:
    """``ready`` when some worker's heartbeat is fresh and every fresh worker's recorder runs."""

    ready: bool
    reason: str
    workers: list[dict[str, Any]]


def readiness(rows: Sequence[WorkerStatus], now: datetime, max_age: float = HEARTBEAT_MAX_AGE) -> Readiness:
    """The readiness rule over the ``worker_status`` rows at ``now``. The answer names no error text
    (the recorder's last error may quote call data): state, restarts, heartbeat age and backlog only."""
    workers = []
    fresh = []
    for row in rows:
        age = max(0.0, (now - row.heartbeat_at).total_seconds())
        is_fresh = age <= max_age
        workers.append(
            {
                "worker": row.worker,
                "heartbeat_age_s": round(age, 1),
                "fresh": is_fresh,
                "recorder": row.recorder_state,
                "recorder_restarts": row.recorder_restarts,
                "journal_backlog_bytes": row.journal_backlog_bytes,
            }
        )
        if is_fresh:
            fresh.append(row)
    if not fresh:
        return Readiness(False, f"no worker heartbeat in the last {max_age:.0f} s", workers)
    for row in fresh:
        if row.recorder_state != RecorderState.RUNNING:
            return Readiness(False, f"the call recorder of {row.worker} is {row.recorder_state}", workers)
    return Readiness(True, "ok", workers)
