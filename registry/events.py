"""Domain events: small frozen dataclasses, past tense, each with a UUID, a time, a type, a schema
version and a JSON body. They are written to the outbox (``registry.outbox``) in the transaction of
the change that caused them; the console and the event relay read them back with :func:`from_row`.

Pure: stdlib only (no database, no web). Adding a field to an event is backwards compatible; renaming
or removing one raises its ``schema_version``.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar

_PLAIN = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:  # most values; the exact type, so that str enums still get .value
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [v if type(v) in _PLAIN else _jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): v if type(v) in _PLAIN else _jsonable(v) for k, v in value.items()}
    return value


#: every event type by its ``type`` name, filled by ``DomainEvent.__init_subclass__``
EVENT_TYPES: dict[str, type[DomainEvent]] = {}

#: fields every event has, outside its body
_ENVELOPE = frozenset({"event_id", "occurred_at"})


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Something that happened, as every consumer (outbox, console, sinks) sees it."""

    type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1

    occurred_at: datetime
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type:
            if cls.type in EVENT_TYPES:
                raise TypeError(f"event type {cls.type!r} defined twice")
            EVENT_TYPES[cls.type] = cls

    def body(self) -> dict[str, Any]:
        """The event's own fields as JSON-ready values (times as ISO 8601 UTC, enums as values)."""
        return {name: _jsonable(getattr(self, name)) for name in _body_fields(type(self))}

    def envelope(self) -> dict[str, Any]:
        """What a subscriber receives: id, type, version, time and the body."""
        return {
            "event_id": str(self.event_id),
            "type": self.type,
            "schema_version": self.schema_version,
            "occurred_at": _jsonable(self.occurred_at),
            "body": self.body(),
        }


_FIELDS: dict[str, tuple[str, ...]] = {}


def _body_fields(cls: type[DomainEvent]) -> tuple[str, ...]:
    names = _FIELDS.get(cls.__qualname__ + cls.__module__)
    if names is None:
        names = _FIELDS[cls.__qualname__ + cls.__module__] = tuple(
            f.name for f in dataclasses.fields(cls) if f.name not in _ENVELOPE
        )
    return names


def from_envelope(data: dict[str, Any]) -> DomainEvent:
    """The event an envelope describes (as stored in the outbox). Unknown body keys, written by a
    newer version, are kept out; fields a newer version added and this one lacks take defaults."""
    cls = EVENT_TYPES[data["type"]]
    names = {f.name: f for f in dataclasses.fields(cls) if f.name not in _ENVELOPE}
    body = {k: _field_value(names[k], v) for k, v in data["body"].items() if k in names}
    occurred = data["occurred_at"]
    return cls(
        event_id=uuid.UUID(str(data["event_id"])),
        occurred_at=occurred if isinstance(occurred, datetime) else datetime.fromisoformat(occurred),
        **body,
    )


def _field_value(f: dataclasses.Field[Any], value: Any) -> Any:
    """A JSON value as the field holds it: arrays of tuple fields as tuples, times as datetimes."""
    kind = str(f.type)
    if isinstance(value, list) and kind.startswith("tuple"):
        return tuple(value)
    if isinstance(value, str) and kind.startswith("datetime"):
        return datetime.fromisoformat(value)
    return value


# ---- calls ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CallRouted(DomainEvent):
    """anigate answered an INVITE: who called, from which device and place, and where it was sent.

    Everything a responder or a camera needs without another lookup: names and places are copied
    from the registry as they were when the call came in."""

    type: ClassVar[str] = "call.routed"

    call_id: str
    record_id: str
    ani: str | None
    ani_source: str | None = None
    display_name: str | None = None
    presented_number: str | None = None
    privacy: str = ""
    attestation: str | None = None
    identity_verified: bool = False
    dnis: str = ""
    trunk_id: int | None = None
    trunk_name: str = ""
    device_id: int | None = None
    device_kind: str | None = None
    site_id: int | None = None
    site_name: str = ""
    building: str = ""
    location: str = ""
    floor: str = ""
    camera_ref: str = ""
    center_id: int | None = None
    center_name: str = ""
    targets: tuple[str, ...] = ()
    #: ids of the centers of ``targets``, in order: escalation goes to the next one
    target_center_ids: tuple[int, ...] = ()
    status: int = 302
    priority: str = ""
    line: str = ""
    test_call: bool = False
    #: the device sent its "rescue ended" marker (EN 81-28): it closes the device's latched lift alarm
    rescue_ended: bool = False
    reason: str = ""
    anomalies: tuple[dict[str, Any], ...] = ()


