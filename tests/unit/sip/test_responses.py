"""build_response / to_tag_for: RFC 3261 §8.2.6, §18.2.1, §20.10; RFC 3581 §4."""

from __future__ import annotations

import pytest

from sip.message import Headers, Request, Response, SipError, parse_message
from sip.responses import build_response, format_q, to_tag_for
from tests.unit.sip.helpers import sip, trace


def invite(name: str = "invite_pai_sip_tel") -> Request:
    msg = parse_message(trace(name))
    assert isinstance(msg, Request)
    return msg


def lines_of(data: bytes) -> list[str]:
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep and body == b""
    return head.decode().split("\r\n")


def test_302_with_contacts() -> None:
    req = invite()
    out = build_response(
        req,
        302,
        "Moved Temporarily",
        contacts=[("sip:center-berlin@10.1.1.5", 1.0), ("<sip:center-backup@10.2.1.5>", 0.5)],
        received="192.0.2.10",
        rport=40000,
    )
    lines = lines_of(out)
    assert lines[0] == "SIP/2.0 302 Moved Temporarily"
    assert lines[1] == (
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---4a3f8c2d1e0b9a77"
        ";rport=40000;received=192.0.2.10"
    )
    assert f"From: {req.headers.get('From')}" in lines
    assert f"To: {req.headers.get('To')};tag={to_tag_for(req)}" in lines
    assert f"Call-ID: {req.call_id}" in lines
    assert "CSeq: 102 INVITE" in lines
    assert "Contact: <sip:center-berlin@10.1.1.5>;q=1.0, <sip:center-backup@10.2.1.5>;q=0.5" in lines
    assert lines[-2:] == ["Server: anigate", "Content-Length: 0"]
    # the answer is itself a valid SIP response
    resp = parse_message(out)
    assert isinstance(resp, Response) and resp.status == 302
    assert resp.to.tag == to_tag_for(req) and resp.top_via.params["rport"] == "40000"
    assert resp.headers.get_all("Contact")[1] == "<sip:center-backup@10.2.1.5>;q=0.5"


def test_every_via_is_copied_in_order_and_only_the_top_one_changes() -> None:
    req = invite("invite_pci")
    lines = lines_of(build_response(req, 302, "Moved Temporarily", received="198.51.100.20", rport=5060))
    vias = [line for line in lines if line.startswith("Via: ")]
    assert vias == [
        "Via: SIP/2.0/UDP 198.51.100.20;branch=z9hG4bKpci8842a10;received=198.51.100.20",  # no rport asked
        "Via: SIP/2.0/UDP 10.20.30.40:5080;branch=z9hG4bK3b1f9e;received=10.20.30.40",
    ]


def test_no_received_or_rport_when_not_given() -> None:
    lines = lines_of(build_response(invite(), 200, "OK"))
    assert lines[1] == "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---4a3f8c2d1e0b9a77;rport"


def test_to_tag_rules() -> None:
    req = invite()
    trying = build_response(req, 100, "Trying").decode()
    assert f"To: {req.headers.get('To')}\r\n" in trying  # §8.2.6.1: no tag on 100
    out = build_response(req, 486, "Busy Here", to_tag="given").decode()
    assert f"To: {req.headers.get('To')};tag=given\r\n" in out
    tagged = parse_message(
        trace("invite_pai_sip_tel").replace(b"user=phone>\r\nFrom", b"user=phone>;tag=existing\r\nFrom")
    )
    assert isinstance(tagged, Request) and tagged.to.tag == "existing"
    out = build_response(tagged, 481, "Call/Transaction Does Not Exist").decode()
    assert out.count(";tag=") == 2 and "tag=existing" in out  # From's and the To's own


def test_to_tag_is_deterministic_per_request() -> None:
    a = invite()
    assert to_tag_for(a) == to_tag_for(invite()) == to_tag_for(a.headers)
    assert len(to_tag_for(a)) == 16
    other_branch = parse_message(
        trace("invite_pai_sip_tel").replace(b"4a3f8c2d1e0b9a77", b"0000000000000000")
    )
    other_call = parse_message(trace("invite_pai_sip_tel").replace(b"2f9c1a7e", b"3f9c1a7e"))
    other_from = parse_message(trace("invite_pai_sip_tel").replace(b"tag=7a1c9e04", b"tag=7a1c9e05"))
    tags = {to_tag_for(m) for m in (a, other_branch, other_call, other_from)}  # type: ignore[arg-type]
    assert len(tags) == 4


