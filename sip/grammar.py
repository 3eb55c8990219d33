"""SIP value grammar (RFC 3261 §25.1): SipError, URIs (§19.1, RFC 3966 tel), name-addr (§20.10),
Via (§20.42), generic params and comma lists (§7.3.1); each pattern under its ABNF.
stdlib only, no project imports; every parser raises SipError(400) and nothing else.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from sip.message import Headers

__all__ = [
    "REASON_PHRASES",
    "NameAddr",
    "SipError",
    "Uri",
    "Via",
    "bad_request",
    "error_detail",
    "format_params",
    "parse_name_addr",
    "parse_params",
    "parse_uri",
    "parse_via",
    "redirect_target_error",
    "salvage_via",
    "split_list",
    "unquote_string",
]

# RFC 3261 §21: the default reason phrases of the codes this library produces.
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    200: "OK",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    513: "Message Too Large",
}

# RFC 3261 §25.1: Reason-Phrase = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
# i.e. no CR, LF or other control characters.
_REASON_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class SipError(Exception):
    """A message that cannot be processed, with the response that says why (RFC 3261 §8.2, §21).

    ``respond`` is False when no response may or can be sent (a response, an ACK, or no usable
    top Via): the caller then drops the message. ``partial`` holds the headers that could be read,
    so that responses.build_response() can still copy Via, From, To, Call-ID and CSeq.
    """

    status: int
    reason: str
    partial: Headers | None
    respond: bool

    def __init__(
        self, status: int, reason: str, *, partial: Headers | None = None, respond: bool = True
    ) -> None:
        reason = _REASON_BAD.sub(" ", reason).strip() or REASON_PHRASES.get(status, "Error")
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.partial = partial
        self.respond = respond


def bad_request(detail: str, *, respond: bool = True) -> SipError:
    """SipError(400) whose reason phrase is ``Bad Request - <detail>``."""
    return SipError(400, f"Bad Request - {detail}", respond=respond)


def error_detail(exc: SipError) -> str:
    """The part of a 400 reason phrase after ``Bad Request - `` (to nest it in another)."""
    return exc.reason.removeprefix("Bad Request - ")


# ---------------------------------------------------------------------------------------------
# Character classes (RFC 3261 §25.1)
#
#   token       = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
#   quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
#   quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
#   SWS = [LWS] ; sep whitespace           LWS = [*WSP CRLF] 1*WSP (folding is undone by message.py)
TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
TOKEN_RE = re.compile(rf"[{TOKEN_CHARS}]+")
_TOKEN = f"[{TOKEN_CHARS}]+"
# qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII; here liberal: anything but DQUOTE and "\".
_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*+)"', re.S)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.S)
_WS = " \t"


def unquote_string(text: str) -> str:
    """The content of a quoted-string body (without its DQUOTEs), quoted-pairs resolved."""
    return _QUOTED_PAIR_RE.sub(r"\1", text) if "\\" in text else text


# ---------------------------------------------------------------------------------------------
# Lists (RFC 3261 §7.3.1): "header-name: value1, value2" is the same as two header field rows.
#
#   Contact = ("Contact" / "m" ) HCOLON ( STAR / (contact-param *(COMMA contact-param)))
#   Via     = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)
#   COMMA   = SWS "," SWS
#
# Commas inside quoted-strings and <...> do not separate values.
_LIST_PIECE_RE = re.compile(r'[^",<]++|"(?:[^"\\]|\\.)*+"|<[^>]*+>|,|.', re.S)


def split_list(value: str) -> list[str]:
    """The comma-separated elements of a multi-value header field value, each stripped.

    An empty value gives ``[]``; an empty element, an unterminated quoted-string or a ``<``
    without ``>`` raises SipError(400).
    """
    if not value.strip(_WS):
        return []
    if '"' not in value and "<" not in value:
        parts = value.split(",")
    else:
        parts = []
        start = 0
        pos = 0
        for m in _LIST_PIECE_RE.finditer(value):
            piece = m.group()
            if piece == ",":
                parts.append(value[start : m.start()])
                start = m.end()
            elif piece == '"':
                raise bad_request("unterminated quoted string")
            elif piece == "<":
                raise bad_request("unterminated <URI>")
            pos = m.end()
        parts.append(value[start:pos])
    out = [p.strip(_WS) for p in parts]
    if "" in out:
        raise bad_request("empty element in a comma-separated list")
    return out


# ---------------------------------------------------------------------------------------------
# Generic parameters
#
#   generic-param = token [ EQUAL gen-value ]
#   gen-value     = token / host / quoted-string
#   SEMI = SWS ";" SWS      EQUAL = SWS "=" SWS
_PARAM_NAME_RE = re.compile(_TOKEN)
# (possessive quantifiers: every part's extent is forced, so no backtracking is ever useful)
_GEN_VALUE = r'"(?:[^"\\]|\\.)*+"|[^\s";,]++'
_PARAMS_RE = re.compile(
    rf"(?:[ \t]*+;[ \t]*+[{TOKEN_CHARS}]++(?:[ \t]*+=[ \t]*+(?:{_GEN_VALUE})?)?)*+[ \t]*+", re.S
)
_PARAM_VALUE_RE = re.compile(_GEN_VALUE, re.S)
_PARAM_RE = re.compile(rf";[ \t]*({_TOKEN})(?:[ \t]*(=)[ \t]*({_GEN_VALUE})?)?", re.S)


def parse_params(text: str) -> dict[str, str | None]:
    """``;name=value;flag`` → ``{"name": "value", "flag": None}`` (names lower-cased).

    ``text`` is empty or starts with ``;`` (white space allowed around ``;`` and ``=``). Quoted
    values keep their quotes (their spelling on the wire). An empty name (``;;``), an unterminated
    quoted-string or a value with inner white space raises SipError(400).
    """
    if not text:
        return {}
    params: dict[str, str | None] = {}
    if '"' not in text and " " not in text and "\t" not in text and "," not in text:
        # fast path (no quoting, no white space): any value is a valid gen-value here
        pieces = text.split(";")
        if pieces[0]:
            raise bad_request("malformed parameters")
        for piece in pieces[1:]:
            name, eq, value = piece.partition("=")
            if not _PARAM_NAME_RE.fullmatch(name):
                raise bad_request("malformed parameters")
            params[name.lower()] = value if eq else None
        return params
    if not _PARAMS_RE.fullmatch(text):
        raise bad_request("malformed parameters")
    for name, eq, value in _PARAM_RE.findall(text):
        params[name.lower()] = value if eq else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    """The inverse of parse_params: ``;name=value;flag``."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


