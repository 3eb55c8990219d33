"""The worker's Prometheus endpoint, scraped from a real ``worker.py`` before and after real calls
(sipp and the loopback UAC): the counters move by exactly the calls sent, and the endpoint goes away
with the worker."""

from __future__ import annotations

import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Worker, start_worker
from tests.e2e.sipp import free_port, run_sipp
from tests.e2e.siptools import invite, status_line, udp_exchange

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> tuple[str, Samples]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200
        content_type = resp.headers["Content-Type"]
        text = resp.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return content_type, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metered(worker_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Worker, int]]:
    port = free_port()
    env = dict(worker_env, ANIGATE_METRICS_PORT=str(port))
    w = start_worker(env, tmp_path / "worker.log")
    yield w, port
    w.stop()


def test_the_worker_metrics_move_by_exactly_the_calls_sent(
    metered: tuple[Worker, int], tmp_path: Path
) -> None:
    worker, port = metered
    content_type, before = scrape(port)
    assert content_type.startswith("text/plain")

    calls = 7
    result = run_sipp(
        tmp_path, worker.port, calls=calls, rate=50, headers=["P-Asserted-Identity: <tel:+493012345678>"]
    )
    assert result.returncode == 0, result.output
    # an unknown number (anomaly unknown_ani) and a request whose CSeq names another method (bad input)
    unknown = invite(worker.port, ani_headers=("P-Asserted-Identity: <tel:+4989111222>",))
    assert status_line(udp_exchange(worker.port, unknown)) == "SIP/2.0 302 Moved Temporarily"
    bad = invite(worker.port, cseq="1 OPTIONS")
    assert (status_line(udp_exchange(worker.port, bad)) or "").startswith("SIP/2.0 400 Bad Request")

    _, after = scrape(port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("anigate_sip_requests_total", outcome="answered_302") == calls + 1
    assert moved("anigate_sip_invites_total") == calls + 1
    assert moved("anigate_sip_responses_total", status="302") == calls + 1
    assert moved("anigate_sip_bad_input_total", kind="malformed_400") == 1
    assert moved("anigate_sip_responses_total", status="400") == 1
    assert moved("anigate_sip_received_total") >= calls * 2 + 2  # sipp ACKs each 302
    for histogram in ("anigate_sip_decision_seconds", "anigate_sip_answer_seconds"):
        assert moved(f"{histogram}_count") == calls + 1
        assert moved(f"{histogram}_bucket", le="+Inf") == calls + 1
        assert moved(f"{histogram}_sum") > 0
    assert moved("anigate_calls_with_anomaly_total", anomaly="unknown_ani") == 1
    assert value(before, "anigate_calls_with_anomaly_total", anomaly="call_flood") == 0  # listed at 0
    assert value(after, "anigate_journal_held_calls") == 0
    assert value(after, "anigate_journal_lost_calls_total") == 0
    assert value(after, "anigate_recorder_up") == 1
    assert value(after, "anigate_relay_up") == 1
    assert value(after, "anigate_snapshot_from_disk") == 0
    assert value(after, "anigate_snapshot_revision") > 0
    assert value(after, "process_resident_memory_bytes") > 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_metrics_endpoint_stops_with_the_worker(metered: tuple[Worker, int], sig: signal.Signals) -> None:
    worker, port = metered
    scrape(port)
    t0 = time.monotonic()
    assert worker.stop(sig) == 0
    assert time.monotonic() - t0 < 10  # the worker's own stop deadline is 8.5 s
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert f"metrics on http://127.0.0.1:{port}/metrics" in worker.log()


def test_a_metrics_port_taken_is_logged_and_calls_are_answered_all_the_same(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = dict(worker_env, ANIGATE_METRICS_PORT=str(taken.getsockname()[1]))
        w = start_worker(env, tmp_path / "worker.log")
        try:
            reply = udp_exchange(w.port, invite(w.port))
            assert status_line(reply) == "SIP/2.0 302 Moved Temporarily"
            assert "ERROR anigate.worker: metrics not served on 127.0.0.1:" in w.log()
        finally:
            assert w.stop() == 0
