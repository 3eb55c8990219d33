"""Worker health: the ``worker_status`` row a worker writes about itself (recorder, SIP listener,
calls held or lost while the journal fails, the snapshot it answers from), and the readiness rule that
``/readyz`` applies to those rows. Pure apart from the session functions; never imports flask.
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
#: journal bytes not yet in the database beyond which a worker is not ready (the recorder is far behind)
DEFAULT_BACKLOG_MAX_BYTES = 50 << 20


class ChildState(StrEnum):
    """A child process of the worker (the call recorder, the event relay) as its worker sees it."""

    RUNNING = "running"
    #: it died; the worker starts it again after a backoff (calls still go to the journal, events
    #: wait in the outbox)
    RESTARTING = "restarting"
    #: not started, cannot be started, or stopped with the worker
    DOWN = "down"
    #: not run by this worker by configuration (the relay with ``ANIGATE_RELAY=0``)
    OFF = "off"


class SnapshotSource(StrEnum):
    """What a worker answers calls from."""

    #: the live registry snapshot, refreshed from the database
    DATABASE = "database"
    #: the one kept on disk: the database could not be read when the worker started
    DISK = "disk"


@dataclass(frozen=True)
class WorkerReport:
    """What a worker says about itself in one heartbeat."""

    worker: str
    host: str
    pid: int
    started_at: datetime
    recorder_state: ChildState
    recorder_pid: int | None
    recorder_restarts: int
    recorder_last_error: str
    sip_listening: bool = True
    #: answered calls held in memory because the journal cannot be written, and since when
    calls_held: int = 0
    calls_held_since: datetime | None = None
    #: every call answered while the journal failed, and those beyond the hold limit (never recorded)
    calls_unjournaled: int = 0
    calls_lost: int = 0
    snapshot_source: SnapshotSource = SnapshotSource.DATABASE
    snapshot_taken_at: datetime | None = None
    #: the event relay process, supervised like the recorder
    relay_state: ChildState = ChildState.OFF
    relay_pid: int | None = None
    relay_restarts: int = 0
    relay_last_error: str = ""


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
    row.sip_listening = report.sip_listening
    row.calls_held = report.calls_held
    row.calls_held_since = report.calls_held_since
    row.calls_unjournaled = report.calls_unjournaled
    row.calls_lost = report.calls_lost
    row.snapshot_source = report.snapshot_source.value
    row.snapshot_taken_at = report.snapshot_taken_at
    row.relay_state = report.relay_state.value
    row.relay_pid = report.relay_pid
    row.relay_restarts = report.relay_restarts
    row.relay_last_error = report.relay_last_error


def worker_statuses(session: Session) -> list[WorkerStatus]:
    return list(session.scalars(select(WorkerStatus).order_by(WorkerStatus.worker)))


@dataclass(frozen=True)
class Readiness:
    """``ready`` when some worker's heartbeat is fresh, every fresh worker is healthy (SIP listener
    bound, recorder running, its relay running unless it runs none, journal backlog within its
    bound, no call held unjournaled, answering from the live registry snapshot) and every enabled
    MQTT sink is connected; ``reasons`` names each failed check."""

    ready: bool
    reasons: list[str]
    workers: list[dict[str, Any]]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "ok"


def worker_faults(row: WorkerStatus, backlog_max_bytes: int = DEFAULT_BACKLOG_MAX_BYTES) -> list[str]:
    """What is wrong with one fresh worker, in words for an operator (no error text, no call data)."""
    faults = []
    if not row.sip_listening:
        faults.append(f"the SIP listener of {row.worker} is not bound")
    if row.recorder_state != ChildState.RUNNING:
        faults.append(f"the call recorder of {row.worker} is {row.recorder_state}")
    if row.relay_state not in (ChildState.RUNNING, ChildState.OFF):
        faults.append(f"the event relay of {row.worker} is {row.relay_state}")
    if row.journal_backlog_bytes > backlog_max_bytes:
        faults.append(
            f"the call journal of {row.worker} holds {row.journal_backlog_bytes} bytes not yet in the "
            f"database (more than {backlog_max_bytes})"
        )
    if row.calls_held:
        faults.append(f"{row.worker} holds {row.calls_held} answered calls it cannot journal")
    if row.snapshot_source != SnapshotSource.DATABASE:
        age = f" of {row.snapshot_taken_at.isoformat(timespec='seconds')}" if row.snapshot_taken_at else ""
        faults.append(f"{row.worker} answers from the registry snapshot on disk{age}, not the live one")
    return faults


def readiness(
    rows: Sequence[WorkerStatus],
    now: datetime,
    max_age: float = HEARTBEAT_MAX_AGE,
    *,
    backlog_max_bytes: int = DEFAULT_BACKLOG_MAX_BYTES,
    sinks_down: Sequence[str] = (),
) -> Readiness:
    """The readiness rule over the ``worker_status`` rows at ``now`` and the names of the enabled
    MQTT sinks that are not connected. The answer names no error text (the recorder's last error may
    quote call data): states, counts, heartbeat age and backlog only."""
    workers = []
    reasons: list[str] = []
    fresh = 0
    for row in rows:
        age = max(0.0, (now - row.heartbeat_at).total_seconds())
        is_fresh = age <= max_age
        workers.append(
            {
                "worker": row.worker,
                "heartbeat_age_s": round(age, 1),
                "fresh": is_fresh,
                "sip_listening": row.sip_listening,
                "recorder": row.recorder_state,
                "recorder_restarts": row.recorder_restarts,
                "relay": row.relay_state,
                "relay_restarts": row.relay_restarts,
                "journal_backlog_bytes": row.journal_backlog_bytes,
                "calls_held": row.calls_held,
                "calls_lost": row.calls_lost,
                "snapshot": row.snapshot_source,
            }
        )
        if is_fresh:
            fresh += 1
            reasons += worker_faults(row, backlog_max_bytes)
    if not fresh:
        reasons.insert(0, f"no worker heartbeat in the last {max_age:.0f} s")
    reasons += [f"the MQTT sink {name} is not connected" for name in sinks_down]
    return Readiness(not reasons, reasons, workers)
