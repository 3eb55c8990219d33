"""SIP message parsing (RFC 3261 §7, §8.2, §18.3; RFC 4475): bytes → Request | Response or SipError.
Owns Headers (case-insensitive multi-map, compact forms §7.3.3, folding §7.3.1) and parse_message().
Sans-I/O (no sockets, no clock), stdlib only, no project imports.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from sip.grammar import (
    TOKEN_RE,
    NameAddr,
    SipError,
    Uri,
    Via,
    bad_request,
    error_detail,
    parse_name_addr,
    parse_uri,
    parse_via,
    salvage_via,
    split_list,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Headers",
    "Limits",
    "Request",
    "Response",
    "SipError",
    "parse_message",
    "salvage_headers",
    "usable_top_via",
]

# RFC 3261 §7.3.3 and the extensions that define compact forms (DOMAIN.md lists them).
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",  # RFC 3841
    "b": "referred-by",  # RFC 3892
    "c": "content-type",
    "d": "request-disposition",  # RFC 3841
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",  # RFC 3841
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "o": "event",  # RFC 6665
    "r": "refer-to",  # RFC 3515
    "s": "subject",
    "t": "to",
    "u": "allow-events",  # RFC 6665
    "v": "via",
    "x": "session-expires",  # RFC 4028
    "y": "identity",  # RFC 8224
}

_CANONICAL_NAMES = (
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "Geolocation",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Access-Network-Info",
    "P-Asserted-Identity",
    "P-Associated-URI",
    "P-Called-Party-ID",
    "P-Charge-Info",
    "P-Charging-Vector",
    "P-Early-Media",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Remote-Party-ID",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Resource-Priority",
    "Retry-After",
    "Route",
    "RSeq",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "Server",
    "Service-Route",
    "Session-Expires",
    "Subject",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
)
CANONICAL: dict[str, str] = {name.lower(): name for name in _CANONICAL_NAMES}

# Header fields whose grammar is a comma-separated list (RFC 3261 §7.3.1 and the defining RFCs);
# get_all() splits these. Authorization-style fields are NOT lists (their params hold commas).
LIST_HEADERS = frozenset(
    (
        "accept",
        "accept-contact",
        "accept-encoding",
        "accept-language",
        "alert-info",
        "allow",
        "allow-events",
        "call-info",
        "contact",
        "content-encoding",
        "content-language",
        "diversion",
        "error-info",
        "history-info",
        "in-reply-to",
        "p-asserted-identity",
        "p-associated-uri",
        "p-preferred-identity",
        "path",
        "privacy",
        "proxy-require",
        "reason",
        "record-route",
        "reject-contact",
        "remote-party-id",
        "request-disposition",
        "require",
        "route",
        "security-client",
        "security-server",
        "security-verify",
        "service-route",
        "supported",
        "unsupported",
        "via",
        "warning",
    )
)

# (key, canonical name) by the exact spelling received; bounded so unknown names cannot grow it.
_NAME_CACHE: dict[str, tuple[str, str]] = {}
_NAME_CACHE_MAX = 2048


def _prime_name_cache() -> None:
    for key, canon in CANONICAL.items():
        for spelling in (canon, key, canon.upper()):
            _NAME_CACHE[spelling] = (key, canon)
    for short, key in COMPACT_FORMS.items():
        canon = CANONICAL.get(key, key)
        _NAME_CACHE[short] = _NAME_CACHE[short.upper()] = (key, canon)


_prime_name_cache()


def _name_info(name: str) -> tuple[str, str] | None:
    """(lookup key, canonical name) of a header name, or None when it is not a token."""
    info = _NAME_CACHE.get(name)
    if info is not None:
        return info
    # header-name = token (RFC 3261 §25.1)
    if not TOKEN_RE.fullmatch(name):
        return None
    lower = name.lower()
    key = COMPACT_FORMS.get(lower, lower)
    info = (key, CANONICAL.get(key, name))
    if len(_NAME_CACHE) < _NAME_CACHE_MAX:
        _NAME_CACHE[name] = info
    return info


def _key(name: str) -> str:
    info = _NAME_CACHE.get(name)
    if info is not None:
        return info[0]
    lower = name.strip().lower()
    return COMPACT_FORMS.get(lower, lower)


class Headers:
    """The header fields of one message: ordered, case-insensitive, compact forms expanded.

    ``get``/``get_all`` accept any spelling (``Via``, ``v``, ``VIA``). Parsed views (Via list,
    name-addr of From/To, CSeq) are computed on first use and cached.
    """

    __slots__ = ("_addrs", "_cseq", "_fields", "_index", "_lists", "_ruri", "_vias")

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        # (lookup key, canonical name, unfolded value) per header field row, in order
        self._fields: list[tuple[str, str, str]] = []
        self._index: dict[str, list[str]] = {}
        self._reset()
        for name, value in fields:
            self.add(name, value)

    def _reset(self) -> None:
        # parsed views, computed on first use
        self._lists: dict[str, list[str]] | None = None
        self._addrs: dict[str, NameAddr] | None = None
        self._vias: list[Via] | None = None
        self._cseq: tuple[int, str] | None = None
        self._ruri: tuple[str, Uri] | None = None

    @classmethod
    def _build(cls, fields: list[tuple[str, str, str]], index: dict[str, list[str]]) -> Headers:
        self = cls.__new__(cls)
        self._fields = fields
        self._index = index
        self._reset()
        return self

    def add(self, name: str, value: str) -> None:
        """Append a header field (used by tests and by code that builds messages)."""
        info = _name_info(name.strip())
        if info is None:
            raise ValueError(f"invalid header name {name!r}")
        if "\r" in value or "\n" in value:
            raise ValueError("header value with CR or LF")
        key, canon = info
        self._fields.append((key, canon, value))
        self._index.setdefault(key, []).append(value)
        self._reset()

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or None."""
        values = self._index.get(_key(name))
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``; list-valued headers are split at commas (not in quotes or <>).

        Raises SipError(400) when a list-valued header cannot be split. parse_message has already
        split Via, Require and Proxy-Require, so those never raise on a parsed message.
        """
        key = _key(name)
        values = self._index.get(key)
        if not values:
            return []
        if key not in LIST_HEADERS:
            return list(values)
        if self._lists is None:
            self._lists = {}
        parts = self._lists.get(key)
        if parts is None:
            parts = []
            for value in values:
                parts.extend(split_list(value))
            self._lists[key] = parts
        return list(parts)

    def count(self, name: str) -> int:
        """How many header field rows carry ``name``."""
        return len(self._index.get(_key(name), ()))

    def raw(self) -> list[tuple[str, str]]:
        """(canonical name, unfolded value) of every header field row, in order."""
        return [(canon, value) for _, canon, value in self._fields]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._index

    def __len__(self) -> int:
        return len(self._fields)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.raw())

    def __repr__(self) -> str:
        return f"Headers({self.raw()!r})"

    # -- parsed views -------------------------------------------------------------------------

    def vias(self) -> list[Via]:
        """Every Via value parsed, topmost first (RFC 3261 §20.42)."""
        if self._vias is None:
            rows = self._index.get("via")
            if not rows:
                raise bad_request("missing Via")
            vias: list[Via] = []
            for row in rows:
                if "," in row or '"' in row:
                    vias.extend(parse_via(v) for v in split_list(row))
                else:
                    vias.append(parse_via(row))
            self._vias = vias
        return list(self._vias)

    def top_via(self) -> Via:
        if self._vias is None:
            self.vias()
        assert self._vias is not None
        return self._vias[0]

    def name_addr(self, name: str) -> NameAddr:
        """The first value of a name-addr header (From, To, Refer-To...), parsed."""
        key = _key(name)
        if self._addrs is None:
            self._addrs = {}
        na = self._addrs.get(key)
        if na is None:
            value = self.get(key)
            if value is None:
                raise bad_request(f"missing {CANONICAL.get(key, name)}")
            try:
                na = parse_name_addr(value)
            except SipError as exc:
                raise bad_request(f"malformed {CANONICAL.get(key, name)}: {error_detail(exc)}") from None
            self._addrs[key] = na
        return na

    def call_id(self) -> str:
        value = self.get("call-id")
        if value is None:
            raise bad_request("missing Call-ID")
        return value

    def cseq(self) -> tuple[int, str]:
        """(sequence number, method) of CSeq (RFC 3261 §20.16; number < 2**31, §8.1.1.5)."""
        if self._cseq is None:
            value = self.get("cseq")
            if value is None:
                raise bad_request("missing CSeq")
            # CSeq = "CSeq" HCOLON 1*DIGIT LWS Method
            parts = value.split()
            if len(parts) != 2:
                raise bad_request("malformed CSeq")
            number, method = parts
            if not (number.isascii() and number.isdigit()):
                raise bad_request("malformed CSeq number")
            if len(number.lstrip("0")) > 10 or int(number) >= 2**31:
                raise bad_request("CSeq number too large")
            if not TOKEN_RE.fullmatch(method):
                raise bad_request("malformed CSeq method")
            self._cseq = (int(number), method)
        return self._cseq

    def _uri(self, text: str) -> Uri:
        # the parsed Request-URI lives here so that Request can stay a plain slots dataclass
        if self._ruri is None or self._ruri[0] != text:
            self._ruri = (text, parse_uri(text))
        return self._ruri[1]


class _HeaderViews:
    """Parsed views of the headers every request and response must carry (cached in Headers)."""

    __slots__ = ()
    headers: Headers

    @property
    def call_id(self) -> str:
        return self.headers.call_id()

    @property
    def cseq(self) -> tuple[int, str]:
        return self.headers.cseq()

    @property
    def top_via(self) -> Via:
        return self.headers.top_via()

    @property
    def vias(self) -> list[Via]:
        return self.headers.vias()

    @property
    def from_(self) -> NameAddr:
        return self.headers.name_addr("from")

    @property
    def to(self) -> NameAddr:
        return self.headers.name_addr("to")


@dataclass(slots=True)
class Request(_HeaderViews):
    """A SIP request (RFC 3261 §7.1). ``body`` is exactly Content-Length octets."""

    method: str
    uri: str
    version: str
    headers: Headers
    body: bytes = b""

    @property
    def request_uri(self) -> Uri:
        """The Request-URI parsed (cached); SipError(400) when malformed."""
        return self.headers._uri(self.uri)


@dataclass(slots=True)
class Response(_HeaderViews):
    """A SIP response (RFC 3261 §7.2)."""

    version: str
    status: int
    reason: str
    headers: Headers
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what one message may cost (defaults: 64 KiB, 100 header fields, 8 KiB lines)."""

    max_size: int = 65536
    max_headers: int = 100
    max_line: int = 8192


