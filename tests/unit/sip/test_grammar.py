"""Value grammar of RFC 3261 §25.1: URIs, name-addr, parameters, Via, comma lists."""

from __future__ import annotations

import pytest

from sip.grammar import (
    NameAddr,
    SipError,
    format_params,
    parse_name_addr,
    parse_params,
    parse_uri,
    parse_via,
    redirect_target_error,
    salvage_via,
    split_list,
)

# -- URIs ---------------------------------------------------------------------------------------


def test_sip_uri_parts() -> None:
    uri = parse_uri("sip:+493012345678@sbc.carrier.example:5061;user=phone;Transport=TCP;lr?Subject=hi")
    assert uri.scheme == "sip"
    assert uri.user == "+493012345678"
    assert uri.password is None
    assert uri.host == "sbc.carrier.example"
    assert uri.port == 5061
    assert uri.params == {"user": "phone", "transport": "TCP", "lr": None}
    assert uri.headers == {"Subject": "hi"}
    assert uri.user_is_phone
    assert str(uri) == uri.raw


def test_scheme_is_case_insensitive_and_sips_is_known() -> None:
    assert parse_uri("SIP:alice@example.com").scheme == "sip"
    uri = parse_uri("sips:alice:secret@[2001:db8::1]:5061")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips",
        "alice",
        "secret",
        "[2001:db8::1]",
        5061,
    )


def test_uri_without_user() -> None:
    uri = parse_uri("sip:192.0.2.10:5060;transport=tcp")
    assert uri.user is None and uri.host == "192.0.2.10" and uri.port == 5060


def test_percent_decoding_happens_exactly_once() -> None:
    # RFC 4475 §3.1.1.3: n%61me=v%61lue%25%34%31 is name=value%41, never valueA
    uri = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.user == "caller"
    assert uri.params == {"lr": None, "name": "value%41"}
    assert parse_uri("sip:null-%00-null@example.com").user == "null-\x00-null"


def test_user_part_may_hold_semicolons_and_question_marks() -> None:
    assert parse_uri("sip:user;par=u%40example.net@example.com").user == "user;par=u@example.net"
    assert (
        parse_uri("sip:+4930123;npdi;rn=+4930999@gw.example;user=phone").user == "+4930123;npdi;rn=+4930999"
    )


def test_tel_uri() -> None:
    uri = parse_uri("tel:+49-30-1234-5678;ext=12")
    assert uri.scheme == "tel" and uri.user == "+49-30-1234-5678" and uri.params == {"ext": "12"}
    assert uri.user_is_phone
    local = parse_uri("tel:030123456;phone-context=+49")
    assert local.user == "030123456" and local.params["phone-context"] == "+49"


def test_other_schemes_are_kept_opaque() -> None:
    uri = parse_uri("soap.beep://192.0.2.103:3002")
    assert uri.scheme == "soap.beep" and uri.user is None and uri.host == "" and not uri.user_is_phone
    assert parse_uri("isbn:2983792873").raw == "isbn:2983792873"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "user@example.com",  # no scheme
        "<sip:user@example.com>",  # RFC 4475 ltgtruri
        "sip:user@exa mple.com",
        "sip:user@example.com:99999",
        "sip:user@host;;lr",
        "sip:",
        "tel:xyz;x",
        "tel:+49 30",
        "mailto:",
        "sip:a@b?Route",
    ],
)
def test_malformed_uris_raise_400(text: str) -> None:
    with pytest.raises(SipError) as info:
        parse_uri(text)
    assert info.value.status == 400


# -- parameters ---------------------------------------------------------------------------------


def test_params_allow_white_space_around_separators() -> None:
    assert parse_params(";   tag    = 1918181833n") == {"tag": "1918181833n"}
    assert parse_params(" ; newparam = newvalue ; secondparam ; q = 0.33") == {
        "newparam": "newvalue",
        "secondparam": None,
        "q": "0.33",
    }


