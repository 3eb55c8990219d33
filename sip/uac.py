"""A minimal UAC (RFC 3261 §8.1, §17.1.1): build an INVITE and its ACK, match and read the answer.
Sans-I/O (no sockets, no clock), stdlib only; the caller sends, retransmits (TIMER_A) and waits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sip.grammar import SipError, parse_name_addr
from sip.message import Response, parse_message

__all__ = [
    "TIMER_A",
    "TIMER_LIMIT",
    "Invite",
    "build_ack",
    "build_invite",
    "contacts",
    "describe",
    "match_response",
    "retransmit_times",
]

TIMER_A = 0.5  # T1 (RFC 3261 §17.1.1.2): the first retransmission interval, doubled each time
TIMER_LIMIT = 4.0  # how long `demo call` waits for a final response (far below Timer B's 32 s)
_USER_AGENT = "anigate-demo-call"


@dataclass(frozen=True)
class Invite:
    """An INVITE as sent, with what the ACK and response matching need."""

    data: bytes
    request_uri: str
    via: str
    from_: str
    call_id: str
    cseq: int
    branch: str


def build_invite(
    ani: str,
    *,
    local: tuple[str, int],
    target: tuple[str, int],
    user: str = "112",
    call_id: str | None = None,
    branch: str | None = None,
    from_tag: str | None = None,
    cseq: int = 1,
) -> Invite:
    """An INVITE from ``ani`` (E.164, sent as P-Asserted-Identity ``<tel:ANI>``) to ``user`` at ``target``.

    ``local`` is the (host, port) the UDP socket is bound to (Via sent-by with ``rport``, Contact).
    Call-ID, branch (``z9hG4bK`` + random) and From tag are random unless given. No body.
    """
    if not ani.startswith("+") or not ani[1:].isdigit():
        raise ValueError(f"ANI must be E.164 (+ and digits): {ani!r}")
    lhost, lport = local
    thost, tport = target
    branch = branch or "z9hG4bK" + secrets.token_hex(8)
    if not branch.startswith("z9hG4bK"):
        raise ValueError("branch must start with the RFC 3261 magic cookie z9hG4bK")
    call_id = call_id or f"{secrets.token_hex(12)}@{lhost}"
    from_tag = from_tag or secrets.token_hex(6)
    request_uri = f"sip:{user}@{thost}:{tport}"
    via = f"SIP/2.0/UDP {lhost}:{lport};branch={branch};rport"
    from_ = f"<sip:{ani}@{lhost}>;tag={from_tag}"
    lines = [
        f"INVITE {request_uri} SIP/2.0",
        f"Via: {via}",
        "Max-Forwards: 70",
        f"From: {from_}",
        f"To: <{request_uri}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} INVITE",
        f"Contact: <sip:{ani}@{lhost}:{lport}>",
        f"P-Asserted-Identity: <tel:{ani}>",
        f"User-Agent: {_USER_AGENT}",
        "Content-Length: 0",
    ]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return Invite(data, request_uri, via, from_, call_id, cseq, branch)


def retransmit_times(limit: float = TIMER_LIMIT) -> list[float]:
    """Seconds after the first send at which the INVITE is sent again: 0.5, 1.5, 3.5 for 4 s (Timer A)."""
    times: list[float] = []
    at, interval = TIMER_A, TIMER_A
    while at < limit:
        times.append(at)
        interval *= 2
        at += interval
    return times


def match_response(data: bytes, invite: Invite) -> Response | None:
    """The parsed response when ``data`` answers ``invite`` (same top Via branch, CSeq INVITE; §17.1.3).

    None for anything else: a request, bytes that do not parse, another transaction's response.
    """
    try:
        msg = parse_message(data)
        if not isinstance(msg, Response):
            return None
        if msg.top_via.branch != invite.branch or msg.cseq != (invite.cseq, "INVITE"):
            return None
    except SipError:
        return None
    return msg


def build_ack(invite: Invite, response: Response) -> bytes:
    """The ACK of a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, Via (branch),
    From, Call-ID and CSeq number as the INVITE, To from the response (with its tag)."""
    if response.status < 300:
        raise ValueError("a 2xx is ACKed end to end in a new transaction (§13.2.2.4), not here")
    to = response.headers.get("to")
    if to is None:
        raise ValueError("response without To")
    lines = [
        f"ACK {invite.request_uri} SIP/2.0",
        f"Via: {invite.via}",
        "Max-Forwards: 70",
        f"From: {invite.from_}",
        f"To: {to}",
        f"Call-ID: {invite.call_id}",
        f"CSeq: {invite.cseq} ACK",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def contacts(response: Response) -> list[str]:
    """The Contact URIs of a response, highest q first (q defaults to 1.0; §20.10), else in order."""
    found: list[tuple[float, int, str]] = []
    for index, value in enumerate(response.headers.get_all("contact")):
        try:
            addr = parse_name_addr(value)
        except SipError:
            continue
        try:
            q = float(addr.params.get("q") or "1")
        except ValueError:
            q = 0.0
        found.append((-q, index, addr.uri.raw))
    return [uri for _, _, uri in sorted(found)]


def describe(response: Response) -> str:
    """One line about a final response: ``302 Moved Temporarily -> sip:a@h (and 1 fallback)``."""
    text = f"{response.status} {response.reason}"
    uris = contacts(response) if 300 <= response.status < 400 else []
    if uris:
        text += f" -> {uris[0]}"
        if len(uris) > 1:
            rest = len(uris) - 1
            text += f" (and {rest} fallback{'s' if rest > 1 else ''})"
    else:
        warning = response.headers.get("warning") or response.headers.get("reason")
        if warning:
            text += f" ({warning})"
    return text