DEFAULT_LIMITS = Limits()

# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT    (RFC 3261 §25.1)
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.I)
# Status-Code = 3DIGIT (100-699: RFC 3261 §7.2, §21)
_STATUS_RE = re.compile(r"[1-6][0-9][0-9]")
_WS = " \t"
# RFC 3261 §8.1.1: the header fields every request carries (Max-Forwards excepted for RFC 2543
# peers, RFC 4475 §3.4.1), and those that must appear exactly once (RFC 4475 §3.3.8).
_REQUIRED = (("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq"))
_SINGLE = (*_REQUIRED, ("max-forwards", "Max-Forwards"))
_CHECKED_LISTS = ("require", "proxy-require")


def parse_message(
    data: bytes,
    *,
    stream: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    known_methods: Collection[str] | None = None,
) -> Request | Response:
    """Parse one whole SIP message, or raise SipError saying how to answer it.

    ``stream=False`` (a UDP datagram, RFC 3261 §18.3): the body is Content-Length octets and any
    octets after it are ignored; without Content-Length the body is the rest of the datagram.
    ``stream=True`` (a message cut out by framing.StreamFramer): Content-Length is mandatory.

    ``known_methods``: when given, a syntactically valid request whose method is not in it raises
    SipError(501) *before* the CSeq method comparison, so that RFC 4475 §3.1.2.18 (mismatch02, an
    unknown method whose CSeq differs) gets the preferred 501 rather than 400. Without it,
    every method is accepted and the CSeq mismatch gives 400; the caller then answers 501 or
    405 itself for methods it does not handle.

    Checks in order: size; start line (400, 505); header syntax and limits; a usable top Via
    (none → SipError(respond=False): nowhere to send a response, RFC 3261 §18.2.2); required and
    single-instance header fields; Content-Length; CSeq; From/To; method (501); CSeq method.
    Errors while reading a response, or an ACK, are never answered (respond=False).
    """
    try:
        return _parse(data, stream, limits, known_methods)
    except SipError:
        raise
    except Exception as exc:  # last resort: a parser bug must never leak out
        partial = salvage_headers(data[: limits.max_size])
        respond = _respondable(partial, data)
        raise SipError(400, "Bad Request - unparseable message", partial=partial, respond=respond) from exc


