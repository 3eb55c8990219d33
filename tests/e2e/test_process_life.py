"""Life of the real processes: ``make run`` stops completely on one signal to its process group
(SIGTERM as systemd sends it, SIGINT as Ctrl-C does); the worker alone stops with its recorder and its
relay; a killed recorder or relay is noticed and started again; a killed worker leaves no child
behind; gunicorn keeps its control socket in the instance folder and query strings out of its access
log."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry.cli import upgrade_database
from registry.db import make_engine, make_session_factory
from routing.models import CallRecord, WorkerStatus
from tests.e2e.conftest import ROOT, Estate, Worker, start_worker
from tests.e2e.sipp import free_port
from tests.e2e.siptools import invite, status_line, udp_exchange
from tests.e2e.webserver import status as http_get

pytestmark = pytest.mark.slow

#: a lift of the demo estate (Spree Tower, North core, Lift 1) and one of the e2e estate
DEMO_ANI = "+493023905601"
E2E_ANI = "+493012345678"
STOP_WITHIN = 10.0
#: the recorder's and the relay's first lines, once they handle their signals
RECORDING = "recorder: recording the calls of"
RELAYING = "relay: relaying the outbox"


# --- processes, read from /proc --------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, session id) of a process, None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[3])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def session_processes(sid: int) -> dict[int, str]:
    """Every live process of a session (a process group that moved away is still in it)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[2] == sid and st[0] != "Z":
                out[int(entry)] = _cmdline(int(entry))
    return out


def children(pid: int) -> list[int]:
    return [
        p for p in (int(e) for e in os.listdir("/proc") if e.isdigit()) if (_stat(p) or ("", 0, 0))[1] == pid
    ]


def wait_for(check: Callable[[], object], timeout: float, interval: float = 0.1) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return check()


def wait_gone(pids: list[int], timeout: float) -> float:
    """Seconds until every pid is gone (or ``timeout`` if some are left)."""
    t0 = time.monotonic()
    wait_for(lambda: not any(alive(p) for p in pids), timeout, 0.05)
    return time.monotonic() - t0


# --- calls -------------------------------------------------------------------------------------------


def send_calls(port: int, ani: str, n: int, tag: str) -> list[str]:
    """``n`` INVITEs over UDP, each answered 302; returns their Call-IDs."""
    ids = []
    for i in range(n):
        call_id = f"{tag}-{i}@process-life"
        answer = udp_exchange(
            port, invite(port, ani_headers=(f"P-Asserted-Identity: <tel:{ani}>",), call_id=call_id), timeout=3
        )
        assert status_line(answer) == "SIP/2.0 302 Moved Temporarily", answer
        ids.append(call_id)
    return ids


def stored_calls(factory: sessionmaker[Session]) -> set[str]:
    with factory() as s:
        return set(s.scalars(select(CallRecord.call_id)))


def worker_status(factory: sessionmaker[Session]) -> WorkerStatus | None:
    with factory() as s:
        return s.scalars(select(WorkerStatus)).first()


# --- make run ----------------------------------------------------------------------------------------


