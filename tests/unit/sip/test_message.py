"""parse_message and Headers: RFC 3261 §7 (syntax), §8.2 (UAS checks), §18.3 (framing), §20 (names)."""

from __future__ import annotations

import pytest

import sip.message
from sip.message import (
    COMPACT_FORMS,
    Headers,
    Limits,
    Request,
    Response,
    SipError,
    parse_message,
    salvage_headers,
)

START = "INVITE sip:+493099990000@anigate.example.net SIP/2.0"
BASE = {
    "Via": "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport",
    "Max-Forwards": "70",
    "From": '"Lift 3" <sip:+493012345678@carrier.example>;tag=a1',
    "To": "<sip:+493099990000@anigate.example.net>",
    "Call-ID": "call-1@192.0.2.10",
    "CSeq": "1 INVITE",
}


def build(
    *extra: str,
    start: str = START,
    without: tuple[str, ...] = (),
    rename: dict[str, str] | None = None,
    body: bytes = b"",
    content_length: bool = True,
    eol: str = "\r\n",
) -> bytes:
    """A request from BASE: ``extra`` header lines appended, ``without`` left out, names renamed."""
    rename = rename or {}
    lines = [start]
    lines += [f"{rename.get(n, n)}: {v}" for n, v in BASE.items() if n not in without]
    lines += list(extra)
    if content_length:
        lines.append(f"Content-Length: {len(body)}")
    return (eol.join(lines) + eol + eol).encode() + body


def request(data: bytes, **kwargs: object) -> Request:
    msg = parse_message(data, **kwargs)  # type: ignore[arg-type]
    assert isinstance(msg, Request)
    return msg


def error(data: bytes, **kwargs: object) -> SipError:
    with pytest.raises(SipError) as info:
        parse_message(data, **kwargs)  # type: ignore[arg-type]
    err = info.value
    assert "\r" not in err.reason and "\n" not in err.reason
    return err


# -- a plain request --------------------------------------------------------------------------


def test_minimal_invite() -> None:
    req = request(build(body=b"v=0\r\n"))
    assert (req.method, req.uri, req.version) == (
        "INVITE",
        "sip:+493099990000@anigate.example.net",
        "SIP/2.0",
    )
    assert req.body == b"v=0\r\n"
    assert req.call_id == "call-1@192.0.2.10"
    assert req.cseq == (1, "INVITE")
    assert req.top_via.sent_by == "192.0.2.10:5060" and req.top_via.params["rport"] is None
    assert [v.branch for v in req.vias] == ["z9hG4bK-1"]
    assert req.from_.display == "Lift 3" and req.from_.tag == "a1"
    assert req.to.tag is None and req.to.uri.user == "+493099990000"
    assert req.request_uri.host == "anigate.example.net"


def test_headers_are_case_insensitive_and_ordered() -> None:
    req = request(build("X-Custom: 1", "x-custom: 2"))
    h = req.headers
    for spelling in ("Via", "VIA", "via", "v", "V", " Via "):
        assert h.get(spelling) == BASE["Via"]
    assert h.get_all("X-CUSTOM") == ["1", "2"]
    assert h.count("x-custom") == 2
    assert "call-id" in h and "i" in h and "Route" not in h and 5 not in h
    assert h.get("Route") is None and h.get_all("Route") == []
    names = [name for name, _ in h.raw()]
    assert names == [
        "Via",
        "Max-Forwards",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "X-Custom",
        "x-custom",
        "Content-Length",
    ]
    assert len(h) == 9 and list(h) == h.raw()


@pytest.mark.parametrize(("short", "full"), sorted(COMPACT_FORMS.items()))
def test_every_compact_form(short: str, full: str) -> None:
    canonical = sip.message.CANONICAL[full]
    if canonical in BASE:
        data = build(rename={canonical: short})
    elif full == "content-length":
        data = build("l: 0", content_length=False)
    else:
        data = build(f"{short.upper()}: value-{short}")
    req = request(data)
    expected = BASE.get(canonical, "0" if full == "content-length" else f"value-{short}")
    for spelling in (short, short.upper(), full, canonical, canonical.upper()):
        assert req.headers.get(spelling) == expected
    assert (canonical, expected) in req.headers.raw()


