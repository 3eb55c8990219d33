"""SIP transport and UAS core: asyncio UDP and TCP listeners answering statelessly (RFC 3261 §8.2.6).

Owns what every SIP server does before any routing: flood limit per source (in the spirit of
Kamailio's pike), parsing, dropping stray responses and scanners, the source-address policy,
405/501/420/416 answers, OPTIONS, ACK absorption, CANCEL (§9.2), INVITE retransmissions (same
answer, counted once) and symmetric response routing (RFC 3581, Kamailio's ``force_rport``); over
TCP, slots checked at accept (source known, per-address caps) and an idle timer of whole messages.
What an INVITE means is asked of a :class:`CallHandler`; this module has no routing knowledge and
imports nothing from the project outside ``sip/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from sip.framing import StreamFramer
from sip.message import Headers, Request, Response, SipError, parse_message
from sip.responses import build_response, to_tag_for

log = logging.getLogger(__name__)

#: methods this server answers; everything else known gets 405 with this list
ALLOW = ("INVITE", "ACK", "CANCEL", "OPTIONS")
ALLOW_HEADER = ", ".join(ALLOW)
#: methods defined by RFC 3261 and its extensions: known, but not served here (405, not 501)
KNOWN_METHODS = frozenset(
    {
        "INVITE",
        "ACK",
        "CANCEL",
        "OPTIONS",
        "BYE",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    }
)
#: option tags we implement (none): any Require lists an unsupported extension (RFC 3261 §8.2.2.3)
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset()
URI_SCHEMES = ("sip:", "sips:", "tel:")
SCANNER_AGENTS = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sundayddr",
    "iwar",
    "vaxsipuseragent",
    "pplsip",
    "sipsak-scan",
)


class SourceClass(Enum):
    UNKNOWN = "unknown"  # no trunk has this address
    KNOWN = "known"  # an untrusted trunk: served, flood-limited
    TRUSTED = "trusted"  # a trusted trunk: served, not flood-limited per address


@dataclass(frozen=True, slots=True)
class Answer:
    """What the call handler wants sent for an INVITE."""

    status: int
    reason: str
    contacts: Sequence[tuple[str, float]] = ()
    extra: Sequence[tuple[str, str]] = ()


class CallHandler(Protocol):
    def classify_source(self, ip: str) -> SourceClass: ...

    def on_invite(self, req: Request, src: tuple[str, int], transport: str, received_ns: int) -> Answer:
        """Decide and durably record the call; return the answer to send (called once per call)."""
        ...

    def on_options(self, req: Request, src: tuple[str, int]) -> None:
        """Note a keep-alive (a device heartbeat); must not block."""
        ...

    def begin_batch(self) -> None:
        """The calls until :meth:`end_batch` may be recorded together (their answers wait for it)."""
        ...

    def end_batch(self) -> None:
        """Durably record the batch's calls: the listener sends their answers after this returns."""
        ...


@dataclass(frozen=True)
class ListenerConfig:
    host: str = "127.0.0.1"
    port: int = 5060
    #: answer 403 to sources that belong to no trunk ("reject"), or stay silent ("drop")
    unknown_source: str = "reject"
    #: pike: more than ``pike_requests`` per ``pike_window`` seconds blocks a source for ``pike_block``
    pike_requests: int = 30
    pike_window: float = 2.0
    pike_block: float = 120.0
    pike_exempt_trusted: bool = True
    #: a TCP connection that completes no SIP message for this long is closed (bytes don't count)
    tcp_idle_timeout: float = 60.0
    #: a message begun on a TCP connection must be complete within this (slow senders are closed)
    tcp_message_timeout: float = 10.0
    tcp_max_connections: int = 512
    #: open TCP connections per source address: an untrusted trunk's, and a trusted trunk's
    tcp_max_per_source: int = 32
    tcp_max_per_trusted_source: int = 128
    max_message_bytes: int = 65535
    #: how long an INVITE's answer is kept for retransmissions (Timer B / H: 64*T1 = 32 s)
    retransmission_ttl: float = 32.0
    retransmission_cache_size: int = 200_000


