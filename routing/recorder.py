"""Drains the call journal into the database in batches, off the SIP hot path.

Each batch inserts the call rows, moves the devices' last-call, last-test-call and heartbeat times,
adds unknown callers of opted-in trunks as pending devices, and advances the journal checkpoint in
one transaction. When the database is away the batch is retried with backoff and the journal simply
grows; nothing is dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from registry.actors import Actor
from registry.choices import DeviceKind, DeviceStatus
from registry.errors import RegistryError
from registry.events import CallRouted
from registry.models import Device
from registry.outbox import add_events
from registry.services import create_object
from routing.callevents import call_events
from routing.journal import JournalReader, Position
from routing.models import CallRecord, JournalCheckpoint

log = logging.getLogger(__name__)

#: called with each batch's calls inside the batch's transaction (``worker.py`` wires the alarm engine)
CallObserver = Callable[[Session, Sequence[CallRouted]], None]

_CALL_COLUMNS = {c.key for c in CallRecord.__table__.columns} - {"id"}


def call_row(rec: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in rec.items() if k in _CALL_COLUMNS}
    row["received_at"] = _instant(rec["received_at"])
    for key, default in (
        ("branch", ""),
        ("trunk_name", ""),
        ("privacy", ""),
        ("dnis", ""),
        ("targets", []),
        ("reason", ""),
        ("anomalies", []),
        ("identity_verified", False),
        ("priority", ""),
        ("line", ""),
        ("test_call", False),
    ):
        if row.get(key) is None:
            row[key] = default
    return row


def _instant(value: float | str) -> datetime:
    """Journal times are epoch seconds (cheap to write on the hot path); ISO strings also read."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(value)


_CALL_INSERTS: dict[str, tuple[str, list[tuple[str, Any]], bool]] = {}


def insert_calls(session: Session, rows: list[dict[str, Any]]) -> None:
    """``INSERT ... ON CONFLICT (record_id) DO NOTHING`` for a batch, compiled once per dialect and
    sent as one driver ``executemany`` with SQLAlchemy's own bind processors: the ORM's per-row
    execution bookkeeping was about half of the recorder's cost per call."""
    conn = session.connection()
    dialect = conn.dialect
    prepared = _CALL_INSERTS.get(dialect.name)
    if prepared is None:
        table = cast(Table, CallRecord.__table__)
        stmt: Insert
        if dialect.name == "postgresql":
            stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=["record_id"])
        elif dialect.name == "sqlite":
            stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["record_id"])
        else:  # pragma: no cover - anigate runs on SQLite and PostgreSQL
            stmt = insert(table)
        keys = sorted(_CALL_COLUMNS)
        compiled = stmt.compile(dialect=dialect, column_keys=keys)
        positional = bool(compiled.positional)
        order = list(compiled.positiontup or []) if positional else keys
        processors = [(k, table.c[k].type._cached_bind_processor(dialect)) for k in order]
        prepared = _CALL_INSERTS[dialect.name] = (compiled.string, processors, positional)
    sql, processors, positional = prepared
    params: list[Any] = []
    for row in rows:
        values = [(proc(row.get(k)) if proc else row.get(k)) for k, proc in processors]
        params.append(
            tuple(values) if positional else dict(zip([k for k, _ in processors], values, strict=True))
        )
    conn.exec_driver_sql(sql, params)