def test_hcolon_allows_white_space_before_the_colon() -> None:
    req = request(build("Subject \t : lift alarm", rename={"Call-ID": "Call-ID   "}))
    assert req.headers.get("Subject") == "lift alarm"
    assert req.call_id == "call-1@192.0.2.10"


def test_folded_header_values_are_unfolded() -> None:
    data = build("Subject: first\r\n  second\r\n\tthird", "Route:\r\n <sip:proxy.example;lr>")
    req = request(data)
    assert req.headers.get("Subject") == "first second third"
    assert req.headers.get("Route") == "<sip:proxy.example;lr>"
    assert ("Subject", "first second third") in req.headers.raw()


def test_folded_required_headers() -> None:
    data = build(rename={"CSeq": "CSeq"}).replace(b"CSeq: 1 INVITE", b"CSeq: 1\r\n INVITE")
    data = data.replace(b"Via: SIP/2.0/UDP ", b"Via: SIP/2.0\r\n /UDP\r\n   ")
    req = request(data)
    assert req.cseq == (1, "INVITE")
    assert req.top_via.sent_by == "192.0.2.10:5060"


def test_multi_value_headers_are_split_respecting_quotes_and_brackets() -> None:
    req = request(
        build(
            'P-Asserted-Identity: "Lift 3, Tower A" <sip:+493012345678@x;user=phone>, <tel:+493012345678>',
            "Allow: INVITE, ACK,CANCEL",
            "Allow: OPTIONS",
            "Contact: <sip:a@b;x=1,2>;q=0.5, sip:c@d",
            "Supported: ",
            "Date: Tue, 25 Nov 2025 14:02:11 GMT",
            'Subject: "a, b", c',
            "Privacy: id, critical",
        )
    )
    h = req.headers
    assert h.get_all("P-Asserted-Identity") == [
        '"Lift 3, Tower A" <sip:+493012345678@x;user=phone>',
        "<tel:+493012345678>",
    ]
    assert h.get_all("allow") == ["INVITE", "ACK", "CANCEL", "OPTIONS"]
    assert h.get_all("m") == ["<sip:a@b;x=1,2>;q=0.5", "sip:c@d"]
    assert h.get_all("Supported") == []
    assert h.get_all("Date") == ["Tue, 25 Nov 2025 14:02:11 GMT"]  # not a list header
    assert h.get_all("Subject") == ['"a, b", c']
    assert h.get_all("Privacy") == ["id", "critical"]
    # the returned list is a copy
    h.get_all("allow").clear()
    assert len(h.get_all("allow")) == 4


def test_a_malformed_list_raises_on_access_only() -> None:
    req = request(build("Contact: <sip:a@b>,,<sip:c@d>"))
    with pytest.raises(SipError):
        req.headers.get_all("Contact")
    assert req.headers.get("Contact") == "<sip:a@b>,,<sip:c@d>"


@pytest.mark.parametrize("name", ["Require", "Proxy-Require"])
def test_malformed_option_tag_lists_are_rejected_at_parse_time(name: str) -> None:
    err = error(build(f"{name}: timer,,100rel"))
    assert err.status == 400 and f"malformed {name}" in err.reason
    assert request(build(f"{name}: timer, 100rel")).headers.get_all(name) == ["timer", "100rel"]


def test_via_list_over_several_rows_and_commas() -> None:
    data = build("Via: SIP/2.0/TCP p2.example;branch=z9hG4bK-3", rename={"Via": "Via"})
    data = data.replace(
        b"branch=z9hG4bK-1;rport\r\n", b"branch=z9hG4bK-1;rport , SIP/2.0/UDP p1.example;branch=z9hG4bK-2\r\n"
    )
    req = request(data)
    assert [v.host for v in req.vias] == ["192.0.2.10", "p1.example", "p2.example"]