# ---- alarms ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AlarmEvent(DomainEvent):
    """Fields every alarm event carries: which alarm, what it is about, where, and its state after."""

    alarm_id: int
    kind: str
    severity: str
    state: str
    center_id: int | None = None
    device_id: int | None = None
    site_id: int | None = None
    trunk_id: int | None = None
    resource: str = ""
    #: who did it (an operator's user name, or "anigate" for the engine and its jobs)
    by: str = ""
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class AlarmRaised(AlarmEvent):
    """A new alarm (X.733 fields copied, so that a subscriber needs no lookup)."""

    type: ClassVar[str] = "alarm.raised"

    event_type: str = ""
    probable_cause: str = ""
    specific_problem: str = ""
    additional_text: str = ""
    call_id: str | None = None
    device_kind: str | None = None
    device_ani: str | None = None
    site_name: str = ""
    building: str = ""
    location: str = ""
    floor: str = ""
    latched: bool = False


@dataclass(frozen=True, kw_only=True)
class AlarmRepeated(AlarmEvent):
    """The condition of an open alarm occurred again (de-duplicated: count and last occurrence grow)."""

    type: ClassVar[str] = "alarm.repeated"

    count: int = 1
    call_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AlarmAcknowledged(AlarmEvent):
    type: ClassVar[str] = "alarm.acknowledged"


@dataclass(frozen=True, kw_only=True)
class AlarmNoted(AlarmEvent):
    """An operator added a note to an alarm."""

    type: ClassVar[str] = "alarm.noted"


@dataclass(frozen=True, kw_only=True)
class AlarmEscalated(AlarmEvent):
    """Nobody acknowledged in time: the alarm moved to the next center."""

    type: ClassVar[str] = "alarm.escalated"

    from_center_id: int | None = None
    to_center_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class AlarmCleared(AlarmEvent):
    """The condition ended (automatically, or an operator cleared it)."""

    type: ClassVar[str] = "alarm.cleared"


@dataclass(frozen=True, kw_only=True)
class AlarmReset(AlarmEvent):
    """An operator closed a latched alarm with a reason (EN 81-28 "rescue ended" by hand)."""

    type: ClassVar[str] = "alarm.reset"


@dataclass(frozen=True, kw_only=True)
class AlarmShelved(AlarmEvent):
    """An operator put the alarm aside until ``until``."""

    type: ClassVar[str] = "alarm.shelved"

    until: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class AlarmSuppressed(AlarmEvent):
    """The alarm fell in a silence (maintenance window) or was inhibited by a wider alarm."""

    type: ClassVar[str] = "alarm.suppressed"

    silence_id: int | None = None
    inhibited_by: int | None = None


@dataclass(frozen=True, kw_only=True)
class AlarmsGrouped(DomainEvent):
    """One notification for the alarms a site raised in a window, with counts by kind (as
    Alertmanager groups alerts): the first ``group_wait`` after a quiet site's first alarm, then at
    most one per ``group_interval`` while alarms keep coming. The per-alarm events still flow; a
    receiver that pages people subscribes to this one instead."""

    type: ClassVar[str] = "alarm.group"

    site_id: int
    site_name: str = ""
    center_id: int | None = None
    window_start: datetime
    window_end: datetime
    #: new alarms raised in the window, by kind
    raised: dict[str, int] = field(default_factory=dict)
    #: repeat occurrences of open alarms in the window, by kind
    repeated: dict[str, int] = field(default_factory=dict)
    #: the site's open (annunciated or shelved) alarms at the window's end, by kind
    active: dict[str, int] = field(default_factory=dict)
    total_raised: int = 0
    #: the first notification of this group (after ``group_wait``) or a follow-up
    first: bool = True
    #: the outbox position this notification counted up to (the next one counts after it)
    through_seq: int = 0


# ---- registry -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DeviceChanged(DomainEvent):
    """A device was created, updated or deleted in the registry (any entry point)."""

    type: ClassVar[str] = "device.changed"

    device_id: int
    site_id: int | None
    action: str
    ani: str | None = None
    #: the changed fields: ``{field: [before, after]}`` (every field on create and delete)
    changes: dict[str, Any] = field(default_factory=dict)
    by: str = ""


@dataclass(frozen=True, kw_only=True)
class DeviceStatusChanged(DomainEvent):
    """What a building-management system shows for a device moved: ``online``, ``overdue`` (missed
    its EN 81-28 test call), ``maintenance``, ``fault`` or ``decommissioned``."""

    type: ClassVar[str] = "device.status_changed"

    device_id: int
    site_id: int | None
    status: str
    previous: str | None = None
    reason: str = ""


# ---- operation ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SinkTest(DomainEvent):
    """An admin asked for a test event on one sink ("send test event"); only that sink receives it."""

    type: ClassVar[str] = "sink.test"

    sink_id: int
    sink_name: str
    by: str = ""
