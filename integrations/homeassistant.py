"""Home Assistant MQTT discovery (opt-in): each device as one HA device with a ``problem``
binary_sensor (on while ``overdue`` or ``fault``) and a last-test-call ``timestamp`` sensor, both
unavailable while anigate's service status is ``offline``. Pure: no sockets, no paho.

May import ``registry.events`` and ``integrations.mqtt_topics`` only. The configs are retained
messages under ``<ha_prefix>/<component>/anigate_<device_id>/<object_id>/config``; an empty retained
config removes the entity (a deleted device).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from integrations.mqtt_topics import OFFLINE, ONLINE, Publication, Topics, encode
from registry.events import (
    AlarmEvent,
    AlarmRaised,
    CallRouted,
    DeviceChanged,
    DeviceStatusChanged,
    DomainEvent,
)

#: the device statuses a BMS treats as a problem (docs/events.md, device status)
PROBLEM = ("overdue", "fault")
PROBLEM_TEMPLATE = "{{ 'ON' if value_json.status in ['overdue', 'fault'] else 'OFF' }}"
TIMESTAMP_TEMPLATE = "{{ value_json.at }}"
ORIGIN = {"name": "anigate"}


@dataclass(frozen=True)
class DeviceInfo:
    """What anigate has seen of a device, to name it in Home Assistant."""

    device_id: int
    site_id: int | None = None
    ani: str = ""
    kind: str = ""
    site_name: str = ""
    building: str = ""
    location: str = ""

    @property
    def name(self) -> str:
        if self.location and self.ani:
            return f"{self.location} ({self.ani})"
        return self.location or self.ani or f"anigate device {self.device_id}"

    @property
    def area(self) -> str:
        return " ".join(p for p in (self.site_name, self.building) if p)


def _after(changes: dict[str, Any], key: str) -> Any:
    pair = changes.get(key)
    return pair[1] if isinstance(pair, list | tuple) and len(pair) == 2 else None


def observe(info: DeviceInfo | None, ev: DomainEvent) -> DeviceInfo | None:
    """``info`` updated with what ``ev`` says about its device (None: the event names no device).
    Empty values never overwrite known ones: an alarm without a site name keeps the call's."""
    device_id = getattr(ev, "device_id", None)
    if not isinstance(device_id, int) or isinstance(device_id, bool):
        return info
    seen: dict[str, Any] = {"site_id": getattr(ev, "site_id", None)}
    if isinstance(ev, CallRouted):
        seen |= {"ani": ev.ani, "kind": ev.device_kind, "site_name": ev.site_name}
        seen |= {"building": ev.building, "location": ev.location}
    elif isinstance(ev, AlarmRaised):
        seen |= {"ani": ev.device_ani, "kind": ev.device_kind, "site_name": ev.site_name}
        seen |= {"building": ev.building, "location": ev.location}
    elif isinstance(ev, DeviceChanged):
        seen |= {"ani": ev.ani or _after(ev.changes, "ani"), "kind": _after(ev.changes, "kind")}
    elif not isinstance(ev, AlarmEvent | DeviceStatusChanged):
        return info
    current = info or DeviceInfo(device_id)
    known = {k: v for k, v in seen.items() if v not in (None, "")}
    if "site_id" in known and known["site_id"] != current.site_id and current.site_id is not None:
        known |= {"site_name": seen.get("site_name") or "", "building": seen.get("building") or ""}
    values: dict[str, Any] = {k: str(v) if k != "site_id" else v for k, v in known.items()}
    return replace(current, **values)


@dataclass(frozen=True)
class Discovery:
    """The discovery messages of one anigate instance."""

    topics: Topics
    ha_prefix: str = "homeassistant"

    def config_topics(self, device_id: int) -> tuple[str, str]:
        node = f"anigate_{device_id}"
        return (
            f"{self.ha_prefix}/binary_sensor/{node}/problem/config",
            f"{self.ha_prefix}/sensor/{node}/last_test_call/config",
        )

    def configs(self, info: DeviceInfo) -> tuple[dict[str, Any], dict[str, Any]]:
        """The binary_sensor and sensor configs of a device (documented in docs/events.md)."""
        node = f"anigate_{info.device_id}"
        device: dict[str, Any] = {
            "identifiers": [node],
            "name": info.name,
            "manufacturer": "anigate",
        }
        if info.kind:
            device["model"] = info.kind
        if info.area:
            device["suggested_area"] = info.area
        common = {
            "availability_topic": self.topics.service_status,
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "qos": 1,
            "device": device,
            "origin": ORIGIN,
        }
        problem = {
            "name": "Problem",
            "unique_id": f"{node}_problem",
            "device_class": "problem",
            "state_topic": self.topics.status(info.site_id, info.device_id),
            "value_template": PROBLEM_TEMPLATE,
            "payload_on": "ON",
            "payload_off": "OFF",
            "json_attributes_topic": self.topics.status(info.site_id, info.device_id),
        } | common
        last = {
            "name": "Last test call",
            "unique_id": f"{node}_last_test_call",
            "device_class": "timestamp",
            "state_topic": self.topics.last_test_call(info.site_id, info.device_id),
            "value_template": TIMESTAMP_TEMPLATE,
        } | common
        return problem, last

    def announce(self, info: DeviceInfo) -> list[Publication]:
        return [
            Publication(topic, encode(doc), retain=True)
            for topic, doc in zip(self.config_topics(info.device_id), self.configs(info), strict=True)
        ]

    def remove(self, device_id: int) -> list[Publication]:
        return [Publication(topic, b"", retain=True) for topic in self.config_topics(device_id)]


@dataclass
class DiscoveryState:
    """Which config each device was last announced with (in memory: after a restart every device is
    announced again at its next event, which Home Assistant takes as an update)."""

    discovery: Discovery
    announced: dict[int, DeviceInfo] = field(default_factory=dict)
    seen: dict[int, DeviceInfo] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)

    def publications(self, ev: DomainEvent) -> tuple[list[Publication], DeviceInfo | None]:
        """The discovery messages ``ev`` calls for, and the device info to :meth:`confirm` once
        the broker acknowledged them."""
        device_id = getattr(ev, "device_id", None)
        if not isinstance(device_id, int):
            return [], None
        if isinstance(ev, DeviceChanged) and ev.action == "delete":
            return self.discovery.remove(device_id), DeviceInfo(device_id)
        if device_id in self.deleted and not (isinstance(ev, DeviceChanged) and ev.action == "create"):
            return [], None  # the status of a deleted device ("decommissioned") must not bring it back
        info = observe(self.seen.get(device_id), ev)
        if info is None:
            return [], None
        self.seen[device_id] = info
        if self.announced.get(device_id) == info:
            return [], None
        return self.discovery.announce(info), info

    def confirm(self, ev: DomainEvent, info: DeviceInfo) -> None:
        if isinstance(ev, DeviceChanged) and ev.action == "delete":
            self.announced.pop(info.device_id, None)
            self.seen.pop(info.device_id, None)
            self.deleted.add(info.device_id)
        else:
            self.announced[info.device_id] = info
            self.deleted.discard(info.device_id)