def test_headers_built_by_hand() -> None:
    h = Headers([("v", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("Call-ID", "x")])
    h.add("f", "<sip:a@b>;tag=1")
    assert h.get("From") == "<sip:a@b>;tag=1" and h.name_addr("from").tag == "1"
    assert h.raw()[0] == ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1")
    with pytest.raises(ValueError):
        h.add("Bad Name", "x")
    with pytest.raises(ValueError):
        h.add("X", "a\r\nInjected: 1")
    with pytest.raises(SipError):
        h.cseq()
    assert "Headers(" in repr(h)


# -- start line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        "INVITE  sip:a@b SIP/2.0",  # RFC 4475 lwsstart
        "INVITE sip:a@b SIP/2.0  ",  # RFC 4475 trws
        "INVITE sip:a@b; lr SIP/2.0",  # RFC 4475 lwsruri
        "INVITE\tsip:a@b\tSIP/2.0",
        "INVITE sip:a@b",
        "INVITE",
        "INV(ITE sip:a@b SIP/2.0",
        "INVITE <sip:a@b> SIP/2.0",  # RFC 4475 ltgtruri
        "INVITE sip:a@b HTTP/1.1",
        "INVITE sip:a@b SIP/2",
        "INVITE sip:a@b?Route=%3Csip:evil%3E SIP/2.0",  # RFC 4475 escruri
        " INVITE sip:a@b SIP/2.0",
    ],
)
def test_malformed_request_lines_get_400(start: str) -> None:
    err = error(build(start=start))
    assert err.status == 400 and err.respond
    assert err.partial is not None and err.partial.get("Call-ID") == "call-1@192.0.2.10"


@pytest.mark.parametrize("version", ["SIP/7.0", "SIP/1.0", "SIP/2.1", "sip/3.0"])
def test_other_sip_versions_get_505(version: str) -> None:
    err = error(build(start=f"INVITE sip:a@b {version}"))
    assert (err.status, err.reason, err.respond) == (505, "Version Not Supported", True)
    assert err.partial is not None and err.partial.get("CSeq") == "1 INVITE"


def test_version_is_case_insensitive() -> None:
    assert request(build(start="INVITE sip:a@b sip/2.0")).version == "SIP/2.0"


def test_unknown_schemes_and_methods_parse() -> None:
    req = request(
        build(start="OPTIONS nobodyKnowsThisScheme:totallyopaque SIP/2.0", rename={}).replace(
            b"1 INVITE", b"1 OPTIONS"
        )
    )
    assert req.request_uri.scheme == "nobodyknowsthisscheme"
    assert request(build(start="INVITE tel:+4930123 SIP/2.0")).request_uri.user == "+4930123"


def test_known_methods_turn_an_unknown_method_into_501_before_the_cseq_check() -> None:
    data = build(start="NEWMETHOD sip:a@b SIP/2.0")
    assert error(data).status == 400  # CSeq says INVITE
    assert error(data, known_methods={"INVITE", "OPTIONS"}).status == 501
    ok = build(start="NEWMETHOD sip:a@b SIP/2.0").replace(b"1 INVITE", b"1 NEWMETHOD")
    assert request(ok).method == "NEWMETHOD"
    assert error(ok, known_methods=frozenset({"INVITE"})).status == 501
    assert request(build(), known_methods=("INVITE",)).method == "INVITE"


# -- responses ------------------------------------------------------------------------------