# ---------------------------------------------------------------------------------------------
# URIs
#
#   SIP-URI  = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
#   SIPS-URI = "sips:" [ userinfo ] hostport uri-parameters [ headers ]
#   userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
#   user     = 1*( unreserved / escaped / user-unreserved )
#   user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
#   password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
#   unreserved = alphanum / mark ;  mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
#   escaped  = "%" HEXDIG HEXDIG
#   hostport = host [ ":" port ]
#   host     = hostname / IPv4address / IPv6reference
#   hostname = *( domainlabel "." ) toplabel [ "." ]
#   uri-parameters = *( ";" uri-parameter)
#   headers  = "?" header *( "&" header )
# (possessive quantifiers keep it linear: neither user nor password characters include "@";
#  hostname is read liberally, "_" is common in lab host names)
_SIP_URI_RE = re.compile(
    r"(?:([A-Za-z0-9\-_.!~*'()%&=+$,;?/]++)(?::([A-Za-z0-9\-_.!~*'()%&=+$,]*+))?@)?"
    r"(\[[0-9A-Fa-f:.]++\]|[A-Za-z0-9\-._]++)(?::([0-9]{1,5}))?"
    r"((?:;[^?;\s<>\"]*+)*+)(?:\?([^\s<>\"]*+))?"
)
#   absoluteURI = scheme ":" ( hier-part / opaque-part )     (RFC 2396, via RFC 3261 §25.1)
#   scheme      = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):")
#   telephone-uri        = "tel:" telephone-subscriber                      (RFC 3966 §3)
#   global-number-digits = "+" *phonedigit DIGIT *phonedigit
#   local-number-digits  = *phonedigit-hex (HEXDIG / "*" / "#")*phonedigit-hex
#   phonedigit = DIGIT / [ visual-separator ] ; visual-separator = "-" / "." / "(" / ")"
_TEL_SUBSCRIBER_RE = re.compile(r"\+?[0-9A-Fa-f*#\-.()]+")
# characters never allowed anywhere in a URI on the wire (they delimit it in headers)
_URI_FORBIDDEN_RE = re.compile(r'[\s<>"]')


