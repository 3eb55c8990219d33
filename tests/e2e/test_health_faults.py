"""Readiness and the faults a storm brings, with real processes: the real worker (SIP listener,
recorder, jobs), sipp, the web app (a Flask client on the same database), a real tmpfs for the
journal's disk, and a TCP proxy that takes PostgreSQL away.

- ``/readyz`` turns 503 naming the recorder when it is killed with SIGKILL, and 200 once the worker
  started it again (the heartbeat is written at once on a recorder state change; polled every 50 ms).
- The journal's disk full for real (a 1 MB tmpfs filled up): every INVITE still gets its 302 with
  the right Contact, one ERROR line, the worker's row shows the held calls and ``service_degraded``
  is raised; with room again the held calls are journaled and recorded in order and the alarm clears.
- The database gone for a while under load (PostgreSQL only): every INVITE gets its 302, and once
  it is back every call is in the calls table, none twice.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from alarms.choices import AlarmKind, AlarmState
from alarms.models import Alarm
from app import create_app
from bench.sip_load import seed
from bootstrap import Services, build_services
from config import Settings
from registry.db import make_engine, make_session_factory
from routing.models import CallRecord, WorkerStatus
from tests.conftest import PG_URL
from tests.e2e.conftest import Estate, Worker, start_worker, wait_for
from tests.e2e.sipp import run_sipp
from tests.e2e.tcpproxy import TcpProxy, through
from tests.e2e.test_broker_outage import sipp_calls

PAI = "P-Asserted-Identity: <tel:+493012345678>"
BERLIN = (
    "<sip:berlin@127.0.0.1:5070>;q=1.0, <sip:berlin-backup@127.0.0.1:5071>;q=0.9, "
    "<sip:london@127.0.0.1:5080>;q=0.8"
)


@contextlib.contextmanager
def web_app(env: dict[str, str]) -> Iterator[FlaskClient]:
    """The web app over the worker's database, as ``make run`` serves it (its test client)."""
    services: Services = build_services(Settings.from_env(env))
    try:
        yield create_app(services=services).test_client()
    finally:
        services.close()


def readyz(client: FlaskClient) -> tuple[int, list[str]]:
    resp = client.get("/readyz")
    return resp.status_code, resp.get_json()["reasons"]


def worker_row(estate: Estate) -> WorkerStatus | None:
    with estate.factory() as s:
        return s.scalars(select(WorkerStatus).order_by(WorkerStatus.heartbeat_at.desc())).first()


def test_readyz_turns_503_naming_the_recorder_when_it_is_killed_and_200_once_it_runs_again(
    worker: Worker, worker_env: dict[str, str], estate_db: Estate
) -> None:
    with web_app(worker_env) as client:
        wait_for(lambda: readyz(client)[0] == 200, 30, f"ready: {readyz(client)}")
        row = worker_row(estate_db)
        assert row is not None and row.recorder_pid is not None and row.sip_listening
        name = row.worker
        os.kill(row.recorder_pid, signal.SIGKILL)
        seen: list[tuple[int, list[str]]] = []

        def unready() -> bool:
            seen.append(readyz(client))
            return seen[-1][0] == 503

        wait_for(unready, 10, f"503 after the recorder was killed: {seen[-3:]}", every=0.05)
        assert seen[-1][1] == [f"the call recorder of {name} is restarting"]
        wait_for(lambda: readyz(client)[0] == 200, 30, "ready again")
        row = worker_row(estate_db)
        assert row is not None and row.recorder_restarts == 1
        assert "call recorder (pid" in worker.log() and "died: killed by SIGKILL" in worker.log()


# --- the journal's disk full -------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs, unmounted after the test (mounting needs root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a 1 MB tmpfs for the journal (the CI container runs as root)")
    mount = tmp_path / "journal-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; the filler file is returned."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def service_alarm(estate: Estate) -> Alarm | None:
    with estate.factory() as s:
        return s.scalars(select(Alarm).where(Alarm.kind == AlarmKind.SERVICE_DEGRADED.value)).first()


