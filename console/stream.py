"""The console's live feed: one reader per web process follows the outbox (``registry.outbox``) and
fans its events out to every open console of that process as Server-Sent Events.

Why one reader: fifty consoles polling the database each would multiply every call of a storm by
fifty; here the process reads each event once, and each console only filters what it may see. A
console that reconnects with ``Last-Event-ID`` reads what it missed from the database itself until it
reaches the reader's buffer, then follows the buffer: nothing is lost or sent twice, since the outbox
hands out ``seq`` in commit order. No library does this fan-out over a database feed (flask-sse
needs Redis pub/sub, which would lose the replay from an event id), so it is hand-written.

Must not import integrations; flask only in ``sse()``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from alarms.choices import SERVICE_KINDS
from registry.actors import Actor
from registry.outbox import StoredEvent, head, read_events

log = logging.getLogger(__name__)

#: how often the reader looks for new events: well inside the console's 1 s promise
POLL_SECONDS = 0.2
#: events kept in memory for consoles that fall behind or reconnect
BUFFER = 5000
#: a keep-alive comment this often holds the connection open through proxies
HEARTBEAT_SECONDS = 15.0
#: a stream ends after this long and the browser reconnects with its last id: a logged-out or
#: deactivated user's console stops within this time, and threads turn over
MAX_STREAM_SECONDS = 600.0
_READ_LIMIT = 1000
#: the reader stops when no console was open for this long
IDLE_SECONDS = 30.0


def visible_to(actor: Actor, ev: StoredEvent) -> bool:
    """Whether the console of ``actor`` shows ``ev``: an admin every call and alarm, an operator
    those filed under their center, an alarm escalated away from it (so it leaves their list) and
    anigate's own alarms (``service_degraded``: no center owns them)."""
    if not (ev.event.type == "call.routed" or ev.event.type.startswith("alarm.")):
        return False
    if actor.is_admin:
        return True
    if actor.center_id is None:
        return False
    if ev.center_id == actor.center_id:
        return True
    if getattr(ev.event, "kind", None) in SERVICE_KINDS:  # anigate's own alarms: every center's
        return True
    return getattr(ev.event, "from_center_id", None) == actor.center_id


class Feed:
    """The process's one reader of the outbox, started by the first console that opens."""

    def __init__(self, session_factory: sessionmaker[Session], poll: float = POLL_SECONDS) -> None:
        self._factory = session_factory
        self._poll = poll
        self._cond = threading.Condition()
        self._events: deque[StoredEvent] = deque(maxlen=BUFFER)
        #: every committed event with seq > covered is in the buffer (or not yet read)
        self._covered = 0
        self._cursor = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._users = 0
        self._idle_since = time.monotonic()
        self._cache: OrderedDict[tuple[int, str], str] = OrderedDict()
        self._cache_lock = threading.Lock()

    # ---- the reader thread ----------------------------------------------------------------------

    def attach(self) -> None:
        """A console opens: count it, and start the reader if it is not running."""
        with self._cond:
            self._users += 1
        self.start()

    def detach(self) -> None:
        with self._cond:
            self._users -= 1
            if self._users == 0:
                self._idle_since = time.monotonic()

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stop.clear()
            with self._factory() as session:
                self._cursor = self._covered = head(session)
            self._events.clear()
            self._thread = threading.Thread(target=self._run, name="console-feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            with self._cond:
                if self._users == 0 and time.monotonic() - self._idle_since > IDLE_SECONDS:
                    self._thread = None  # no console for a while: the next one starts a reader
                    return
            try:
                self._read()
            except Exception:  # the database away for a moment: consoles wait, the reader retries
                log.exception("console feed: reading the outbox failed; retrying")
                self._stop.wait(1.0)
        with self._cond:
            self._thread = None

    def _read(self) -> None:
        while True:
            with self._factory() as session:
                batch = read_events(session, after=self._cursor, limit=_READ_LIMIT)
            if not batch:
                return
            with self._cond:
                for ev in batch:
                    if len(self._events) == self._events.maxlen:
                        self._covered = self._events[0].seq
                    self._events.append(ev)
                self._cursor = batch[-1].seq
                self._cond.notify_all()
            if len(batch) < _READ_LIMIT:
                return

    # ---- for a console --------------------------------------------------------------------------

    def head(self) -> int:
        with self._factory() as session:
            return head(session)

    def since(self, after: int, timeout: float) -> tuple[list[StoredEvent], int] | None:
        """Events after ``after`` from the buffer, waiting up to ``timeout`` for some, and the
        position reached; None when ``after`` is older than the buffer (read the database)."""
        with self._cond:
            if after < self._covered:
                return None
            if self._cursor <= after:
                self._cond.wait(timeout)
            if after < self._covered:
                return None
            return [ev for ev in self._events if ev.seq > after], max(after, self._cursor)

    def backlog(self, after: int, limit: int = _READ_LIMIT) -> list[StoredEvent]:
        with self._factory() as session:
            return read_events(session, after=after, limit=limit)

    def has_rendered(self, key: tuple[int, str]) -> bool:
        with self._cache_lock:
            return key in self._cache

    def rendered(self, key: tuple[int, str], render: Callable[[], str]) -> str:
        """A rendered update, once per event and scope for all consoles of the process."""
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        html = render()
        with self._cache_lock:
            self._cache[key] = html
            while len(self._cache) > 2 * BUFFER:
                self._cache.popitem(last=False)
        return html


@dataclass(frozen=True)
class Message:
    """One SSE message: ``event`` name and JSON ``data``; ``id`` the outbox seq."""

    id: int
    event: str
    data: dict[str, object]

    def encode(self) -> str:
        return f"id: {self.id}\nevent: {self.event}\ndata: {json.dumps(self.data, separators=(',', ':'))}\n\n"


def stream(
    feed: Feed,
    actor: Actor,
    after: int,
    render: Callable[[Sequence[StoredEvent]], list[Message]],
    *,
    stopping: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    max_seconds: float = MAX_STREAM_SECONDS,
) -> Iterator[str]:
    """The SSE text of one console from ``after`` on: a retry hint, then every visible event in
    order; an id-only message keeps ``Last-Event-ID`` moving past events the console does not show."""
    yield "retry: 2000\n\n"
    started = clock()
    cursor = after
    sent = after
    last_beat = clock()
    while not stopping() and clock() - started < max_seconds:
        got = feed.since(cursor, timeout=1.0)
        if got is None:
            events = feed.backlog(cursor)
            reached = events[-1].seq if events else cursor
        else:
            events, reached = got
        shown = [ev for ev in events if visible_to(actor, ev)]
        for message in render(shown):
            yield message.encode()
            sent = message.id
        cursor = reached
        if clock() - last_beat >= HEARTBEAT_SECONDS:
            last_beat = clock()
            yield f"id: {cursor}\n\n" if cursor != sent else ": keep-alive\n\n"
            sent = cursor