def response_bytes(status_line: str) -> bytes:
    lines = (
        [status_line] + [f"{n}: {v}" for n, v in BASE.items() if n != "Max-Forwards"] + ["Content-Length: 0"]
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_responses_parse() -> None:
    msg = parse_message(response_bytes("SIP/2.0 180 Ringing"))
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason, msg.version) == (180, "Ringing", "SIP/2.0")
    assert msg.cseq == (1, "INVITE") and msg.call_id == "call-1@192.0.2.10"
    assert msg.top_via.branch == "z9hG4bK-1" and len(msg.vias) == 1
    assert msg.from_.tag == "a1" and msg.to.tag is None
    empty_reason = parse_message(response_bytes("SIP/2.0 100 "))
    assert isinstance(empty_reason, Response) and empty_reason.reason == ""


@pytest.mark.parametrize(
    "line",
    [
        "SIP/2.0 4294967301 big",
        "SIP/2.0 99 Low",
        "SIP/2.0 700 High",
        "SIP/2.0 2000 OK",
        "SIP/2.0 abc X",
        "SIP/2.0",
        "SIP/3.0 200 OK",
        "SIP/2.0 \uff12\uff10\uff10 OK",  # fullwidth digits
    ],
)
def test_malformed_responses_are_dropped(line: str) -> None:
    err = error(response_bytes(line))
    assert err.respond is False


def test_a_response_with_broken_headers_is_dropped() -> None:
    data = response_bytes("SIP/2.0 200 OK").replace(b"CSeq: 1 INVITE", b"CSeq: 99999999999999999999 INVITE")
    assert error(data).respond is False
    assert error(response_bytes("SIP/2.0 200 OK").replace(b"Via:", b"X-Via:")).respond is False


# -- required and single-instance header fields ----------------------------------------------


@pytest.mark.parametrize("name", ["From", "To", "Call-ID", "CSeq"])
def test_missing_required_header_gets_400(name: str) -> None:
    err = error(build(without=(name,)))
    assert err.status == 400 and err.respond and f"missing {name}" in err.reason


def test_missing_max_forwards_is_tolerated() -> None:
    # RFC 2543 peers (RFC 4475 §3.4.1 inv2543) send none
    assert request(build(without=("Max-Forwards",))).headers.get("Max-Forwards") is None


def test_missing_via_cannot_be_answered() -> None:
    err = error(build(without=("Via",)))
    assert err.status == 400 and err.respond is False


def test_unusable_top_via_cannot_be_answered() -> None:
    data = build().replace(BASE["Via"].encode(), b"garbage")
    assert error(data).respond is False


def test_malformed_via_with_readable_sent_by_gets_400() -> None:
    data = build().replace(BASE["Via"].encode(), b"SIP/2.0/UDP 192.0.2.15;;,;,,")
    err = error(data)
    assert err.status == 400 and err.respond and "malformed Via" in err.reason


def test_a_broken_second_via_is_a_400() -> None:
    err = error(build("Via: not a via"))
    assert err.status == 400 and err.respond


@pytest.mark.parametrize("name", ["From", "To", "Call-ID", "CSeq", "Max-Forwards"])
def test_single_instance_headers_must_appear_once(name: str) -> None:
    err = error(build(f"{name}: {BASE[name]}"))
    assert err.status == 400 and f"more than one {name}" in err.reason


def test_malformed_from_or_to_gets_400() -> None:
    err = error(build().replace(b"To: <sip:", b'To: "Unterminated <sip:'))
    assert err.status == 400 and "malformed To" in err.reason
    assert error(build().replace(b"From: ", b"From: <sip:a@b>;;")).status == 400


@pytest.mark.parametrize("value", ["x y", "", "1 2"])
def test_malformed_call_id_and_max_forwards(value: str) -> None:
    assert error(build().replace(b"Call-ID: call-1@192.0.2.10", f"Call-ID: {value}".encode())).status == 400


def test_max_forwards_must_be_digits_but_may_be_large() -> None:
    assert error(build().replace(b"Max-Forwards: 70", b"Max-Forwards: seventy")).status == 400
    assert request(build().replace(b"Max-Forwards: 70", b"Max-Forwards: 300")).method == "INVITE"


