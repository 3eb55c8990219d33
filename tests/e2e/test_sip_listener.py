"""The SIP front door as a peer sees it: exact status lines and Contacts over real sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from registry.models import Device
from routing.models import CallRecord
from tests.e2e.conftest import start_worker
from tests.e2e.siptools import header, invite, status_line, tcp_exchange, udp_exchange

BERLIN = (
    "<sip:berlin@127.0.0.1:5070>;q=1.0, <sip:berlin-backup@127.0.0.1:5071>;q=0.9, "
    "<sip:london@127.0.0.1:5080>;q=0.8"
)
LONDON = "<sip:london@127.0.0.1:5080>;q=1.0"


def records(estate_db) -> list[CallRecord]:
    with estate_db.factory() as s:
        return list(s.scalars(select(CallRecord).order_by(CallRecord.id)))


def test_registered_device_is_redirected_to_its_site_center(worker, estate_db) -> None:
    resp = udp_exchange(worker.port, invite(worker.port))
    assert status_line(resp) == "SIP/2.0 302 Moved Temporarily"
    assert header(resp, "Contact") == BERLIN
    assert header(resp, "Content-Length") == "0"
    assert ";tag=" in header(resp, "To")
    via = header(resp, "Via")
    assert "received=127.0.0.1" in via and "rport=" in via and "rport;" not in via
    worker.stop()
    [rec] = records(estate_db)
    assert (rec.ani, rec.ani_source, rec.device_id, rec.status) == (
        "+493012345678",
        "pai-tel",
        estate_db.objects["lift"].id,
        302,
    )
    assert rec.targets[0] == "sip:berlin@127.0.0.1:5070" and "site tower-a" in rec.reason
    # the estate's site has no business-hours schedule: always inside hours, day center first
    assert "always inside hours" in rec.reason and rec.anomalies == []


@pytest.mark.parametrize(
    ("ani", "contact"),
    [
        ("+4989111222", BERLIN),  # German: Berlin speaks de, then the default center London
        ("+81312345678", LONDON),  # Japanese: no center speaks ja, the default center
    ],
)
def test_unknown_ani_goes_to_a_center_speaking_its_language(worker, estate_db, ani, contact) -> None:
    msg = invite(worker.port, ani_headers=(f"P-Asserted-Identity: <sip:{ani}@carrier;user=phone>",))
    resp = udp_exchange(worker.port, msg)
    assert status_line(resp) == "SIP/2.0 302 Moved Temporarily"
    assert header(resp, "Contact") == contact
    assert worker.stop() == 0  # the recorder drains the journal
    [rec] = records(estate_db)
    assert [a["code"] for a in rec.anomalies] == ["unknown_ani"]
    assert rec.anomalies[0]["evidence"]["region"] == ("DE" if ani.startswith("+49") else "JP")


def test_retransmission_gets_the_same_answer_and_one_record(worker, estate_db) -> None:
    msg = invite(worker.port)
    first = udp_exchange(worker.port, msg)
    again = udp_exchange(worker.port, msg)
    assert first == again and status_line(first).startswith("SIP/2.0 302")
    worker.stop()
    assert len(records(estate_db)) == 1


def test_ack_is_absorbed_and_cancel_answered(worker) -> None:
    msg = invite(worker.port, call_id="cancel-1@pbx", branch="z9hG4bKcancel1")
    assert status_line(udp_exchange(worker.port, msg)).startswith("SIP/2.0 302")
    ack = invite(worker.port, method="ACK", call_id="cancel-1@pbx", branch="z9hG4bKcancel1")
    assert udp_exchange(worker.port, ack, expect_reply=False) is None
    cancel = invite(worker.port, method="CANCEL", call_id="cancel-1@pbx", branch="z9hG4bKcancel1")
    assert status_line(udp_exchange(worker.port, cancel)) == "SIP/2.0 200 OK"
    stray = invite(worker.port, method="CANCEL", call_id="nothing@pbx")
    assert status_line(udp_exchange(worker.port, stray)) == "SIP/2.0 481 Call/Transaction Does Not Exist"


@pytest.mark.parametrize(
    ("kwargs", "line", "headers"),
    [
        ({"method": "OPTIONS"}, "SIP/2.0 200 OK", {"Allow": "INVITE, ACK, CANCEL, OPTIONS"}),
        ({"method": "REGISTER"}, "SIP/2.0 405 Method Not Allowed", {"Allow": "INVITE, ACK, CANCEL, OPTIONS"}),
        ({"method": "SUBSCRIBE"}, "SIP/2.0 405 Method Not Allowed", {}),
        ({"method": "BREW"}, "SIP/2.0 501 Not Implemented", {"Allow": "INVITE, ACK, CANCEL, OPTIONS"}),
        ({"extra": ("Require: 100rel, foo",)}, "SIP/2.0 420 Bad Extension", {"Unsupported": "100rel, foo"}),
        ({"version": "SIP/3.0"}, "SIP/2.0 505 Version Not Supported", {}),
        ({"uri": "mailto:lift@example.com"}, "SIP/2.0 416 Unsupported URI Scheme", {}),
        ({"cseq": "1 OPTIONS"}, "SIP/2.0 400 Bad Request - CSeq method does not match the Request-Line", {}),
    ],
)
def test_each_rule_answers_its_status(worker, kwargs, line, headers) -> None:
    resp = udp_exchange(worker.port, invite(worker.port, **kwargs))
    assert status_line(resp) == line
    for name, value in headers.items():
        assert header(resp, name) == value


def test_malformed_message_gets_400_with_a_reason(worker) -> None:
    msg = invite(worker.port).replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE")
    line = status_line(udp_exchange(worker.port, msg))
    assert line.startswith("SIP/2.0 400 Bad Request") and len(line) > len("SIP/2.0 400 Bad Request")


def test_no_usable_via_is_dropped_and_the_server_lives(worker) -> None:
    assert udp_exchange(worker.port, invite(worker.port, via=None), expect_reply=False) is None
    assert udp_exchange(worker.port, b"\x00\xffgarbage\r\n\r\n", expect_reply=False) is None
    assert status_line(udp_exchange(worker.port, invite(worker.port, method="OPTIONS"))) == "SIP/2.0 200 OK"


def test_scanner_is_dropped(worker) -> None:
    msg = invite(worker.port, method="OPTIONS", extra=("User-Agent: friendly-scanner",))
    assert udp_exchange(worker.port, msg, expect_reply=False) is None


def test_unknown_source_is_refused(worker) -> None:
    resp = udp_exchange(worker.port, invite(worker.port), src="127.0.0.5")
    assert status_line(resp) == "SIP/2.0 403 Forbidden - unknown source"


def test_unknown_source_can_be_dropped(worker_env, tmp_path) -> None:
    w = start_worker({**worker_env, "ANIGATE_SIP_UNKNOWN_SOURCE": "drop"}, tmp_path / "w.log")
    try:
        assert udp_exchange(w.port, invite(w.port), src="127.0.0.5", expect_reply=False) is None
        assert status_line(udp_exchange(w.port, invite(w.port, method="OPTIONS"))) == "SIP/2.0 200 OK"
    finally:
        w.stop()


def test_flood_from_one_source_is_blocked(worker_env, tmp_path) -> None:
    env = {**worker_env, "ANIGATE_SIP_PIKE_REQUESTS": "5", "ANIGATE_SIP_PIKE_WINDOW": "10"}
    w = start_worker(env, tmp_path / "w.log")
    try:
        answers = [
            udp_exchange(w.port, invite(w.port, method="OPTIONS"), src="127.0.0.3", timeout=0.3)
            for _ in range(8)
        ]
        assert [status_line(a) for a in answers] == ["SIP/2.0 200 OK"] * 5 + [None] * 3
        # a trusted trunk's address is not limited per source
        trusted = [udp_exchange(w.port, invite(w.port, method="OPTIONS")) for _ in range(8)]
        assert all(status_line(a) == "SIP/2.0 200 OK" for a in trusted)
    finally:
        w.stop()


def test_tcp_frames_by_content_length(worker) -> None:
    two = invite(worker.port, body=b"v=0\r\n") + invite(worker.port, method="OPTIONS")
    replies = tcp_exchange(worker.port, two, replies=2)
    assert [status_line(r) for r in replies] == ["SIP/2.0 302 Moved Temporarily", "SIP/2.0 200 OK"]
    assert header(replies[0], "Contact") == BERLIN


def test_rfc4475_torture_messages(worker) -> None:
    folder = Path(
        os.environ.get(
            "ANIGATE_SIP_TORTURE_DIR", Path(__file__).resolve().parents[3] / "shared" / "sip-torture"
        )
    )
    assert (folder / "INDEX.md").exists(), f"torture folder missing: {folder}"
    proc = subprocess.run(
        [
            sys.executable,
            str(folder / "send_udp.py"),
            f"127.0.0.1:{worker.port}",
            "--strict",
            "--timeout",
            "0.5",
            "--linger",
            "0.1",
            "--delay",
            "0",
            "--width",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MISMATCH" not in proc.stdout and "NO-REPLY" not in proc.stdout


def test_options_from_a_registered_device_is_a_heartbeat(worker, estate_db) -> None:
    msg = invite(worker.port, method="OPTIONS", ani_headers=("P-Asserted-Identity: <tel:+493023905601>",))
    assert status_line(udp_exchange(worker.port, msg)) == "SIP/2.0 200 OK"
    assert worker.stop() == 0  # graceful: the recorder drains the journal before exiting
    with estate_db.factory() as s:
        intercom = s.get(Device, estate_db.objects["intercom"].id)
        lift = s.get(Device, estate_db.objects["lift"].id)
        assert intercom.last_heartbeat_at is not None and lift.last_heartbeat_at is None


def test_tcp_idle_connections_are_closed_and_connections_limited(worker_env, tmp_path) -> None:
    env = {**worker_env, "ANIGATE_SIP_TCP_IDLE_TIMEOUT": "1", "ANIGATE_SIP_TCP_MAX_CONNECTIONS": "2"}
    w = start_worker(env, tmp_path / "w.log")
    try:
        a = socket.create_connection(("127.0.0.1", w.port), timeout=3)
        b = socket.create_connection(("127.0.0.1", w.port), timeout=3)
        time.sleep(0.2)
        c = socket.create_connection(("127.0.0.1", w.port), timeout=3)
        assert c.recv(10) == b""  # over the limit: closed at once
        c.close()
        t0 = time.monotonic()
        assert a.recv(10) == b""  # idle: closed by the server after about a second
        assert 0.5 < time.monotonic() - t0 < 3
        b.close()
        a.close()
        assert [status_line(r) for r in tcp_exchange(w.port, invite(w.port, method="OPTIONS"))] == [
            "SIP/2.0 200 OK"
        ]
    finally:
        w.stop()
