"""Pydantic models of the alarms API: alarms with their place and transitions, the action bodies,
silences, the alarm rules, and the list filters. No flask, no database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from alarms.choices import (
    AlarmAction,
    AlarmKind,
    AlarmState,
    EventType,
    PerceivedSeverity,
    SilenceScope,
    Trigger,
)
from registry.api import schemas as s
from registry.choices import DeviceKind


def _instant(value: object) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("must be an ISO 8601 date-time with a UTC offset, e.g. 2026-12-02T03:00:00+01:00")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if dt.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2026-12-02T03:00:00+01:00")
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


#: an ISO 8601 date-time with its offset, read as UTC; a bare number is refused
Instant = Annotated[datetime, BeforeValidator(_instant), Field(description="ISO 8601 with a UTC offset")]
Text = s._text(10000)
RequiredText = s._text(10000, min_length=1)


def _choice(enum: type[Any]) -> Any:
    return Literal[tuple(enum.values())]


# --- responses -----------------------------------------------------------------------------------


class Place(BaseModel):
    """Where the alarm is, from the registry as it is now (none of it for an unknown caller)."""

    device_ani: str | None = Field(description="E.164")
    device_kind: DeviceKind | None
    site_name: str | None
    building: str | None
    location: str | None
    floor: str | None


class Transition(BaseModel):
    """One step of the alarm's life: who did what, when, from which state to which, and why."""

    model_config = ConfigDict(from_attributes=True)

    action: AlarmAction
    from_state: AlarmState | None = Field(description="none for the raise")
    to_state: AlarmState
    by: str = Field(description="the user, or `anigate` for the engine and its jobs")
    at: datetime
    note: str


class Alarm(BaseModel):
    """An alarm with ISA-18.2's state and X.733's fields."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: AlarmKind
    state: AlarmState
    severity: PerceivedSeverity = Field(description="X.733 perceived severity")
    event_type: EventType = Field(description="X.733 event type")
    probable_cause: str = Field(description="X.733 probable cause")
    specific_problem: str
    additional_text: str
    resource: str = Field(description="what the alarm is about: device:7, site:3, trunk:2, ani:+49...")
    latched: bool = Field(description="EN 81-28: closes only on rescue ended or a reset with a reason")
    center_id: int | None = Field(description="the security center that must act on it")
    device_id: int | None
    site_id: int | None
    trunk_id: int | None
    call_id: str | None = Field(description="SIP Call-ID of the call that raised it")
    first_at: datetime
    last_at: datetime
    count: int = Field(description="occurrences while open (de-duplication)")
    ack_deadline_at: datetime | None = Field(description="escalated to the next center if unacknowledged")
    acked_at: datetime | None
    acked_by: str
    escalations: int
    returned_at: datetime | None = Field(description="the condition ended")
    shelved_until: datetime | None
    silence_id: int | None = Field(description="the silence it is suppressed by")
    inhibited_by_id: int | None = Field(description="the wider alarm (trunk or site silent) inhibiting it")
    closed_at: datetime | None
    updated_at: datetime
    place: Place


class AlarmDetail(Alarm):
    transitions: list[Transition] = Field(description="oldest first")


class Silence(BaseModel):
    """A maintenance window of a device, site or trunk."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    scope: SilenceScope
    target_id: int = Field(description="id of the device, site or trunk")
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    expired_at: datetime | None = Field(description="when its end was processed (suppressed alarms woken)")
    active: bool = Field(description="in force now")


class RuleValues(BaseModel):
    kind: AlarmKind
    severity: PerceivedSeverity
    latched: bool
    enabled: bool


class AlarmRule(RuleValues):
    """A rule in force: what ``trigger`` raises for devices of ``device_kind``."""

    trigger: Trigger
    device_kind: DeviceKind | None = Field(description="none: any kind, unknown callers included")
    custom: bool = Field(description="an administrator's rule; false: the shipped default")
    default: RuleValues | None = Field(description="the shipped default for this trigger and kind, if any")


# --- paths, filters and bodies -------------------------------------------------------------------


class AlarmPath(BaseModel):
    id: s.Id


class SilencePath(BaseModel):
    id: s.Id


