"""The only bridge from ``sip/`` to routing: identify the caller, decide, journal the call, answer.

Implements :class:`sip.listener.CallHandler`. Runs on the event loop: everything here is in memory
except the append to the call journal, which happens before the answer leaves: at once, or, inside a
batch (:meth:`RedirectService.begin_batch`: the UDP listener's calls of one socket read), with one
write for the batch at :meth:`RedirectService.end_batch`, before the listener sends its answers.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from routing.history import CallMemory, HistoryStore
from routing.journal import JournalWriter
from routing.policy import NO_HISTORY, CallFacts, Decision, decide, history_query
from routing.snapshot import Snapshot, SnapshotHolder, TrunkEntry
from sip.grammar import parse_uri
from sip.identity import CallerIdentity, TrunkView, identify
from sip.listener import Answer, SourceClass
from sip.message import Request, SipError
from sip.numbers import to_e164

log = logging.getLogger(__name__)

#: calls held in memory while the journal cannot be written (disk full, read-only): written as soon
#: as it can be again; beyond this many the oldest are lost (counted, logged)
HELD_MAX = 100_000
#: at most one ERROR line this often while the journal fails
_FAILURE_LOG_EVERY = 10.0
#: held calls are written back this many lines per write
_FLUSH_CHUNK = 1000


def trunk_view(trunk: TrunkEntry) -> TrunkView:
    return TrunkView(
        name=trunk.name,
        trusted=trunk.trusted,
        ani_header=trunk.ani_header,
        region=trunk.region,
        expects_attestation=trunk.expects_attestation,
    )


class RedirectService:
    def __init__(
        self,
        holder: SnapshotHolder,
        journal: JournalWriter,
        wall_clock: Callable[[], float] = time.time,
        trust_store: Mapping[str, bytes] | None = None,
        history: CallMemory | None = None,
    ):
        self.holder = holder
        self.journal = journal
        self.history = history if history is not None else CallMemory()
        self.wall_clock = wall_clock
        self.trust_store = trust_store
        self._views: dict[int, TrunkView] = {}
        self._views_revision = -1
        # record ids: a random per-process prefix and a counter (unique, and cheaper than uuid4)
        self._prefix = os.urandom(6).hex()
        self._counter = itertools.count(1)
        #: journal lines of the current batch, written at end_batch (None: no batch, write at once)
        self._pending: list[bytes] | None = None
        #: journal faults: calls answered but not yet journaled (held lines), and those lost for good
        self._held: deque[bytes] = deque()
        self.unjournaled = 0
        self.lost = 0
        #: wall-clock time the calls held now began to be held (None: none held)
        self.held_since: float | None = None
        self._failure_logged = 0.0
        #: called with each INVITE's decision and its latency_us once it is decided (metrics)
        self.on_routed: Callable[[Decision, int], None] | None = None

    @property
    def held(self) -> int:
        """Calls answered and held in memory now, waiting for the journal to take writes again."""
        return len(self._held)

    def retry_held(self) -> bool:
        """Journal the held calls if the journal takes writes again (the worker calls this now and
        then on the event loop, so that they do not wait for the next call); True when none is held."""
        return not self._held or self._flush_held()

    def _trunk_view(self, trunk: TrunkEntry) -> TrunkView:
        snap = self.holder.current
        if snap.revision != self._views_revision:
            self._views = {}
            self._views_revision = snap.revision
        view = self._views.get(trunk.id)
        if view is None:
            view = self._views[trunk.id] = trunk_view(trunk)
        return view

    def classify_source(self, ip: str) -> SourceClass:
        trunk = self.holder.current.trunk_for(ip)
        if trunk is None:
            return SourceClass.UNKNOWN
        return SourceClass.TRUSTED if trunk.trusted else SourceClass.KNOWN

    def on_invite(self, req: Request, src: tuple[str, int], transport: str, received_ns: int) -> Answer:
        snap = self.holder.current
        trunk = snap.trunk_for(src[0])
        assert trunk is not None  # the listener answers unknown sources itself
        now = self.wall_clock()
        who, decision = route_request(
            snap, req, trunk, self._trunk_view(trunk), now, self.trust_store, self.history
        )
        record = call_record(
            f"{self._prefix}{next(self._counter):x}",
            req,
            now,
            f"{src[0]}:{src[1]}",
            transport,
            trunk,
            who,
            decision,
        )
        record["latency_us"] = (time.perf_counter_ns() - received_ns) // 1000
        if self.on_routed is not None:
            self.on_routed(decision, record["latency_us"])
        self._journal(record)
        return Answer(decision.status, decision.reason_phrase, decision.contacts())

    def begin_batch(self) -> None:
        """Collect the journal lines of the calls that follow until :meth:`end_batch`."""
        self._pending = []

    def end_batch(self) -> None:
        """Journal the batch's calls with one write; call it before their answers are sent."""
        lines, self._pending = self._pending, None
        if lines:
            self._write(lines)

    def _journal(self, record: dict[str, Any]) -> None:
        line = self.journal.encode(record)
        if self._pending is not None:
            self._pending.append(line)
        else:
            self._write([line])

    def _write(self, lines: list[bytes]) -> None:
        """Write before the answers leave; when the journal cannot be written (disk full,
        read-only), answer all the same: life safety comes before the record. The calls are held
        in memory and written, in order, once the journal takes writes again; what does not fit is
        counted as lost. Both are logged at ERROR (at most every 10 s)."""
        if self._held and not self._flush_held():
            self._hold(lines)
            return
        try:
            self.journal.write_lines(lines)
        except OSError as exc:
            self._hold(lines)
            self._failed(exc)

    def _hold(self, lines: list[bytes]) -> None:
        self.unjournaled += len(lines)
        if not self._held:
            self.held_since = self.wall_clock()
        for line in lines:
            if len(self._held) >= HELD_MAX:
                self._held.popleft()
                self.lost += 1
            self._held.append(line)

    def _flush_held(self) -> bool:
        held = len(self._held)
        while self._held:
            chunk = list(itertools.islice(self._held, _FLUSH_CHUNK))
            try:
                self.journal.write_lines(chunk)
            except OSError as exc:
                self._failed(exc)
                return False
            for _ in chunk:
                self._held.popleft()
        self.held_since = None
        log.warning(
            "call journal writable again: the %d calls answered meanwhile are journaled (%d lost in all)",
            held,
            self.lost,
        )
        return True

    def _failed(self, exc: OSError) -> None:
        now = time.monotonic()
        if now - self._failure_logged >= _FAILURE_LOG_EVERY:
            self._failure_logged = now
            log.error(
                "call journal not writable (%s): calls are still answered; %d held in memory, %d lost",
                exc,
                len(self._held),
                self.lost,
            )

    def on_options(self, req: Request, src: tuple[str, int]) -> None:
        snap = self.holder.current
        trunk = snap.trunk_for(src[0])
        if trunk is None:
            return
        who = identify(req, self._trunk_view(trunk), now=self.wall_clock())
        device = snap.devices.get(who.ani) if who.ani else None
        if device is not None:
            try:
                self.journal.append({"type": "heartbeat", "device_id": device.id, "at": self.wall_clock()})
            except OSError as exc:  # a keep-alive is not worth holding: the next one comes soon
                self._failed(exc)