class FloodGuard:
    """Per-source request counting in fixed windows; a source over the limit is blocked for a while."""

    def __init__(self, limit: int, window: float, block: float, max_sources: int = 100_000):
        self.limit = limit
        self.window = window
        self.block = block
        self.max_sources = max_sources
        self._counts: dict[str, tuple[float, int]] = {}
        self._blocked: dict[str, float] = {}

    def allow(self, ip: str, now: float) -> bool:
        until = self._blocked.get(ip)
        if until is not None:
            if now < until:
                return False
            del self._blocked[ip]
        start, n = self._counts.get(ip, (now, 0))
        if now - start >= self.window:
            start, n = now, 0
        n += 1
        if n > self.limit:
            self._blocked[ip] = now + self.block
            self._counts.pop(ip, None)
            log.warning("flood limit: blocking %s for %.0f s", ip, self.block)
            return False
        if len(self._counts) >= self.max_sources and ip not in self._counts:
            self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window}
        self._counts[ip] = (start, n)
        return True

    def blocked(self, now: float) -> list[str]:
        return [ip for ip, until in self._blocked.items() if until > now]


@dataclass
class ListenerStats:
    """Counters for metrics and tests."""

    counts: Counter[str] = field(default_factory=Counter)

    def __getitem__(self, key: str) -> int:
        return self.counts[key]


