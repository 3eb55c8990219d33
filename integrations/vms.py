"""VMS generic events: one ASCII line per event over TCP, as Milestone XProtect's "generic event"
data source (and most VMSs' equivalents) take them, so that a VMS rule matching the line pops the
cabin's camera with no code on its side.

The line comes from a format with placeholders, by default
``ANIGATE|{site}|{location}|{camera}|{event}`` (``{event}`` is the event type, ``call.routed``,
``alarm.raised``...); also ``{building}``, ``{floor}``, ``{ani}``, ``{severity}``, ``{event_id}``.
Values are made safe for a line protocol: non-ASCII becomes ``?``, and the separator, CR and LF
are replaced by a space. A write the kernel accepted counts as delivered (the protocol has no
acknowledgement); a broken connection is reopened on the next event.
"""

from __future__ import annotations

import select
import socket
import string
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from integrations.ports import Outgoing, Result, SinkConfigError

DEFAULT_FORMAT = "ANIGATE|{site}|{location}|{camera}|{event}"
FIELDS = ("site", "building", "location", "floor", "camera", "event", "ani", "severity", "event_id")
#: what a VMS needs to see: calls and the alarms' lifecycle
EVENT_TYPES = frozenset(
    {
        "call.routed",
        "alarm.raised",
        "alarm.acknowledged",
        "alarm.cleared",
        "alarm.reset",
        "alarm.escalated",
        "sink.test",
    }
)


def _safe(value: object, separator: str) -> str:
    text = "" if value is None else str(value)
    text = text.encode("ascii", "replace").decode("ascii")
    for bad in {separator, "\r", "\n", "\x00"} - {""}:
        text = text.replace(bad, " ")
    return text


def line(payload: Mapping[str, Any], fmt: str = DEFAULT_FORMAT, separator: str = "|") -> bytes:
    """The ASCII line of one event (with CRLF)."""
    body = payload.get("body", {})
    values = {
        "site": body.get("site_name") or body.get("site_id") or "",
        "building": body.get("building", ""),
        "location": body.get("location", ""),
        "floor": body.get("floor", ""),
        "camera": body.get("camera_ref", ""),
        "event": payload.get("type", ""),
        "ani": body.get("ani") or body.get("device_ani") or "",
        "severity": body.get("severity", ""),
        "event_id": payload.get("event_id", ""),
    }
    text = fmt.format(**{k: _safe(v, separator) for k, v in values.items()})
    return text.encode("ascii", "replace") + b"\r\n"


class VmsSink:
    kind: ClassVar[str] = "vms"
    setting_fields: ClassVar[Mapping[str, str]] = {
        "host": "the VMS's generic-event listener (Milestone: the Event Server)",
        "port": "its TCP port (Milestone's default 1234)",
        "format": f"the line, with placeholders {', '.join('{' + f + '}' for f in FIELDS)}",
        "separator": "the character between fields, replaced in values (default |)",
    }
    secret_fields: ClassVar[Mapping[str, str]] = {}
    event_types: ClassVar[frozenset[str] | None] = EVENT_TYPES

    def __init__(
        self, name: str, host: str, port: int, fmt: str = DEFAULT_FORMAT, separator: str = "|"
    ) -> None:
        self.name = name
        self.host, self.port = host, port
        self.fmt, self.separator = fmt, separator
        self._sock: socket.socket | None = None

    @classmethod
    def validate(cls, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, Any]:
        errors = {}
        host = str(settings.get("host", "")).strip()
        if not host or any(c.isspace() for c in host):
            errors["host"] = "a host name or address"
        try:
            port = int(settings.get("port", 1234))
            if not 0 < port < 65536:
                raise ValueError
        except (TypeError, ValueError):
            errors["port"] = "a TCP port, 1 to 65535"
            port = 0
        fmt = str(settings.get("format") or DEFAULT_FORMAT)
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(fmt) if f is not None}
        except ValueError as exc:
            names, errors["format"] = set(), f"not a format: {exc}"
        unknown = names - set(FIELDS)
        if unknown:
            errors["format"] = f"unknown placeholder {{{sorted(unknown)[0]}}}; use {', '.join(FIELDS)}"
        if not fmt.isascii():
            errors["format"] = "ASCII only"
        separator = str(settings.get("separator", "|"))
        if len(separator) != 1 or not separator.isascii():
            errors["separator"] = "one ASCII character"
        if errors:
            raise SinkConfigError(errors)
        return {"host": host, "port": port, "format": fmt, "separator": separator}

    @classmethod
    def build(
        cls, name: str, settings: Mapping[str, Any], secrets: Mapping[str, str], instance: str = ""
    ) -> VmsSink:
        c = cls.validate(settings, secrets)
        return cls(name, c["host"], c["port"], c["format"], c["separator"])

    def open(self) -> None:
        self._connect(5.0)

    def _connect(self, timeout: float) -> socket.socket:
        if self._sock is not None and self._peer_closed(self._sock):
            self.close()  # a VMS restarted meanwhile: the next line goes to its new listener
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            self._sock = sock
        return self._sock

    @staticmethod
    def _peer_closed(sock: socket.socket) -> bool:
        """A VMS that closed its end: readable at once, with nothing to read (it never sends data)."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send(self, batch: Sequence[Outgoing], timeout: float) -> list[Result]:
        deadline = time.monotonic() + timeout
        results = []
        for item in batch:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError("no time left in this round")
                sock = self._connect(left)
                sock.settimeout(left)
                sock.sendall(line(item.payload, self.fmt, self.separator))
                results.append(Result.delivered(item))
            except OSError as exc:
                self.close()
                results.append(Result.failed(item, f"VMS {self.host}:{self.port}: {exc}"))
        return results