@dataclass(frozen=True, slots=True)
class Uri:
    """A parsed URI: sip/sips (RFC 3261 §19.1), tel (RFC 3966), or any other scheme kept opaque.

    ``user`` is percent-decoded once (RFC 3261 §19.1.2); for tel URIs it is the
    telephone-subscriber. ``params`` are the URI parameters (names lower-case, values decoded);
    for schemes other than sip/sips/tel only ``scheme`` and ``raw`` are meaningful.
    """

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    @property
    def user_is_phone(self) -> bool:
        """A telephone number: a tel URI, or a sip URI with ``user=phone`` (RFC 3261 §19.1.1)."""
        if self.scheme == "tel":
            return True
        user = self.params.get("user")
        return user is not None and user.lower() == "phone"

    def __str__(self) -> str:
        return self.raw


def _decode(text: str) -> str:
    # invalid UTF-8 after decoding becomes U+FFFD: the values stay encodable in responses and logs
    return unquote(text) if "%" in text else text


#: entries of each parse cache. What recurs call after call is the text every caller sends alike
#: (To, Request-URI, a trunk's Contact); a device's own PAI recurs only at its next call, and a
#: From carries a tag new with each call. 65,536 entries each held 52 MB in a 100,000-phone storm
#: (every ANI calling once: all misses) to save about 4 µs a parse.
PARSE_CACHE = 4096


# Parsed values are immutable (callers copy params before changing them) and the same header text
# recurs on every call (To, Request-URI): a cache takes the parse off the hot path.
@lru_cache(maxsize=PARSE_CACHE)
def parse_uri(text: str) -> Uri:
    """Parse a URI as found in a Request-Line or between ``<>``; SipError(400) when malformed."""
    m = _SCHEME_RE.match(text)
    if m is None:
        raise bad_request("URI without a scheme")
    scheme = m.group(1).lower()
    rest = text[m.end() :]
    if scheme == "sip" or scheme == "sips":
        return _parse_sip_uri(scheme, rest, text)
    if _URI_FORBIDDEN_RE.search(text):
        raise bad_request('white space or <>" inside a URI')
    if scheme == "tel":
        return _parse_tel_uri(rest, text)
    if not rest:
        raise bad_request(f"empty {scheme}: URI")
    return Uri(scheme, None, None, "", None, {}, {}, text)


def _parse_sip_uri(scheme: str, rest: str, raw: str) -> Uri:
    m = _SIP_URI_RE.fullmatch(rest)
    if m is None:
        raise bad_request(f"malformed {scheme}: URI")
    user, password, host, port_text, param_text, header_text = m.groups()
    if user is not None and "%" in user:
        user = _decode(user)
    if password is not None and "%" in password:
        password = _decode(password)
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise bad_request("URI port out of range")
    params: dict[str, str | None] = {}
    if param_text:
        for piece in param_text[1:].split(";"):
            name, eq, value = piece.partition("=")
            if not name:
                raise bad_request("empty URI parameter")
            params[_decode(name).lower()] = _decode(value) if eq else None
    headers: dict[str, str] = {}
    if header_text is not None:
        for piece in header_text.split("&"):
            name, eq, value = piece.partition("=")
            if not name or not eq:
                raise bad_request("malformed URI header")
            headers[_decode(name)] = _decode(value)
    return Uri(scheme, user, password, host, port, params, headers, raw)