def test_param_names_are_lower_cased_and_quoted_values_kept() -> None:
    params = parse_params(';Tag=AbC;x="a;b \\" c"')
    assert params == {"tag": "AbC", "x": '"a;b \\" c"'}
    assert format_params(params) == ';tag=AbC;x="a;b \\" c"'


@pytest.mark.parametrize("text", [";;", ";;;;", ";a b", ';a="x', ";=x", "x;a", ";a=b c"])
def test_malformed_params(text: str) -> None:
    with pytest.raises(SipError):
        parse_params(text)


# -- name-addr / addr-spec ----------------------------------------------------------------------


def test_name_addr_with_quoted_display_name_and_escapes() -> None:
    na = parse_name_addr('"J Rosenberg \\\\\\""  <sip:jdrosen@example.com> ; tag = 98asjd8')
    assert na.display == 'J Rosenberg \\"'
    assert na.uri.user == "jdrosen"
    assert na.params == {"tag": "98asjd8"}
    assert na.tag == "98asjd8"


def test_quoted_display_name_with_comma_and_utf8() -> None:
    na = parse_name_addr('"Aufzug 3, Haus Süd" <sip:+4930123@example.net>')
    assert na.display == "Aufzug 3, Haus Süd"


def test_empty_quoted_display_name() -> None:
    assert parse_name_addr('"" <sip:a@b>').display == ""
    assert parse_name_addr("<sip:a@b>").display is None


def test_unquoted_display_names_are_read_liberally() -> None:
    # RFC 4475 §3.1.1.6 lwsdisp (no LWS before <) and §3.1.2.15 baddn (comma in a token display)
    assert parse_name_addr("caller<sip:caller@example.com>;tag=323").display == "caller"
    assert parse_name_addr("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").display == "Bell, Alexander"
    assert parse_name_addr("Lift  3   <sip:a@b>").display == "Lift  3"


def test_addr_spec_params_belong_to_the_header() -> None:
    # RFC 3261 §20.10
    na = parse_name_addr("sip:+16505552222@ss1.example.net;user=phone;tag=abc")
    assert na.uri.params == {}
    assert na.params == {"user": "phone", "tag": "abc"}
    assert not na.uri.user_is_phone
    bracketed = parse_name_addr("<sip:+16505552222@ss1.example.net;user=phone>;tag=abc")
    assert bracketed.uri.params == {"user": "phone"} and bracketed.params == {"tag": "abc"}


def test_spaces_inside_angle_brackets_are_tolerated() -> None:
    assert parse_name_addr('"Watson, Thomas" < sip:t.watson@example.org >').uri.user == "t.watson"


def test_name_addr_keeps_raw_text() -> None:
    text = '"Lift" <tel:+4930123>;party=calling'
    na = parse_name_addr(text)
    assert isinstance(na, NameAddr) and na.raw == text and na.uri.scheme == "tel"


@pytest.mark.parametrize(
    "text",
    [
        "",
        '"Mr. J. User <sip:j.user@example.com>',  # RFC 4475 quotbal
        '"Joe" sip:joe@example.org',
        "<sip:joe@example.org",
        "<sip:joe@example.org> garbage",
        '"Joe" <sip:joe@example.org>;;;;',  # RFC 4475 badinv01 Contact
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # RFC 4475 regbadct
        'Jo"e <sip:joe@example.org>',
    ],
)
def test_malformed_addresses_raise_400(text: str) -> None:
    with pytest.raises(SipError) as info:
        parse_name_addr(text)
    assert info.value.status == 400


# -- Via ----------------------------------------------------------------------------------------


def test_via_parts() -> None:
    via = parse_via("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport;received=198.51.100.1")
    assert via.protocol == "SIP/2.0" and via.transport == "UDP"
    assert via.host == "192.0.2.10" and via.port == 5060 and via.sent_by == "192.0.2.10:5060"
    assert via.branch == "z9hG4bK-1"
    assert via.params == {"branch": "z9hG4bK-1", "rport": None, "received": "198.51.100.1"}
    assert str(via) == "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport;received=198.51.100.1"


