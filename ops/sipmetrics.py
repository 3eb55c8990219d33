"""Prometheus metrics of the worker's SIP process, read at scrape time from what the SIP loop counts.

Nothing from prometheus_client runs on the event loop. The listener already counts every outcome in
``UasCore.stats.counts`` (a ``collections.Counter``); the latencies and anomalies of each INVITE go
into :class:`LatencyHistogram` and a plain ``Counter`` here, by the hooks ``worker.py`` sets on
``UasCore.on_answer`` and ``RedirectService.on_routed``. :class:`SipCollector` turns all of it into
metric families when Prometheus scrapes, in the HTTP server's daemon thread.

Why a hand-written histogram rather than ``prometheus_client.Histogram``: its ``observe`` takes a
lock for the sum and one for the bucket; with its Counter children that is 1.5-2.8 us per INVITE,
against 0.5-1.1 us for these hooks (``bench/metrics_cost.py``, no anomaly / four). The exposition
is prometheus_client's own (``HistogramMetricFamily``). Reads from the scrape thread are copies of
a dict or a list, made in one step under the GIL (``dict(counter)``, ``list(...)``): never a torn
bucket list; the sum may be one observation ahead of the count. May import every package (a leaf,
see ``ops``).
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from routing.policy import Decision
    from routing.redirect import RedirectService
    from sip.listener import SipServer

log = logging.getLogger(__name__)

#: seconds; a redirect answers in well under a millisecond when idle and in tens under a storm
LATENCY_BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

#: the anomaly codes ``routing.policy`` gives a call; listed so that each series exists (at 0) from
#: the start, as ``rate()`` wants; a code not listed here is exported all the same when it occurs
ANOMALY_CODES = (
    "call_flood",
    "wrong_trunk",
    "forwarded",
    "out_of_hours",
    "low_attestation",
    "unverified_identity",
    "withheld",
    "unknown_ani",
    "decommissioned_device",
    "no_ani",
    "blocklisted",
    "graylisted",
    "maintenance",
)

#: listener counters that are bad input from the network (``anigate_sip_bad_input_total{kind}``);
#: ``malformed_<status>`` ones are matched by prefix
BAD_INPUT = frozenset(
    {
        "dropped_oversize",
        "dropped_unusable",
        "dropped_scanner",
        "dropped_response",
        "not_implemented",
        "not_allowed",
        "bad_extension",
        "unsupported_scheme",
    }
)


class LatencyHistogram:
    """Cumulative-bucket histogram with a single writer (the SIP event loop), in nanoseconds."""

    __slots__ = ("bounds", "buckets", "counts", "sum_ns")

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS):
        self.buckets = tuple(buckets)
        self.bounds = [round(b * 1e9) for b in self.buckets]
        #: observations per bucket (not cumulative), the last one above every bound (+Inf)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum_ns = 0

    def observe_ns(self, ns: int) -> None:
        self.counts[bisect_left(self.bounds, ns)] += 1  # a value equal to a bound is in it ("le")
        self.sum_ns += ns

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        counts = list(self.counts)
        total_ns = self.sum_ns
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*map(str, self.buckets), "+Inf"), counts, strict=True):
            running += n
            cumulative.append((bound, running))
        return HistogramMetricFamily(name, documentation, buckets=cumulative, sum_value=total_ns / 1e9)


class CallMetrics:
    """What the SIP loop adds per INVITE: the hooks it is given, each a few list or dict bumps."""

    def __init__(self, clock_ns: Callable[[], int] = time.perf_counter_ns):
        self.clock_ns = clock_ns
        #: from the datagram's receipt to the decision journaled (the calls table's ``latency_us``)
        self.decision = LatencyHistogram()
        #: from the datagram's receipt to the answer's bytes ready to send
        self.answer = LatencyHistogram()
        #: calls carrying each anomaly code (a call with three ``call_flood`` scopes counts once)
        self.anomalies: Counter[str] = Counter()

    def answered(self, received_ns: int) -> None:
        """``UasCore.on_answer``: once per INVITE answered (not for a retransmission)."""
        self.answer.observe_ns(self.clock_ns() - received_ns)

    def routed(self, decision: Decision, latency_us: int) -> None:
        """``RedirectService.on_routed``: once per INVITE decided."""
        self.decision.observe_ns(latency_us * 1000)
        anomalies = decision.anomalies
        if anomalies:
            counts = self.anomalies
            for code in {a.code for a in anomalies}:
                counts[code] += 1


@dataclass
class WorkerParts:
    """What the SIP process's collector reads; any part may be left out (tests, the route API)."""

    server: SipServer
    calls: CallMetrics
    handler: RedirectService | None = None
    #: the recorder's supervisor (``worker.ChildSupervisor``: ``state`` and ``restarts``)
    recorder: Any = None
    #: the event relay's supervisor, when this worker runs one
    relay: Any = None
    #: the snapshot refresher (``routing.snapshot_file.KeepingRefresher``)
    refresher: Any = None


