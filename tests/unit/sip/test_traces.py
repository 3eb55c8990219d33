"""Real-world shaped requests (tests/data/sip/*.txt): carrier INVITEs, PBX keep-alives."""

from __future__ import annotations

import pytest

from sip.message import Request, parse_message
from tests.unit.sip.helpers import TRACE_DIR, trace, trace_names


def req(name: str) -> Request:
    msg = parse_message(trace(name), known_methods={"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"})
    assert isinstance(msg, Request)
    return msg


def test_there_are_traces_with_crlf_line_ends() -> None:
    names = trace_names()
    assert len(names) >= 8
    for name in names:
        data = (TRACE_DIR / f"{name}.txt").read_bytes()
        assert b"\r\n\r\n" in data and data.count(b"\n") == data.count(b"\r\n"), name


@pytest.mark.parametrize("name", trace_names())
def test_every_trace_parses_with_its_body(name: str) -> None:
    r = req(name)
    declared = r.headers.get("Content-Length")
    assert declared is not None and len(r.body) == int(declared)
    assert r.cseq[1] == r.method
    assert r.top_via.branch and r.top_via.branch.startswith("z9hG4bK")
    assert r.from_.tag


def test_pai_with_sip_and_tel_values() -> None:
    r = req("invite_pai_sip_tel")
    pai = r.headers.get_all("P-Asserted-Identity")
    assert pai == [
        '"Lift 3 Tower A" <sip:+493012345678@sbc.carrier.example;user=phone>',
        "<tel:+493012345678>",
    ]
    assert r.headers.get_all("Allow")[-1] == "NOTIFY"
    assert r.headers.get("Session-Expires") == "1800;refresher=uac"
    assert r.request_uri.user_is_phone


def test_p_charge_info_and_two_vias() -> None:
    r = req("invite_pci")
    assert (
        r.headers.get("P-Charge-Info") == "<sip:+493044445500@pbx.customer.example;user=phone>;npi=ISDN;noa=3"
    )
    assert [v.sent_by for v in r.vias] == ["198.51.100.20", "10.20.30.40:5080"]
    assert r.vias[1].params["received"] == "10.20.30.40"


def test_remote_party_id() -> None:
    r = req("invite_rpid")
    assert (
        r.headers.get(
            "Remote-Party-ID",
        )
        is not None
    )
    rpid = r.headers.get_all("remote-party-id")
    assert rpid == ['"Elevator 2" <sip:2125550147@203.0.113.7>;party=calling;screen=yes;privacy=full']
    assert r.headers.get("Date") == "Tue, 25 Nov 2025 14:02:11 GMT"


def test_compact_headers() -> None:
    r = req("invite_compact")
    assert [name for name, _ in r.headers.raw()][:6] == ["Via", "Via", "From", "To", "Call-ID", "CSeq"]
    assert r.from_.display == "Lift 7"
    assert r.headers.get_all("Supported") == ["replaces", "timer"]
    assert r.headers.get_all("Allow-Events") == ["talk", "hold", "refer"]
    assert r.headers.get("Content-Type") == "application/sdp"


def test_anonymous_with_privacy_id() -> None:
    r = req("invite_anonymous_privacy")
    assert r.from_.uri.host == "anonymous.invalid" and r.from_.display == "Anonymous"
    assert r.headers.get_all("Privacy") == ["id"]
    assert r.headers.get("P-Asserted-Identity") == "<tel:+49-30-1234-5679>"
    assert r.top_via.transport == "TCP"


def test_diversion_and_history_info() -> None:
    r = req("invite_diversion")
    assert len(r.headers.get_all("Diversion")) == 2
    hi = r.headers.get_all("History-Info")
    assert len(hi) == 3 and hi[1].endswith(";index=1.1")


def test_identity_header_in_compact_form() -> None:
    r = req("invite_identity")
    identity = r.headers.get("Identity")
    assert identity is not None and identity.endswith(
        ";info=<https://cert.carrier-a.example/shaken.pem>;alg=ES256;ppt=shaken"
    )
    assert r.from_.uri.params["verstat"] == "TN-Validation-Passed"


@pytest.mark.parametrize("name", ["options_asterisk", "options_freeswitch"])
def test_keepalive_options(name: str) -> None:
    r = req(name)
    assert r.method == "OPTIONS" and r.body == b"" and r.to.tag is None
    assert r.top_via.params["rport"] is None