def _parse_tel_uri(rest: str, raw: str) -> Uri:
    number, _, param_text = rest.partition(";")
    if not _TEL_SUBSCRIBER_RE.fullmatch(number):
        raise bad_request("malformed tel: URI")
    params: dict[str, str | None] = {}
    if param_text:
        for piece in param_text.split(";"):
            name, eq, value = piece.partition("=")
            if not name:
                raise bad_request("empty tel: URI parameter")
            params[_decode(name).lower()] = _decode(value) if eq else None
    return Uri("tel", number, None, "", None, params, {}, raw)


# ---------------------------------------------------------------------------------------------
# Redirect targets: the URIs this server writes into the Contact of a 3xx (RFC 3261 §8.3, §20.10)
#
# Read strictly, as a strict peer reads them, because they come from registry rows typed by people
# and a peer that drops the 302 drops the emergency call:
#   SIP-URI  = "sip:" [ userinfo ] hostport uri-parameters          ("headers" left out: see below)
#   SIPS-URI = "sips:" [ userinfo ] hostport uri-parameters
#   userinfo = user [ ":" password ] "@"
#   user     = 1*( unreserved / escaped / user-unreserved )
#   user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
#   password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
#   unreserved = alphanum / mark ;  mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
#   escaped  = "%" HEXDIG HEXDIG
#   host     = hostname / IPv4address / IPv6reference
#   hostname = *( domainlabel "." ) toplabel [ "." ]
#   domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
#   toplabel    = ALPHA / ALPHA *( alphanum / "-" ) alphanum
#   port     = 1*DIGIT
#   uri-parameters = *( ";" uri-parameter) ; uri-parameter = ... / other-param
#   other-param = pname [ "=" pvalue ] ;  pname = 1*paramchar ;  pvalue = 1*paramchar
#   paramchar = param-unreserved / unreserved / escaped
#   param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
# A redirect target never carries URI headers ("?Route=...&X-Any=..."): the caller would copy them
# into the redirected INVITE (§19.1.5), so a registry row could add any header to emergency calls.
# tel: URIs are not targets (a center is reached over SIP), nor is the telephone-subscriber form
# of userinfo (RFC 2806's quoted-string extensions). Percent-escaped controls (%00-%1F, %7F) are
# refused too: valid grammar, but a peer that unescapes the user part gets the control back.
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_ESCAPED = "%[0-9A-Fa-f]{2}"
_PARAMCHAR = rf"(?:[{_UNRESERVED}\[\]/:&+$]|{_ESCAPED})"
_TARGET_RE = re.compile(
    rf"(?:(?:[{_UNRESERVED}&=+$,;?/]|{_ESCAPED})++(?::(?:[{_UNRESERVED}&=+$,]|{_ESCAPED})*+)?@)?"
    r"(\[[0-9A-Fa-f:.]*+\]|[A-Za-z0-9\-._]++)(?::([0-9]++))?"
    rf"(?:;{_PARAMCHAR}++(?:={_PARAMCHAR}++)?)*+"
    r"(\?.*)?",
    re.S,
)
_DOMAINLABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?")
_TOPLABEL_RE = re.compile(r"[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?")
# anything but printable US-ASCII (%x21-7E): white space, C0 controls, DEL, non-ASCII
_NOT_PRINTABLE_RE = re.compile(r"[^\x21-\x7e]")
_ESCAPED_CONTROL_RE = re.compile(r"%(?:[01][0-9A-Fa-f]|7[Ff])")