class CallRecorder:
    """Tails the journal: ``drain_once()`` stores one batch, ``drain()`` empties the journal.

    Runs in its own process (``worker.py --recorder``), started and supervised by the worker:
    :meth:`run` until told to stop, then :meth:`drain_for` a bounded time."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        journal_dir: Path,
        name: str = "calls",
        batch_size: int = 2000,
        checkpoint: str | None = None,
        idle_sleep: float = 0.05,
        max_backoff: float = 5.0,
        max_pending: int = 500,
        observers: Sequence[CallObserver] = (),
    ):
        self.factory = factory
        self.reader = JournalReader(journal_dir, name)
        self.name = name
        #: this journal's checkpoint row: each instance drains its own journal (``checkpoint_name``)
        self.checkpoint = checkpoint or name
        self.batch_size = batch_size
        self.idle_sleep = idle_sleep
        self.max_backoff = max_backoff
        self.max_pending = max_pending
        self.observers = tuple(observers)
        #: batches whose observers failed (their calls were recorded all the same)
        self.observer_failures = 0
        self.recorded = 0
        self.torn = 0
        self._pos: Position | None = None

    def _position(self, session: Session) -> Position:
        cp = session.get(JournalCheckpoint, self.checkpoint)
        if cp is None and self.checkpoint != self.name:
            # a database from before per-instance checkpoints: its one row is this journal's
            legacy = session.get(JournalCheckpoint, self.name)
            if legacy is not None:
                legacy.name = self.checkpoint
                session.commit()
                cp = legacy
        return Position(cp.segment, cp.offset) if cp else self.reader.first_position()

    def drain_once(self) -> int:
        """Read one batch and commit it; returns the number of records stored."""
        with self.factory() as session:
            pos = self._pos or self._position(session)
            batch = self.reader.read(pos, self.batch_size)
            if batch.end == pos:
                self._pos = pos
                return 0
            self._store(session, batch.records)
            cp = session.get(JournalCheckpoint, self.checkpoint)
            if cp is None:
                session.add(
                    JournalCheckpoint(
                        name=self.checkpoint, segment=batch.end.segment, offset=batch.end.offset
                    )
                )
            else:
                cp.segment, cp.offset = batch.end.segment, batch.end.offset
            session.commit()
        self._pos = batch.end
        self.torn += batch.torn
        self.recorded += len(batch.records)
        for path in self.reader.drained_segments(batch.end):
            path.unlink(missing_ok=True)
        return len(batch.records)

    def drain(self) -> int:
        """Drain until the journal is empty."""
        total = 0
        while True:
            before = self._pos
            n = self.drain_once()
            total += n
            if n == 0 and self._pos == before:
                return total

    def run(self, stop: Callable[[float], bool]) -> None:
        """Store batches until ``stop(timeout)`` (which waits at most ``timeout`` seconds for a stop
        request) returns True. A failing database is retried with backoff; the journal keeps growing
        meanwhile and nothing is dropped."""
        backoff = 0.1
        while True:
            try:
                n = self.drain_once()
                backoff = 0.1
            except Exception:
                log.exception("recording calls failed; retrying in %.1f s", backoff)
                self._pos = None  # read the committed checkpoint again
                if stop(backoff):
                    return
                backoff = min(self.max_backoff, backoff * 2)
                continue
            # caught up: let records gather, so that each transaction carries many of them
            if stop(self.idle_sleep if n < self.batch_size else 0):
                return

    def drain_for(self, seconds: float) -> bool:
        """Drain what the journal holds for at most ``seconds`` (checked between batches); True when
        it is empty. Whatever is left (the database is away, the deadline passed) stays in the journal
        for the next start: the checkpoint commits with the rows, so nothing is lost or doubled."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            before = self._pos
            try:
                n = self.drain_once()
            except Exception as exc:
                log.warning("journal left for the next start (the database is away: %s)", exc)
                return False
            if n == 0 and self._pos == before:
                return True
        log.warning("journal left for the next start: the stop deadline of %.0f s passed", seconds)
        return False

    def _store(self, session: Session, records: Sequence[dict[str, Any]]) -> None:
        call_records = [r for r in records if r.get("type") == "call"]
        calls = [call_row(r) for r in call_records]
        if calls:
            insert_calls(session, calls)
            # the call rows and their events commit together, with the checkpoint
            events = call_events(session, calls, call_records)
            add_events(session, events)
            self._observe(session, events)
        last_call: dict[int, datetime] = {}
        for c in calls:
            if c.get("device_id") is not None:
                at = c["received_at"]
                if c["device_id"] not in last_call or at > last_call[c["device_id"]]:
                    last_call[c["device_id"]] = at
        self._move_times(session, Device.last_call_at, last_call)
        tests: dict[int, datetime] = {}
        for c in calls:
            dev = c.get("device_id")
            if c.get("test_call") and dev is not None and (dev not in tests or c["received_at"] > tests[dev]):
                tests[dev] = c["received_at"]
        self._move_times(session, Device.last_test_call_at, tests)
        adopt_calls(
            session,
            [r for r in records if r.get("type") == "call" and r.get("adopt_site_id")],
            self.max_pending,
        )
        beats: dict[int, datetime] = {}
        for r in records:
            if r.get("type") == "heartbeat":
                at = _instant(r["at"])
                if r["device_id"] not in beats or at > beats[r["device_id"]]:
                    beats[r["device_id"]] = at
        self._move_times(session, Device.last_heartbeat_at, beats)

    def _observe(self, session: Session, events: Sequence[CallRouted]) -> None:
        self.observer_failures += observe(session, self.observers, events)

    @staticmethod
    def _move_times(session: Session, column: Any, times: dict[int, datetime]) -> None:
        """Set a device time column (never moving it backwards) without touching ``updated_at``:
        a call is not a registry edit."""
        if not times:
            return
        table = cast(Table, Device.__table__)
        col = table.c[column.key]
        stmt = (
            table.update()
            .where(table.c.id == bindparam("dev_id"))
            .where(or_(col.is_(None), col < bindparam("at")))
            .values({col: bindparam("at"), table.c.updated_at: table.c.updated_at})
        )
        session.execute(stmt, [{"dev_id": k, "at": v} for k, v in times.items()])