# -- CSeq -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0 INVITE", True),
        ("0009 INVITE", True),
        (f"{2**31 - 1} INVITE", True),
        (f"{2**31} INVITE", False),  # RFC 3261 §8.1.1.5: less than 2**31
        ("36893488147419103232 INVITE", False),  # RFC 4475 scalar02
        ("9" * 5000 + " INVITE", False),  # longer than int() accepts: still a SipError
        ("-1 INVITE", False),
        ("one INVITE", False),
        ("1", False),
        ("1 INVITE extra", False),
        ("1 INV(ITE", False),
        ("\uff11 INVITE", False),  # a non-ASCII digit
        ("1 OPTIONS", False),  # RFC 4475 mismatch01
        ("1 invite", False),  # methods are case-sensitive
    ],
)
def test_cseq(value: str, ok: bool) -> None:
    data = build().replace(b"CSeq: 1 INVITE", f"CSeq: {value}".encode())
    if ok:
        assert request(data).cseq[1] == "INVITE"
    else:
        assert error(data).status == 400


# -- Content-Length and the body ------------------------------------------------------------


SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\n"


def test_udp_body_is_content_length_octets_and_the_rest_is_ignored() -> None:
    data = build(body=SDP) + b"INVITE sip:trailing@example.com SIP/2.0\r\n\r\n"
    assert request(data).body == SDP  # RFC 4475 dblreq


def test_udp_content_length_larger_than_the_datagram_gets_400() -> None:
    data = build(content_length=False, body=SDP)
    data = data.replace(b"\r\n\r\n", b"\r\nContent-Length: 9999\r\n\r\n", 1)
    err = error(data)  # RFC 4475 clerr
    assert err.status == 400 and "larger than the message" in err.reason


def test_udp_without_content_length_takes_the_rest_of_the_datagram() -> None:
    assert request(build(content_length=False, body=SDP)).body == SDP  # RFC 4475 inv2543


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-999", "negative Content-Length"),  # RFC 4475 ncl
        ("five", "invalid Content-Length"),
        ("1 2", "invalid Content-Length"),
        ("", "invalid Content-Length"),
        ("9" * 5000, "larger than the message"),
    ],
)
def test_bad_content_length_values(value: str, reason: str) -> None:
    data = build(f"Content-Length: {value}", content_length=False)
    err = error(data)
    assert err.status == 400 and reason in err.reason and err.respond


def test_duplicate_content_length_gets_400() -> None:
    data = build("l: 0")  # RFC 4475 mcl01: two values, even if equal
    assert "more than one Content-Length" in error(data).reason


def test_stream_messages_need_content_length() -> None:
    assert "missing Content-Length" in error(build(content_length=False), stream=True).reason
    assert request(build(body=SDP), stream=True).body == SDP
    assert "not terminated" in error(build().rstrip(b"\r\n") + b"\r\n", stream=True).reason


def test_udp_message_without_the_closing_empty_line() -> None:
    # RFC 4475 baddn: ends after "l: 0" CRLF
    data = build().rstrip(b"\r\n") + b"\r\n"
    assert request(data).body == b""


def test_body_octets_are_kept_as_they_are() -> None:
    body = b"\x00\r\x80binary\n\r\n\r\n"
    assert request(build(body=body)).body == body


# -- line ends, encodings, keep-alives -------------------------------------------------------


def test_bare_lf_line_ends_are_accepted() -> None:
    req = request(build(body=b"v=0\n", eol="\n"))
    assert req.cseq == (1, "INVITE") and req.body == b"v=0\n"


def test_folding_with_bare_lf() -> None:
    req = request(build("Subject: a\n b", eol="\n"))
    assert req.headers.get("Subject") == "a b"


