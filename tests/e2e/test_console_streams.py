"""Fifty open consoles under the real gunicorn (gunicorn.conf.py): every stream is served, and the
device list and the REST API still answer, well within 5 s; a console beyond the process's stream
limit is told to retry (503 with Retry-After), never left hanging."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.accounts import create_token
from registry.cli import upgrade_database
from registry.db import make_engine, make_session_factory
from tests import factories as f
from tests.e2e.webserver import Browser, Served, gunicorn
from tests.web_support import PASSWORD, user

CONSOLES = 50
ANSWER_WITHIN = 5.0


def open_stream(port: int, cookie: str) -> tuple[socket.socket, int, bytes]:
    """An EventSource's request on a raw socket: the socket (left open), the status and the start."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        (
            "GET /console/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            f"Cookie: {cookie}\r\nCache-Control: no-cache\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return sock, status, head


@pytest.fixture
def server(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Served, str]]:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        est = f.estate(session)
        user(session, "olga", "operator", center=est["center"].id)
        ada = user(session, "ada", "facility_manager", sites=[est["site"].id])
        _, secret = create_token(session, ada, "probe")
        session.commit()
    with gunicorn(database_url, tmp_path, **getattr(request, "param", {})) as served:
        yield served, secret
    engine.dispose()


def test_fifty_open_consoles_leave_the_device_list_and_the_api_answering(server: tuple[Served, str]) -> None:
    port, token = server[0].port, server[1]
    olga = Browser(port)
    olga.form("/login", "/login", username="olga", password=PASSWORD)
    cookie = olga.cookie_header()
    streams: list[socket.socket] = []
    heads: list[bytes] = []
    try:
        refused = 0
        deadline = time.monotonic() + 60
        while len(streams) < CONSOLES:
            assert time.monotonic() < deadline, f"only {len(streams)} consoles got a stream"
            sock, status, head = open_stream(port, cookie)
            if status == 200:
                assert b"text/event-stream" in head
                streams.append(sock)
                heads.append(head)
            else:  # one process full: the browser retries and usually lands on the other
                assert status == 503 and b"Retry-After: 3" in head, head
                refused += 1
                sock.close()
        print(f"\n{CONSOLES} consoles open ({refused} retries after a 503)")

        ada = Browser(port)
        ada.form("/login", "/login", username="ada", password=PASSWORD)
        started = time.monotonic()
        status, _, page = ada.get("/devices/", timeout=ANSWER_WITHIN)
        page_took = time.monotonic() - started
        assert status == 200 and "+493012345678" in page

        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/devices", headers={"Authorization": f"Bearer {token}"}
        )
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=ANSWER_WITHIN) as resp:
            body = resp.read().decode()
        api_took = time.monotonic() - started
        assert resp.status == 200 and "+493012345678" in body
        print(
            f"device list {page_took * 1000:.0f} ms, API {api_took * 1000:.0f} ms, {CONSOLES} consoles open"
        )

        # every stream is alive and streaming: each has sent its retry hint, the body's first line
        for sock, head in zip(streams, heads, strict=True):
            sock.settimeout(5)
            got = head.split(b"\r\n\r\n", 1)[1]
            while b"retry: 2000" not in got:
                chunk = sock.recv(4096)
                assert chunk, "a stream ended"
                got += chunk
    finally:
        for sock in streams:
            sock.close()


@pytest.mark.parametrize(
    "server", [{"ANIGATE_WEB_THREADS": "4", "ANIGATE_CONSOLE_MAX_STREAMS": "2"}], indirect=True
)
def test_a_console_beyond_the_stream_limit_is_told_to_retry_and_pages_still_answer(server) -> None:
    port = server[0].port
    olga = Browser(port)
    olga.form("/login", "/login", username="olga", password=PASSWORD)
    cookie = olga.cookie_header()
    streams = []
    try:
        deadline = time.monotonic() + 30
        while len(streams) < 4:  # 2 processes x 2 streams
            assert time.monotonic() < deadline
            sock, status, _ = open_stream(port, cookie)
            if status == 200:
                streams.append(sock)
            else:
                sock.close()
        sock, status, head = open_stream(port, cookie)
        sock.close()
        assert status == 503 and b"Retry-After: 3" in head
        assert olga.get("/devices/", timeout=ANSWER_WITHIN)[0] == 200
    finally:
        for s in streams:
            s.close()


def test_a_sigterm_to_the_web_servers_group_ends_open_consoles_at_once_and_stops(server) -> None:
    served = server[0]
    olga = Browser(served.port)
    olga.form("/login", "/login", username="olga", password=PASSWORD)
    streams = [open_stream(served.port, olga.cookie_header()) for _ in range(3)]
    assert [status for _, status, _ in streams] == [200, 200, 200]
    started = time.monotonic()
    os.killpg(served.proc.pid, signal.SIGTERM)  # as systemd and a terminal send it
    for sock, _, head in streams:
        sock.settimeout(5)
        body = head.split(b"\r\n\r\n", 1)[1]
        while not body.endswith(b"0\r\n\r\n"):  # the chunked body's last chunk: the stream ended
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        sock.close()
    ended = time.monotonic() - started
    served.proc.wait(10)
    stopped = time.monotonic() - started
    print(f"\nconsole streams ended {ended:.2f} s, gunicorn stopped {stopped:.2f} s after SIGTERM")
    assert ended < 3.0, "the streams held on until the graceful timeout"
