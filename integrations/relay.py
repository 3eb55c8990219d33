"""The outbox relay: fans each committed event out into one delivery per sink, and delivers them at
least once, in order per device, with retries (exponential backoff with jitter) and dead letters.

Runs in the worker's background process (``worker.py``: beside the call recorder and the jobs),
never on the SIP loop and never in a web request. Several processes on one database share the work:
fan-out locks the sink's row (its cursor), and deliveries are claimed with ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL (SQLite has one writer at a time) and a lease, so each event goes out from
one of them; an event whose claimer died is taken again when its lease ends. The order per device
holds because a delivery is claimed only when no earlier one of its key is still pending.

Hand-written because the pieces that exist elsewhere (Celery, a broker-backed queue) would put a
second durable store in front of the outbox we already commit with; the state machine is small.
May import registry (db, models, events, outbox) and the sink ports; never flask, routing or alarms.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from integrations.models import DEAD, DELIVERED, PENDING, Delivery, SinkConfig
from integrations.ports import Outgoing, Result, Sink
from integrations.secretbox import SecretBox
from registry.db import dialect_insert, utcnow
from registry.events import from_envelope
from registry.models import OutboxEvent

log = logging.getLogger(__name__)

#: deliveries claimed per round trip to a sink, and how long a claim holds
BATCH = 200
LEASE = timedelta(seconds=60)
#: a batch is sent: storing its answers is retried this long (within the lease) before the round
#: gives up and the batch goes out again once its claims expire
RECORD_RETRY = LEASE / 2
#: backoff between attempts of one event: base * 2**(attempts - 1), at most ``BACKOFF_CAP``, times a
#: random factor in [0.5, 1] (jitter: retries of many events after an outage spread out)
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0


def order_key(device_id: int | None, site_id: int | None) -> str:
    """Events of one device go out in order; an event without a device is ordered with its site's,
    and the rest (service events) in one line."""
    if device_id is not None:
        return f"d{device_id}"
    if site_id is not None:
        return f"s{site_id}"
    return "-"


def backoff(attempts: int, base: float = BACKOFF_BASE, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the ``attempts``-th failure."""
    return min(BACKOFF_CAP, base * 2 ** max(0, attempts - 1)) * (0.5 + rng() / 2)


# ---- the steps, each one transaction --------------------------------------------------------------


