"""RFC 4475 torture messages: every .dat of the shared folder gets the outcome INDEX.md asks for.

The folder is read in place (ANIGATE_SIP_TORTURE_DIR); a missing folder fails, never skips.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sip.grammar import NameAddr, parse_name_addr
from sip.message import Request, Response, SipError, parse_message
from sip.responses import build_response

OK = "ok"  # parsed as a Request: the application answers (RFC 4475 "valid" / application layer)
RESPONSE = "response"  # parsed as a Response: a stateless UAS discards it, no answer
DROP = "drop"  # SipError(respond=False): nothing can or may be answered

# file → OK / RESPONSE / DROP / status of the SipError that is answered
EXPECTED: dict[str, str | int] = {
    # §3.1.1 valid messages
    "wsinv.dat": OK,
    "intmeth.dat": OK,  # unknown method: 501 with known_methods (test below) or by the listener
    "esc01.dat": OK,
    "escnull.dat": OK,
    "esc02.dat": OK,
    "lwsdisp.dat": OK,
    "longreq.dat": OK,
    "dblreq.dat": OK,
    "semiuri.dat": OK,
    "transports.dat": OK,
    "mpart01.dat": OK,
    "unreason.dat": RESPONSE,
    "noreason.dat": RESPONSE,
    # §3.1.2 invalid messages
    "badinv01.dat": 400,  # malformed Via list, sent-by 192.0.2.15 salvaged → answered
    "clerr.dat": 400,
    "ncl.dat": 400,
    "scalar02.dat": 400,
    "scalarlg.dat": DROP,
    "quotbal.dat": 400,
    "ltgtruri.dat": 400,
    "lwsruri.dat": 400,
    "lwsstart.dat": 400,
    "trws.dat": 400,
    "escruri.dat": 400,
    "baddate.dat": OK,  # Date does not matter to a redirect server
    "regbadct.dat": OK,  # Contact is not read by a redirect server (a registrar would 400)
    "badaspec.dat": OK,  # liberal: spaces inside <> ignored
    "baddn.dat": OK,  # liberal: unquoted display name with a comma accepted
    "badvers.dat": 505,
    "mismatch01.dat": 400,
    "mismatch02.dat": 400,  # 501 with known_methods (test below)
    "bigcode.dat": DROP,
    # §3.2 transaction layer
    "badbranch.dat": OK,
    # §3.3 application layer
    "insuf.dat": 400,
    "unkscm.dat": OK,  # listener → 416
    "novelsc.dat": OK,  # listener → 416
    "unksm2.dat": OK,
    "bext01.dat": OK,  # listener → 420
    "invut.dat": OK,
    "regaut01.dat": OK,
    "multi01.dat": 400,
    "mcl01.dat": 400,
    "bcast.dat": RESPONSE,
    "zeromf.dat": OK,
    "cparam01.dat": OK,
    "cparam02.dat": OK,
    "regescrt.dat": OK,
    "sdp01.dat": OK,
    # §3.4 backward compatibility
    "inv2543.dat": OK,
    # archive only
    "test.dat": DROP,
}

REASONS = {
    "badinv01.dat": "malformed Via",
    "clerr.dat": "Content-Length larger than the message",
    "ncl.dat": "negative Content-Length",
    "scalar02.dat": "CSeq number too large",
    "quotbal.dat": "malformed To",
    "ltgtruri.dat": "malformed Request-URI",
    "lwsruri.dat": "malformed Request-Line",
    "lwsstart.dat": "malformed Request-Line",
    "trws.dat": "malformed Request-Line",
    "escruri.dat": "header fields in the Request-URI",
    "mismatch01.dat": "CSeq method does not match",
    "insuf.dat": "missing From, To, Call-ID",
    "multi01.dat": "more than one",
    "mcl01.dat": "more than one Content-Length",
}

KNOWN_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "MESSAGE", "INFO"})


def _outcome(data: bytes, **kwargs: object) -> str | int:
    try:
        msg = parse_message(data, **kwargs)  # type: ignore[arg-type]
    except SipError as exc:
        return exc.status if exc.respond else DROP
    return OK if isinstance(msg, Request) else RESPONSE


def test_the_table_covers_exactly_the_folder(torture_dir: Path) -> None:
    assert sorted(p.name for p in torture_dir.glob("*.dat")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outcome(torture_dir: Path, name: str) -> None:
    data = (torture_dir / name).read_bytes()
    try:
        msg = parse_message(data)
    except SipError as exc:
        assert EXPECTED[name] == (exc.status if exc.respond else DROP), exc
        assert "\r" not in exc.reason and "\n" not in exc.reason
        if name in REASONS:
            assert REASONS[name] in exc.reason
        if exc.respond:
            # the answer can always be built, even from partial headers (insuf has no From/To)
            assert exc.partial is not None
            out = build_response(exc.partial, exc.status, exc.reason, received="127.0.0.1", rport=5060)
            assert out.startswith(f"SIP/2.0 {exc.status} ".encode())
            assert b"\r\nVia: SIP/" in out
        return
    assert EXPECTED[name] == (OK if isinstance(msg, Request) else RESPONSE)


def _wire_column(index: str) -> dict[str, str]:
    wire = {}
    for line in index.splitlines():
        m = re.match(r"\| `([a-z0-9]+\.dat)` \|", line)
        if m:
            cells = [c.strip() for c in line.replace("\\|", "/").split("|")]
            wire[m.group(1)] = cells[7].strip("`")
    return wire


def test_outcomes_agree_with_the_wire_column_of_index(torture_dir: Path) -> None:
    """INDEX.md's machine-readable expectation, mapped onto what the parser decides."""
    wire = _wire_column((torture_dir / "INDEX.md").read_text(encoding="utf-8"))
    assert set(wire) == set(EXPECTED)
    for name, token in wire.items():
        outcome = EXPECTED[name]
        if token == "none":
            assert outcome in (RESPONSE, DROP), name
        elif token == "ok":
            assert outcome == OK, name
        elif token == "any":
            assert outcome != DROP or name == "test.dat", name
        elif token in ("416", "420", "416/404"):
            assert outcome == OK, name  # an application decision, taken after parsing
        elif token == "501":
            assert (
                outcome == OK
                and _outcome((torture_dir / name).read_bytes(), known_methods=KNOWN_METHODS) == 501
            )
        elif token == "501/400":
            assert outcome in (400, 501), name
        elif token == "4xx":
            assert isinstance(outcome, int) and 400 <= outcome < 500, name
        else:
            assert outcome == int(token), name


