"""End-to-end fixtures: a real worker process (SIP listener, recorder) on a free port, over a
migrated database seeded through the registry use cases; always stopped after the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from registry.cli import upgrade_database
from registry.db import make_engine, make_session_factory
from tests import factories as f
from tests.conftest import PG_URL
from tests.e2e.tcpproxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Worker:
    proc: subprocess.Popen[str]
    host: str
    port: int
    env: dict[str, str]
    log_path: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker(env: dict[str, str], log_path: Path, timeout: float = 30) -> Worker:
    """Start ``python worker.py`` and wait for its READY line."""
    with open(log_path, "a") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-u", str(ROOT / "worker.py")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
        )
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("READY "):
            _, host, port = line.split()
            return Worker(proc, host, int(port), env, log_path)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    proc.wait(5)
    proc.stdout.close()
    raise RuntimeError(f"worker did not start: {log_path.read_text()[-3000:]}")


def wait_for(check: Callable[[], object], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll ``check`` every ``every`` seconds until it is true; fail after ``timeout`` saying ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(every)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A TCP proxy to the test PostgreSQL (``ANIGATE_TEST_DATABASE_URL``): stop it and the database
    is away for whoever connects through it (see ``tcpproxy.through``)."""
    target = make_url(PG_URL)
    p = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    yield p
    p.close()


@dataclass
class Estate:
    url: str
    factory: sessionmaker[Session]
    objects: dict


@pytest.fixture
def estate_db(database_url: str) -> Iterator[Estate]:
    """A migrated database with two centers, a site, a trusted loopback trunk and devices."""
    upgrade_database(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as s:
        berlin = f.center(
            s, name="Berlin", sip_uris=["sip:berlin@127.0.0.1:5070", "sip:berlin-backup@127.0.0.1:5071"]
        )
        london = f.center(
            s,
            name="London",
            sip_uris=["sip:london@127.0.0.1:5080"],
            languages=["en"],
            timezone="Europe/London",
        )
        site = f.site(s, day_center=berlin.id, out_of_hours_center=london.id)
        loop = f.trunk(s, name="loopback", source_addresses=["127.0.0.1"], default_region="DE")
        untrusted = f.trunk(
            s, name="internet", source_addresses=["127.0.0.3"], trust="untrusted", default_region="DE"
        )
        lift = f.device(s, site.id, ani="+493012345678", trunk=loop.id)
        intercom = f.device(s, site.id, ani="+493023905601", kind="door_intercom", trunk=loop.id)
        s.commit()
        objects = {
            "berlin": berlin,
            "london": london,
            "site": site,
            "loop": loop,
            "untrusted": untrusted,
            "lift": lift,
            "intercom": intercom,
        }
    yield Estate(database_url, factory, objects)
    engine.dispose()


@pytest.fixture
def worker_env(estate_db: Estate, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIGATE_")}
    env.update(
        {
            "ANIGATE_DATABASE_URL": estate_db.url,
            "ANIGATE_INSTANCE_DIR": str(tmp_path / "instance"),
            "ANIGATE_SIP_HOST": "127.0.0.1",
            "ANIGATE_SIP_PORT": "0",
            "ANIGATE_DEFAULT_CENTER": "London",
            "ANIGATE_SECRET_KEY": "e2e",
            "ANIGATE_LOG_LEVEL": "INFO",
        }
    )
    return env


@pytest.fixture
def worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    w = start_worker(worker_env, tmp_path / "worker.log")
    yield w
    w.stop()
