"""ANIGATE-MIB (docs/mib/ANIGATE-MIB.txt) as data: which notification an event becomes and its
varbinds, as plain values (no pysnmp types: ``integrations.snmp`` makes the PDU). Pure: imports
``registry.events`` and the stdlib only; no sockets, no database.
"""

from __future__ import annotations

import struct
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from registry.events import (
    AlarmAcknowledged,
    AlarmCleared,
    AlarmEscalated,
    AlarmEvent,
    AlarmRaised,
    AlarmReset,
    CallRouted,
    DomainEvent,
)

#: 1.3.6.1.4.1.32473: RFC 5612's enterprise number for documentation (anigate has none of its own)
DEFAULT_ENTERPRISE_OID = "1.3.6.1.4.1.32473"

#: SNMPv2-MIB::snmpTrapOID.0, the second varbind of every notification (RFC 3416 §4.2.6)
SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)

#: arcs under anigateMIB (the enterprise OID): notifications, objects
_NOTIFICATIONS, _OBJECTS = 0, 1

NOTIFICATIONS: dict[str, int] = {
    "anigateAlarmRaised": 1,
    "anigateAlarmAcknowledged": 2,
    "anigateAlarmCleared": 3,
    "anigateAlarmEscalated": 4,
    "anigateCallRouted": 5,
}

Syntax = Literal["string", "unsigned", "integer", "datetime"]

#: every object of anigateObjects: arc, syntax, and for strings the SIZE upper bound in octets
OBJECTS: dict[str, tuple[int, Syntax, int]] = {
    "anigateEventId": (1, "string", 36),
    "anigateEventTime": (2, "datetime", 11),
    "anigateAlarmId": (3, "unsigned", 0),
    "anigateAlarmKind": (4, "string", 64),
    "anigateAlarmSeverity": (5, "integer", 0),
    "anigateAlarmState": (6, "integer", 0),
    "anigateAlarmEventType": (7, "string", 64),
    "anigateAlarmProbableCause": (8, "string", 64),
    "anigateAlarmText": (9, "string", 255),
    "anigateDeviceAni": (10, "string", 32),
    "anigateSiteName": (11, "string", 128),
    "anigateBuilding": (12, "string", 64),
    "anigateLocation": (13, "string", 128),
    "anigateFloor": (14, "string", 32),
    "anigateCenterId": (15, "unsigned", 0),
    "anigateActor": (16, "string", 64),
    "anigateCallId": (17, "string", 128),
    "anigateCallerName": (18, "string", 64),
    "anigateCallTarget": (19, "string", 255),
    "anigateTestCall": (20, "integer", 0),
}

#: AnigatePerceivedSeverity: ITU-ALARM-TC-MIB's ItuPerceivedSeverity numbering (RFC 3877)
SEVERITIES: dict[str, int] = {
    "cleared": 1,
    "indeterminate": 2,
    "critical": 3,
    "major": 4,
    "minor": 5,
    "warning": 6,
}
_INDETERMINATE = SEVERITIES["indeterminate"]

#: AnigateIsaAlarmState; a state this table lacks is other(1). Strings, not ``alarms.choices``:
#: integrations never import alarms (layering), a unit test keeps the two in step.
STATES: dict[str, int] = {
    "active_unacknowledged": 2,
    "active_acknowledged": 3,
    "returned_unacknowledged": 4,
    "latched": 5,
    "shelved": 6,
    "suppressed": 7,
    "closed": 8,
}
_OTHER_STATE = 1

#: TruthValue (SNMPv2-TC)
_TRUE, _FALSE = 1, 2
_UNSIGNED32_MAX = 2**32 - 1

#: the event types this MIB has a notification for (the relay may filter on them)
ALARM_EVENT_TYPES = frozenset(
    {AlarmRaised.type, AlarmAcknowledged.type, AlarmCleared.type, AlarmReset.type, AlarmEscalated.type}
)
CALL_EVENT_TYPES = frozenset({CallRouted.type})


@dataclass(frozen=True)
class Varbind:
    """One variable binding: the object's name in the MIB, its OID (instance .0) and its value:
    UTF-8 octets for strings and DateAndTime, an int otherwise."""

    name: str
    oid: tuple[int, ...]
    syntax: Syntax
    value: int | bytes


@dataclass(frozen=True)
class Notification:
    """A NOTIFICATION-TYPE of ANIGATE-MIB with its objects, in the order of its OBJECTS clause."""

    name: str
    oid: tuple[int, ...]
    varbinds: tuple[Varbind, ...]

    def values(self) -> dict[str, int | bytes]:
        return {vb.name: vb.value for vb in self.varbinds}


def parse_oid(text: str) -> tuple[int, ...]:
    """``"1.3.6.1.4.1.32473"`` as arcs; ValueError for anything else than dotted decimals."""
    arcs = tuple(int(part) for part in text.strip().removeprefix(".").split("."))
    if any(not 0 <= arc <= _UNSIGNED32_MAX for arc in arcs):
        raise ValueError("each arc of an OID is 0 .. 4294967295")
    return arcs