def _respondable(headers: Headers | None, data: bytes) -> bool:
    if headers is None or data.lstrip(b"\r\n")[:4].upper() == b"SIP/":
        return False
    return data.lstrip(b"\r\n")[:4] != b"ACK " and usable_top_via(headers) is not None


def usable_top_via(headers: Headers) -> Via | None:
    """The top Via parsed, or whatever sent-by can be salvaged from it; None: nowhere to answer."""
    raw = headers.get("via")
    if raw is None:
        return None
    try:
        return headers.top_via()
    except SipError:
        return salvage_via(raw)


def salvage_headers(data: bytes, *, max_headers: int = DEFAULT_LIMITS.max_headers) -> Headers | None:
    """Whatever header fields can be read from the start of ``data``, leniently; None if nothing.

    Used to answer messages that fail early (too large, framing lost, parser bug).
    """
    try:
        data = data.lstrip(b"\r\n")
        end = data.find(b"\r\n\r\n")
        head = data if end < 0 else data[:end]
        lines, _ = _split_lines(_decode(head))
        headers, _ = _read_headers(lines, max_headers, DEFAULT_LIMITS.max_line)
        return headers if len(headers) else None
    except Exception:  # salvage is best effort by definition
        return None


def _decode(head: bytes) -> str:
    # RFC 3261 §7.3.1: header text is UTF-8. Legacy devices still send ISO-8859-1 display names;
    # latin-1 never fails, so such a call is still answered rather than rejected.
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return head.decode("latin-1")