def observe(session: Session, observers: Sequence[CallObserver], events: Sequence[CallRouted]) -> int:
    """Hand recorded calls to the observers (the alarm engine) in the calls' transaction, each in a
    SAVEPOINT: an observer that fails loses its own writes, never the call records. Returns how many
    observers failed."""
    failed = 0
    for observer in observers:
        try:
            with session.begin_nested():
                observer(session, events)
        except Exception:
            failed += 1
            log.exception("%s failed on %d calls; they are recorded without it", observer, len(events))
    return failed


#: who adds pending devices in the change log
SIP_ACTOR = Actor.system("sip", "anigate SIP front door")


def adopt_calls(session: Session, records: Sequence[dict[str, Any]], max_pending: int = 500) -> int:
    """Add each unknown caller of an opted-in trunk to the trunk's site as a *pending* device, for a
    facility manager to adopt (status active) or reject (status decommissioned); returns how many.

    Goes through the registry's own validation and change log. A caller that cannot be added (the
    number is registered meanwhile, the site is gone) is logged and skipped in a savepoint, so that
    it never holds up the recording of calls. A site holds at most ``max_pending`` pending devices:
    a caller that keeps changing its number cannot fill the registry.
    """
    added = 0
    seen: set[str] = set()
    pending: dict[int, int] = {}
    for rec in records:
        ani = rec.get("ani")
        if not ani or ani in seen:
            continue
        seen.add(ani)
        site_id = rec["adopt_site_id"]
        if site_id not in pending:
            pending[site_id] = (
                session.scalar(
                    select(func.count())
                    .select_from(Device)
                    .where(Device.site_id == site_id, Device.status == DeviceStatus.PENDING)
                )
                or 0
            )
        if pending[site_id] >= max_pending:
            log.warning(
                "caller %s not added: site %s already has %d pending devices",
                ani,
                site_id,
                max_pending,
                extra={"call_id": rec.get("call_id")},
            )
            continue
        data = {
            "ani": ani,
            "site": rec["adopt_site_id"],
            "kind": DeviceKind.OTHER.value,
            "status": DeviceStatus.PENDING.value,
            "trunk": rec.get("trunk_id"),
            "notes": f"first called on trunk {rec.get('trunk_name', '')} at "
            f"{_instant(rec['received_at']).isoformat(timespec='seconds')} (call {rec.get('call_id', '')})",
        }
        try:
            with session.begin_nested():
                create_object(session, SIP_ACTOR, "device", data)
            added += 1
            pending[site_id] += 1
        except (RegistryError, IntegrityError) as exc:
            log.info(
                "caller %s not added as a pending device: %s", ani, exc, extra={"call_id": rec.get("call_id")}
            )
    return added
