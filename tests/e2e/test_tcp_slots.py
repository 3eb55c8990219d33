"""TCP slots of the real worker: one source address cannot take them all, a source outside every
trunk gets none, and only whole SIP messages keep a connection open (a trickle does not)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from tests import factories as f
from tests.e2e.conftest import Estate, Worker, start_worker
from tests.e2e.siptools import header, invite, status_line, udp_exchange

BERLIN = (
    "<sip:berlin@127.0.0.1:5070>;q=1.0, <sip:berlin-backup@127.0.0.1:5071>;q=0.9, "
    "<sip:london@127.0.0.1:5080>;q=0.8"
)


@contextmanager
def worker_with(worker_env: dict[str, str], tmp_path, **env: str) -> Iterator[Worker]:
    w = start_worker({**worker_env, **env}, tmp_path / "w.log")
    try:
        yield w
    finally:
        w.stop()


def connect(port: int, src: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=3, source_address=(src, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_server(s: socket.socket, within: float) -> bool:
    """Whether the server closes ``s`` within ``within`` seconds (True) or keeps it open (False)."""
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def exchange(s: socket.socket, data: bytes, timeout: float = 3.0) -> bytes:
    """Send one message on ``s`` and read one answer (header section; our answers have no body)."""
    s.settimeout(timeout)
    s.sendall(data)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65535)
        if not chunk:
            break
        buf += chunk
    return buf


@pytest.fixture
def second_trunk(estate_db: Estate) -> None:
    """127.0.0.4: another untrusted trunk, beside the estate's 127.0.0.3 (127.0.0.2 stays unknown)."""
    with estate_db.factory() as s:
        f.trunk(s, name="second", source_addresses=["127.0.0.4"], trust="untrusted", default_region="DE")
        s.commit()


def test_one_address_cannot_take_every_tcp_slot(worker_env, tmp_path, second_trunk) -> None:
    limits = {
        "ANIGATE_SIP_TCP_MAX_CONNECTIONS": "16",
        "ANIGATE_SIP_TCP_MAX_PER_SOURCE": "4",
        "ANIGATE_SIP_TCP_MAX_PER_TRUSTED_SOURCE": "6",
    }
    with worker_with(worker_env, tmp_path, **limits) as w, ExitStack() as held:
        # more connections than all the slots from one address of an untrusted trunk
        flood = [held.enter_context(connect(w.port, "127.0.0.3")) for _ in range(20)]
        time.sleep(0.3)
        closed = [closed_by_server(s, 0.2) for s in flood]
        assert closed == [False] * 4 + [True] * 16
        # another address still gets its 302 over TCP (the held ones stay open and usable too)
        other = held.enter_context(connect(w.port, "127.0.0.4"))
        resp = exchange(other, invite(w.port))
        assert status_line(resp) == "SIP/2.0 302 Moved Temporarily"
        assert status_line(exchange(flood[0], invite(w.port))) == "SIP/2.0 302 Moved Temporarily"
        # the trusted trunk's address has a cap of its own
        trusted = [held.enter_context(connect(w.port, "127.0.0.1")) for _ in range(7)]
        time.sleep(0.3)
        assert [closed_by_server(s, 0.2) for s in trusted] == [False] * 6 + [True]
        resp = exchange(trusted[0], invite(w.port))
        assert header(resp, "Contact") == BERLIN
        # a slot comes back when its connection closes
        trusted[1].close()
        time.sleep(0.3)
        again = held.enter_context(connect(w.port, "127.0.0.1"))
        assert status_line(exchange(again, invite(w.port, method="OPTIONS"))) == "SIP/2.0 200 OK"


def test_an_unknown_source_is_closed_at_once(worker_env, tmp_path) -> None:
    for policy in ("reject", "drop"):
        with worker_with(worker_env, tmp_path, ANIGATE_SIP_UNKNOWN_SOURCE=policy) as w:
            with connect(w.port, "127.0.0.2") as s:
                t0 = time.monotonic()
                assert closed_by_server(s, 2.0)  # before sending anything
                assert time.monotonic() - t0 < 0.5
            # UDP from there is still answered per the policy, and known sources are served
            answer = udp_exchange(w.port, invite(w.port), src="127.0.0.2", expect_reply=policy == "reject")
            assert status_line(answer) == (
                "SIP/2.0 403 Forbidden - unknown source" if policy == "reject" else None
            )
            with connect(w.port, "127.0.0.1") as s:
                assert status_line(exchange(s, invite(w.port, method="OPTIONS"))) == "SIP/2.0 200 OK"


def test_a_trickle_of_bytes_does_not_keep_a_connection_open(worker_env, tmp_path) -> None:
    with worker_with(
        worker_env, tmp_path, ANIGATE_SIP_TCP_IDLE_TIMEOUT="1.5", ANIGATE_SIP_TCP_MESSAGE_TIMEOUT="30"
    ) as w:
        # whole messages keep a connection open past the idle timeout
        with connect(w.port, "127.0.0.1") as busy:
            for _ in range(5):
                assert status_line(exchange(busy, invite(w.port, method="OPTIONS"))) == "SIP/2.0 200 OK"
                time.sleep(0.6)
            assert not closed_by_server(busy, 0.1)
        # one byte every 0.2 s of a message that never ends: closed 1.5 s after the connection opened
        msg = invite(w.port)
        with connect(w.port, "127.0.0.1") as slow:
            t0 = time.monotonic()
            closed_at = None
            for i in range(40):  # 8 s of trickling at most
                try:
                    slow.sendall(msg[i : i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    closed_at = time.monotonic() - t0
                    break
                if closed_by_server(slow, 0.2):
                    closed_at = time.monotonic() - t0
                    break
            assert closed_at is not None and 1.2 < closed_at < 3.0, closed_at
        # CRLF keep-alives are bytes too, not messages
        with connect(w.port, "127.0.0.1") as pinger:
            t0 = time.monotonic()
            closed_at = None
            for _ in range(20):
                try:
                    pinger.sendall(b"\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    closed_at = time.monotonic() - t0
                    break
                if closed_by_server(pinger, 0.3):
                    closed_at = time.monotonic() - t0
                    break
            assert closed_at is not None and 1.2 < closed_at < 3.0, closed_at


def test_a_message_begun_must_be_complete_within_the_message_timeout(worker_env, tmp_path) -> None:
    with worker_with(
        worker_env, tmp_path, ANIGATE_SIP_TCP_IDLE_TIMEOUT="30", ANIGATE_SIP_TCP_MESSAGE_TIMEOUT="1"
    ) as w:
        with connect(w.port, "127.0.0.1") as s:
            # a whole message first, then half of one: the second half never comes in time
            assert status_line(exchange(s, invite(w.port, method="OPTIONS"))) == "SIP/2.0 200 OK"
            time.sleep(2)  # idle between messages is fine (30 s)
            msg = invite(w.port)
            s.sendall(msg[:40])
            t0 = time.monotonic()
            assert closed_by_server(s, 5.0)
            assert 0.7 < time.monotonic() - t0 < 2.5
        # a message sent in pieces that completes in time is answered
        with connect(w.port, "127.0.0.1") as s:
            s.sendall(msg[:40])
            time.sleep(0.5)
            resp = exchange(s, msg[40:])
            assert status_line(resp) == "SIP/2.0 302 Moved Temporarily"
