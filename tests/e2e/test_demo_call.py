"""`flask --app app demo call [ANI]` against a real worker: a UDP INVITE from 127.0.0.1, the 302 printed
and the call recorded; retransmissions by Timer A and a clear message when nothing answers."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import select

from app import create_app
from config import Settings
from routing.models import CallRecord
from sip.message import Request, parse_message


@pytest.fixture
def cli(estate_db, tmp_path):  # type: ignore[no-untyped-def]
    """Run `flask --app app demo call ...` with the SIP port given (the app of the estate's database)."""
    apps = []

    def run(*args: str, port: int):  # type: ignore[no-untyped-def]
        settings = Settings.from_env(
            {}, database_url=estate_db.url, instance_dir=tmp_path / "cli", demo=False, sip_port=port
        )
        app = create_app(settings=settings)
        apps.append(app)
        return app.test_cli_runner().invoke(args=["demo", "call", *args])

    yield run
    for app in apps:
        app.extensions["anigate"].close()


def test_demo_call_prints_the_302_and_the_call_is_recorded(cli, worker, estate_db) -> None:
    result = cli("+49 30 12345678", port=worker.port)
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"call from +493012345678 to 127.0.0.1:{worker.port}: "
        "302 Moved Temporarily -> sip:berlin@127.0.0.1:5070 (and 2 fallbacks)\n"
    )
    deadline = time.monotonic() + 5
    rows: list[CallRecord] = []
    while not rows and time.monotonic() < deadline:
        with estate_db.factory() as s:
            rows = list(s.scalars(select(CallRecord)))
        time.sleep(0.1)
    [rec] = rows
    assert (rec.ani, rec.ani_source, rec.device_id, rec.status, rec.transport, rec.trunk_name) == (
        "+493012345678",
        "pai-tel",
        estate_db.objects["lift"].id,
        302,
        "UDP",
        "loopback",
    )
    assert rec.source.startswith("127.0.0.1:")
    assert rec.targets[0] == "sip:berlin@127.0.0.1:5070"
    assert rec.branch.startswith("z9hG4bK")


def test_demo_call_retransmits_and_says_when_nothing_answers(cli) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # a port that never answers
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = cli(port=port)
        took = time.monotonic() - started
        silent.settimeout(0)
        got = []
        while True:
            try:
                got.append(parse_message(silent.recv(65535)))
            except BlockingIOError:
                break
    assert result.exit_code == 1
    assert result.output == f"error: no answer from 127.0.0.1:{port} within 4 s: is `make run` running?\n"
    assert 3.9 <= took < 6
    # Timer A: sent at 0, 0.5, 1.5 and 3.5 s, the same request each time; the default ANI is the demo lift
    assert len(got) == 4 and all(isinstance(m, Request) and m.method == "INVITE" for m in got)
    assert len({(m.call_id, m.top_via.branch) for m in got}) == 1
    assert got[0].headers.get("P-Asserted-Identity") == "<tel:+493023905601>"


def test_demo_call_refuses_an_ani_that_is_not_a_number(cli) -> None:
    result = cli("+49 30 1", port=9)
    assert result.exit_code == 2
    assert result.output.startswith("error: ANI: ")