def test_via_allows_sws_around_slash_colon_and_semicolon() -> None:
    via = parse_via("SIP  /   2.0 / tcp     spindle.example.com : 5070  ;  branch  =   z9hG4bK9ikj8")
    assert (via.protocol, via.transport, via.host, via.port, via.branch) == (
        "SIP/2.0",
        "TCP",
        "spindle.example.com",
        5070,
        "z9hG4bK9ikj8",
    )


def test_via_ipv6_and_unknown_transport() -> None:
    via = parse_via("SIP/2.0/UNKNOWN [2001:db8::9]:5062;branch=z9hG4bKx")
    assert via.host == "[2001:db8::9]" and via.port == 5062 and via.transport == "UNKNOWN"


@pytest.mark.parametrize(
    "text",
    ["", "SIP/2.0 host", "SIP/2.0/UDP", "SIP/2.0/UDP host:70000", "SIP/2.0/UDP host;;", "SIP/2.0/UDP a b"],
)
def test_malformed_via(text: str) -> None:
    with pytest.raises(SipError):
        parse_via(text)


def test_salvage_via_reads_the_sent_by_of_a_broken_via() -> None:
    via = salvage_via("SIP/2.0/UDP 192.0.2.15;;,;,,")
    assert via is not None and via.host == "192.0.2.15" and via.params == {}
    via = salvage_via("SIP/2.0/UDP 192.0.2.15:5070;branch=z9hG4bKabc;;x y,junk")
    assert via is not None and via.port == 5070 and via.branch == "z9hG4bKabc"
    assert salvage_via("garbage") is None
    assert salvage_via("SIP/2.0/UDP host:99999") is None


# -- lists --------------------------------------------------------------------------------------


def test_split_list_respects_quotes_and_angle_brackets() -> None:
    value = '"Lift 3, Tower A" <sip:+4930123@x;user=phone>, <tel:+4930123>'
    assert split_list(value) == ['"Lift 3, Tower A" <sip:+4930123@x;user=phone>', "<tel:+4930123>"]
    assert split_list("<sip:a@b?x=1,2>;q=0.5 ,  <sip:c@d>") == ["<sip:a@b?x=1,2>;q=0.5", "<sip:c@d>"]
    assert split_list('"a \\" , b" <sip:a@b>') == ['"a \\" , b" <sip:a@b>']
    assert split_list("INVITE,ACK ,  BYE") == ["INVITE", "ACK", "BYE"]
    assert split_list("   ") == []


@pytest.mark.parametrize("value", ["a,,b", "a,", ",a", '"unterminated, x', "<sip:a@b, c"])
def test_split_list_rejects_malformed_lists(value: str) -> None:
    with pytest.raises(SipError):
        split_list(value)


def test_sip_error_reason_never_holds_line_breaks() -> None:
    err = SipError(400, "Bad Request\r\nX-Injected: 1")
    assert "\r" not in err.reason and "\n" not in err.reason
    assert SipError(505, "").reason == "Version Not Supported"
    assert err.respond is True and err.partial is None


# -- redirect targets (what a 3xx Contact may carry) ---------------------------------------------

#: seen in a registry row: controls, DEL, ESC, a zero-width space and URI headers adding a Route
SEEN = "sip:a@127.0.0.1\x01\x7f\x1bX\u200b?X-Evil=1&Route=%3Csip:evil@198.51.100.66%3E"