class RulePath(BaseModel):
    trigger: _choice(Trigger)  # type: ignore[valid-type]
    device_kind: Literal[(*DeviceKind.values(), "any")] = Field(  # type: ignore[misc]
        description="a device kind, or `any` for the rule of any kind (and unknown callers)"
    )


@cache
def alarm_filter(page_size: int, max_page_size: int) -> type[BaseModel]:
    """Alarm list filters plus pagination; repeat ``state``, ``severity`` or ``kind`` for several."""
    return create_model(
        "AlarmFilter",
        __base__=s.list_query(page_size, max_page_size),
        state=(list[_choice(AlarmState)] | None, Field(None, max_length=10)),  # type: ignore[misc]
        active=(
            bool | None,
            Field(
                None, description="true: the annunciated states (what an operator sees); false: the others"
            ),
        ),
        severity=(list[_choice(PerceivedSeverity)] | None, Field(None, max_length=10)),  # type: ignore[misc]
        kind=(list[_choice(AlarmKind)] | None, Field(None, max_length=20)),  # type: ignore[misc]
        site=(s.Id | None, Field(None, description="site id")),
        center=(s.Id | None, Field(None, description="security center id")),
        device=(s.Id | None, Field(None, description="device id")),
        first_since=(Instant | None, Field(None, description="first occurrence at or after")),
        first_until=(Instant | None, Field(None, description="first occurrence before")),
        last_since=(Instant | None, Field(None, description="last occurrence at or after")),
        last_until=(Instant | None, Field(None, description="last occurrence before")),
    )


@cache
def silence_filter(page_size: int, max_page_size: int) -> type[BaseModel]:
    return create_model(
        "SilenceFilter",
        __base__=s.list_query(page_size, max_page_size),
        active=(bool | None, Field(None, description="true: in force now; false: planned or over")),
        scope=(_choice(SilenceScope) | None, None),
        target=(s.Id | None, Field(None, description="id of the device, site or trunk")),
    )


class NoteBody(s._Input):
    """An optional note kept with the transition (`{}` for none)."""

    note: Text = ""  # type: ignore[valid-type]


class NoteRequired(s._Input):
    note: RequiredText  # type: ignore[valid-type]


class ResetBody(s._Input):
    """Close the alarm, a latched lift alarm too (EN 81-28: rescue ended by hand)."""

    model_config = ConfigDict(openapi_extra={"example": {"reason": "passengers freed by the fire brigade"}})

    reason: RequiredText  # type: ignore[valid-type]


class ShelveBody(s._Input):
    """Shelve until a time, or for some minutes (one of the two; at most 24 hours)."""

    model_config = ConfigDict(openapi_extra={"example": {"minutes": 60, "note": "lift engineer on site"}})

    until: Instant | None = None
    minutes: Annotated[int, Field(ge=1, le=24 * 60)] | None = None
    note: Text = ""  # type: ignore[valid-type]


class SilenceCreate(s._Input):
    """A maintenance window: alarms of the target raised in it are suppressed."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {
                "scope": "device",
                "target_id": 1,
                "ends_at": "2026-12-02T18:00:00+01:00",
                "reason": "lift refurbishment",
            }
        }
    )

    scope: _choice(SilenceScope)  # type: ignore[valid-type]
    target_id: s.Id = Field(description="id of the device, site or trunk")
    starts_at: Instant | None = Field(None, description="default: now")
    ends_at: Instant = Field(description="after starts_at, at most 31 days later")
    reason: s._text(2000, min_length=1)  # type: ignore[valid-type]


class SilenceUpdate(s._Input):
    """Move the end, or change the reason; nothing else of a silence changes."""

    model_config = ConfigDict(json_schema_extra=s._no_defaults)

    ends_at: Instant = None  # type: ignore[assignment]  (absent: unchanged; null is refused)
    reason: s._text(2000, min_length=1) = None  # type: ignore[valid-type]


class RulePut(s._Input):
    """What the trigger raises for that device kind."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {"kind": "call_flood", "severity": "major", "latched": False, "enabled": True}
        }
    )

    kind: _choice(AlarmKind)  # type: ignore[valid-type]
    severity: _choice(PerceivedSeverity)  # type: ignore[valid-type]
    latched: bool = False
    enabled: bool = True