def admin_string(text: str | None, limit: int) -> bytes:
    """``text`` as SnmpAdminString octets: UTF-8, control characters (outside data: a newline in a
    display name must not forge a line in a manager's log) replaced by a space, cut to ``limit``
    octets without splitting a character."""
    cleaned = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text or "")
    raw = cleaned.encode("utf-8")
    if len(raw) <= limit:
        return raw
    return raw[:limit].decode("utf-8", "ignore").encode("utf-8")


def date_and_time(instant: datetime) -> bytes:
    """SNMPv2-TC DateAndTime, 11 octets, in UTC (deci-seconds, direction '+', offset 0:00)."""
    utc = instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)
    return struct.pack(
        ">HBBBBBBcBB",
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.microsecond // 100_000,
        b"+",
        0,
        0,
    )


def unsigned32(value: int | None) -> int:
    """An id as Unsigned32: none is 0; an id past 2^32-1 (not expected) saturates rather than wraps,
    so that it can never name another alarm."""
    if value is None or value < 0:
        return 0
    return min(value, _UNSIGNED32_MAX)


def severity(value: str) -> int:
    return SEVERITIES.get(value.lower(), _INDETERMINATE)


def state(value: str) -> int:
    return STATES.get(value, _OTHER_STATE)


def notification(event: DomainEvent, root: tuple[int, ...]) -> Notification | None:
    """The notification ``event`` becomes under the enterprise OID ``root``, or None for an event
    the MIB has none for (noted, shelved, repeated, suppressed alarms; registry changes)."""
    common: dict[str, int | str | datetime | None]
    if isinstance(event, CallRouted):
        return _build(
            "anigateCallRouted",
            root,
            {
                "anigateCallId": event.call_id,
                "anigateEventTime": event.occurred_at,
                "anigateEventId": str(event.event_id),
                "anigateDeviceAni": event.ani,
                "anigateCallerName": event.display_name,
                "anigateSiteName": event.site_name,
                "anigateBuilding": event.building,
                "anigateLocation": event.location,
                "anigateFloor": event.floor,
                "anigateCenterId": event.center_id,
                "anigateCallTarget": event.targets[0] if event.targets else "",
                "anigateTestCall": _TRUE if event.test_call else _FALSE,
            },
        )
    if not isinstance(event, AlarmEvent):
        return None
    common = {
        "anigateAlarmId": event.alarm_id,
        "anigateAlarmKind": event.kind,
        "anigateAlarmSeverity": severity(event.severity),
        "anigateAlarmState": state(event.state),
        "anigateEventTime": event.occurred_at,
        "anigateEventId": str(event.event_id),
    }
    if isinstance(event, AlarmRaised):
        return _build(
            "anigateAlarmRaised",
            root,
            common
            | {
                "anigateAlarmEventType": event.event_type,
                "anigateAlarmProbableCause": event.probable_cause,
                "anigateAlarmText": event.additional_text,
                "anigateDeviceAni": event.device_ani,
                "anigateSiteName": event.site_name,
                "anigateBuilding": event.building,
                "anigateLocation": event.location,
                "anigateFloor": event.floor,
                "anigateCallId": event.call_id,
            },
        )
    if isinstance(event, AlarmAcknowledged):
        return _build(
            "anigateAlarmAcknowledged",
            root,
            common | {"anigateActor": event.by, "anigateAlarmText": event.note},
        )
    if isinstance(event, AlarmCleared | AlarmReset):
        # X.733 / RFC 3877: a clear carries the severity cleared, which is how a manager clears
        return _build(
            "anigateAlarmCleared",
            root,
            common
            | {
                "anigateAlarmSeverity": SEVERITIES["cleared"],
                "anigateActor": event.by,
                "anigateAlarmText": event.note,
            },
        )
    if isinstance(event, AlarmEscalated):
        to_center = event.to_center_id if event.to_center_id is not None else event.center_id
        return _build("anigateAlarmEscalated", root, common | {"anigateCenterId": to_center})
    return None


def _build(
    name: str, root: tuple[int, ...], values: Mapping[str, int | str | datetime | None]
) -> Notification:
    return Notification(
        name,
        (*root, _NOTIFICATIONS, NOTIFICATIONS[name]),
        tuple(_varbind(root, obj, value) for obj, value in values.items()),
    )


def _varbind(root: tuple[int, ...], name: str, value: int | str | datetime | None) -> Varbind:
    arc, syntax, size = OBJECTS[name]
    oid = (*root, _OBJECTS, arc, 0)
    if syntax == "datetime":
        assert isinstance(value, datetime)
        return Varbind(name, oid, syntax, date_and_time(value))
    if syntax == "string":
        assert value is None or isinstance(value, str)
        return Varbind(name, oid, syntax, admin_string(value, size))
    assert value is None or isinstance(value, int)
    return Varbind(name, oid, syntax, unsigned32(value) if syntax == "unsigned" else value or 0)
