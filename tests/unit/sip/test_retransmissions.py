"""INVITE retransmissions at the UAS core: the same answer, one decision, and (RFC 3261 §17.2.3:
a retransmission repeats its INVITE byte for byte) no second parse for an identical datagram."""

from __future__ import annotations

import pytest

import sip.listener as listener
from sip.listener import Answer, ListenerConfig, SourceClass, UasCore
from sip.message import Request

INVITE = (
    "INVITE sip:ani-router@127.0.0.1:5080 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}\r\n"
    "From: <sip:+493012345678@127.0.0.1>;tag={n}\r\n"
    "To: <sip:ani-router@127.0.0.1:5080>\r\n"
    "Call-ID: {n}@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)
SRC = ("127.0.0.1", 5061)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Handler:
    """Answers every INVITE with a 302 to a center named after the call count."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def classify_source(self, ip: str) -> SourceClass:
        return SourceClass.TRUSTED

    def on_invite(self, req: Request, src: tuple[str, int], transport: str, received_ns: int) -> Answer:
        self.calls.append(req.call_id)
        return Answer(302, "Moved Temporarily", ((f"sip:center{len(self.calls)}@127.0.0.1:5070", 1.0),))

    def on_options(self, req: Request, src: tuple[str, int]) -> None:
        raise AssertionError("these tests send INVITEs only")

    def begin_batch(self) -> None:
        raise AssertionError("the listener batches calls, never UasCore")

    def end_batch(self) -> None:
        raise AssertionError("the listener batches calls, never UasCore")


@pytest.fixture
def core() -> tuple[UasCore, Handler, Clock]:
    handler, clock = Handler(), Clock()
    return UasCore(handler, ListenerConfig(), clock), handler, clock


def parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []
    real = listener.parse_message

    def counting(data: bytes, *a, **kw):  # type: ignore[no-untyped-def]
        seen.append(data)
        return real(data, *a, **kw)

    monkeypatch.setattr(listener, "parse_message", counting)
    return seen


def test_an_identical_retransmission_gets_the_answer_without_a_parse_or_a_decision(core, monkeypatch) -> None:
    uas, handler, _ = core
    seen = parses(monkeypatch)
    data = INVITE.format(n=1).encode()
    first = uas.handle(data, SRC, "UDP")
    assert first is not None and first.startswith(b"SIP/2.0 302 Moved Temporarily\r\n")
    assert b"Contact: <sip:center1@127.0.0.1:5070>" in first
    assert uas.handle(data, SRC, "UDP") == first
    assert uas.handle(data, SRC, "UDP") == first
    assert (len(seen), handler.calls, uas.stats["retransmissions"]) == (1, ["1@127.0.0.1"], 2)


def test_a_retransmission_that_differs_in_bytes_is_matched_by_its_transaction(core, monkeypatch) -> None:
    uas, handler, _ = core
    seen = parses(monkeypatch)
    first = uas.handle(INVITE.format(n=2).encode(), SRC, "UDP")
    # a proxy that rewrites Max-Forwards on its retransmission: same branch, same transaction
    changed = INVITE.format(n=2).replace("Max-Forwards: 70", "Max-Forwards: 69").encode()
    assert uas.handle(changed, SRC, "UDP") == first
    assert (len(seen), handler.calls) == (2, ["2@127.0.0.1"])


def test_the_same_bytes_from_another_source_are_not_answered_from_the_cache(core, monkeypatch) -> None:
    uas, _, _ = core
    seen = parses(monkeypatch)
    data = INVITE.format(n=3).encode()
    uas.handle(data, SRC, "UDP")
    uas.handle(data, ("127.0.0.1", 5099), "UDP")
    assert len(seen) == 2  # parsed again: the transaction key (Via host and port) then decides


def test_after_the_transaction_lifetime_an_identical_datagram_is_a_new_call(core) -> None:
    uas, handler, clock = core
    data = INVITE.format(n=4).encode()
    first = uas.handle(data, SRC, "UDP")
    clock.now += ListenerConfig().retransmission_ttl + 1
    again = uas.handle(data, SRC, "UDP")
    assert handler.calls == ["4@127.0.0.1", "4@127.0.0.1"]
    assert first is not None and again is not None and b"center2@" in again and b"center1@" in first