def fan_out(
    session: Session,
    sink_id: int,
    carries: Callable[[str], bool],
    limit: int = 1000,
    now: datetime | None = None,
) -> int:
    """Create this sink's deliveries of the events after its cursor (at most ``limit`` events
    looked at) and move the cursor; the caller commits. ``carries(type)``: whether the sink takes it."""
    now = now or utcnow()
    sink = session.scalars(select(SinkConfig).where(SinkConfig.id == sink_id).with_for_update()).one_or_none()
    if sink is None:
        return 0
    rows = session.execute(
        select(
            OutboxEvent.seq,
            OutboxEvent.event_id,
            OutboxEvent.type,
            OutboxEvent.device_id,
            OutboxEvent.site_id,
            OutboxEvent.body,
        )
        .where(OutboxEvent.seq > sink.cursor)
        .order_by(OutboxEvent.seq)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    wanted = set(sink.event_types or [])
    values = []
    for seq, event_id, type_, device_id, site_id, body in rows:
        if type_ == "sink.test":
            if (body or {}).get("sink_id") != sink.id:
                continue
        elif not (type_ in wanted if wanted else carries(type_)):
            continue
        values.append(
            {
                "sink_id": sink.id,
                "seq": seq,
                "event_id": event_id,
                "event_type": type_,
                "order_key": order_key(device_id, site_id),
                "state": PENDING,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                "last_error": "",
            }
        )
    if values:
        # a delivery made by another process in a race keeps its state (unique sink, seq); one
        # cached statement run for many rows (``.values(list)`` compiled anew for every batch size:
        # a fifth of the relay's CPU in a storm), on the table: the rows need none of the ORM's
        # bulk-insert bookkeeping (not measured on its own; the storm's relay rate stayed 400-470/s)
        session.execute(dialect_insert(session)(_DELIVERIES).on_conflict_do_nothing(), values)
    session.execute(
        update(SinkConfig)
        .where(SinkConfig.id == sink.id)
        .values(cursor=rows[-1].seq, updated_at=SinkConfig.updated_at)
    )
    return len(values)


_DELIVERIES = Delivery.__table__

#: pending deliveries read per page of a claim
HEADS_PAGE = 1000


def heads(session: Session, sink_id: int, now: datetime, limit: int, page: int = HEADS_PAGE) -> list[int]:
    """The ids of at most ``limit`` deliveries that are due, not claimed, and the oldest pending one
    of their order key, in outbox order.

    Walks the sink's pending rows in outbox order, a page at a time along ``ix_deliveries_queue``:
    every earlier pending row of a key comes before it in that walk, so the first row of each key
    seen is its head, and the walk stops as soon as ``limit`` heads are found. A claim costs what it
    takes, not what is pending: the aggregate over every pending row it replaced took 60 ms a claim
    of 200 with 100,000 pending on SQLite and 638 ms on PostgreSQL (this walk: 10 and 18 ms,
    bench/relay_claim.py), and before
    that a NOT EXISTS planned by PostgreSQL, before autovacuum had statistics of a table a storm had
    just filled, as a nested loop over the whole backlog for every candidate (25 s a claim of 200
    with 7,725 pending). A key whose head waits (backoff, or claimed by another process) is skipped
    whole, so its later rows wait too: the order per key holds."""
    seen: set[str] = set()
    found: list[int] = []
    after = -1
    while len(found) < limit:
        rows = session.execute(walk_statement(sink_id, after, page)).all()
        for id_, _seq, key, due, claimed_until in rows:
            if key in seen:
                continue
            seen.add(key)
            if due <= now and (claimed_until is None or claimed_until < now):
                found.append(id_)
                if len(found) == limit:
                    break
        if len(rows) < page:
            break
        after = rows[-1].seq
    return found


def walk_statement(
    sink_id: int, after: int, page: int = HEADS_PAGE
) -> Select[int, int, str, datetime, datetime | None]:
    """One page of the claim's walk: the sink's pending rows after outbox position ``after``."""
    return (
        select(
            Delivery.id, Delivery.seq, Delivery.order_key, Delivery.next_attempt_at, Delivery.claimed_until
        )
        .where(Delivery.sink_id == sink_id, Delivery.state == PENDING, Delivery.seq > after)
        .order_by(Delivery.seq)
        .limit(page)
    )


def claim_statement(ids: Sequence[int]) -> Select[int]:
    """The rows of the deliveries ``ids`` (heads of their keys) to lock for a claim. By primary key
    alone: with any other column in it, PostgreSQL without statistics of a table a storm had just
    filled walked the due index and filtered the whole backlog (13 ms of 100,000 rows per claim); the
    conditions are checked again by the claim's UPDATE."""
    return select(Delivery.id).where(Delivery.id.in_(list(ids))).order_by(Delivery.id)


def claim(
    session: Session, sink_id: int, worker: str, now: datetime, limit: int = BATCH, lease: timedelta = LEASE
) -> list[Delivery]:
    """Take up to ``limit`` due deliveries of the sink, the oldest pending one of each key only; the
    caller commits (the claim is the lease: another process skips them until it ends)."""
    ids = heads(session, sink_id, now, limit)
    if not ids:
        return []
    if session.connection().dialect.name == "postgresql":
        # rows another process is claiming right now are left to it
        ids = list(session.scalars(claim_statement(ids).with_for_update(skip_locked=True)))
        if not ids:
            return []
    # the claim itself is a conditional UPDATE, so two processes that read the same heads (SQLite
    # lets readers overlap) cannot both take one: the second finds it claimed, or no longer due
    token = f"{worker}/{uuid.uuid4().hex[:12]}"
    session.execute(
        update(Delivery)
        .where(
            Delivery.id.in_(ids),
            Delivery.state == PENDING,
            Delivery.next_attempt_at <= now,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
        )
        .values(claimed_by=token, claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    return list(
        session.scalars(
            select(Delivery).where(Delivery.id.in_(ids), Delivery.claimed_by == token).order_by(Delivery.seq)
        )
    )


def outgoing(session: Session, taken: Sequence[Delivery], now: datetime) -> list[Outgoing]:
    """The events of the claimed deliveries, read from the outbox; one the retention job already
    removed becomes a dead letter (nothing left to send)."""
    rows = {
        row.seq: row
        for row in session.scalars(select(OutboxEvent).where(OutboxEvent.seq.in_([d.seq for d in taken])))
    }
    out = []
    for d in taken:
        row = rows.get(d.seq)
        if row is None:
            d.state, d.dead_at, d.last_error = DEAD, now, "the event was removed from the outbox by retention"
            continue
        envelope = {
            "event_id": row.event_id,
            "type": row.type,
            "schema_version": row.schema_version,
            "occurred_at": row.occurred_at,
            "body": row.body,
        }
        event = from_envelope(envelope)
        out.append(Outgoing(d.id, d.seq, event, event.envelope(), d.attempts + 1))
    return out


def record(
    session: Session,
    sink: SinkConfig,
    taken: Sequence[Delivery],
    results: Sequence[Result],
    now: datetime,
    base: float = BACKOFF_BASE,
) -> tuple[int, int]:
    """Apply the sink's answers: delivered, or one more failure (retry later, or a dead letter after
    ``max_attempts`` or ``max_age_seconds``); claims are released. Returns (delivered, failed)."""
    by_id = {d.id: d for d in taken}
    ok = failed = 0
    delivered: list[int] = []
    for r in results:
        d = by_id.get(r.delivery_id)
        if d is None:
            continue
        if r.ok:
            delivered.append(d.id)
            continue
        d.claimed_by = d.claimed_until = None
        failed += 1
        d.attempts += 1
        d.last_error = r.error
        too_old = (now - d.created_at).total_seconds() > sink.max_age_seconds
        if r.permanent or d.attempts >= sink.max_attempts or too_old:
            d.state, d.dead_at = DEAD, now
            log.error(
                "sink %s: event %s (%s) is a dead letter after %d attempts: %s",
                sink.name,
                d.event_id,
                d.event_type,
                d.attempts,
                r.error,
            )
        else:
            d.next_attempt_at = now + timedelta(seconds=backoff(d.attempts, base))
    if delivered:
        # one statement for the batch instead of the ORM's one UPDATE per row (not measured on its
        # own); "evaluate" applies the same values to the loaded objects, so the session holds what
        # the database does
        ok = len(delivered)
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivered))
            .values(
                state=DELIVERED,
                delivered_at=now,
                attempts=Delivery.attempts + 1,
                claimed_by=None,
                claimed_until=None,
            )
            .execution_options(synchronize_session="evaluate")
        )
    done = set(delivered)
    for d in taken:  # an item the sink did not answer: released for the next round
        if d.id not in done and d.claimed_by is not None and d.state == PENDING:
            d.claimed_by = d.claimed_until = None
    return ok, failed