def test_mismatch02_gets_501_when_the_method_is_checked_first(torture_dir: Path) -> None:
    data = (torture_dir / "mismatch02.dat").read_bytes()
    assert _outcome(data, known_methods=KNOWN_METHODS) == 501
    assert _outcome(data) == 400
    # a known method with a mismatching CSeq stays 400 either way
    assert _outcome((torture_dir / "mismatch01.dat").read_bytes(), known_methods=KNOWN_METHODS) == 400


def test_valid_messages_read_as_rfc_4475_describes(torture_dir: Path) -> None:
    def req(name: str) -> Request:
        msg = parse_message((torture_dir / name).read_bytes())
        assert isinstance(msg, Request)
        return msg

    wsinv = req("wsinv.dat")
    assert wsinv.cseq == (9, "INVITE")
    assert wsinv.from_.display == 'J Rosenberg \\"'
    assert wsinv.from_.tag == "98asjd8"
    assert wsinv.to.tag == "1918181833n"
    assert [v.sent_by for v in wsinv.vias] == ["192.0.2.2", "spindle.example.com", "192.168.255.111"]
    assert wsinv.vias[2].branch == "z9hG4bK30239"
    assert wsinv.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert wsinv.headers.get("Subject") == ""
    assert len(wsinv.body) == 150

    esc01 = req("esc01.dat")
    assert esc01.request_uri.user == "sips:user@example.com"
    assert esc01.to.uri.user == "user"
    assert esc01.from_.uri.user == "I have spaces"

    intmeth = req("intmeth.dat")
    assert intmeth.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert intmeth.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert intmeth.request_uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert intmeth.request_uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"

    escnull = req("escnull.dat")
    assert escnull.to.uri.user == "null-\x00-null"
    assert escnull.headers.get_all("Contact") == [
        "<sip:%00@host5.example.com>",
        "<sip:%00%00@host5.example.com>",
    ]

    esc02 = req("esc02.dat")
    assert esc02.method == "RE%47IST%45R"
    assert esc02.from_.display == "%Z%45"
    assert len(esc02.headers.get_all("Contact")) == 2
    assert esc02.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"

    assert req("lwsdisp.dat").from_.display == "caller"
    assert req("semiuri.dat").request_uri.user == "user;par=u@example.net"
    assert req("semiuri.dat").headers.get_all("Accept")[-1] == "message/sipfrag"

    longreq = req("longreq.dat")
    assert len(longreq.vias) == 34

    dblreq = req("dblreq.dat")
    assert dblreq.method == "REGISTER" and dblreq.body == b""
    assert dblreq.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"

    assert [v.transport for v in req("transports.dat").vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]

    mpart = req("mpart01.dat")
    assert len(mpart.body) == 553
    assert mpart.top_via.params["rport"] is None

    inv2543 = req("inv2543.dat")
    assert inv2543.top_via.branch is None
    assert inv2543.from_.tag is None
    assert "Max-Forwards" not in inv2543.headers
    assert inv2543.body.startswith(b"v=0")
    assert inv2543.from_.uri.user_is_phone

    assert req("unkscm.dat").request_uri.scheme == "nobodyknowsthisscheme"
    assert req("novelsc.dat").request_uri.scheme == "soap.beep"
    assert req("unksm2.dat").to.uri.scheme == "isbn"
    assert req("bext01.dat").headers.get_all("Require") == [
        "nothingSupportsThis",
        "nothingSupportsThisEither",
    ]

    # RFC 3261 §20.10: in addr-spec form the parameter belongs to the header, not the URI
    cparam01 = parse_name_addr_of(req("cparam01.dat"), "Contact")
    assert cparam01.params == {"unknownparam": None} and cparam01.uri.params == {}
    cparam02 = parse_name_addr_of(req("cparam02.dat"), "Contact")
    assert cparam02.uri.params == {"unknownparam": None} and cparam02.params == {}
    regescrt = parse_name_addr_of(req("regescrt.dat"), "m")
    assert regescrt.uri.headers == {"Route": "<sip:sip.example.com>"}


def test_responses_are_read_but_never_answered(torture_dir: Path) -> None:
    unreason = parse_message((torture_dir / "unreason.dat").read_bytes())
    assert isinstance(unreason, Response) and unreason.status == 200
    assert unreason.reason.startswith("= 2**3 * 5**2 ")
    noreason = parse_message((torture_dir / "noreason.dat").read_bytes())
    assert isinstance(noreason, Response) and noreason.status == 100 and noreason.reason == ""
    for name in ("bigcode.dat", "scalarlg.dat"):
        with pytest.raises(SipError) as info:
            parse_message((torture_dir / name).read_bytes())
        assert info.value.respond is False


def parse_name_addr_of(req: Request, header: str) -> NameAddr:
    return parse_name_addr(req.headers.get_all(header)[0])
