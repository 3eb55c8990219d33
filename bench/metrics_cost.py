"""What the Prometheus metrics add to each INVITE on the SIP loop (run by hand: results in RESULTS.md).

Times, per call: ``ops.sipmetrics.CallMetrics`` (the two hooks the worker sets: ``routed`` with three
``call_flood`` anomalies as in a blackout, and ``answered``) against the same work done with
prometheus_client's ``Histogram.observe`` and pre-bound ``Counter`` children; and one scrape of the
SIP collector. ``python -m bench.metrics_cost``
"""

from __future__ import annotations

import timeit
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ops.sipmetrics import LATENCY_BUCKETS, CallMetrics, SipCollector, WorkerParts
from routing.policy import Anomaly, Severity
from sip.listener import ListenerStats

N = 200_000


def main() -> None:
    flood = tuple(Anomaly("call_flood", Severity.WARNING, {"scope": s}) for s in ("ani", "site", "trunk"))
    decision = SimpleNamespace(anomalies=(*flood, Anomaly("unverified_identity", Severity.WARNING)))
    ours = CallMetrics()

    def with_ours() -> None:
        ours.routed(decision, 800)  # type: ignore[arg-type]
        ours.answered(0)

    registry = CollectorRegistry()
    h_decision = Histogram("d_seconds", "d", buckets=LATENCY_BUCKETS, registry=registry)
    h_answer = Histogram("a_seconds", "a", buckets=LATENCY_BUCKETS, registry=registry)
    counter = Counter("anomalies_total", "a", ["anomaly"], registry=registry)
    children = {c: counter.labels(c) for c in ("call_flood", "unverified_identity")}

    def with_client() -> None:
        h_decision.observe(0.0008)
        for code in {a.code for a in decision.anomalies}:
            children[code].inc()
        h_answer.observe(0.0009)

    plain = SimpleNamespace(anomalies=())

    def ours_plain() -> None:
        ours.routed(plain, 800)  # type: ignore[arg-type]
        ours.answered(0)

    def client_plain() -> None:
        h_decision.observe(0.0008)
        h_answer.observe(0.0009)

    for name, fn in (
        ("ops.sipmetrics, 4 anomalies", with_ours),
        ("prometheus_client, 4 anom.", with_client),
        ("ops.sipmetrics, none", ours_plain),
        ("prometheus_client, none", client_plain),
    ):
        best = min(timeit.repeat(fn, number=N, repeat=5)) / N
        print(f"{name:28s} {best * 1e6:6.2f} us per INVITE")
    stats = ListenerStats()
    stats.counts.update({f"answered_{s}": 10 for s in (302, 480)}, received=100, invites=20, ack=20)
    scrape = CollectorRegistry(auto_describe=False)
    server = SimpleNamespace(stats=stats, connections=set())
    scrape.register(SipCollector(WorkerParts(server, ours)))  # type: ignore[arg-type]
    best = min(timeit.repeat(lambda: generate_latest(scrape), number=200, repeat=5)) / 200
    print(f"{'one scrape of the collector':28s} {best * 1e6:6.0f} us")


if __name__ == "__main__":
    main()