def _split_lines(text: str) -> tuple[list[str], SipError | None]:
    """The lines of a header section: CRLF, or bare LF from lax peers; a bare CR is an error."""
    lines = text.split("\r\n")
    n = len(lines) - 1
    if text.count("\n") == n and text.count("\r") == n:
        return lines, None
    err = None if text.count("\r") == n else bad_request("bare CR in the header section")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), err


def _read_headers(lines: list[str], max_headers: int, max_line: int) -> tuple[Headers, SipError | None]:
    """The header rows after the start line, and the first error met (None: all well)."""
    if len(lines) <= max_headers and max(map(len, lines)) <= max_line:
        # Fast path: one row per line, every name a token. Anything else (folding, a row
        # without a colon, a bad name) goes to the slow path, which reads it all again.
        fields: list[tuple[str, str, str]] = []
        index: dict[str, list[str]] = {}
        cache = _NAME_CACHE
        for line in lines[1:]:
            # message-header = field-name HCOLON field-value; HCOLON = *( SP / HTAB ) ":" SWS
            name, sep, value = line.partition(":")
            info = cache.get(name)
            if info is None:
                if not sep or not name or name[0] in " \t":
                    break
                info = _name_info(name.rstrip(_WS))
                if info is None:
                    break
            elif not sep:
                break
            key = info[0]
            value = value.strip(_WS)
            fields.append((key, info[1], value))
            bucket = index.get(key)
            if bucket is None:
                index[key] = [value]
            else:
                bucket.append(value)
        else:
            return Headers._build(fields, index), None
    return _read_headers_slow(lines, max_headers, max_line)