def test_a_full_journal_disk_answers_every_call_raises_service_degraded_and_records_all_once_it_has_room(
    worker_env: dict[str, str], estate_db: Estate, tmp_path: Path, small_disk: Path
) -> None:
    env = worker_env | {"ANIGATE_JOURNAL_DIR": str(small_disk / "journal"), "ANIGATE_DEADLINE_INTERVAL": "1"}
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        before = run_sipp(tmp_path / "sipp-1", worker.port, headers=[PAI], calls=5)
        assert before.returncode == 0, before.output
        wait_for(lambda: count_calls(estate_db) == 5, 20, "the first calls are recorded")

        filler = fill(small_disk)
        during = run_sipp(tmp_path / "sipp-2", worker.port, headers=[PAI], calls=40, rate=20)
        assert during.returncode == 0, during.output + worker.log()[-3000:]
        assert during.values("CONTACT") == [BERLIN] * 40  # every call answered, to the right center
        faults = [line for line in worker.log().splitlines() if "call journal not writable" in line]
        assert len(faults) == 1 and " ERROR " in faults[0], faults
        assert "calls are still answered" in faults[0]

        def held() -> int:
            row = worker_row(estate_db)
            return row.calls_held if row is not None else 0

        wait_for(lambda: held() > 0, 10, "the worker's row shows the held calls")
        assert held() <= 40  # the last free bytes of a page may have taken a record or two
        wait_for(lambda: service_alarm(estate_db) is not None, 15, "service_degraded is raised")
        alarm = service_alarm(estate_db)
        assert alarm is not None and alarm.severity.value == "critical" and alarm.center_id is None
        assert "answered calls not journaled (held since" in alarm.specific_problem

        filler.unlink()  # room again: the held calls go into the journal without waiting for a call
        wait_for(lambda: count_calls(estate_db) == 45, 20, "every held call is recorded")
        assert "call journal writable again" in worker.log()
        with estate_db.factory() as s:
            rows = s.execute(select(CallRecord.call_id, CallRecord.received_at).order_by(CallRecord.id)).all()
        answered = before.values("ANSWERED") + during.values("ANSWERED")
        assert sorted(r.call_id for r in rows) == sorted(answered)  # all of them, none twice
        times = [r.received_at for r in rows]
        assert times == sorted(times)  # in the order answered
        wait_for(lambda: held() == 0, 10, "the row shows none held")

        def cleared() -> bool:
            alarm = service_alarm(estate_db)
            return alarm is not None and alarm.state is AlarmState.RTN_UNACK

        wait_for(cleared, 15, "service_degraded returns to normal")
        row = worker_row(estate_db)
        assert row is not None and row.calls_lost == 0 and row.calls_unjournaled >= held()
    finally:
        worker.stop()


def count_calls(estate: Estate) -> int:
    with estate.factory() as s:
        return s.scalar(select(func.count(CallRecord.id))) or 0


# --- the database gone under load --------------------------------------------------------------------

postgresql_only = pytest.mark.skipif(
    not PG_URL, reason="needs PostgreSQL (ANIGATE_TEST_DATABASE_URL): the outage is a stopped TCP proxy"
)
LOAD_CALLS = 900
LOAD_RATE = 30
#: the real outage lasts minutes; the test compresses it to this many seconds
OUTAGE = 20.0


@postgresql_only
def test_calls_answered_while_the_database_is_away_under_load_are_all_recorded_once_it_is_back(
    database_url: str, tmp_path: Path, proxy: TcpProxy
) -> None:
    anis = seed(database_url, LOAD_CALLS)
    proxy.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_")} | {
        "ANIGATE_DATABASE_URL": through(database_url, proxy),
        "ANIGATE_INSTANCE_DIR": str(tmp_path / "instance"),
        "ANIGATE_SIP_HOST": "127.0.0.1",
        "ANIGATE_SIP_PORT": "0",
        "ANIGATE_SECRET_KEY": "e2e",
        "ANIGATE_DEMO": "0",
    }
    worker = start_worker(env, tmp_path / "worker.log")
    engine = make_engine(database_url)
    estate = Estate(database_url, make_session_factory(engine), {})
    try:
        result: list[tuple[int, int, list[float]]] = []
        load = threading.Thread(
            target=lambda: result.append(sipp_calls(tmp_path, worker.port, anis, LOAD_RATE))
        )
        load.start()  # 900 calls at 30/s: 30 s of load
        time.sleep(5)
        proxy.stop()  # the database goes away mid-load, established connections too
        time.sleep(OUTAGE)
        proxy.start()
        load.join(120)
        ok, failed, _ = result[0]
        assert (ok, failed) == (LOAD_CALLS, 0), "every INVITE got its 302 while the database was away"
        wait_for(lambda: count_calls(estate) == LOAD_CALLS, 60, f"all calls recorded ({count_calls(estate)})")
        with estate.factory() as s:
            recorded = list(s.scalars(select(CallRecord.ani)))
        assert sorted(recorded) == sorted(anis)  # every call, none twice
    finally:
        worker.stop()
        engine.dispose()