def _counter(name: str, doc: str, label: str, values: Iterable[tuple[str, float]]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values):
        family.add_metric([key], value)
    return family


class SipCollector(Collector):
    """Metric families of one SIP process, built from its counters at each scrape."""

    def __init__(self, parts: WorkerParts):
        self.parts = parts

    def collect(self) -> Iterator[Any]:
        parts = self.parts
        counts = dict(parts.server.stats.counts)  # one C-level copy: consistent under the GIL
        yield CounterMetricFamily(
            "anigate_sip_received",
            "SIP messages received (UDP datagrams and TCP messages)",
            value=counts.pop("received", 0),
        )
        yield CounterMetricFamily(
            "anigate_sip_invites",
            "New INVITEs handed to routing (retransmissions not counted)",
            value=counts.pop("invites", 0),
        )
        sent: dict[str, int] = {}
        tcp: dict[str, int] = {}
        bad: dict[str, int] = {}
        outcomes: dict[str, int] = {}
        for key, value in counts.items():
            if key.startswith("sent_"):
                sent[key[5:]] = value
            elif key.startswith("tcp_"):
                tcp[key[4:]] = value
            elif key in BAD_INPUT or key.startswith("malformed_"):
                bad[key] = value
            else:
                outcomes[key] = value
        outcomes.setdefault("answered_302", 0)
        yield _counter(
            "anigate_sip_requests",
            "SIP messages by what became of them: answered_<status>, ack, options, retransmissions, "
            "dropped_flood (pike), unknown_source, internal_error",
            "outcome",
            outcomes.items(),
        )
        yield _counter(
            "anigate_sip_bad_input",
            "SIP input refused as malformed or unusable (malformed_<status> counts parse failures; "
            "dropped_unusable those that could not even be answered)",
            "kind",
            bad.items(),
        )
        yield _counter("anigate_sip_responses", "SIP responses sent, by status code", "status", sent.items())
        yield _counter(
            "anigate_sip_tcp_connections_ended",
            "TCP connections refused at accept or closed by the listener, by reason",
            "reason",
            tcp.items(),
        )
        yield GaugeMetricFamily(
            "anigate_sip_tcp_connections", "Open SIP TCP connections", value=len(parts.server.connections)
        )
        calls = parts.calls
        yield calls.decision.family(
            "anigate_sip_decision_seconds", "Receipt of an INVITE to its decision journaled (latency_us)"
        )
        yield calls.answer.family(
            "anigate_sip_answer_seconds", "Receipt of an INVITE to its answer ready to send"
        )
        anomalies = dict.fromkeys(ANOMALY_CODES, 0)
        anomalies.update(dict(calls.anomalies))
        yield _counter(
            "anigate_calls_with_anomaly",
            "Calls answered by this process, by anomaly code",
            "anomaly",
            anomalies.items(),
        )
        if parts.handler is not None:
            handler = parts.handler
            yield GaugeMetricFamily(
                "anigate_journal_held_calls",
                "Calls answered while the journal could not be written, held in memory until it can",
                value=len(handler._held),
            )
            yield CounterMetricFamily(
                "anigate_journal_unjournaled_calls",
                "Calls answered while the journal could not be written (held, then journaled or lost)",
                value=handler.unjournaled,
            )
            yield CounterMetricFamily(
                "anigate_journal_lost_calls",
                "Calls answered but never journaled (the hold overflowed)",
                value=handler.lost,
            )
            yield GaugeMetricFamily(
                "anigate_snapshot_revision",
                "Registry revision of the snapshot calls are routed on",
                value=handler.holder.current.revision,
            )
        if parts.refresher is not None:
            yield GaugeMetricFamily(
                "anigate_snapshot_from_disk",
                "1 while calls are routed on the snapshot kept on disk (the database was not readable "
                "at start)",
                value=1 if getattr(parts.refresher, "from_disk", None) is not None else 0,
            )
        for name, label, child in (
            ("recorder", "call recorder", parts.recorder),
            ("relay", "event relay", parts.relay),
        ):
            if child is None:
                continue
            yield GaugeMetricFamily(
                f"anigate_{name}_up",
                f"1 while the {label} process runs",
                value=1 if str(child.state) == "running" else 0,
            )
            yield CounterMetricFamily(
                f"anigate_{name}_restarts",
                f"Restarts of the {label} process after it died",
                value=child.restarts,
            )


class MetricsServer:
    """prometheus_client's HTTP server (``/metrics``, a daemon thread) over a registry of our own:
    this process's collector plus its CPU and memory (``process_*``)."""

    def __init__(self, parts: WorkerParts, host: str, port: int):
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SipCollector(parts))
        ProcessCollector(registry=self.registry)
        self.host = host
        self.port = port
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._httpd, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        self.port = self._httpd.server_port
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        """Stop serving (blocking for at most one poll, 0.5 s: call it off the event loop)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