def _read_headers_slow(lines: list[str], max_headers: int, max_line: int) -> tuple[Headers, SipError | None]:
    """_read_headers for sections with folding, bad rows or over the limits: every check.

    Reading goes on past a bad row so that an error response still gets Via, From, To...
    """
    fields: list[tuple[str, str, str]] = []
    index: dict[str, list[str]] = {}
    err: SipError | None = None
    if max(map(len, lines)) > max_line:
        err = bad_request("header line too long")
        lines = [line for line in lines if len(line) <= max_line]
    cache = _NAME_CACHE
    for line in lines[1:]:
        # message-header = field-name HCOLON field-value;  HCOLON = *( SP / HTAB ) ":" SWS
        name, sep, value = line.partition(":")
        info = cache.get(name)
        if info is None or not sep:
            if not line:
                err = err or bad_request("empty line inside the header section")
                continue
            if line[0] in " \t":
                # LWS = [*WSP CRLF] 1*WSP: a folded line continues the previous value, the
                # line break and the white space around it count as one SP (RFC 3261 §7.3.1)
                if not fields:
                    err = err or bad_request("continuation line before the first header field")
                    continue
                key, canon, previous = fields[-1]
                value = f"{previous} {line.strip(_WS)}".strip(_WS)
                fields[-1] = (key, canon, value)
                index[key][-1] = value
                continue
            if not sep:
                err = err or bad_request("header line without a colon")
                continue
            info = _name_info(name.rstrip(_WS))
            if info is None:
                err = err or bad_request("invalid header name")
                continue
        if len(fields) >= max_headers:
            err = err or bad_request("too many header fields")
            break
        key = info[0]
        value = value.strip(_WS)
        fields.append((key, info[1], value))
        bucket = index.get(key)
        if bucket is None:
            index[key] = [value]
        else:
            bucket.append(value)
    return Headers._build(fields, index), err


def _attach(err: SipError, headers: Headers | None, respond: bool) -> SipError:
    err.partial = headers
    err.respond = err.respond and respond
    return err


def _parse(
    data: bytes, stream: bool, limits: Limits, known_methods: Collection[str] | None
) -> Request | Response:
    if len(data) > limits.max_size:
        # RFC 3261 §21.5.9: 513 is SIP's code for a message longer than the server accepts
        partial = salvage_headers(data[: limits.max_size], max_headers=limits.max_headers)
        raise SipError(513, "Message Too Large", partial=partial, respond=_respondable(partial, data))
    if data[:1] in (b"\r", b"\n"):
        # RFC 3261 §7.5: CRLFs before the start-line are ignored (keep-alives, RFC 5626 §3.5.1)
        data = data.lstrip(b"\r\n")
    if not data:
        raise SipError(400, "Bad Request - empty message", respond=False)

    # The header section ends at the first empty line (CRLF CRLF; a bare-LF peer gets LF LF).
    end = data.find(b"\r\n\r\n")
    lf_end = data.find(b"\n\n", 0, end if end >= 0 else len(data))
    if lf_end >= 0:
        head, body = data[:lf_end], data[lf_end + 2 :]
    elif end >= 0:
        head, body = data[:end], data[end + 4 :]
    elif stream:
        partial = salvage_headers(data)
        raise SipError(
            400,
            "Bad Request - header section not terminated",
            partial=partial,
            respond=_respondable(partial, data),
        )
    else:
        # RFC 4475 §3.1.2.15 (baddn) ends after its last header line: no empty line, no body
        head, body = data.rstrip(b"\r\n"), b""

    lines, line_err = _split_lines(_decode(head))
    start = lines[0]
    headers, hdr_err = _read_headers(lines, limits.max_headers, limits.max_line)
    hdr_err = line_err or hdr_err
    if start[:4].upper() == "SIP/":
        return _parse_response(start, headers, hdr_err, body, stream)
    return _parse_request(start, headers, hdr_err, body, stream, known_methods)


