"""The SIP process's metrics without sockets: bucket edges, one count per call and anomaly code,
and the families the collector builds from a listener's counters."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from ops.sipmetrics import CallMetrics, LatencyHistogram, SipCollector, WorkerParts
from routing.policy import Anomaly, Severity
from sip.listener import ListenerStats


def test_a_value_on_a_bucket_bound_is_in_that_bucket() -> None:
    h = LatencyHistogram((0.001, 0.01))
    for ns in (1_000_000, 1_000_001, 10_000_000, 10_000_001):
        h.observe_ns(ns)
    family = h.family("x_seconds", "x")
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name == "x_seconds_bucket"}
    assert buckets == {"0.001": 1, "0.01": 3, "+Inf": 4}
    assert [s.value for s in family.samples if s.name == "x_seconds_count"] == [4]
    assert [s.value for s in family.samples if s.name == "x_seconds_sum"] == [0.022000002]


def test_a_call_counts_once_per_anomaly_code_however_many_scopes_flood() -> None:
    calls = CallMetrics(clock_ns=lambda: 5_000_000)
    flood = [Anomaly("call_flood", Severity.WARNING, {"scope": s}) for s in ("ani", "site", "trunk")]
    calls.routed(SimpleNamespace(anomalies=(*flood, Anomaly("withheld", Severity.INFO))), 250)
    calls.routed(SimpleNamespace(anomalies=()), 750)
    calls.answered(4_000_000)
    assert dict(calls.anomalies) == {"call_flood": 1, "withheld": 1}
    assert calls.decision.sum_ns == 1_000_000
    assert calls.answer.sum_ns == 1_000_000


def test_the_listener_counters_become_one_family_each() -> None:
    stats = ListenerStats()
    stats.counts.update(
        received=5, invites=2, answered_302=2, sent_302=2, sent_400=1, malformed_400=1, ack=1,
        tcp_idle_closed=1, dropped_flood=1,
    )  # fmt: skip
    server = SimpleNamespace(stats=stats, connections={1, 2})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SipCollector(WorkerParts(server, CallMetrics())))  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    for line in (
        "anigate_sip_received_total 5.0",
        "anigate_sip_invites_total 2.0",
        'anigate_sip_requests_total{outcome="answered_302"} 2.0',
        'anigate_sip_requests_total{outcome="ack"} 1.0',
        'anigate_sip_requests_total{outcome="dropped_flood"} 1.0',
        'anigate_sip_bad_input_total{kind="malformed_400"} 1.0',
        'anigate_sip_responses_total{status="400"} 1.0',
        'anigate_sip_tcp_connections_ended_total{reason="idle_closed"} 1.0',
        "anigate_sip_tcp_connections 2.0",
        'anigate_calls_with_anomaly_total{anomaly="call_flood"} 0.0',
    ):
        assert line in text.splitlines(), line
    assert 'outcome="malformed_400"' not in text  # each counter in one family only