def test_to_tag_without_branch_uses_cseq() -> None:
    h = Headers([("Via", "SIP/2.0/UDP a"), ("Call-ID", "c"), ("From", "<sip:a@b>"), ("CSeq", "1 INVITE")])
    h2 = Headers([("Via", "SIP/2.0/UDP a"), ("Call-ID", "c"), ("From", "<sip:a@b>"), ("CSeq", "2 INVITE")])
    assert to_tag_for(h) != to_tag_for(h2)
    assert to_tag_for(Headers()) == to_tag_for(Headers())


def test_response_from_partial_headers_without_from_to_call_id() -> None:
    # RFC 4475 §3.3.1 insuf
    data = sip(
        """
INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
l: 0
"""
    )
    with pytest.raises(SipError) as info:
        parse_message(data)
    assert info.value.partial is not None
    lines = lines_of(build_response(info.value.partial, 400, info.value.reason, received="192.0.2.95"))
    assert lines == [
        "SIP/2.0 400 Bad Request - missing From, To, Call-ID",
        "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf;received=192.0.2.95",
        "CSeq: 193942 INVITE",
        "Server: anigate",
        "Content-Length: 0",
    ]


def test_response_to_a_malformed_via_uses_the_salvaged_sent_by() -> None:
    data = sip(
        """
INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Content-Length: 0
"""
    )
    with pytest.raises(SipError) as info:
        parse_message(data)
    err = info.value
    assert err.partial is not None
    lines = lines_of(build_response(err.partial, err.status, err.reason, received="192.0.2.15", rport=5060))
    assert [line for line in lines if line.startswith("Via")] == [
        "Via: SIP/2.0/UDP 192.0.2.15;received=192.0.2.15"
    ]
    to = next(line for line in lines if line.startswith("To: "))
    assert to.startswith("To: sip:j.user@example.com;tag=")


def test_malformed_to_still_gets_a_tag() -> None:
    h = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("To", '"Mr. J. User <sip:j@example.com>')])
    out = build_response(h, 400, "Bad Request").decode()
    assert 'To: "Mr. J. User <sip:j@example.com>;tag=' in out
    h2 = Headers(
        [("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("To", '"Unterminated <sip:j@example.com>;tag=x')]
    )
    assert build_response(h2, 400, "Bad Request").decode().count("tag=") == 1


def test_extra_headers_and_injection_guard() -> None:
    req = invite()
    out = build_response(req, 501, "Not Implemented", extra=[("Allow", "INVITE, ACK, CANCEL, OPTIONS")])
    assert b"\r\nAllow: INVITE, ACK, CANCEL, OPTIONS\r\nServer: anigate\r\n" in out
    with pytest.raises(ValueError):
        build_response(req, 400, "Bad\r\nX-Evil: 1")
    with pytest.raises(ValueError):
        build_response(req, 302, "Moved", contacts=[("sip:a@b>\r\nX: y", 1.0)])
    with pytest.raises(ValueError):
        build_response(req, 200, "OK", extra=[("X", "a\nb")])
    with pytest.raises(ValueError):
        build_response(req, 99, "Too Low")


@pytest.mark.parametrize(
    ("q", "text"),
    [(1.0, "1.0"), (1, "1.0"), (0.5, "0.5"), (0.25, "0.25"), (0.1234, "0.123"), (0, "0.0"), (7, "1.0")],
)
def test_q_values(q: float, text: str) -> None:
    assert format_q(q) == text


def test_responses_keep_utf8_and_nul_octets_of_copied_headers() -> None:
    h = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("From", '"Лифт \\\x00" <sip:a@b>;tag=1')])
    out = build_response(h, 404, "Not Found")
    assert '"Лифт \\\x00"'.encode() in out
