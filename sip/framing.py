"""Stream framing (RFC 3261 §18.3, §7.5; RFC 5626 §3.5.1): StreamFramer cuts TCP/TLS bytes into
whole SIP messages by Content-Length, skips CRLF keep-alives and caps memory.
Sans-I/O (the caller owns the socket), stdlib only, no project imports.
"""

from __future__ import annotations

from sip.grammar import SipError, bad_request
from sip.message import DEFAULT_LIMITS, Headers, salvage_headers, usable_top_via

__all__ = ["StreamFramer"]


class StreamFramer:
    """Feed it bytes as they arrive; get back every complete message, in order.

    ``feed()`` raises SipError when framing is lost (no, negative, non-numeric or duplicate
    Content-Length; RFC 3261 §18.3 makes it mandatory on streams) or a message would exceed
    ``max_message`` octets (513 Message Too Large). ``partial`` and ``respond`` are set as parse_message sets
    them, so the caller can answer once and must then close the connection: every later
    ``feed()`` raises the same error. ``pings`` counts the CRLFCRLF keep-alives seen by the last
    ``feed()``: RFC 5626 §4.4.1 wants one CRLF sent back for each.
    """

    def __init__(self, *, max_message: int = DEFAULT_LIMITS.max_size) -> None:
        self.max_message = max_message
        self.pings = 0
        self._buf = bytearray()
        self._scanned = 0  # bytes already searched for the end of the header section
        self._broken: SipError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a whole message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if self._broken is not None:
            raise self._broken
        self.pings = 0
        self._buf += data
        messages: list[bytes] = []
        try:
            more = True
            while more:
                more = self._next(messages)
        except SipError as exc:
            self._broken = exc
            self._buf.clear()
            raise
        return messages

    def _skip_keepalives(self) -> None:
        # RFC 3261 §7.5: CRLFs before a start-line are ignored; RFC 5626 §3.5.1: CRLFCRLF is a ping
        buf = self._buf
        n = 0
        while n < len(buf) and buf[n] in (13, 10):
            n += 1
        self._scanned = 0
        if n < len(buf):
            self.pings += bytes(buf[:n]).count(b"\r\n\r\n")
            del buf[:n]
            return
        # nothing but CR/LF so far: keep what follows the last whole ping, it may be half of one
        pings = bytes(buf).count(b"\r\n\r\n")
        self.pings += pings
        if pings:
            del buf[: buf.rfind(b"\r\n\r\n") + 4]
        if len(buf) > 3:
            buf.clear()

    def _next(self, out: list[bytes]) -> bool:
        buf = self._buf
        if buf and buf[0] in (13, 10):
            self._skip_keepalives()
        if not buf or buf[0] in (13, 10):
            return False
        start = max(0, self._scanned - 3)
        end = buf.find(b"\r\n\r\n", start)
        lf_end = buf.find(b"\n\n", max(0, self._scanned - 1), end if end >= 0 else len(buf))
        if lf_end >= 0:
            head_len, sep_len = lf_end, 2
        elif end >= 0:
            head_len, sep_len = end, 4
        else:
            self._scanned = len(buf)
            if len(buf) > self.max_message:
                raise self._error(513, "Message Too Large", bytes(buf[: self.max_message]))
            return False
        head = bytes(buf[:head_len])
        length = self._content_length(head)
        total = head_len + sep_len + length
        if total > self.max_message:
            raise self._error(513, "Message Too Large", head)
        if len(buf) < total:
            self._scanned = head_len  # the end of the header section is known; wait for the body
            return False
        out.append(bytes(buf[:total]))
        del buf[:total]
        self._scanned = 0
        return True

    def _content_length(self, head: bytes) -> int:
        headers = salvage_headers(head) or Headers()
        values = headers._index.get("content-length", [])
        if not values:
            raise self._error(400, "missing Content-Length on a stream transport", head, headers)
        if len(values) > 1:
            raise self._error(400, "more than one Content-Length", head, headers)
        value = values[0]
        if not (value.isascii() and value.isdigit()) or len(value.lstrip("0")) > 10:
            what = "negative Content-Length" if value.startswith("-") else "invalid Content-Length"
            raise self._error(400, what, head, headers)
        return int(value)

    @staticmethod
    def _error(status: int, reason: str, head: bytes, headers: Headers | None = None) -> SipError:
        if headers is None:
            headers = salvage_headers(head)
        is_response = head.lstrip(b"\r\n")[:4].upper() == b"SIP/"
        is_ack = head.lstrip(b"\r\n")[:4] == b"ACK "
        respond = headers is not None and not is_response and not is_ack
        respond = respond and headers is not None and usable_top_via(headers) is not None
        err = bad_request(reason) if status == 400 else SipError(status, reason)
        err.partial = headers
        err.respond = respond
        return err