@pytest.mark.parametrize(
    "uri",
    [
        "sip:berlin@127.0.0.1:5070",
        "sips:leitstelle@control.example.com:5061;transport=tls",
        "SIP:center@[2001:db8::1]:5060;lr",
        "sip:192.0.2.10",
        "sip:+493012345678@gw.example.;user=phone",
        "sip:user;par=u%40example.net@example.com",  # ; and escaped @ in the user part (§19.1.1)
        "sip:a?b@example.com",  # "?" is a user-unreserved character: no headers here
        "sip:%E2%82%AC@example.com",  # non-ASCII, percent-encoded
        "sip:alice:secret@example.com;maddr=[2001:db8::9];x=a/b:c",
    ],
)
def test_redirect_target_accepts_rfc3261_sip_uris(uri: str) -> None:
    assert redirect_target_error(uri) is None


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        (SEEN, "control character U+0001 in a SIP URI"),
        ("sip:a@127.0.0.1\x7f", "control character U+007F in a SIP URI"),
        ("sip:a@127.0.0.1\x1b[2J", "control character U+001B in a SIP URI"),
        ("sip:a\x00@127.0.0.1", "control character U+0000 in a SIP URI"),
        ("sip:a@127.0.0.1\u200b", "non-ASCII character U+200B in a SIP URI (percent-encode it)"),
        ("sip:zentrale@m\u00fcnchen.example", "non-ASCII character U+00FC in a SIP URI (percent-encode it)"),
        (
            "sip:a@127.0.0.1?X-Evil=1&Route=%3Csip:evil@198.51.100.66%3E",
            "URI headers (?...) are not allowed in a redirect target",
        ),
        ("sip:a@127.0.0.1;lr?Subject=hi", "URI headers (?...) are not allowed in a redirect target"),
        ("sip:a@127.0.0.1 ;lr", "white space in a SIP URI"),
        ("sip:a@127.0.0.1\t", "white space in a SIP URI"),
        ("sip:a@127.0.0.1\r\nRoute: <sip:evil@x>", "white space in a SIP URI"),
        ("<sip:a@127.0.0.1>", "not a sip: or sips: URI"),
        ("sip:a@127.0.0.1>, <sip:evil@x", "white space in a SIP URI"),
        ("sip:a@127.0.0.1>;q=1", 'a SIP URI here is written without <, > or "'),
        ('sip:"a"@127.0.0.1', 'a SIP URI here is written without <, > or "'),
        ("tel:+493012345678", "not a sip: or sips: URI"),
        ("http://lifts.example", "not a sip: or sips: URI"),
        ("127.0.0.1:5070", "not a sip: or sips: URI"),
        ("sip:", "not a SIP URI as RFC 3261 §25.1 writes it"),
        ("sip:a@", "not a SIP URI as RFC 3261 §25.1 writes it"),
        ("sip:a@b@c", "not a SIP URI as RFC 3261 §25.1 writes it"),
        ("sip:a@127.0.0.1;;lr", "not a SIP URI as RFC 3261 §25.1 writes it"),
        ("sip:a@127.0.0.1;lr=", "not a SIP URI as RFC 3261 §25.1 writes it"),
        ("sip:a@127.0.0.1:", "not a SIP URI as RFC 3261 §25.1 writes it"),
        ("sip:a@lab_host", "'lab_host' is not a host name"),
        ("sip:a@-bad.example", "'-bad.example' is not a host name"),
        ("sip:a@host.4example", "'host.4example' is not a host name"),
        ("sip:a@999.0.0.1", "999.0.0.1 is not an IPv4 address"),
        ("sip:a@[2001:db8::zz]", "not a SIP URI as RFC 3261 §25.1 writes it"),
        ("sip:a@[2001:db8:::1]", "[2001:db8:::1] is not an IPv6 address"),
        ("sip:a@127.0.0.1:0", "port 0 is out of range"),
        ("sip:a@127.0.0.1:65536", "port 65536 is out of range"),
        ("sip:a%0d%0a@127.0.0.1", "escaped control character %0d in a SIP URI"),
        ("sip:a@127.0.0.1;x=%7F", "escaped control character %7F in a SIP URI"),
    ],
)
def test_redirect_target_refuses_what_a_strict_peer_drops(uri: str, reason: str) -> None:
    assert redirect_target_error(uri) == reason


def test_every_redirect_target_the_grammar_accepts_also_parses() -> None:
    for uri in (
        "sip:berlin@127.0.0.1:5070",
        "sips:x@[2001:db8::1]:5061;transport=tls",
        "sip:a?b@example.com",
    ):
        assert redirect_target_error(uri) is None
        parsed = parse_uri(uri)
        assert parsed.scheme in ("sip", "sips") and parsed.headers == {}