def retry_dead(session: Session, sink_id: int, delivery_id: int | None = None) -> int:
    """Dead letters back to pending, due now (one, or all of the sink); the caller commits."""
    cond = [Delivery.sink_id == sink_id, Delivery.state == DEAD]
    if delivery_id is not None:
        cond.append(Delivery.id == delivery_id)
    result = session.execute(
        update(Delivery)
        .where(and_(*cond))
        .values(state=PENDING, attempts=0, next_attempt_at=utcnow(), dead_at=None, created_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_pending_at: datetime | None
    dead: int
    delivered: int


def backlog(session: Session, sink_id: int) -> Backlog:
    counts = dict(
        session.execute(
            select(Delivery.state, func.count()).where(Delivery.sink_id == sink_id).group_by(Delivery.state)
        ).all()
    )
    oldest = session.scalar(
        select(func.min(Delivery.created_at)).where(Delivery.sink_id == sink_id, Delivery.state == PENDING)
    )
    return Backlog(counts.get(PENDING, 0), oldest, counts.get(DEAD, 0), counts.get(DELIVERED, 0))


def prune_delivered(session: Session, before: datetime) -> int:
    """Delivered rows older than ``before`` (the retention job's); dead letters stay until retried."""
    from sqlalchemy import delete

    result = session.execute(
        delete(Delivery).where(Delivery.state == DELIVERED, Delivery.delivered_at < before)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---- the threads ----------------------------------------------------------------------------------


def fingerprint(c: SinkConfig) -> str:
    """What makes a sink's worker: a change of any of it restarts the worker."""
    return json.dumps(
        [
            c.kind,
            c.name,
            c.settings,
            c.secrets,
            sorted(c.event_types or []),
            c.max_attempts,
            c.max_age_seconds,
        ],
        sort_keys=True,
        default=str,
    )


SinkBuilder = Callable[[str, str, Mapping[str, Any], Mapping[str, str]], Sink]
Carries = Callable[[str], Callable[[str], bool]]


class SinkWorker:
    """One sink's loop in its own thread: open, fan out, claim, send, record; a slow or dead peer
    holds up only its own sink."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        config: SinkConfig,
        sink: Sink,
        carries: Callable[[str], bool],
        worker: str,
        *,
        poll: float = 0.2,
        send_timeout: float = 10.0,
        base: float = BACKOFF_BASE,
    ) -> None:
        self.factory = factory
        self.sink_id = config.id
        self.name = config.name
        self.version = fingerprint(config)
        self.sink = sink
        self.carries = carries
        self.worker = worker
        self.poll = poll
        self.send_timeout = send_timeout
        self.base = base
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"relay-{config.name}", daemon=True)
        self.delivered = 0
        self._waiting = False

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.thread.join(timeout)

    def _status(self, text: str) -> None:
        try:
            with self.factory() as s:
                s.execute(
                    update(SinkConfig)
                    .where(SinkConfig.id == self.sink_id)
                    # updated_at says when an admin changed the sink, not when the relay reported
                    .values(status=text, status_at=utcnow(), updated_at=SinkConfig.updated_at)
                )
                s.commit()
        except Exception:  # the status is a courtesy; the loop carries on
            log.exception("sink %s: could not store its status", self.name)

    def _run(self) -> None:
        opened = False
        failures = 0
        while not self.stopping.is_set():
            if not opened:
                try:
                    self.sink.open()
                except Exception as exc:
                    failures += 1
                    delay = backoff(failures, self.base)
                    log.warning("sink %s: cannot connect (%s); again in %.1f s", self.name, exc, delay)
                    self._status(f"cannot connect: {exc}")
                    self.stopping.wait(delay)
                    continue
                opened, failures = True, 0
                self._status("connected")
            try:
                busy = self.round()
            except Exception:
                log.exception("sink %s: a relay round failed; retrying", self.name)
                busy = False
                self.stopping.wait(1.0)
            if not busy:
                self.stopping.wait(self.poll)
        try:
            self.sink.close()
        except Exception:
            log.exception("sink %s: closing failed", self.name)

    def round(self) -> bool:
        """One fan-out and one batch; True when there was something to send. While a sink that can
        tell says it is not connected (MQTT: the broker is away), nothing is claimed: an outage
        uses up no attempts, and the backlog goes out as soon as the connection is back."""
        now = utcnow()
        with self.factory() as s:
            fan_out(s, self.sink_id, self.carries, now=now)
            s.commit()
        ready = getattr(self.sink, "ready", None)
        if ready is not None and not ready():
            if not self._waiting:
                self._waiting = True
                self._status("disconnected: waiting for the peer; events wait in the backlog")
            return False
        if self._waiting:
            self._waiting = False
            self._status("connected")
        with self.factory() as s:
            taken = claim(s, self.sink_id, self.worker, now)
            s.commit()
            if not taken:
                return False
            batch = outgoing(s, taken, now)
            results = self.sink.send(batch, self.send_timeout) if batch else []
            self.delivered += self._record(s, taken, results)
        return True

    def _record(self, s: Session, taken: Sequence[Delivery], results: Sequence[Result]) -> int:
        """Store the sink's answers to a batch it was sent. The peer has it now: a database that
        refuses the write for a while (SQLite busy beyond its timeout while the recorder commits a
        storm's batch, a PostgreSQL failover) is tried again for ``RECORD_RETRY``, so that what the
        peer acknowledged is not sent a second time when the claims expire."""
        deadline = time.monotonic() + RECORD_RETRY.total_seconds()
        delay = 0.25
        while True:
            try:
                config = s.get(SinkConfig, self.sink_id)
                if config is None:
                    return 0
                ok, _ = record(s, config, taken, results, utcnow(), self.base)
                s.commit()
                return ok
            except OperationalError as exc:
                s.rollback()  # the claimed rows are read again from the database on the next try
                if self.stopping.is_set() or time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "sink %s: storing the answers to %d events failed (%s); again in %.2f s",
                    self.name,
                    len(results),
                    exc.orig,
                    delay,
                )
                time.sleep(delay)
                delay = min(2 * delay, 4.0)


class Relay:
    """All sinks of the database, one :class:`SinkWorker` each, following the ``sinks`` table (an
    admin's change reaches the relay within ``reload`` seconds)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        secret_key: str,
        worker: str,
        build: SinkBuilder,
        carries: Carries,
        *,
        reload: float = 2.0,
        poll: float = 0.2,
        base: float = BACKOFF_BASE,
        retention: timedelta | None = None,
    ) -> None:
        self.factory = factory
        self.retention = retention
        self._pruned_at: float | None = None
        self.box = SecretBox(secret_key)
        self.worker = worker
        self.build = build
        self.carries = carries
        self.reload = reload
        self.poll = poll
        self.base = base
        self.workers: dict[int, SinkWorker] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="relay", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.thread.join(timeout)
        for w in list(self.workers.values()):
            w.stop(timeout)
        self.workers.clear()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.sync()
                self._prune()
            except Exception:
                log.exception("relay: reading the sinks failed; retrying")
            self.stopping.wait(self.reload)

    def _prune(self) -> None:
        """Hourly, delivered rows older than the retention; dead letters stay."""
        if self.retention is None or (
            self._pruned_at is not None and time.monotonic() - self._pruned_at < 3600
        ):
            return
        self._pruned_at = time.monotonic()
        with self.factory() as s:
            gone = prune_delivered(s, utcnow() - self.retention)
            s.commit()
        if gone:
            log.info("relay: %d delivered rows older than the retention removed", gone)

    def sync(self) -> None:
        """Start a worker per enabled sink, stop those of removed or disabled ones, restart changed."""
        with self.factory() as s:
            configs = {c.id: c for c in s.scalars(select(SinkConfig).where(SinkConfig.enabled.is_(True)))}
            for c in configs.values():
                s.expunge(c)
        for sink_id, w in list(self.workers.items()):
            c = configs.get(sink_id)
            if c is None or fingerprint(c) != w.version:
                w.stop()
                del self.workers[sink_id]
        for sink_id, c in configs.items():
            if sink_id in self.workers:
                continue
            try:
                sink = self.build(c.kind, c.name, c.settings or {}, self.box.open(c.secrets))
            except Exception as exc:
                log.error("sink %s: not started: %s", c.name, exc)
                continue
            w = SinkWorker(
                self.factory, c, sink, self.carries(c.kind), self.worker, poll=self.poll, base=self.base
            )
            self.workers[sink_id] = w
            w.start()
