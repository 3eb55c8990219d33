"""StreamFramer: RFC 3261 §18.3 (Content-Length frames stream messages), RFC 5626 §3.5.1 keep-alives."""

from __future__ import annotations

import pytest

from sip.framing import StreamFramer
from sip.message import Request, SipError, parse_message
from tests.unit.sip.helpers import sip, trace, trace_names


def test_messages_split_at_any_point_come_out_whole_and_in_order() -> None:
    messages = [trace(name) for name in trace_names()]
    stream = b"".join(messages)
    for chunk in (1, 7, 100, 1000, len(stream)):
        framer = StreamFramer()
        out: list[bytes] = []
        for i in range(0, len(stream), chunk):
            out += framer.feed(stream[i : i + chunk])
        assert out == messages
        assert framer.buffered == 0
    for data in messages:
        assert isinstance(parse_message(data, stream=True), Request)


def test_body_containing_an_empty_line_is_framed_by_content_length() -> None:
    body = b"line\r\n\r\nINVITE sip:not-a-message SIP/2.0\r\n\r\n"
    msg = sip(
        f"""
MESSAGE sip:a@b SIP/2.0
Via: SIP/2.0/TCP h;branch=z9hG4bK1
Content-Length: {len(body)}
""",
        body.decode(),
    )
    framer = StreamFramer()
    assert framer.feed(msg + msg[:10]) == [msg]
    assert framer.feed(msg[10:]) == [msg]


def test_waits_for_the_rest_of_the_body() -> None:
    data = trace("invite_pci")
    framer = StreamFramer()
    assert framer.feed(data[:-5]) == []
    assert framer.buffered == len(data) - 5
    assert framer.feed(data[-5:]) == [data]


def test_crlf_keepalives_are_skipped_and_pings_counted() -> None:
    data = trace("options_asterisk")
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == [] and framer.pings == 1
    assert framer.feed(b"\r\n") == [] and framer.pings == 0
    assert framer.feed(b"\r\n") == [] and framer.pings == 1  # a ping split over two reads
    assert framer.feed(b"\r\n" + data + b"\r\n\r\n\r\n\r\n" + data) == [data, data]
    assert framer.pings == 2
    assert framer.buffered == 0


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing Content-Length"),
        ("Content-Length: -999", "negative Content-Length"),
        ("Content-Length: five", "invalid Content-Length"),
        ("Content-Length: 1\r\nl: 1", "more than one Content-Length"),
    ],
)
def test_lost_framing_raises_and_stays_broken(header: str | None, reason: str) -> None:
    lines = [
        "INVITE sip:a@b SIP/2.0",
        "Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1",
        "Call-ID: x",
        "CSeq: 1 INVITE",
    ]
    if header:
        lines.append(header)
    framer = StreamFramer()
    with pytest.raises(SipError) as info:
        framer.feed(("\r\n".join(lines) + "\r\n\r\nbody").encode())
    err = info.value
    assert err.status == 400 and reason in err.reason and err.respond
    assert err.partial is not None and err.partial.get("Call-ID") == "x"
    with pytest.raises(SipError):
        framer.feed(trace("options_asterisk"))


def test_lost_framing_without_via_or_on_a_response_is_not_answered() -> None:
    framer = StreamFramer()
    with pytest.raises(SipError) as info:
        framer.feed(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n")
    assert info.value.respond is False
    with pytest.raises(SipError) as info:
        StreamFramer().feed(b"INVITE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n")
    assert info.value.respond is False
    with pytest.raises(SipError) as info:
        StreamFramer().feed(b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
    assert info.value.respond is False


def test_size_caps() -> None:
    framer = StreamFramer(max_message=2000)
    with pytest.raises(SipError) as info:
        framer.feed(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nX: " + b"a" * 3000)
    assert info.value.status == 513  # header section never ends within the cap
    framer = StreamFramer(max_message=2000)
    with pytest.raises(SipError) as info:
        framer.feed(b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: 5000\r\n\r\n")
    assert info.value.status == 513 and info.value.respond  # declared body too large: fail at once
    assert info.value.partial is not None and info.value.partial.get("Via") is not None
    big = trace("invite_identity")
    assert StreamFramer(max_message=len(big)).feed(big) == [big]


def test_bare_lf_peers_are_framed_too() -> None:
    data = trace("options_freeswitch").replace(b"\r\n", b"\n")
    assert StreamFramer().feed(data + data) == [data, data]
    assert isinstance(parse_message(data, stream=True), Request)
