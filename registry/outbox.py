"""The transactional outbox: domain events written in the transaction of the change that caused them,
and read back in commit order by a cursor that cannot skip a late commit.

Hand-written because the one rule that matters is database-specific: on PostgreSQL rows of two
concurrent transactions become visible out of id order, so "events after id N" skips a transaction
that took id N-1 and commits after N was read. Here each transaction takes its ``seq`` numbers from
a one-row counter as its last statement before COMMIT (``registry.db.before_commit``); the counter's
row lock is held until that commit, so ``seq`` order is commit order and "after seq N" is exact.
Must not import flask, routing, alarms or integrations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, event, or_, select
from sqlalchemy.orm import Session, SessionTransaction

from registry.bulk import insert_rows
from registry.db import before_commit, dialect_insert, utcnow
from registry.events import DomainEvent, from_envelope
from registry.models import OutboxEvent, OutboxSequence

#: ``session.info`` key: events of the open transaction, each with the (sub)transaction it was added in
_PENDING = "anigate.outbox.pending"


#: an event, or what makes it at commit (after the last flush: for ids a new row does not have yet)
PendingEvent = DomainEvent | Callable[[], DomainEvent]


def add_event(session: Session, ev: PendingEvent) -> None:
    """Write ``ev`` to the outbox when the session's transaction commits (not if it rolls back, nor
    if the SAVEPOINT it was added in rolls back). A callable is called at commit, after the last
    flush, and its event written."""
    add_events(session, (ev,))


def add_events(session: Session, events: Iterable[PendingEvent]) -> None:
    if not session.in_transaction():
        session.begin()  # the hook below belongs to a transaction: start it now, not at first SQL
    txn = session.get_nested_transaction() or session.get_transaction()
    pending: list[tuple[SessionTransaction | None, PendingEvent]] = session.info.setdefault(_PENDING, [])
    added = False
    for ev in events:
        pending.append((txn, ev))
        added = True
    if added:
        before_commit(session, "outbox", _write_pending)


def pending_events(session: Session) -> list[DomainEvent]:
    """The events the open transaction will write when it commits."""
    return [_made(ev) for _, ev in session.info.get(_PENDING, ())]


def _made(ev: PendingEvent) -> DomainEvent:
    return ev if isinstance(ev, DomainEvent) else ev()


def _row(ev: DomainEvent, seq: int, now: datetime) -> dict[str, Any]:
    return {
        "seq": seq,
        "event_id": str(ev.event_id),
        "type": ev.type,
        "schema_version": ev.schema_version,
        "occurred_at": ev.occurred_at,
        "recorded_at": now,
        "center_id": getattr(ev, "center_id", None),
        "site_id": getattr(ev, "site_id", None),
        "device_id": getattr(ev, "device_id", None),
        "body": ev.body(),
    }


def reserve(session: Session, count: int) -> int:
    """Move the outbox counter by ``count``; returns its new value (the last ``seq`` reserved).

    An upsert, so that a database made by ``create_all`` (tests) needs no seed row."""
    table: Table = OutboxSequence.__table__  # type: ignore[assignment]
    stmt = dialect_insert(session)(table).values(id=1, value=count)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.id], set_={"value": table.c.value + count})
    value: int = session.execute(stmt.returning(table.c.value)).scalar_one()
    return value


def _write_pending(session: Session) -> None:
    pending: list[tuple[SessionTransaction | None, PendingEvent]] = session.info.pop(_PENDING, [])
    if not pending:
        return
    events = [_made(ev) for _, ev in pending]
    last = reserve(session, len(events))
    first = last - len(events) + 1
    now = utcnow()
    insert_rows(session, OutboxEvent, [_row(ev, first + i, now) for i, ev in enumerate(events)])


def _within(txn: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while txn is not None:
        if txn is ended:
            return True
        txn = txn.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        pending[:] = [(t, ev) for t, ev in pending if not _within(t, previous_transaction)]


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


# ---- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvent:
    """An event as the outbox holds it: its place in commit order and the scope it was filed under."""

    seq: int
    event: DomainEvent
    recorded_at: datetime
    center_id: int | None
    site_id: int | None
    device_id: int | None


def head(session: Session) -> int:
    """The ``seq`` of the last committed event (0 for none): a reader starting "from now" starts here."""
    value = session.scalar(select(OutboxSequence.value).where(OutboxSequence.id == 1))
    return int(value or 0)


def read_events(
    session: Session,
    after: int = 0,
    limit: int = 500,
    *,
    types: Sequence[str] | None = None,
    center_ids: Sequence[int] | None = None,
    site_ids: Sequence[int] | None = None,
) -> list[StoredEvent]:
    """Committed events with ``seq`` greater than ``after``, in commit order, at most ``limit``.

    ``center_ids`` / ``site_ids`` keep events filed under one of them (an operator's center, a
    facility manager's sites); both given: either matches. The last event's ``seq`` is the cursor
    of the next call."""
    stmt = select(OutboxEvent).where(OutboxEvent.seq > after).order_by(OutboxEvent.seq).limit(limit)
    if types:
        stmt = stmt.where(OutboxEvent.type.in_(list(types)))
    scope = []
    if center_ids is not None:
        scope.append(OutboxEvent.center_id.in_(list(center_ids)))
    if site_ids is not None:
        scope.append(OutboxEvent.site_id.in_(list(site_ids)))
    if scope:
        stmt = stmt.where(or_(*scope))
    return [
        StoredEvent(
            seq=row.seq,
            event=from_envelope(
                {
                    "event_id": row.event_id,
                    "type": row.type,
                    "occurred_at": row.occurred_at,
                    "body": row.body,
                }
            ),
            recorded_at=row.recorded_at,
            center_id=row.center_id,
            site_id=row.site_id,
            device_id=row.device_id,
        )
        for row in session.scalars(stmt)
    ]
