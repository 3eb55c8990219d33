"""Alarm and call events with plain values, for the SNMP sink's tests (no database needed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from integrations.ports import Outgoing
from registry.events import (
    AlarmAcknowledged,
    AlarmCleared,
    AlarmEscalated,
    AlarmRaised,
    AlarmReset,
    CallRouted,
    DomainEvent,
)

WHEN = datetime(2026, 1, 15, 10, 30, 5, 700_000, tzinfo=UTC)
XSS = "<img src=x onerror=alert(1)>"

_ALARM: dict[str, Any] = {
    "occurred_at": WHEN,
    "alarm_id": 42,
    "kind": "lift_emergency",
    "severity": "critical",
    "state": "active_unacknowledged",
    "center_id": 3,
    "device_id": 7,
    "site_id": 5,
}


def raised(**kw: Any) -> AlarmRaised:
    values = _ALARM | {
        "event_type": "environmentalAlarm",
        "probable_cause": "personTrapped",
        "additional_text": "Emergency call from the lift",
        "call_id": "c1@pbx",
        "device_kind": "elevator_phone",
        "device_ani": "+493012345678",
        "site_name": "Hauptstraße 1",
        "building": "A",
        "location": "Lift 2 car",
        "floor": "3",
        "by": "anigate",
    }
    return AlarmRaised(**(values | kw))


def acknowledged(**kw: Any) -> AlarmAcknowledged:
    values = _ALARM | {"state": "latched", "by": "olga", "note": "on my way"}
    return AlarmAcknowledged(**(values | kw))


def cleared(**kw: Any) -> AlarmCleared:
    return AlarmCleared(**(_ALARM | {"state": "closed", "by": "anigate", "note": "rescue ended"} | kw))


def reset(**kw: Any) -> AlarmReset:
    return AlarmReset(**(_ALARM | {"state": "closed", "by": "olga", "note": "technician on site"} | kw))


def escalated(**kw: Any) -> AlarmEscalated:
    return AlarmEscalated(**(_ALARM | {"from_center_id": 3, "to_center_id": 9, "center_id": 9} | kw))


def call(**kw: Any) -> CallRouted:
    values: dict[str, Any] = {
        "occurred_at": WHEN,
        "call_id": "c9@pbx",
        "record_id": "r9",
        "ani": "+493012345678",
        "display_name": XSS,
        "site_name": "Hauptstraße 1",
        "building": "A",
        "location": "Lift 2 car",
        "floor": "3",
        "center_id": 3,
        "targets": ("sip:112@psap.example", "sip:backup@psap.example"),
        "test_call": False,
    }
    return CallRouted(**(values | kw))


def outgoing(*events: DomainEvent) -> list[Outgoing]:
    return [Outgoing(delivery_id=i, seq=i, event=ev, payload=ev.envelope()) for i, ev in enumerate(events, 1)]


def fixed_id(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)
