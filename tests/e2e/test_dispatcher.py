"""Two anigate workers on one database behind a real Kamailio dispatcher (round-robin, OPTIONS
probing, failover on silence or 5xx): the load is spread over both, a worker killed with SIGKILL
mid-load costs no call its 302, and a registry change reaches both workers within 2 s."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from routing.models import CallRecord
from tests import factories as f
from tests.e2e.conftest import Estate, Worker, start_worker
from tests.e2e.kamailio import Kamailio, start_kamailio
from tests.e2e.sipp import SippResult, run_sipp
from tests.e2e.siptools import header, invite, udp_exchange

BERLIN = (
    "<sip:berlin@127.0.0.1:5070>;q=1.0, <sip:berlin-backup@127.0.0.1:5071>;q=0.9, "
    "<sip:london@127.0.0.1:5080>;q=0.8"
)
# the ANI is in the P-Asserted-Identity alone (an anonymous From): Berlin only if Kamailio kept it
CALLER = dict(
    from_header='"Anonymous" <sip:anonymous@anonymous.invalid>',
    headers=["P-Asserted-Identity: <tel:+493012345678>"],
)


@pytest.fixture
def worker_env(worker_env: dict[str, str]) -> dict[str, str]:
    # the new device called before it was registered: no repeat-caller stickiness to that center
    return worker_env | {"ANIGATE_REPEAT_CALLER_WINDOW": "0"}


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        for n in (1, 2):
            env = worker_env | {"ANIGATE_INSTANCE_DIR": str(tmp_path / f"instance-{n}")}
            started.append(start_worker(env, tmp_path / f"worker-{n}.log", timeout=60))
        yield started
    finally:
        for w in started:
            w.stop()


@pytest.fixture
def kamailio(workers: list[Worker], tmp_path: Path) -> Iterator[Kamailio]:
    kam = start_kamailio(tmp_path / "kamailio", [w.port for w in workers])
    yield kam
    kam.stop()


def stored_calls(estate: Estate, timeout: float = 30, want: set[str] | None = None) -> list[CallRecord]:
    """The call rows, once ``want`` (call ids) are all in (the recorders drain asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        with estate.factory() as s:
            rows = list(s.scalars(select(CallRecord)))
            s.expunge_all()
        if want is None or want <= {r.call_id for r in rows} or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def per_process(rows: list[CallRecord]) -> Counter[str]:
    # a record id is a random per-process prefix (12 hex digits) and a counter
    return Counter(r.record_id[:12] for r in rows)


def through(kam: Kamailio, tmp: Path, calls: int) -> tuple[SippResult, int]:
    """``calls`` INVITEs at 50/s through Kamailio, and how many of them sipp sent again."""
    stats = tmp / "sipp-stats.csv"
    result = run_sipp(
        tmp, kam.port, calls=calls, rate=50, timeout=90, extra=["-trace_stat", "-stf", str(stats)], **CALLER
    )
    # the statistics file: a header line, then one line per dump (the last at the end of the run)
    lines = [line.split(";") for line in stats.read_text().splitlines() if line.strip()]
    retransmitted = int(lines[-1][lines[0].index("Retransmissions(C)")])
    return result, retransmitted


def test_kamailio_spreads_the_invites_over_both_workers_and_passes_their_302_on(
    workers, kamailio, estate_db
) -> None:
    result, retransmitted = through(kamailio, kamailio.log_path.parent / "sipp", 200)
    assert result.returncode == 0, result.output + kamailio.log()[-3000:]
    answered = set(result.values("ANSWERED"))
    assert len(answered) == 200
    assert set(result.values("CONTACT")) == {BERLIN}

    rows = stored_calls(estate_db, want=answered)
    assert {r.call_id for r in rows} == answered
    assert {r.device_id for r in rows} == {estate_db.objects["lift"].id}
    spread = per_process(rows)
    print(f"spread over the two workers: {sorted(spread.values())}, retransmissions: {retransmitted}")
    assert len(spread) == 2
    assert min(spread.values()) > 0.2 * len(rows), spread


def journaled_calls(instance_dir: Path) -> int:
    """How many calls a worker has answered: its journal holds one line per call, written before
    the 302 is sent."""
    return sum(
        seg.read_bytes().count(b'{"type":"call",') for seg in (instance_dir / "journal").glob("*.jsonl")
    )


def test_a_worker_killed_mid_load_costs_no_call_its_302(workers, kamailio, estate_db, tmp_path) -> None:
    result: dict[str, Any] = {}

    def call() -> None:
        result["sipp"], result["retransmitted"] = through(kamailio, tmp_path / "sipp", 300)

    caller = threading.Thread(target=call)
    caller.start()
    victim, survivor = workers
    deadline = time.monotonic() + 60
    while journaled_calls(tmp_path / "instance-1") < 40 and time.monotonic() < deadline:
        time.sleep(0.05)  # about 80 of the 300 calls in: mid-load
    victim.stop(signal.SIGKILL)
    assert victim.proc.returncode == -signal.SIGKILL
    caller.join(150)
    sipp = result["sipp"]
    assert sipp.returncode == 0, sipp.output + kamailio.log()[-3000:]
    answered = set(sipp.values("ANSWERED"))
    assert len(answered) == 300  # sipp counted no failed call
    assert set(sipp.values("CONTACT")) == {BERLIN}
    failovers = kamailio.failovers()
    print(f"failovers in kamailio: {failovers}, sipp retransmissions: {result['retransmitted']}")
    assert failovers >= 1, kamailio.log()[-3000:]

    # the killed worker's journal is drained when an instance with that journal starts again
    again = start_worker(victim.env, victim.log_path, timeout=60)
    try:
        rows = stored_calls(estate_db, want=answered)
    finally:
        assert again.stop() == 0
    assert answered - {r.call_id for r in rows} == set()
    spread = per_process(rows)
    print(f"calls stored per worker process: {sorted(spread.values())}")
    assert len(spread) == 2 and min(spread.values()) >= 20, spread  # both answered before the kill
    assert survivor.proc.poll() is None


def test_both_workers_see_a_new_device_within_two_seconds(workers, estate_db) -> None:
    ani = "+493055501234"
    pai = (f"P-Asserted-Identity: <tel:{ani}>",)

    def contact(w: Worker) -> str | None:
        resp = udp_exchange(w.port, invite(w.port, ani_headers=pai, from_user="anonymous"))
        return header(resp, "Contact") if resp else None

    with estate_db.factory() as s:  # a center and a site of its own, so the device's route shows
        paris = f.center(
            s, name="Paris", sip_uris=["sip:paris@127.0.0.1:5090"], languages=["fr"], timezone="Europe/Paris"
        )
        site = f.site(s, name="Tour B", slug="tour-b", day_center=paris.id, out_of_hours_center=paris.id)
        s.commit()
    for w in workers:  # unknown so far: not routed to Paris
        before = contact(w)
        assert before is not None and "paris" not in before

    with estate_db.factory() as s:
        f.device(s, site.id, ani=ani, trunk=estate_db.objects["loop"].id)
        s.commit()
    created = time.monotonic()

    seen: dict[int, str] = {}
    while time.monotonic() - created < 2.0 and len(seen) < 2:
        for n, w in enumerate(workers):
            if n not in seen and (c := contact(w)) and c.startswith("<sip:paris@127.0.0.1:5090>"):
                seen[n] = c
        time.sleep(0.05)
    assert sorted(seen) == [0, 1], {n: contact(w) for n, w in enumerate(workers)}