def free_sip_port() -> int:
    """A port free for both UDP and TCP on loopback."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


@dataclass
class MakeRun:
    proc: subprocess.Popen[bytes]
    log_path: Path
    instance: Path
    home: Path
    http_port: int
    sip_port: int
    factory: sessionmaker[Session]

    @property
    def sid(self) -> int:
        return self.proc.pid  # started in a session of its own

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def make_run(database_url: str, tmp_path: Path) -> Iterator[MakeRun]:
    """``make run`` in a session of its own, with its own ports, instance folder and HOME; once the
    web app is ready (``/readyz``: database, worker heartbeat, recorder) and SIP answers."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_") and k != "XDG_RUNTIME_DIR"}
    http_port, sip_port = free_port(), free_sip_port()
    instance = tmp_path / "instance"
    env.update(
        {
            "HOME": str(home),
            "ANIGATE_DATABASE_URL": database_url,
            "ANIGATE_INSTANCE_DIR": str(instance),
            "ANIGATE_HTTP_PORT": str(http_port),
            "ANIGATE_SIP_PORT": str(sip_port),
            "ANIGATE_SECRET_KEY": "e2e",
            "ANIGATE_LOG_LEVEL": "INFO",
        }
    )
    log_path = tmp_path / "make-run.log"
    # as a terminal starts it: SIGINT at its default (a shell's background job would inherit it ignored)
    launcher = (
        "import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp('make', ['make', 'run'])"
    )
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", launcher],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    engine = make_engine(database_url)
    run = MakeRun(proc, log_path, instance, home, http_port, sip_port, make_session_factory(engine))
    try:
        ready = wait_for(lambda: http_get(http_port, "/readyz") == 200 or proc.poll() is not None, 120, 0.5)
        assert ready and proc.poll() is None, run.log()[-4000:]
        assert "READY 127.0.0.1" in run.log()
        yield run
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for pid in session_processes(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        engine.dispose()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_one_signal_to_the_process_group_stops_every_process_of_make_run(
    make_run: MakeRun, sig: signal.Signals
) -> None:
    tree = session_processes(make_run.sid)
    kinds = {
        "make": [p for p, c in tree.items() if c.startswith("make run")],
        "run.sh": [p for p, c in tree.items() if "scripts/run.sh" in c],
        "worker": [p for p, c in tree.items() if c.endswith("worker.py")],
        "recorder": [p for p, c in tree.items() if "worker.py --recorder" in c],
        "relay": [p for p, c in tree.items() if "worker.py --relay" in c],
        # "gunicorn: master [wsgi:app]" with setproctitle, else ".venv/bin/python .venv/bin/gunicorn ..."
        "gunicorn": [p for p, c in tree.items() if c.startswith("gunicorn: ") or "bin/gunicorn " in c],
    }
    assert {k: len(v) for k, v in kinds.items()} == {
        "make": 1,
        "run.sh": 1,
        "worker": 1,
        "recorder": 1,
        "relay": 1,
        "gunicorn": 3,  # master and 2 workers
    }, tree
    calls = send_calls(make_run.sip_port, DEMO_ANI, 20, f"group-{sig.name}")
    # they handle signals from here on
    assert wait_for(lambda: RECORDING in make_run.log() and RELAYING in make_run.log(), 10), make_run.log()

    os.killpg(make_run.sid, sig)
    took = wait_gone(list(tree), STOP_WITHIN + 5)
    left = {p: c for p, c in tree.items() if alive(p)}
    assert left == {}, f"still running after {took:.1f} s: {left}\n{make_run.log()[-3000:]}"
    assert took < STOP_WITHIN, make_run.log()[-3000:]
    make_run.proc.wait(5)
    assert session_processes(make_run.sid) == {}  # nothing escaped into a group of its own
    log = make_run.log()
    assert "anigate.worker: stopped in" in log  # a clean stop, not the deadline's forced exit
    # the recorder and the relay got the signal too: they handled it (the recorder drained, exit
    # code 0), not died of it; whether each saw the signal or its worker's request first is a matter
    # of scheduling
    assert "(recorder exit code 0, relay exit code 0)" in log
    assert "recorder: stopped: " in log
    assert "relay: stopping (" in log
    assert "Traceback" not in log
    assert set(calls) <= stored_calls(make_run.factory)
    assert not (make_run.home / ".gunicorn").exists()


#: a web app process, its instance folder and its HTTP port
Gunicorn = tuple[subprocess.Popen[bytes], Path, int]


@pytest.fixture
def two_gunicorns(database_url: str, tmp_path: Path) -> Iterator[list[Gunicorn]]:
    """Two web apps as scripts/run.sh starts them (``gunicorn -c gunicorn.conf.py``), each with its
    own instance folder, on one machine and one HOME: (process, instance folder, port) each."""
    upgrade_database(database_url)
    home = tmp_path / "home"
    home.mkdir()
    started = []
    for name in ("one", "two"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_") and k != "XDG_RUNTIME_DIR"}
        port = free_port()
        env.update(
            {
                "HOME": str(home),
                "ANIGATE_DATABASE_URL": database_url,
                "ANIGATE_INSTANCE_DIR": str(tmp_path / name),
                "ANIGATE_HTTP_PORT": str(port),
                "ANIGATE_SECRET_KEY": "e2e",
            }
        )
        with open(tmp_path / f"gunicorn-{name}.log", "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append((proc, tmp_path / name, port))
    try:
        for proc, _, port in started:
            assert wait_for(lambda: http_get(port, "/healthz") == 200 or proc.poll() is not None, 60, 0.2)  # noqa: B023
            assert proc.poll() is None
        yield started
    finally:
        for proc, _, _ in started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def test_each_instance_has_its_own_gunicorn_control_socket(
    two_gunicorns: list[Gunicorn], tmp_path: Path
) -> None:
    sockets = [folder / "gunicorn.ctl" for _, folder, _ in two_gunicorns]
    assert wait_for(lambda: all(s.is_socket() for s in sockets), 10)
    assert not (tmp_path / "home" / ".gunicorn").exists()  # gunicorn's shared default
    for proc, _, _ in two_gunicorns:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_WITHIN) == 0
    assert not any(s.exists() for s in sockets)  # removed at stop


def test_the_access_log_never_shows_a_query_string(two_gunicorns: list[Gunicorn], tmp_path: Path) -> None:
    proc, _, port = two_gunicorns[0]
    # refused (a token belongs in the Authorization header), and not written down either
    assert http_get(port, "/api/v1/devices?token=ag_secret") == 401
    assert http_get(port, "/healthz?token=ag_secret2") == 200
    proc.send_signal(signal.SIGTERM)
    proc.wait(STOP_WITHIN)
    log = (tmp_path / "gunicorn-one.log").read_text()
    assert '"GET /api/v1/devices HTTP/1.1" 401' in log
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert "ag_secret" not in log
    assert "token=" not in log


# --- the worker alone -----------------------------------------------------------------------------------


def child_of(worker: Worker, flag: str, first_line: str) -> int:
    """The one child of the worker run with ``flag``, once it logged ``first_line``."""
    found = wait_for(lambda: [p for p in children(worker.proc.pid) if flag in _cmdline(p)], 10)
    assert found, worker.log()
    assert isinstance(found, list) and len(found) == 1
    assert wait_for(lambda: first_line in worker.log(), 10), worker.log()
    return found[0]


def recorder_of(worker: Worker) -> int:
    return child_of(worker, "--recorder", RECORDING)


def relay_of(worker: Worker) -> int:
    return child_of(worker, "--relay", RELAYING)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_worker_alone_stops_it_its_recorder_and_its_relay(
    worker: Worker, estate_db: Estate, sig: signal.Signals
) -> None:
    recorder, relay = recorder_of(worker), relay_of(worker)
    calls = send_calls(worker.port, E2E_ANI, 20, f"alone-{sig.name}")
    worker.proc.send_signal(sig)
    took = wait_gone([worker.proc.pid, recorder, relay], STOP_WITHIN + 5)
    assert worker.proc.wait(1) == 0
    assert took < STOP_WITHIN
    assert not alive(recorder) and not alive(relay)
    assert "recorder: stopping (the worker asked)" in worker.log()
    assert "relay: stopping (the worker asked)" in worker.log()
    assert "(recorder exit code 0, relay exit code 0)" in worker.log()
    assert set(calls) <= stored_calls(estate_db.factory)


def test_a_killed_recorder_is_logged_restarted_and_reported(worker: Worker, estate_db: Estate) -> None:
    first = recorder_of(worker)
    os.kill(first, signal.SIGKILL)
    died = f"ERROR anigate.worker: call recorder (pid {first}) died: killed by SIGKILL"
    assert wait_for(lambda: died in worker.log(), 3), worker.log()
    second = wait_for(lambda: [p for p in children(worker.proc.pid) if "--recorder" in _cmdline(p)], 5)
    assert second and second != [first], worker.log()

    calls = send_calls(worker.port, E2E_ANI, 10, "after-restart")
    assert wait_for(lambda: set(calls) <= stored_calls(estate_db.factory), 5), worker.log()

    def restarted_and_caught_up() -> WorkerStatus | None:
        row = worker_status(estate_db.factory)
        if row is None or row.recorder_restarts != 1 or row.journal_backlog_bytes:
            return None
        return row

    row = wait_for(restarted_and_caught_up, 6)
    assert isinstance(row, WorkerStatus), worker_status(estate_db.factory)
    assert row.recorder_state == "running"
    assert row.recorder_pid == second[0]
    assert row.recorder_last_error.startswith("killed by SIGKILL")
    assert row.pid == worker.proc.pid

    # and the worker still stops cleanly, its recorder with it
    assert worker.stop() == 0
    assert not alive(second[0])
    assert worker_status(estate_db.factory).recorder_state == "down"  # type: ignore[union-attr]


def test_a_killed_relay_is_logged_restarted_and_reported(worker: Worker, estate_db: Estate) -> None:
    first = relay_of(worker)
    recorder = recorder_of(worker)
    os.kill(first, signal.SIGKILL)
    died = f"ERROR anigate.worker: event relay (pid {first}) died: killed by SIGKILL"
    assert wait_for(lambda: died in worker.log(), 3), worker.log()
    assert "events wait in the outbox; starting it again in 0.5 s" in worker.log()
    second = wait_for(lambda: [p for p in children(worker.proc.pid) if "--relay" in _cmdline(p)], 5)
    assert second and second != [first], worker.log()

    def restarted() -> WorkerStatus | None:
        row = worker_status(estate_db.factory)
        return row if row is not None and row.relay_restarts == 1 else None

    row = wait_for(restarted, 6)
    assert isinstance(row, WorkerStatus), worker_status(estate_db.factory)
    assert (row.relay_state, row.relay_pid) == ("running", second[0])
    assert row.relay_last_error.startswith("killed by SIGKILL")
    # the recorder was not touched
    assert (row.recorder_state, row.recorder_pid, row.recorder_restarts) == ("running", recorder, 0)

    assert worker.stop() == 0
    assert not alive(second[0])
    assert worker_status(estate_db.factory).relay_state == "down"  # type: ignore[union-attr]


def test_a_killed_worker_leaves_no_child_behind(worker: Worker, estate_db: Estate) -> None:
    recorder, relay = recorder_of(worker), relay_of(worker)
    calls = send_calls(worker.port, E2E_ANI, 10, "orphan")
    worker.stop(signal.SIGKILL)
    assert wait_gone([recorder, relay], STOP_WITHIN) < STOP_WITHIN
    assert "recorder: stopping (the worker is gone)" in worker.log()
    assert "relay: stopping (the worker is gone)" in worker.log()
    assert set(calls) <= stored_calls(estate_db.factory)


def test_a_repeated_signal_ends_a_stuck_stop_at_once(worker_env: dict[str, str], tmp_path: Path) -> None:
    """The recorder is frozen (SIGSTOP) so the stop waits for it; a second SIGTERM a while after the
    first ends the worker at once, its recorder killed; its calls wait in the journal."""
    worker = start_worker(worker_env, tmp_path / "worker.log")
    try:
        recorder = recorder_of(worker)
        os.kill(recorder, signal.SIGSTOP)
        worker.proc.send_signal(signal.SIGTERM)
        assert wait_for(lambda: "stopping:" in worker.log(), 5)
        time.sleep(1.5)
        assert worker.proc.poll() is None  # still waiting for the recorder
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(3) == 1
        assert wait_gone([recorder], 3) < 3
        assert "SIGTERM again: exiting now" in worker.log()
    finally:
        worker.stop(signal.SIGKILL)


def test_a_recorder_that_does_not_stop_is_killed_after_the_deadline(
    worker: Worker, estate_db: Estate
) -> None:
    recorder = recorder_of(worker)
    calls = send_calls(worker.port, E2E_ANI, 5, "frozen")
    assert wait_for(lambda: set(calls) <= stored_calls(estate_db.factory), 5)
    os.kill(recorder, signal.SIGSTOP)  # as if stuck inside the database driver
    late = send_calls(worker.port, E2E_ANI, 5, "frozen-late")
    t0 = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(STOP_WITHIN) == 0
    assert time.monotonic() - t0 < STOP_WITHIN
    assert not alive(recorder)
    assert f"call recorder (pid {recorder}) did not stop within 6 s; killing it" in worker.log()
    # the calls it held back wait in the journal: the next start stores them
    again = start_worker(worker.env, worker.log_path)
    try:
        assert wait_for(lambda: set(late) <= stored_calls(estate_db.factory), 10), again.log()
    finally:
        assert again.stop() == 0


def test_a_stop_that_overruns_its_deadline_ends_the_worker_and_its_recorder(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    """The real worker with a recorder timeout beyond the worker's own stop deadline, and a frozen
    recorder: the deadline ends the stop, prints every stack and kills the recorder."""
    code = "import sys, worker; worker.ChildSupervisor.stop.__defaults__ = (60.0,); sys.exit(worker.main([]))"
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-c", code],
            cwd=ROOT,
            env=worker_env,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
        )
    worker = Worker(proc, "127.0.0.1", 0, worker_env, log_path)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("READY "), worker.log()
        recorder = recorder_of(worker)
        os.kill(recorder, signal.SIGSTOP)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_WITHIN + 5) == 1
        assert 8 < time.monotonic() - t0 < STOP_WITHIN
        assert wait_gone([recorder], 3) < 3
        log = worker.log()
        assert "ERROR anigate.worker: the stop overran 8.5 s: exiting now" in log
        assert "(most recent call first)" in log and 'worker.py", line' in log  # where it hung
    finally:
        worker.stop(signal.SIGKILL)