class UasCore:
    """Turns one received message into at most one response; synchronous and socket-free."""

    def __init__(
        self, handler: CallHandler, config: ListenerConfig, clock: Callable[[], float] = time.monotonic
    ):
        self.handler = handler
        self.config = config
        self.clock = clock
        self.stats = ListenerStats()
        self.pike = FloodGuard(config.pike_requests, config.pike_window, config.pike_block)
        #: answers by transaction key (RFC 3261 §17.2.3), and by the exact datagram and its source
        #: (``_raw_key``): a retransmission is byte-identical to its INVITE, so it is answered
        #: without a parse (most of a retransmission's cost; in a storm's overload most datagrams
        #: are retransmissions, and parsing each again deepened the overload). Keys are the
        #: 64-bit hashes of what they match on (str and bytes hash with SipHash, keyed per process,
        #: so no sender can aim at a collision; by chance one needs two live transactions among
        #: ~10^5 to share 64 bits): a storm's 32 s of answers kept 250 bytes a key less.
        self._answered: OrderedDict[int, tuple[float, bytes]] = OrderedDict()
        #: called with the INVITE's receipt time (perf_counter_ns) once its answer is built (metrics)
        self.on_answer: Callable[[int], None] | None = None

    # -- retransmission cache ---------------------------------------------------------------
    @staticmethod
    def _key(req: Request) -> int:
        via = req.top_via
        branch = via.branch or ""
        if branch.startswith("z9hG4bK") and len(branch) > 7:
            return hash((branch, via.host, str(via.port or ""), req.call_id))
        # RFC 2543 peers: match on Call-ID, From tag, CSeq number (RFC 3261 §17.2.3 fallback)
        return hash(("2543", req.call_id, req.from_.params.get("tag") or "", str(req.cseq[0])))

    @staticmethod
    def _raw_key(data: bytes, src: tuple[str, int]) -> int:
        """The datagram with its source address."""
        return hash((data, src))

    def _remember(self, keys: Sequence[int], data: bytes, now: float) -> None:
        cache = self._answered
        entry = (now + self.config.retransmission_ttl, data)
        for key in keys:
            cache[key] = entry
        while len(cache) > self.config.retransmission_cache_size * 2:  # two keys an answer
            cache.popitem(last=False)
        # expire from the old end
        while cache:
            _key, (expires, _data) = next(iter(cache.items()))
            if expires > now:
                break
            cache.popitem(last=False)

    def _cached(self, key: int, now: float) -> bytes | None:
        hit = self._answered.get(key)
        if hit is None or hit[0] <= now:
            return None
        return hit[1]

    # -- the core ----------------------------------------------------------------------------
    def handle(
        self, data: bytes, src: tuple[str, int], transport: str, received_ns: int | None = None
    ) -> bytes | None:
        received_ns = received_ns or time.perf_counter_ns()
        stats = self.stats.counts
        stats["received"] += 1
        now = self.clock()
        ip = src[0]
        source = self.handler.classify_source(ip)
        exempt = source is SourceClass.TRUSTED and self.config.pike_exempt_trusted
        if not exempt and not self.pike.allow(ip, now):
            stats["dropped_flood"] += 1
            return None
        if len(data) > self.config.max_message_bytes:
            stats["dropped_oversize"] += 1
            return None
        if data[:4] == b"ACK ":
            # the ACK of our 3xx (or of an error) is hop-by-hop and never answered (RFC 3261
            # §17.2.1): a stateless server absorbs it without paying for a parse (half the load)
            stats["ack"] += 1
            return None
        raw_key = self._raw_key(data, src)
        cached = self._cached(raw_key, now)
        if cached is not None:
            stats["retransmissions"] += 1
            return cached
        try:
            msg = parse_message(data, stream=transport != "UDP", known_methods=KNOWN_METHODS)
        except SipError as exc:
            stats[f"malformed_{exc.status}"] += 1
            if not exc.respond or exc.partial is None:
                stats["dropped_unusable"] += 1
                return None
            if (exc.partial.get("CSeq") or "").split()[-1:] == ["ACK"]:
                return None  # never answer an ACK (RFC 3261 §17.2.1)
            extra = (("Allow", ALLOW_HEADER),) if exc.status in (405, 501) else ()
            return self._reply(exc.partial, exc.status, exc.reason, src, extra=extra)
        if isinstance(msg, Response):
            stats["dropped_response"] += 1  # stateless: no client transactions to match
            return None
        req = msg
        agent = (req.headers.get("User-Agent") or "").lower()
        if agent and any(s in agent for s in SCANNER_AGENTS):
            stats["dropped_scanner"] += 1
            return None
        method = req.method
        if method == "ACK":
            stats["ack"] += 1
            return None
        if source is SourceClass.UNKNOWN:
            stats["unknown_source"] += 1
            if self.config.unknown_source == "drop":
                return None
            return self._reply(req, 403, "Forbidden - unknown source", src)
        if method not in KNOWN_METHODS:
            stats["not_implemented"] += 1
            return self._reply(req, 501, "Not Implemented", src, extra=(("Allow", ALLOW_HEADER),))
        if req.cseq[1] != method:
            stats["malformed_400"] += 1
            return self._reply(req, 400, "Bad Request - CSeq method does not match", src)
        if method not in ALLOW:
            stats["not_allowed"] += 1
            return self._reply(req, 405, "Method Not Allowed", src, extra=(("Allow", ALLOW_HEADER),))
        if method == "CANCEL":
            # §9.2: the INVITE was answered at once, so the CANCEL has nothing left to cancel
            if self._cached(self._key(req), now) is not None:
                return self._reply(req, 200, "OK", src)
            return self._reply(req, 481, "Call/Transaction Does Not Exist", src)
        unsupported = [o for o in req.headers.get_all("Require") if o.lower() not in SUPPORTED_EXTENSIONS]
        if unsupported:
            stats["bad_extension"] += 1
            return self._reply(
                req, 420, "Bad Extension", src, extra=(("Unsupported", ", ".join(unsupported)),)
            )
        if not req.uri.lower().startswith(URI_SCHEMES):
            stats["unsupported_scheme"] += 1
            return self._reply(req, 416, "Unsupported URI Scheme", src)
        if method == "OPTIONS":
            stats["options"] += 1
            self.handler.on_options(req, src)
            return self._reply(
                req,
                200,
                "OK",
                src,
                extra=(("Allow", ALLOW_HEADER), ("Accept", "application/sdp"), ("Supported", "")),
            )
        # INVITE
        key = self._key(req)
        cached = self._cached(key, now)
        if cached is not None:
            stats["retransmissions"] += 1
            return cached
        stats["invites"] += 1
        answer = self.handler.on_invite(req, src, transport, received_ns)
        out = self._reply(
            req, answer.status, answer.reason, src, contacts=answer.contacts, extra=answer.extra
        )
        self._remember((key, raw_key), out, now)
        stats[f"answered_{answer.status}"] += 1
        if self.on_answer is not None:
            self.on_answer(received_ns)
        return out

    def _reply(
        self,
        req: Request | Headers,
        status: int,
        reason: str,
        src: tuple[str, int],
        contacts: Sequence[tuple[str, float]] = (),
        extra: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        tag = to_tag_for(req) if isinstance(req, Request) else None
        self.stats.counts[f"sent_{status}"] += 1
        return build_response(
            req,
            status,
            reason,
            to_tag=tag,
            contacts=contacts,
            extra=extra,
            received=src[0],
            rport=src[1],
        )


class _UdpEndpoint:
    """A non-blocking UDP socket read straight from the event loop.

    Under load one readiness event drains up to ``BATCH`` datagrams (one epoll wakeup for many
    calls, where asyncio's datagram transport pays one per datagram); the calls of every
    ``ANSWER_EVERY`` datagrams are journaled with one write, then their answers go out with a
    direct ``sendto``; only when the kernel buffer is full are they queued for a writer callback.
    A large receive buffer absorbs bursts instead of dropping INVITEs into 500 ms retransmissions.
    """

    BATCH = 64
    #: answers leave (after one journal write for their calls) at least every this many datagrams,
    #: so that the first call of a long read batch does not wait for the last one's decision
    ANSWER_EVERY = 8
    RCVBUF = 8 << 20

    def __init__(self, core: UasCore, sock: socket.socket):
        self.core = core
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self._backlog: deque[tuple[bytes, tuple[str, int]]] = deque()
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if opt is None:
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, self.RCVBUF)
                break
            except OSError:
                continue  # SO_RCVBUFFORCE needs CAP_NET_ADMIN; fall back to the capped size
        self.loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        core = self.core
        recv = self.sock.recvfrom
        answers: list[tuple[bytes, tuple[str, int]]] = []
        core.handler.begin_batch()
        try:
            for _ in range(self.BATCH):
                try:
                    data, addr = recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                    log.debug("UDP receive error: %s", exc)
                    continue
                t0 = time.perf_counter_ns()
                try:
                    out = core.handle(data, addr, "UDP", t0)
                except Exception:  # a bug must cost one message, never the listener
                    log.exception("error handling a datagram from %s:%s", addr[0], addr[1])
                    core.stats.counts["internal_error"] += 1
                    continue
                if out is not None:
                    answers.append((out, addr))
                    if len(answers) >= self.ANSWER_EVERY:
                        self._answer(answers)
                        core.handler.begin_batch()
        finally:
            self._answer(answers)

    def _answer(self, answers: list[tuple[bytes, tuple[str, int]]]) -> None:
        """Journal the batch's calls (one write), then send their answers, each back to the
        packet's source (symmetric response routing)."""
        self.core.handler.end_batch()
        for out, addr in answers:
            self.send(out, addr)
        answers.clear()

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self._backlog:
            try:
                self.sock.sendto(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self.loop.add_writer(self.sock.fileno(), self._writable)
            except OSError as exc:
                log.debug("UDP send to %s failed: %s", addr, exc)
                return
        self._backlog.append((data, addr))

    def _writable(self) -> None:
        while self._backlog:
            data, addr = self._backlog[0]
            try:
                self.sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("UDP send to %s failed: %s", addr, exc)
            self._backlog.popleft()
        self.loop.remove_writer(self.sock.fileno())

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.loop.remove_writer(self.sock.fileno())
        self.sock.close()


class _TcpProtocol(asyncio.Protocol):
    """One TCP connection. Its slot is checked at accept: a source outside every trunk never gets
    one (Kamailio's ``permissions`` check, whatever ``unknown_source`` says: closed at once), and
    each source address holds at most ``tcp_max_per_source`` (trusted trunks: their own cap), so
    no single address can take every slot. Only whole SIP messages keep a connection alive: it is
    closed ``tcp_idle_timeout`` after its last complete message however many bytes trickle in
    (CRLF keep-alives included), and a message begun must be complete within
    ``tcp_message_timeout``. One timer per connection, rescheduled lazily when it fires.
    """

    def __init__(self, server: SipServer):
        self.server = server
        self.core = server.core
        self.framer = StreamFramer(max_message=server.config.max_message_bytes)
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self._counted = False
        self._loop = asyncio.get_running_loop()
        self._last_message = 0.0
        #: when the message now in the framer's buffer began (None: nothing buffered)
        self._partial_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else ("", 0)
        refused = self._refusal()
        if refused is not None:
            self.core.stats.counts[refused] += 1
            transport.close()
            return
        self.server.connections.add(self)
        self.server.per_source[self.peer[0]] += 1
        self._counted = True
        self._last_message = self._loop.time()
        self._watch(self._last_message + self.server.config.tcp_idle_timeout)

    def _refusal(self) -> str | None:
        """The stats key of why this connection gets no slot, or None when it gets one."""
        server, config, ip = self.server, self.server.config, self.peer[0]
        try:
            source = self.core.handler.classify_source(ip)
        except Exception:  # a bug must cost one connection, never the listener
            log.exception("error classifying the TCP source %s", ip)
            return "internal_error"
        if source is SourceClass.UNKNOWN:
            return "tcp_unknown_source"
        cap = (
            config.tcp_max_per_trusted_source if source is SourceClass.TRUSTED else config.tcp_max_per_source
        )
        if server.per_source[ip] >= cap:
            return "tcp_refused_per_source"
        if len(server.connections) >= config.tcp_max_connections:
            return "tcp_refused"
        return None

    def _watch(self, deadline: float) -> None:
        """Have ``_check`` run by ``deadline`` (a timer already due earlier is kept)."""
        if self._timer is not None:
            if self._timer_at <= deadline:
                return
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._check)

    def _check(self) -> None:
        self._timer = None
        config = self.server.config
        now = self._loop.time()
        idle_at = self._last_message + config.tcp_idle_timeout
        deadline = idle_at
        if self._partial_since is not None:
            deadline = min(deadline, self._partial_since + config.tcp_message_timeout)
        if now < deadline:
            self._watch(deadline)
            return
        self.core.stats.counts["tcp_idle_closed" if now >= idle_at else "tcp_message_timeout"] += 1
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.framer.feed(data)
        except SipError as exc:
            # framing is lost (RFC 3261 §18.3): answer what can be answered, then close
            self.core.stats.counts["tcp_framing_lost"] += 1
            if exc.respond and exc.partial is not None and self.transport is not None:
                self.transport.write(self.core._reply(exc.partial, exc.status, exc.reason, self.peer))
            if self.transport is not None:
                self.transport.close()
            return
        if messages:
            self._last_message = self._loop.time()
            self._partial_since = None
        if not self.framer.buffered:
            self._partial_since = None
        elif self._partial_since is None:
            self._partial_since = self._loop.time()
            self._watch(self._partial_since + self.server.config.tcp_message_timeout)
        for msg in messages:
            t0 = time.perf_counter_ns()
            try:
                out = self.core.handle(msg, self.peer, "TCP", t0)
            except Exception:
                log.exception("error handling a TCP message from %s", self.peer)
                self.core.stats.counts["internal_error"] += 1
                continue
            if out is not None and self.transport is not None:
                self.transport.write(out)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counted:
            self._counted = False
            self.server.connections.discard(self)
            per_source = self.server.per_source
            per_source[self.peer[0]] -= 1
            if per_source[self.peer[0]] <= 0:
                del per_source[self.peer[0]]