def route_request(
    snap: Snapshot,
    req: Request,
    trunk: TrunkEntry | None,
    view: TrunkView,
    now: float,
    trust_store: Mapping[str, bytes] | None = None,
    history: HistoryStore | None = None,
) -> tuple[CallerIdentity, Decision]:
    """Identify the caller of ``req`` as ``view`` allows and decide: the one path shared by the SIP
    redirect and the HTTP route API, so that both give the same answer for the same call.

    ``history`` answers what earlier calls tell (repeat caller, call floods) and learns this one."""
    who = identify(req, view, now=now, trust_store=trust_store)
    dnis = dialled_number(req)
    query = history_query(snap, who.ani, trunk) if history is not None else None
    facts = CallFacts(
        ani=who.ani,
        at=datetime.fromtimestamp(now, UTC),
        ani_verified=who.verified_identity,
        presented_number=who.presented_number,
        dnis=dnis,
        trunk=trunk,
        attestation=who.attestation.attest,
        verstat=who.attestation.verstat,
        forwarded=bool(who.diversion),
        withheld=who.hidden,
        dnis_number=to_e164(dnis, trunk.region if trunk else None) if dnis else None,
        test_marker=bool(trunk and trunk.test_call_marker and has_marker(req, trunk.test_call_marker)),
        recent=history.recall(query, now) if history is not None and query is not None else NO_HISTORY,
    )
    decision = decide(snap, facts)
    if history is not None and query is not None:
        history.note(query, now, decision.center_id)
    return who, decision


@lru_cache(maxsize=64)
def _marker(marker: str) -> tuple[str, str]:
    name, _, value = marker.partition(":")
    return name.strip(), value.strip().lower()


def has_marker(req: Request, marker: str) -> bool:
    """Whether ``req`` carries the test-call marker ``Name`` (present) or ``Name: value``
    (a value of that header contains ``value``, case-insensitive)."""
    name, value = _marker(marker)
    try:
        found = req.headers.get_all(name) if name else []
    except SipError:  # a list-valued header that does not split: not a marker
        return False
    return bool(found) and (not value or any(value in v.lower() for v in found))


def dialled_number(req: Request) -> str:
    try:
        return (parse_uri(req.uri).user or "")[:64]
    except SipError:
        return ""


def call_record(
    record_id: str,
    req: Request,
    now: float,
    source: str,
    transport: str,
    trunk: TrunkEntry | None,
    who: CallerIdentity,
    decision: Decision,
) -> dict[str, Any]:
    """The call as the journal and the ``calls`` table keep it (``latency_us`` added by the caller)."""
    device = decision.device
    return {
        "type": "call",
        "record_id": record_id,
        "call_id": req.call_id,
        "branch": req.top_via.branch or "",
        "received_at": now,
        "source": source,
        "transport": transport,
        "trunk_id": trunk.id if trunk else None,
        "trunk_name": trunk.name if trunk else "",
        "ani": who.ani,
        "ani_source": who.ani_source,
        "ani_raw": who.ani_raw,
        "presented_number": who.presented_number,
        "display_name": who.display_name,
        "privacy": ",".join(sorted(who.privacy)),
        "identity_verified": who.verified_identity,
        "attestation": who.attestation.attest,
        "dnis": dialled_number(req),
        "device_id": device.id if device else None,
        "site_id": device.site_id if device else None,
        "center_id": decision.center_id,
        "status": decision.status,
        "priority": decision.priority.value,
        "line": decision.line.value if decision.line else "",
        "language": decision.language,
        "test_call": decision.test_call,
        "adopt_site_id": decision.adopt_site_id,
        "targets": [t.uri for t in decision.targets],
        "target_center_ids": list(dict.fromkeys(t.center_id for t in decision.targets if t.center_id)),
        "reason": decision.reason,
        "anomalies": decision.anomaly_dicts(),
        # EN 81-28 "rescue ended" from the device: closes its latched lift alarm (alarms, off the loop)
        "rescue_ended": bool(
            device and trunk and trunk.rescue_ended_marker and has_marker(req, trunk.rescue_ended_marker)
        ),
    }
