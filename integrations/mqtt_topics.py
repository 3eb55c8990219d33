"""Which MQTT messages an anigate event becomes: topics, payloads, retain flags and expiry (the MQTT
interface documented in docs/events.md and docs/asyncapi.yaml). Pure: no sockets, no paho.

May import ``registry.events`` only. Topic segments are built from integer ids only, never from
names or other outside text, so that no ``+``, ``#``, ``/`` or NUL can reach a topic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry.events import (
    AlarmEvent,
    AlarmsGrouped,
    CallRouted,
    DeviceChanged,
    DeviceStatusChanged,
    DomainEvent,
    SinkTest,
)

VERSION = "v1"
ONLINE = "online"
OFFLINE = "offline"
JSON = "application/json"
TEXT = "text/plain"
#: the site segment of a device whose site is not known (a device always has one in the registry)
NO_SITE = "unknown"


@dataclass(frozen=True)
class Publication:
    """One MQTT PUBLISH: all at QoS 1. ``expiry`` is the MQTT 5 message expiry in seconds (None: the
    message never expires); an empty ``payload`` with ``retain`` deletes the retained message."""

    topic: str
    payload: bytes
    retain: bool = False
    content_type: str = JSON
    expiry: int | None = None
    event_id: str = ""
    event_type: str = ""


def encode(document: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, keys in the order the document has them."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def segment(value: object) -> str:
    """An id as one topic level. Anything but an integer is refused: names never become topics."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not an id for a topic segment: {value!r}")
    return str(value)


def check_prefix(prefix: str) -> str | None:
    """Why ``prefix`` cannot start anigate's topics (None when it can)."""
    if not prefix:
        return "must not be empty"
    if any(c in prefix for c in "+#\0"):
        return "must not contain +, # or NUL"
    if prefix.startswith(("/", "$")) or prefix.endswith("/") or "//" in prefix:
        return "levels separated by single /, not starting with / or $, not ending with /"
    if len(prefix.encode()) > 200:
        return "at most 200 bytes"
    return None


@dataclass(frozen=True)
class Topics:
    """anigate's topic tree under ``<prefix>/v1``."""

    prefix: str = "anigate"

    @property
    def root(self) -> str:
        return f"{self.prefix}/{VERSION}"

    @property
    def service_status(self) -> str:
        return f"{self.root}/service/status"

    def site(self, site_id: int | None) -> str:
        return f"{self.root}/sites/{NO_SITE if site_id is None else segment(site_id)}"

    def device(self, site_id: int | None, device_id: int) -> str:
        return f"{self.site(site_id)}/devices/{segment(device_id)}"

    def calls(self, ev: CallRouted) -> str:
        if ev.device_id is not None:
            return f"{self.device(ev.site_id, ev.device_id)}/calls"
        if ev.site_id is not None:
            return f"{self.site(ev.site_id)}/calls"
        return f"{self.root}/unregistered/calls"

    def alarms(self, ev: AlarmEvent) -> str:
        if ev.device_id is not None:
            return f"{self.device(ev.site_id, ev.device_id)}/alarms"
        if ev.site_id is not None:
            return f"{self.site(ev.site_id)}/alarms"
        if ev.trunk_id is not None:
            return f"{self.root}/trunks/{segment(ev.trunk_id)}/alarms"
        return f"{self.root}/alarms"

    def alarm_group(self, site_id: int | None) -> str:
        return f"{self.site(site_id)}/alarm-group"

    def status(self, site_id: int | None, device_id: int) -> str:
        return f"{self.device(site_id, device_id)}/status"

    def last_test_call(self, site_id: int | None, device_id: int) -> str:
        return f"{self.device(site_id, device_id)}/last_test_call"

    def changes(self, site_id: int | None, device_id: int) -> str:
        return f"{self.device(site_id, device_id)}/changes"

    @property
    def test(self) -> str:
        """Where an admin's "send test event" arrives."""
        return f"{self.root}/service/test"


def service_status(topics: Topics, state: str) -> Publication:
    """The retained service status: ``online`` while the sink is connected, ``offline`` after a clean
    close or (as the Last Will) when the process dies."""
    return Publication(topics.service_status, state.encode(), retain=True, content_type=TEXT)


def status_document(ev: DeviceStatusChanged) -> dict[str, Any]:
    """The retained device status (schema ``docs/schemas/device.status.json``)."""
    env = ev.envelope()
    return {
        "status": ev.status,
        "previous": ev.previous,
        "since": env["occurred_at"],
        "reason": ev.reason,
        "device_id": ev.device_id,
        "site_id": ev.site_id,
        "event_id": env["event_id"],
    }


def last_test_call_document(ev: CallRouted) -> dict[str, Any]:
    """The retained last test call of a device (schema ``docs/schemas/device.last_test_call.json``)."""
    env = ev.envelope()
    return {
        "at": env["occurred_at"],
        "call_id": ev.call_id,
        "device_id": ev.device_id,
        "site_id": ev.site_id,
        "event_id": env["event_id"],
    }


def publications(
    topics: Topics, ev: DomainEvent, payload: Mapping[str, Any], call_expiry: int | None
) -> list[Publication]:
    """The messages of one event, in the order they are sent. ``payload`` is the event's envelope.

    - a call: its envelope on ``calls`` (expiring after ``call_expiry`` seconds under MQTT 5); a
      device's test call also replaces the retained ``last_test_call``;
    - an alarm event: its envelope on ``alarms`` (never expires);
    - a site's grouped alarm notification: its envelope on the site's ``alarm-group``;
    - a device status change: the retained ``status`` document;
    - a registry change of a device: its envelope on ``changes``; a device moved to another site has
      its retained messages under the old site deleted (the new site's ones follow from new events).
    """
    eid, etype = str(payload["event_id"]), str(payload["type"])
    body = encode(payload)
    if isinstance(ev, CallRouted):
        out = [Publication(topics.calls(ev), body, expiry=call_expiry, event_id=eid, event_type=etype)]
        if ev.test_call and ev.device_id is not None:
            doc = encode(last_test_call_document(ev))
            out.append(
                Publication(
                    topics.last_test_call(ev.site_id, ev.device_id), doc, True, event_id=eid, event_type=etype
                )
            )
        return out
    if isinstance(ev, AlarmEvent):
        return [Publication(topics.alarms(ev), body, event_id=eid, event_type=etype)]
    if isinstance(ev, AlarmsGrouped):
        return [Publication(topics.alarm_group(ev.site_id), body, event_id=eid, event_type=etype)]
    if isinstance(ev, DeviceStatusChanged):
        doc = encode(status_document(ev))
        return [
            Publication(topics.status(ev.site_id, ev.device_id), doc, True, event_id=eid, event_type=etype)
        ]
    if isinstance(ev, DeviceChanged):
        out = [Publication(topics.changes(ev.site_id, ev.device_id), body, event_id=eid, event_type=etype)]
        moved = ev.changes.get("site_id")
        if ev.action == "update" and isinstance(moved, list | tuple) and len(moved) == 2:
            old = moved[0]
            if isinstance(old, int) and old != ev.site_id:
                for stale in (topics.status(old, ev.device_id), topics.last_test_call(old, ev.device_id)):
                    out.append(Publication(stale, b"", True, event_id=eid, event_type=etype))
        return out
    if isinstance(ev, SinkTest):
        return [Publication(topics.test, body, event_id=eid, event_type=etype)]
    return []  # a type without a topic (none today): acknowledged, nothing to publish
