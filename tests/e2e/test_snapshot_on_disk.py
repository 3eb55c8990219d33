"""A worker started while the database is away answers from the registry snapshot it kept on disk
(with its age in the log), and records the calls once the database is back; a changed snapshot
file is refused and the worker waits for the database as before.

The outage is a TCP proxy between the worker and PostgreSQL, stopped and started again. SQLite has
no such outage (a local file): a worker pointed at a SQLite file that is gone makes a new empty one
and keeps its connections to it, so the "database is back" half runs on PostgreSQL only
(``ANIGATE_TEST_DATABASE_URL``); the refused-file test runs on both, against a database without tables.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from routing.models import CallRecord
from tests.conftest import PG_URL
from tests.e2e.conftest import ROOT, Estate, start_worker, wait_for
from tests.e2e.sipp import run_sipp
from tests.e2e.tcpproxy import TcpProxy, through

PAI = "P-Asserted-Identity: <tel:+493012345678>"
BERLIN = (
    "<sip:berlin@127.0.0.1:5070>;q=1.0, <sip:berlin-backup@127.0.0.1:5071>;q=0.9, "
    "<sip:london@127.0.0.1:5080>;q=0.8"
)
postgresql_only = pytest.mark.skipif(
    not PG_URL, reason="needs PostgreSQL (ANIGATE_TEST_DATABASE_URL): the outage is a stopped TCP proxy"
)


def snapshot_dir(env: dict[str, str]) -> Path:
    return Path(env["ANIGATE_INSTANCE_DIR"]) / "snapshot"


def status(env: dict[str, str]) -> dict[str, object]:
    return json.loads((snapshot_dir(env) / "status.json").read_text())


def keep_a_snapshot(env: dict[str, str], log: Path) -> Path:
    """Run a worker against the database until it has kept its snapshot on disk; stop it."""
    worker = start_worker(env, log)
    path = snapshot_dir(env) / "registry.snapshot"
    try:
        wait_for(path.exists, 10, "the snapshot file is written")
    finally:
        assert worker.stop() == 0
    return path


@postgresql_only
def test_a_worker_started_while_the_database_is_away_answers_from_its_snapshot_on_disk(
    worker_env: dict[str, str], estate_db: Estate, tmp_path: Path, proxy: TcpProxy
) -> None:
    env = worker_env | {"ANIGATE_DATABASE_URL": through(estate_db.url, proxy)}
    proxy.start()
    path = keep_a_snapshot(env, tmp_path / "worker-1.log")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert status(env)["source"] == "database"

    proxy.stop()  # the database is away when the worker starts
    worker = start_worker(env, tmp_path / "worker-2.log")
    try:
        result = run_sipp(tmp_path / "sipp", worker.port, headers=[PAI])
        assert result.returncode == 0, result.output + worker.log()[-3000:]
        assert result.values("CONTACT") == [BERLIN]
        (call_id,) = result.values("ANSWERED")
        assert re.search(
            r"ERROR .*answering from the registry snapshot of \S+ \(r\d+, \d+ s old\): "
            r"the database is unreachable",
            worker.log(),
        ), worker.log()[-3000:]
        assert status(env)["source"] == "disk"

        time.sleep(2)  # the recorder and the refresher meet the outage too
        proxy.start()  # the database is back: the journaled call is recorded

        def recorded() -> bool:
            with estate_db.factory() as s:
                return s.scalar(select(CallRecord.id).where(CallRecord.call_id == call_id)) is not None

        wait_for(recorded, 10, f"call {call_id} is in calls")
        wait_for(lambda: "the database answers again" in worker.log(), 5, "the live snapshot is back")
        wait_for(lambda: status(env)["source"] == "database", 5, "the status file says database")
    finally:
        assert worker.stop() == 0


class Waiting:
    """A worker process started without waiting for its READY line."""

    def __init__(self, env: dict[str, str], log: Path):
        self.log_path = log
        with open(log, "a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", str(ROOT / "worker.py")],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=out,
                text=True,
            )
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("READY "):
                self.ready.set()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        self.proc.terminate()
        code = self.proc.wait(20)
        self._reader.join(5)  # it ends at EOF
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def test_a_changed_snapshot_file_is_refused_and_the_worker_waits_for_the_database(
    worker_env: dict[str, str], estate_db: Estate, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    proxy = request.getfixturevalue("proxy") if PG_URL else None
    env = dict(worker_env)
    if proxy is not None:
        env["ANIGATE_DATABASE_URL"] = through(estate_db.url, proxy)
        proxy.start()
    path = keep_a_snapshot(env, tmp_path / "worker-1.log")
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x01
    path.write_bytes(bytes(data))

    if proxy is not None:
        proxy.stop()
    else:  # a database without tables is one the worker cannot read either
        env["ANIGATE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'elsewhere' / 'anigate.db'}"
    worker = Waiting(env, tmp_path / "worker-2.log")
    try:
        wait_for(lambda: worker.log().count("cannot read the registry yet") >= 2, 15, "retries")
        assert not worker.ready.is_set()
        log = worker.log()
        assert f"registry snapshot {path} refused: its signature does not verify" in log
        assert "and there is no usable registry snapshot on disk; retrying in 1 s" in log
        assert "answering from the registry snapshot" not in log
        if proxy is not None:  # as before: it answers once the database is back
            proxy.start()
            assert worker.ready.wait(15), worker.log()[-3000:]
    finally:
        assert worker.stop() == 0
