"""Stateless responses (RFC 3261 §8.2.6, §18.2.1, §21.3; RFC 3581 §4): build_response() and a
deterministic to_tag_for(), so retransmissions get identical answers; works from partial headers.
stdlib only, no project imports.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from sip.grammar import SipError, Via, format_params, parse_via, salvage_via
from sip.message import Headers, Request

__all__ = ["SERVER", "build_response", "format_q", "to_tag_for"]

SERVER = "anigate"

# a tag already present in a To value we cannot parse (best effort for error responses)
_TAG_RE = re.compile(r";[ \t]*tag[ \t]*=", re.I)
_CTL_RE = re.compile(r"[\x00\r\n]")


def _headers_of(req: Request | Headers) -> Headers:
    return req.headers if isinstance(req, Request) else req


def to_tag_for(req: Request | Headers) -> str:
    """A To tag derived from Call-ID, From tag and top Via branch (RFC 3261 §8.2.6.2, §19.3).

    The same request (and every retransmission of it) always gets the same tag; requests that
    differ in any of the three get different ones. Without a branch (RFC 2543 peers) the CSeq
    number stands in for it.
    """
    headers = _headers_of(req)
    call_id = headers.get("call-id") or ""
    try:
        from_tag = headers.name_addr("from").params.get("tag") or ""
    except SipError:
        from_tag = ""
    try:
        branch = headers.top_via().branch or ""
    except SipError:
        branch = ""
    if not branch:
        branch = "cseq:" + (headers.get("cseq") or "").split(" ", 1)[0]
    material = "\x00".join((call_id, from_tag, branch)).encode("utf-8", "replace")
    return hashlib.blake2b(material, digest_size=8, person=b"anigate-to-tag").hexdigest()


def format_q(q: float) -> str:
    """A q-value as RFC 3261 §20.10 spells it: ``1.0``, ``0.5``, ``0.25`` (0 ≤ q ≤ 1, 3 decimals)."""
    q = min(max(q, 0.0), 1.0)
    text = f"{q:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _top_via(headers: Headers, values: list[str], received: str | None, rport: int | None) -> str | None:
    """The top Via with ``received`` and a filled-in ``rport`` (RFC 3261 §18.2.1, RFC 3581 §4)."""
    via: Via | None
    try:
        via = headers.top_via()  # parsed and cached by parse_message
    except SipError:
        try:
            via = parse_via(values[0])
        except SipError:
            via = salvage_via(values[0])
    if via is None:
        return None
    params = dict(via.params)
    if received is not None:
        params["received"] = received
    if rport is not None and "rport" in params and params["rport"] is None:
        params["rport"] = str(rport)
    return f"{via.protocol}/{via.transport} {via.sent_by}{format_params(params)}"


def _via_values(headers: Headers) -> list[str]:
    try:
        return headers.get_all("via")
    except SipError:
        # a Via list that does not split (badinv01): answer along the top sent-by only
        first = headers.get("via")
        return [first] if first else []


def _check(text: str, what: str) -> str:
    if _CTL_RE.search(text):
        raise ValueError(f"{what} must not contain CR, LF or NUL: {text!r}")
    return text


def build_response(
    req: Request | Headers,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    contacts: Sequence[tuple[str, float]] = (),
    extra: Sequence[tuple[str, str]] = (),
    received: str | None = None,
    rport: int | None = None,
) -> bytes:
    """The bytes of a response to ``req`` (a parsed Request, or SipError.partial).

    Copies every Via (the top one gets ``received`` and, if it carried a valueless ``rport``,
    ``rport=<port>``), From, To (with ``;tag=`` added when it has none and status > 100: ``to_tag``
    or to_tag_for(req)), Call-ID and CSeq; then ``Contact: <uri>;q=..`` for ``contacts``, the
    ``extra`` header fields, ``Server: anigate`` and ``Content-Length: 0``. Header fields missing
    from ``req`` are left out rather than invented (RFC 4475 §3.3.1 insuf). Raises ValueError if
    ``reason`` or any value given contains CR, LF or NUL, or ``status`` is not 100-699.
    """
    if not 100 <= status <= 699:
        raise ValueError(f"status {status} is not 100-699")
    headers = _headers_of(req)
    lines = [f"SIP/2.0 {status} {_check(reason, 'reason phrase')}"]

    vias = _via_values(headers)
    if vias:
        top = _top_via(headers, vias, received, rport)
        if top is not None:
            lines.append(f"Via: {top}")
            lines.extend(f"Via: {value}" for value in vias[1:])

    from_value = headers.get("from")
    if from_value is not None:
        lines.append(f"From: {from_value}")
    to_value = headers.get("to")
    if to_value is not None:
        if status > 100 and not _has_tag(headers, to_value):
            to_value = f"{to_value};tag={_check(to_tag or to_tag_for(headers), 'To tag')}"
        lines.append(f"To: {to_value}")
    call_id = headers.get("call-id")
    if call_id is not None:
        lines.append(f"Call-ID: {call_id}")
    cseq = headers.get("cseq")
    if cseq is not None:
        lines.append(f"CSeq: {cseq}")

    if contacts:
        values = []
        for uri, q in contacts:
            _check(uri, "Contact URI")
            target = uri if uri.startswith("<") else f"<{uri}>"
            values.append(f"{target};q={format_q(q)}")
        lines.append("Contact: " + ", ".join(values))
    for name, value in extra:
        lines.append(f"{_check(name, 'header name')}: {_check(value, 'header value')}")
    lines.append(f"Server: {SERVER}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace")


def _has_tag(headers: Headers, to_value: str) -> bool:
    try:
        return headers.name_addr("to").tag is not None
    except SipError:
        return _TAG_RE.search(to_value) is not None