def test_bare_cr_in_the_header_section_gets_400() -> None:
    err = error(build("Subject: a\rb"))
    assert err.status == 400 and "bare CR" in err.reason and err.respond


def test_leading_crlf_is_ignored_and_empty_datagrams_dropped() -> None:
    assert request(b"\r\n\r\n" + build()).method == "INVITE"
    for data in (b"", b"\r\n", b"\r\n\r\n"):
        assert error(data).respond is False


def test_latin1_display_names_are_still_read() -> None:
    data = build().replace(b'"Lift 3"', '"Aufzug Süd"'.encode("latin-1"))
    assert request(data).from_.display == "Aufzug Süd"


def test_utf8_display_names() -> None:
    data = build().replace(b'"Lift 3"', '"Лифт 3"'.encode())
    assert request(data).from_.display == "Лифт 3"


# -- errors: what is answered ------------------------------------------------------------------


def test_errors_on_an_ack_are_never_answered() -> None:
    data = build(start="ACK sip:a@b SIP/2.0").replace(b"1 INVITE", b"1 ACK").replace(b"Call-ID", b"X")
    err = error(data)
    assert err.status == 400 and err.respond is False
    assert error(build(start="ACK sip:a@b SIP/7.0")).respond is False


def test_partial_headers_include_rows_after_a_bad_one() -> None:
    data = build().replace(b"Max-Forwards: 70", b"this line has no colon")
    err = error(data)
    assert err.status == 400 and "without a colon" in err.reason
    assert err.partial is not None and err.partial.get("CSeq") == "1 INVITE"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Bad Name: x", "invalid header name"),
        (": no name", "invalid header name"),
        ("Ünïcode: x", "invalid header name"),
    ],
)
def test_bad_header_rows(line: str, reason: str) -> None:
    err = error(build(line))
    assert err.status == 400 and reason in err.reason


def test_continuation_right_after_the_start_line_is_an_error() -> None:
    data = build().replace(b"SIP/2.0\r\nVia", b"SIP/2.0\r\n folded\r\nVia")
    assert error(data).status == 400


# -- limits ------------------------------------------------------------------------------------


def test_message_size_limit_gives_513_with_partial_headers() -> None:
    data = build(body=b"x" * 70_000)
    err = error(data)
    assert (err.status, err.reason, err.respond) == (513, "Message Too Large", True)
    assert err.partial is not None and err.partial.get("Call-ID") == "call-1@192.0.2.10"
    assert request(data, limits=Limits(max_size=100_000)).body == b"x" * 70_000


def test_header_count_limit() -> None:
    many = [f"X-H{i}: {i}" for i in range(93)]  # 6 + 93 + Content-Length = 100
    assert request(build(*many)).headers.count("X-H1") == 1
    err = error(build(*many, *many))
    assert err.status == 400 and "too many header fields" in err.reason
    assert err.partial is not None and err.partial.get("Call-ID") is not None
    assert error(build(), limits=Limits(max_headers=3)).status == 400


def test_line_length_limit() -> None:
    err = error(build("X-Long: " + "a" * 9000))
    assert err.status == 400 and "header line too long" in err.reason
    assert request(build("X-Long: " + "a" * 9000), limits=Limits(max_line=10_000)).method == "INVITE"


def test_salvage_headers() -> None:
    h = salvage_headers(build() + b"junk")
    assert h is not None and h.get("CSeq") == "1 INVITE"
    assert salvage_headers(b"") is None
    assert salvage_headers(b"\xff\xfe") is None


def test_a_parser_bug_still_surfaces_as_sip_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> Request:
        raise RuntimeError("bug")

    monkeypatch.setattr(sip.message, "_parse_request", broken)
    err = error(build())
    assert (err.status, err.reason, err.respond) == (400, "Bad Request - unparseable message", True)
    assert err.partial is not None and err.partial.get("Call-ID") == "call-1@192.0.2.10"
    assert isinstance(err.__cause__, RuntimeError)