def _host_error(host: str) -> str | None:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"{host} is not an IPv6 address"
        return None
    if all(c.isdigit() or c == "." for c in host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{host} is not an IPv4 address"
        return None
    labels = host.removesuffix(".").split(".")
    ok = all(len(label) <= 63 and _DOMAINLABEL_RE.fullmatch(label) for label in labels[:-1])
    if not ok or len(labels[-1]) > 63 or not _TOPLABEL_RE.fullmatch(labels[-1]):
        return f"{host!r} is not a host name"
    return None


@lru_cache(maxsize=4096)
def redirect_target_error(uri: str) -> str | None:
    """Why ``uri`` cannot be a Contact of our 3xx (a sentence for a form field), or None if it can.

    Accepts exactly the SIP-URI / SIPS-URI of RFC 3261 §25.1 without URI headers (see the ABNF
    above), so that every peer that follows the redirect can read the Contact.
    """
    bad = _NOT_PRINTABLE_RE.search(uri)
    if bad is not None:
        ch = bad.group()
        if ch in " \t\r\n":
            return "white space in a SIP URI"
        code = f"U+{ord(ch):04X}"
        if ord(ch) < 0x20 or ch == "\x7f":
            return f"control character {code} in a SIP URI"
        return f"non-ASCII character {code} in a SIP URI (percent-encode it)"
    m = _SCHEME_RE.match(uri)
    if m is None or m.group(1).lower() not in ("sip", "sips"):
        return "not a sip: or sips: URI"
    if any(c in uri for c in '<>"'):
        return 'a SIP URI here is written without <, > or "'
    target = _TARGET_RE.fullmatch(uri, m.end())
    if target is None:
        return "not a SIP URI as RFC 3261 §25.1 writes it"
    host, port, headers = target.groups()
    if headers is not None:
        return "URI headers (?...) are not allowed in a redirect target"
    problem = _host_error(host)
    if problem is not None:
        return problem
    if port is not None and not 0 < int(port) <= 65535:
        return f"port {port} is out of range"
    escaped = _ESCAPED_CONTROL_RE.search(uri)
    if escaped is not None:
        return f"escaped control character {escaped.group()} in a SIP URI"
    return None


# ---------------------------------------------------------------------------------------------
# name-addr / addr-spec (RFC 3261 §20.10, §25.1)
#
#   name-addr    = [ display-name ] LAQUOT addr-spec RAQUOT
#   addr-spec    = SIP-URI / SIPS-URI / absoluteURI
#   display-name = *(token LWS)/ quoted-string
#   from-spec    = ( name-addr / addr-spec ) *( SEMI from-param )
#   contact-param = (name-addr / addr-spec) *(SEMI contact-params)
#
# In addr-spec form, parameters after the URI are header parameters, never URI parameters
# (§20.10: a URI holding ",", ";" or "?" must be enclosed in <>). Unquoted display names are read
# liberally (RFC 4475 §3.1.1.6 lwsdisp, §3.1.2.15 baddn): anything before "<" but a DQUOTE.


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From/To/Contact/P-Asserted-Identity style value: display name, URI, header params."""

    display: str | None
    uri: Uri
    params: dict[str, str | None] = field(default_factory=dict)
    raw: str = ""

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")


_NAME_ADDR_RE = re.compile(r'[ \t]*+(?:"((?:[^"\\]|\\.)*+)"[ \t]*+|([^"<;]*+))<([^<>]*+)>[ \t]*+(;.*)?', re.S)


@lru_cache(maxsize=PARSE_CACHE)
def parse_name_addr(text: str) -> NameAddr:
    """Parse one name-addr or addr-spec with its header parameters; SipError(400) when malformed."""
    m = _NAME_ADDR_RE.fullmatch(text)
    if m is not None:
        quoted, bare, uri_text, param_text = m.groups()
        if quoted is not None:
            display: str | None = unquote_string(quoted)
        else:
            display = bare.rstrip(_WS) or None
        uri = parse_uri(uri_text.strip(_WS))  # badaspec: "< sip:... >" is tolerated
        return NameAddr(display, uri, parse_params(param_text or ""), text.strip(_WS))
    s = text.strip(_WS)
    if not s:
        raise bad_request("empty address")
    if s[0] == '"':
        m = _QUOTED_RE.match(s)
        if m is None:
            raise bad_request("unterminated quoted display name")
        display = unquote_string(m.group(1))
        rest = s[m.end() :].lstrip(_WS)
        if not rest.startswith("<"):
            raise bad_request("display name without <URI>")
        uri_text, param_text = _angle(rest)
    else:
        lt = s.find("<")
        semi = s.find(";")
        if lt >= 0 and (semi < 0 or lt < semi):
            display = s[:lt].strip(_WS) or None
            if display is not None and '"' in display:
                raise bad_request("stray quote in display name")
            uri_text, param_text = _angle(s[lt:])
        else:
            display = None
            if semi >= 0:
                uri_text, param_text = s[:semi].rstrip(_WS), s[semi:]
            else:
                uri_text, param_text = s, ""
            if "?" in uri_text or "," in uri_text:
                raise bad_request("URI with ? or , outside <>")
    return NameAddr(display, parse_uri(uri_text), parse_params(param_text), s)


def _angle(text: str) -> tuple[str, str]:
    gt = text.find(">")
    if gt < 0:
        raise bad_request("<URI> without >")
    after = text[gt + 1 :].lstrip(_WS)
    if after and after[0] != ";":
        raise bad_request("text after <URI>")
    # RFC 4475 §3.1.2.14 (badaspec): white space just inside <> is tolerated
    return text[1:gt].strip(_WS), after


# ---------------------------------------------------------------------------------------------
# Via (RFC 3261 §20.42, §25.1)
#
#   Via           = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)
#   via-parm      = sent-protocol LWS sent-by *( SEMI via-params )
#   via-params    = via-ttl / via-maddr / via-received / via-branch / via-extension
#   sent-protocol = protocol-name SLASH protocol-version SLASH transport
#   protocol-name = "SIP" / token ;  protocol-version = token
#   transport     = "UDP" / "TCP" / "TLS" / "SCTP" / other-transport
#   sent-by       = host [ COLON port ]
#   SLASH = SWS "/" SWS ;  COLON = SWS ":" SWS
_VIA_TOKEN = f"[{TOKEN_CHARS}]++"
_VIA_HEAD = (
    rf"({_VIA_TOKEN})[ \t]*+/[ \t]*+({_VIA_TOKEN})[ \t]*+/[ \t]*+({_VIA_TOKEN})[ \t]++"
    r"(\[[0-9A-Fa-f:.]++\]|[A-Za-z0-9\-._]++)(?:[ \t]*+:[ \t]*+([0-9]{1,5}))?[ \t]*+"
)
_VIA_RE = re.compile(_VIA_HEAD + r"(;.*)?\Z", re.S)
_VIA_SALVAGE_RE = re.compile(_VIA_HEAD)


@dataclass(frozen=True, slots=True)
class Via:
    """One via-parm: who sent the request and where the response goes (RFC 3261 §18.2.2)."""

    protocol: str
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


def parse_via(text: str) -> Via:
    """Parse one via-parm (one element of a Via list); SipError(400) when malformed."""
    m = _VIA_RE.match(text.strip(_WS))
    if m is None:
        raise bad_request("malformed Via")
    name, version, transport, host, port_text, param_text = m.groups()
    port = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise bad_request("Via port out of range")
    return Via(f"{name}/{version}".upper(), transport.upper(), host, port, parse_params(param_text or ""))


def salvage_via(text: str) -> Via | None:
    """The sent-by (and any readable parameters) at the start of a malformed Via value, or None.

    RFC 4475 §3.1.2.1 (badinv01): ``SIP/2.0/UDP 192.0.2.15;;,;,,`` is malformed, yet the
    sent-by is readable, so a 400 can still be routed back; without one the message is dropped.
    """
    m = _VIA_SALVAGE_RE.match(text.lstrip(_WS))
    if m is None:
        return None
    name, version, transport, host, port_text = m.groups()
    port = int(port_text) if port_text is not None else None
    if port is not None and port > 65535:
        return None
    params: dict[str, str | None] = {}
    tail = text.lstrip(_WS)[m.end() :].split(",", 1)[0]
    for piece in tail.split(";")[1:]:
        pname, eq, value = piece.partition("=")
        pname, value = pname.strip(_WS), value.strip(_WS)
        if _PARAM_NAME_RE.fullmatch(pname) and (not eq or _PARAM_VALUE_RE.fullmatch(value)):
            params[pname.lower()] = value if eq else None
    return Via(f"{name}/{version}".upper(), transport.upper(), host, port, params)
