"""Browser fixtures: the web app on a free port over a migrated database, served by werkzeug in a
thread and always stopped; Debian's chromium (never a downloaded one) driven by Playwright, one
browser per package and a fresh context (cookies, storage) per test."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app import create_app
from config import Settings
from registry.cli import upgrade_database

CHROMIUM = "/usr/bin/chromium"  # installed by scripts/ensure-tools.sh
TIMEOUT_MS = 10_000
VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class LiveServer:
    url: str
    settings: Settings
    session_factory: sessionmaker[Session]
    app: Any = None


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request on stderr: a failing test's output stays readable."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The app as `make run` serves it (migrations, not create_all), on 127.0.0.1 and a free port."""
    upgrade_database(database_url)
    settings = Settings.from_env(
        {},
        database_url=database_url,
        instance_dir=tmp_path / "instance",
        secret_key="browser-test-secret",
        demo=False,
    )
    app = create_app(settings)
    services = app.extensions["anigate"]
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", settings, services.session_factory, app)
    finally:
        app.extensions["console"].stopping.set()  # open consoles end their streams
        app.extensions["console"].feed.stop()
        server.shutdown()
        server.server_close()
        thread.join(10)
        services.close()


@pytest.fixture
def session(live_server: LiveServer) -> Iterator[Session]:
    """A session on the live server's database, to seed what the test does not do through the UI."""
    with live_server.session_factory() as s:
        yield s


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium's sandbox refuses to run as root
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        expect.set_options(timeout=TIMEOUT_MS)  # assertions wait as long as actions
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(
    request: pytest.FixtureRequest, browser: Browser, live_server: LiveServer, tmp_path: Path
) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        if request.node.stash.get(_FAILED, False):
            shot = tmp_path / "failure.png"
            page.screenshot(path=shot, full_page=True)
            print(f"\nscreenshot of the failed page ({page.url}): {shot}")
        context.close()
