"""sip.uac: the INVITE and ACK of `demo call` (RFC 3261 §8.1.1, §17.1.1.2-3), response matching
(§17.1.3) and the one-line description of the answer."""

from __future__ import annotations

import pytest

from sip.message import Request, Response, parse_message
from sip.responses import build_response
from sip.uac import build_ack, build_invite, contacts, describe, match_response, retransmit_times

LOCAL = ("127.0.0.1", 40123)
TARGET = ("127.0.0.1", 5060)


def invite(**kw):  # type: ignore[no-untyped-def]
    return build_invite("+493023905601", local=LOCAL, target=TARGET, **kw)


def answer(inv, status: int = 302, reason: str = "Moved Temporarily", **kw) -> bytes:  # type: ignore[no-untyped-def]
    req = parse_message(inv.data)
    assert isinstance(req, Request)
    return build_response(req, status, reason, received="127.0.0.1", rport=LOCAL[1], **kw)


def test_the_invite_parses_and_carries_every_mandatory_header_and_the_ani() -> None:
    inv = invite(call_id="c1@127.0.0.1", branch="z9hG4bKabc", from_tag="t1")
    req = parse_message(inv.data)
    assert isinstance(req, Request)
    assert (req.method, req.uri) == ("INVITE", "sip:112@127.0.0.1:5060")
    assert req.headers.get("Via") == "SIP/2.0/UDP 127.0.0.1:40123;branch=z9hG4bKabc;rport"
    assert req.from_.tag == "t1" and req.from_.uri.user == "+493023905601"
    assert req.to.tag is None and req.headers.get("To") == "<sip:112@127.0.0.1:5060>"
    assert (req.call_id, req.cseq) == ("c1@127.0.0.1", (1, "INVITE"))
    assert req.headers.get("Max-Forwards") == "70"
    assert req.headers.get("Contact") == "<sip:+493023905601@127.0.0.1:40123>"
    assert req.headers.get("P-Asserted-Identity") == "<tel:+493023905601>"
    assert req.headers.get("Content-Length") == "0" and req.body == b""


def test_each_invite_is_a_new_transaction_and_dialog() -> None:
    a, b = invite(), invite()
    assert a.branch.startswith("z9hG4bK") and len(a.branch) > 7 + 8
    assert a.branch != b.branch and a.call_id != b.call_id and a.from_ != b.from_


@pytest.mark.parametrize("ani", ["004930123", "+49 30 123", "", "+"])
def test_an_ani_not_in_e164_is_refused(ani: str) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        build_invite(ani, local=LOCAL, target=TARGET)


def test_a_branch_without_the_magic_cookie_is_refused() -> None:
    with pytest.raises(ValueError, match="z9hG4bK"):
        invite(branch="abc")


def test_timer_a_doubles_from_500_ms_within_4_s() -> None:
    assert retransmit_times() == [0.5, 1.5, 3.5]
    assert retransmit_times(8.0) == [0.5, 1.5, 3.5, 7.5]


def test_the_answer_to_the_invite_matches() -> None:
    inv = invite()
    resp = match_response(answer(inv), inv)
    assert isinstance(resp, Response) and resp.status == 302


def test_anything_else_does_not_match() -> None:
    inv, other = invite(), invite()
    assert match_response(answer(other), inv) is None  # another transaction's branch
    assert match_response(inv.data, inv) is None  # a request
    assert match_response(b"garbage\r\n\r\n", inv) is None
    cancel = answer(inv).replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL")
    assert match_response(cancel, inv) is None


def test_the_ack_of_a_non_2xx_reuses_the_invite_transaction() -> None:
    inv = invite()
    resp = match_response(answer(inv), inv)
    assert resp is not None
    ack = parse_message(build_ack(inv, resp))
    assert isinstance(ack, Request)
    assert (ack.method, ack.uri) == ("ACK", "sip:112@127.0.0.1:5060")
    assert ack.top_via.branch == inv.branch and len(ack.vias) == 1
    assert ack.headers.get("From") == inv.from_ and ack.call_id == inv.call_id
    assert ack.to.tag is not None and ack.headers.get("To") == resp.headers.get("To")
    assert ack.cseq == (1, "ACK")


def test_a_2xx_is_not_acked_in_the_invite_transaction() -> None:
    inv = invite()
    resp = match_response(answer(inv, 200, "OK"), inv)
    assert resp is not None
    with pytest.raises(ValueError, match="2xx"):
        build_ack(inv, resp)


def test_describe_names_the_first_target_and_counts_the_fallbacks() -> None:
    inv = invite()
    many = answer(inv, contacts=[("sip:backup@127.0.0.1:5071", 0.5), ("sip:leitstelle@127.0.0.1:5070", 1.0)])
    resp = match_response(many, inv)
    assert resp is not None
    assert contacts(resp) == ["sip:leitstelle@127.0.0.1:5070", "sip:backup@127.0.0.1:5071"]
    assert describe(resp) == "302 Moved Temporarily -> sip:leitstelle@127.0.0.1:5070 (and 1 fallback)"
    one = match_response(answer(inv, contacts=[("sip:leitstelle@127.0.0.1:5070", 1.0)]), inv)
    assert one is not None
    assert describe(one) == "302 Moved Temporarily -> sip:leitstelle@127.0.0.1:5070"


def test_describe_a_refusal_with_its_warning() -> None:
    inv = invite()
    resp = match_response(
        answer(inv, 403, "Forbidden", extra=[("Warning", '399 anigate "unknown source"')]), inv
    )
    assert resp is not None
    assert describe(resp) == '403 Forbidden (399 anigate "unknown source")'