def _parse_request(
    start: str,
    headers: Headers,
    hdr_err: SipError | None,
    body: bytes,
    stream: bool,
    known_methods: Collection[str] | None,
) -> Request:
    # Request-Line = Method SP Request-URI SP SIP-Version CRLF   (exactly: RFC 4475 §3.1.2.7-10)
    parts = start.split(" ")
    start_err: SipError | None = None
    method = parts[0]
    uri = version = ""
    if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2]:
        start_err = bad_request("malformed Request-Line")
    else:
        method, uri, version = parts
        if not TOKEN_RE.fullmatch(method):
            start_err = bad_request("invalid method")
        elif version != "SIP/2.0":
            if version.upper() == "SIP/2.0":
                version = "SIP/2.0"
            elif _VERSION_RE.fullmatch(version):
                start_err = SipError(505, "Version Not Supported")
            else:
                start_err = bad_request("malformed SIP-Version")
        if start_err is None:
            try:
                ruri = headers._uri(uri)
            except SipError:
                start_err = bad_request("malformed Request-URI")
            else:
                if ruri.scheme in ("sip", "sips") and ruri.headers:
                    # RFC 4475 §3.1.2.11 (escruri): never act on headers smuggled in the R-URI
                    start_err = bad_request("header fields in the Request-URI")

    via = usable_top_via(headers)
    respond = via is not None and method != "ACK"  # RFC 3261 §17.2.3: an ACK is never answered
    if start_err is not None:
        raise _attach(start_err, headers, respond)
    if hdr_err is not None:
        raise _attach(hdr_err, headers, respond)
    if via is None:
        raise _attach(bad_request("missing or unusable Via", respond=False), headers, False)
    try:
        headers.vias()
    except SipError as exc:
        raise _attach(bad_request(f"malformed Via: {error_detail(exc)}"), headers, respond) from None
    for key in _CHECKED_LISTS:
        # the option tags a UAS must act on (RFC 3261 §8.2.2.3) are split now, not in the caller
        if key in headers._index:
            try:
                headers.get_all(key)
            except SipError as exc:
                detail = f"malformed {CANONICAL[key]}: {error_detail(exc)}"
                raise _attach(bad_request(detail), headers, respond) from None

    missing = [canon for key, canon in _REQUIRED if key not in headers._index]
    if missing:
        raise _attach(bad_request("missing " + ", ".join(missing)), headers, respond)
    for key, canon in _SINGLE:
        if len(headers._index.get(key, ())) > 1:
            raise _attach(bad_request(f"more than one {canon}"), headers, respond)

    try:
        body = _body(headers, body, stream)
        cseq_method = headers.cseq()[1]
        call_id = headers.call_id()
        if not call_id or " " in call_id or "\t" in call_id:
            raise bad_request("malformed Call-ID")
        headers.name_addr("from")
        headers.name_addr("to")
        max_forwards = headers.get("max-forwards")
        if max_forwards is not None and not (
            max_forwards.isascii() and max_forwards.isdigit() and len(max_forwards) <= 10
        ):
            raise bad_request("malformed Max-Forwards")
    except SipError as exc:
        raise _attach(exc, headers, respond) from None

    if known_methods is not None and method not in known_methods:
        raise _attach(SipError(501, "Not Implemented"), headers, respond)
    if cseq_method != method:
        raise _attach(bad_request("CSeq method does not match the Request-Line"), headers, respond)
    return Request(method, uri, version, headers, body)


def _parse_response(
    start: str, headers: Headers, hdr_err: SipError | None, body: bytes, stream: bool
) -> Response:
    # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF.
    # A broken response is dropped, never answered (RFC 3261 §18.1.2; RFC 4475 §3.1.2.5, §3.1.2.19).
    def drop(reason: str) -> SipError:
        return SipError(400, f"Bad Request - {reason}", partial=headers, respond=False)

    parts = start.split(" ", 2)
    if len(parts) < 2 or parts[0].upper() != "SIP/2.0":
        raise drop("malformed Status-Line")
    code = parts[1]
    if not _STATUS_RE.fullmatch(code):
        raise drop("malformed Status-Code")
    reason = parts[2] if len(parts) == 3 else ""
    if hdr_err is not None:
        raise drop(error_detail(hdr_err))
    try:
        headers.vias()
        headers.cseq()
        headers.call_id()
        headers.name_addr("from")
        headers.name_addr("to")
        body = _body(headers, body, stream)
    except SipError as exc:
        raise drop(error_detail(exc)) from None
    return Response("SIP/2.0", int(code), reason, headers, body)


def _body(headers: Headers, body: bytes, stream: bool) -> bytes:
    """The message body per Content-Length (RFC 3261 §18.3, §20.14)."""
    lengths = headers._index.get("content-length")
    if not lengths:
        if stream:
            raise bad_request("missing Content-Length on a stream transport")
        return body  # RFC 4475 §3.4.1 (inv2543): the body is the rest of the datagram
    if len(lengths) > 1:
        raise bad_request("more than one Content-Length")
    value = lengths[0]
    if not (value.isascii() and value.isdigit()):
        raise bad_request("negative Content-Length" if value.startswith("-") else "invalid Content-Length")
    if len(value.lstrip("0")) > 10:
        raise bad_request("Content-Length larger than the message")
    length = int(value)
    if length > len(body):
        raise bad_request("Content-Length larger than the message")
    # UDP: octets after Content-Length are ignored (RFC 4475 §3.1.1.8 dblreq)
    return body if length == len(body) else body[:length]
