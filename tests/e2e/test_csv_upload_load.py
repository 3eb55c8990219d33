"""Two big CSV uploads at once under the real gunicorn (gunicorn.conf.py: 2 workers, threads each):
each upload answers at once with its job page, the jobs run in the workers' job threads, and
meanwhile a registry page and the REST API keep answering; then both imports complete."""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from registry.accounts import create_token
from registry.choices import CsvJobPhase, CsvJobState
from registry.cli import upgrade_database
from registry.csvjobs import MAX_WEB_ROWS
from registry.db import make_engine, make_session_factory
from registry.models import CsvJob, Device
from tests import factories as f
from tests.e2e.webserver import Browser, gunicorn
from tests.web_support import PASSWORD, user

#: a page or API answer slower than this while the jobs run counts as the web UI being down
ANSWER_WITHIN = 10.0


@dataclass
class Web:
    port: int
    factory: sessionmaker[Session]
    token: str
    log: Path


@pytest.fixture
def web(database_url: str, tmp_path: Path) -> Iterator[Web]:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        site = f.site(session)
        f.device(session, site.id, ani="+493012345678")
        session.commit()
        ada = user(session, "ada", "facility_manager", sites=["tower-a"])
        user(session, "bob")
        _, secret = create_token(session, ada, "probe")
        session.commit()
    with gunicorn(database_url, tmp_path, ANIGATE_SECRET_KEY="e2e") as served:
        yield Web(served.port, factory, secret, tmp_path / "gunicorn.log")
    engine.dispose()


def upload(browser: Browser, text: str) -> tuple[int, str, str]:
    token = browser.csrf("/devices/import")
    boundary = "----anigate-e2e"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="devices.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{text}\r\n--{boundary}--\r\n"
    ).encode()
    return browser.post("/devices/import", body, f"multipart/form-data; boundary={boundary}")


def _devices_file(first_digit: int) -> str:
    lines = [f"030 {first_digit}{i:07d},car_park_help_point,Commend,tower-a" for i in range(MAX_WEB_ROWS)]
    return "ani,kind,vendor,site\n" + "\n".join(lines) + "\n"


@dataclass
class Probe:
    """Requests made while jobs ran: (status, seconds, both jobs running at that moment)."""

    answers: list[tuple[str, int, float, bool]] = field(default_factory=list)


def _jobs(factory: sessionmaker[Session]) -> list[CsvJob]:
    with factory() as s:
        return list(s.scalars(select(CsvJob).order_by(CsvJob.id)))


def _probe_while_running(
    web: Web, browser: Browser, phase: CsvJobPhase, probe: Probe, timeout: float
) -> None:
    """Ask for a registry page and the API again and again until both jobs have left ``phase``."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = _jobs(web.factory)
        if all(j.phase != phase or j.state in (CsvJobState.DONE, CsvJobState.FAILED) for j in jobs):
            return
        assert time.monotonic() < deadline, [(j.phase, j.state, j.rows_done, j.message) for j in jobs]
        both = sum(j.phase == phase and j.state == CsvJobState.RUNNING for j in jobs) == 2
        t0 = time.monotonic()
        status, _, page = browser.get("/devices/")
        probe.answers.append(("page", status, time.monotonic() - t0, both))
        assert "+493012345678" in page
        request = urllib.request.Request(
            f"{browser.base}/api/v1/devices?per_page=5", headers={"Authorization": f"Bearer {web.token}"}
        )
        t0 = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as r:
            probe.answers.append(("api", r.status, time.monotonic() - t0, both))
        time.sleep(0.1)


def test_two_big_uploads_at_once_leave_the_pages_and_the_api_answering(web: Web) -> None:
    started = time.monotonic()
    ada, bob, watcher = Browser(web.port), Browser(web.port), Browser(web.port)
    for browser, name in ((ada, "ada"), (bob, "bob"), (watcher, "ada")):
        status, url, _ = browser.form("/login", "/login", username=name, password=PASSWORD)
        assert status == 200 and not url.endswith("/login"), url

    files = {"ada": _devices_file(2), "bob": _devices_file(4)}
    answers: dict[str, tuple[int, str, float]] = {}

    def send(name: str, browser: Browser) -> None:
        t0 = time.monotonic()
        status, url, _ = upload(browser, files[name])
        answers[name] = (status, url, time.monotonic() - t0)

    senders = [threading.Thread(target=send, args=(n, b)) for n, b in (("ada", ada), ("bob", bob))]
    for t in senders:
        t.start()
    for t in senders:
        t.join(60)
    for name in ("ada", "bob"):
        status, url, seconds = answers[name]
        assert status == 200 and re.search(r"/imports/\d+/$", url), (name, url)
        assert seconds < ANSWER_WITHIN, (name, seconds)  # the upload stores the file, nothing more

    probe = Probe()
    _probe_while_running(web, watcher, CsvJobPhase.CHECK, probe, timeout=120)
    jobs = _jobs(web.factory)
    assert [(j.state, j.report and j.report["created"]) for j in jobs] == [
        (CsvJobState.DONE, MAX_WEB_ROWS)
    ] * 2
    assert len({j.claimed_by.rsplit(":", 1)[0] for j in jobs}) in (1, 2)

    for name, browser in (("ada", ada), ("bob", bob)):
        page_url = answers[name][1].removeprefix(browser.base)
        status, url, page = browser.form(page_url, page_url + "confirm")
        assert status == 200 and url.endswith(page_url), url
    _probe_while_running(web, watcher, CsvJobPhase.IMPORT, probe, timeout=120)

    for name, browser in (("ada", ada), ("bob", bob)):
        page = browser.get(answers[name][1].removeprefix(browser.base))[2]
        assert f"Imported devices: {MAX_WEB_ROWS} created, 0 updated, 0 unchanged." in page, page[-2000:]
    with web.factory() as s:
        assert s.scalar(select(func.count()).select_from(Device)) == 2 * MAX_WEB_ROWS + 1

    assert probe.answers, "the jobs ended before any probe"
    assert all(status == 200 for _, status, _, _ in probe.answers), probe.answers
    slowest = max(seconds for _, _, seconds, _ in probe.answers)
    assert slowest < ANSWER_WITHIN, probe.answers
    assert any(both for *_, both in probe.answers), "the two jobs never ran at the same time"
    print(
        f"{len(probe.answers)} answers while the jobs ran, slowest {slowest:.2f} s; "
        f"{sum(both for *_, both in probe.answers)} with both jobs running; "
        f"whole test {time.monotonic() - started:.1f} s"
    )