class SipServer:
    """UDP and TCP listeners on one address; ``port=0`` picks a free port shared by both."""

    def __init__(self, handler: CallHandler, config: ListenerConfig | None = None):
        self.config = config or ListenerConfig()
        self.core = UasCore(handler, self.config)
        self.connections: set[_TcpProtocol] = set()
        #: open TCP connections per source address (addresses with none are left out)
        self.per_source: Counter[str] = Counter()
        self._udp: _UdpEndpoint | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self.port = self.config.port
        self._listening = False

    @property
    def stats(self) -> ListenerStats:
        return self.core.stats

    @property
    def listening(self) -> bool:
        """Both sockets are bound and open: false before :meth:`start` and from :meth:`stop` on."""
        return self._listening

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        for _attempt in range(20):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.bind((self.config.host, self.config.port))
            except OSError:
                sock.close()
                raise
            port = sock.getsockname()[1]
            try:
                self._tcp = await loop.create_server(
                    lambda: _TcpProtocol(self), self.config.host, port, reuse_address=True
                )
            except OSError:
                sock.close()
                if self.config.port:
                    raise
                continue  # the TCP twin of a random UDP port was taken: try another
            self._udp = _UdpEndpoint(self.core, sock)
            self.port = port
            self._listening = True
            log.info("SIP listening on %s:%d (UDP, TCP)", self.config.host, port)
            return
        raise OSError("could not find a port free for both UDP and TCP")

    async def stop(self) -> None:
        self._listening = False
        if self._tcp is not None:
            self._tcp.close()
            for conn in list(self.connections):
                if conn.transport is not None:
                    conn.transport.close()
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()
        if self._udp is not None:
            self._udp.close()
        await asyncio.sleep(0)
