"""Pydantic models of the REST API: request bodies, query strings, path parameters, responses, problems.

They describe the wire format in the OpenAPI document and reject malformed input early; what a
valid registry object is stays decided by the cleaners in ``registry.services``. No flask, no database.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, field_validator
from pydantic.fields import FieldInfo

from registry.choices import (
    AniHeader,
    CallPriority,
    DeviceKind,
    DeviceStatus,
    FloodEffect,
    FloodScope,
    LineKind,
    ListKind,
    LocationKind,
    TrunkTrust,
)
from registry.db import MAX_ID
from registry.schedules import parse_windows

# --- building blocks ------------------------------------------------------------------------------


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


#: PostgreSQL text cannot hold NUL: the schema says so and the model refuses it (422), instead of
#: the driver failing. ``not``/``pattern`` rather than a negated class keeps generators fast.
_NO_NUL_SCHEMA = {"not": {"pattern": "\\x00"}}


def _text(max_length: int, *, min_length: int = 0, schema: dict[str, Any] | None = None, **kw: Any) -> Any:
    """A string of at most ``max_length`` characters without NUL."""
    return Annotated[
        str,
        Field(
            min_length=min_length,
            max_length=max_length,
            json_schema_extra=_NO_NUL_SCHEMA | (schema or {}),
            **kw,
        ),
        AfterValidator(_no_nul),
    ]


Name = _text(120, min_length=1)
Notes = _text(10000)
Id = Annotated[int, Field(ge=1, le=MAX_ID, description="object id")]
#: a reference: the id, or the natural key (site slug; trunk, schedule or center name)
Ref = Annotated[
    Id | _text(250, min_length=1),
    Field(description="id (integer) or natural key (site slug; trunk, schedule or center name)"),
]
Region = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2 code")]
IsoDate = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", json_schema_extra={"format": "date"})]
DateTimeText = _text(
    64, min_length=1, schema={"format": "date-time"}, description="ISO 8601 date-time with a UTC offset"
)
Timezone = _text(64, min_length=1, description="IANA timezone, e.g. Europe/Berlin")
SipUri = Annotated[str, Field(max_length=250, pattern=r'^[sS][iI][pP][sS]?:[^\s<>"\x00]+$')]
#: a SIP URI, or '' for none
OptionalSipUri = Annotated[
    str,
    Field(
        max_length=250,
        pattern=r'^([sS][iI][pP][sS]?:[^\s<>"\x00]+)?$',
        description="sip: or sips: URI; empty: none",
    ),
]
#: ``Header-Name`` or ``Header-Name: value`` (RFC 3261 token, then a value without control characters)
TestCallMarker = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^([A-Za-z0-9!%*_+`'~.-]+([ \t]*:[ \t]*[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?)?$",
        description="header that marks an EN 81-28 test call on this trunk: `Name` (present) or "
        "`Name: value` (value contained, case-insensitive); empty: none",
        examples=["X-Test-Call", "Call-Info: test"],
    ),
]
HHMM = r"([01][0-9]|2[0-3]):[0-5][0-9]"
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _choice(enum: type[Any]) -> Any:
    """The values of a registry choice set as a JSON Schema enum (strict: exactly these strings)."""
    return Literal[tuple(enum.values())]


class _Input(BaseModel):
    # strict: no "1" -> 1 or 0 -> False coercions; the JSON a client sends is what it meant
    model_config = ConfigDict(strict=True, extra="forbid")


def _no_defaults(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


def patch_model(model: type[BaseModel], name: str) -> type[BaseModel]:
    """The PATCH body of ``model``: every field optional; only the fields sent are changed."""
    fields: dict[str, Any] = {}
    for key, info in model.model_fields.items():
        fields[key] = (info.annotation, FieldInfo.merge_field_infos(info, default=None, default_factory=None))
    config = ConfigDict(strict=True, extra="forbid", json_schema_extra=_no_defaults)
    patch = create_model(name, __config__=config, **fields)
    patch.__doc__ = (
        f"Fields of {model.__name__.removesuffix('Create').lower()} to change; others keep their value."
    )
    return patch


# --- problems (RFC 9457) -------------------------------------------------------------------------


class Problem(BaseModel):
    """An error, as ``application/problem+json`` (RFC 9457)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="URI of the problem type")
    title: str = Field(description="the HTTP status phrase")
    status: int
    detail: str | None = Field(None, description="what went wrong, for a human")


class ValidationProblem(Problem):
    """Input that cannot be stored: one message per invalid field."""

    errors: dict[str, str] = Field(description="field name (dotted path when nested) -> message")
    more_errors: int | None = Field(
        None, description="errors not listed (`errors` names at most 20 fields), when there are more"
    )


class ConflictProblem(Problem):
    """The change clashes with an existing object (duplicate ANI, object still in use)."""

    field: str | None = None
    existing_id: int | None = Field(None, description="id of the object that already holds the value")
    existing: str | None = Field(None, description="URL of that object")


# --- query strings and path parameters -----------------------------------------------------------


def _plain_query_schema(schema: dict[str, Any]) -> None:
    """A query parameter is absent or has a value: drop pydantic's ``anyOf [..., null]`` and null default."""
    for name, prop in list(schema.get("properties", {}).items()):
        members = prop.get("anyOf")
        if members and {"type": "null"} in members:
            rest = [m for m in members if m != {"type": "null"}]
            merged = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
            if len(rest) == 1:
                merged = {**rest[0], **merged}
            else:
                merged["anyOf"] = rest
            schema["properties"][name] = merged
        elif prop.get("default", 0) is None:
            del prop["default"]


_QUERY_CONFIG = ConfigDict(extra="forbid", json_schema_extra=_plain_query_schema)


class ObjectPath(BaseModel):
    id: Id


class NumberPath(BaseModel):
    number: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="ANI in any written form (+49 30 1234567, 0301234567, tel:..., sip:...@host), "
            "URL-encoded",
        ),
    ]


class ByAniQuery(BaseModel):
    model_config = _QUERY_CONFIG

    region: Region | None = Field(None, description="region for national forms; default: the server's")


@cache
def list_query(page_size: int, max_page_size: int) -> type[BaseModel]:
    """Pagination parameters, bounded by the server's settings."""
    return create_model(
        "ListQuery",
        __config__=_QUERY_CONFIG,
        page=(int, Field(1, ge=1, le=MAX_ID, description="page number, from 1")),
        per_page=(int, Field(page_size, ge=1, le=max_page_size, description="items per page")),
    )


@cache
def device_filter(page_size: int, max_page_size: int) -> type[BaseModel]:
    """Device list filters (NetBox style) plus pagination."""
    return create_model(
        "DeviceFilter",
        __base__=list_query(page_size, max_page_size),
        site=(
            _text(64, description="site id or slug") | None,
            None,
        ),
        kind=(_choice(DeviceKind) | None, None),
        trunk=(Id | None, Field(None, description="trunk id")),
        status=(_choice(DeviceStatus) | None, None),
        location=(Id | None, Field(None, description="location id")),
        q=(
            _text(200, description="text in ANI, serial, vendor, model, notes") | None,
            None,
        ),
    )


# --- request bodies ------------------------------------------------------------------------------


class WindowIn(_Input):
    """Days (0 = Monday .. 6, or mon..sun) and a wall-clock span; end at or before start crosses midnight."""

    days: list[Annotated[int, Field(ge=0, le=6)] | DayName] = Field(min_length=1, max_length=7)
    start: str = Field(pattern=f"^{HHMM}$", examples=["08:00"])
    end: str = Field(pattern=f"^({HHMM}|24:00)$", examples=["18:00"])


class CenterCreate(_Input):
    """A security center whose operators answer calls."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {
                "name": "Hamburg Control",
                "sip_uris": ["sip:hamburg@192.0.2.10"],
                "languages": ["de", "en"],
                "timezone": "Europe/Berlin",
                "countries": ["DE"],
            }
        }
    )

    name: Name
    sip_uris: list[SipUri] = Field(min_length=1, max_length=20, description="tried in order")
    phone: _text(32) = ""  # type: ignore[valid-type]
    languages: list[Annotated[str, Field(pattern=r"^[a-zA-Z]{2,3}$")]] = Field(
        default_factory=list, max_length=20, description="ISO 639 codes, preferred first"
    )
    timezone: Timezone = "UTC"
    ack_deadlines: dict[
        Annotated[str, Field(pattern="^(critical|major|minor|warning)$")],
        Annotated[int, Field(ge=1, le=3600)],
    ] = Field(
        default_factory=dict,
        description="seconds per X.733 severity before an unacknowledged alarm escalates to the next center "
        "(a severity left out takes the service's default: critical 45 s)",
        examples=[{"critical": 30}],
    )
    countries: list[Region] = Field(
        default_factory=list,
        max_length=300,
        description=(
            "ISO 3166-1 alpha-2 codes: unknown callers from these countries come to this center "
            "first, before the language rule"
        ),
    )


class ScheduleCreate(_Input):
    """Weekly windows plus holidays."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {
                "name": "weekdays",
                "windows": [{"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "19:00"}],
                "holidays": ["2026-12-25"],
            }
        }
    )

    name: Name
    windows: list[WindowIn] = Field(default_factory=list, max_length=100)
    holidays: list[IsoDate] = Field(default_factory=list, max_length=1000)


class SiteCreate(_Input):
    """A property whose devices call one of the centers."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {
                "name": "Harbour Garage",
                "slug": "harbour-garage",
                "country": "DE",
                "timezone": "Europe/Berlin",
            }
        }
    )

    name: Name
    slug: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    address: _text(2000) = ""  # type: ignore[valid-type]
    country: Region
    timezone: Timezone
    day_center: Ref | None = None
    out_of_hours_center: Ref | None = None
    business_hours: Ref | None = None
    holidays: list[IsoDate] = Field(default_factory=list, max_length=1000)
    maintenance_contact: OptionalSipUri = Field(
        "", description="the maintenance company: calls of the site's devices in maintenance go there first"
    )
    notes: Notes = ""


class LocationCreate(_Input):
    """A place inside a site where a device hangs."""

    model_config = ConfigDict(
        openapi_extra={"example": {"site": 1, "building": "B", "kind": "elevator_cabin", "name": "Lift 7"}}
    )

    site: Ref
    building: _text(120) = ""  # type: ignore[valid-type]
    kind: _choice(LocationKind)  # type: ignore[valid-type]
    name: Name
    floor: _text(32) = ""  # type: ignore[valid-type]
    notes: Notes = ""
    camera_ref: _text(200) = ""  # type: ignore[valid-type]


class TrunkCreate(_Input):
    """A carrier or PBX connection, recognised by its source addresses."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {
                "name": "carrier-b",
                "source_addresses": ["198.51.100.0/28"],
                "trust": "trusted",
                "ani_header": "pai",
                "default_region": "DE",
            }
        }
    )

    name: Name
    carrier: _text(120) = ""  # type: ignore[valid-type]
    source_addresses: list[_text(64, min_length=1)] = Field(  # type: ignore[valid-type]
        min_length=1, max_length=100, description="IP addresses or CIDR networks"
    )
    trust: _choice(TrunkTrust)  # type: ignore[valid-type]
    ani_header: _choice(AniHeader) = AniHeader.PAI.value  # type: ignore[valid-type]
    default_region: Region
    expects_attestation: bool = False
    test_call_marker: TestCallMarker = ""
    rescue_ended_marker: TestCallMarker = ""
    pending_site: Ref | None = Field(
        None, description="opt-in: unknown callers on this trunk are added to this site as pending devices"
    )
    notes: Notes = ""


class DeviceCreate(_Input):
    """A SIP emergency device, known by its ANI."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {
                "ani": "+49 30 9876543",
                "kind": "elevator_phone",
                "site": 1,
                "vendor": "Acme",
                "test_interval_hours": 24,
            }
        }
    )

    ani: _text(  # type: ignore[valid-type]
        64,
        min_length=1,
        description="the number in any written form; stored in E.164. National forms are read with "
        "the trunk's region, else the site's country",
    )
    kind: _choice(DeviceKind)  # type: ignore[valid-type]
    vendor: _text(120) = ""  # type: ignore[valid-type]
    model: _text(120) = ""  # type: ignore[valid-type]
    serial: _text(120) = ""  # type: ignore[valid-type]
    site: Ref
    location: Ref | None = Field(None, description="location id, name or building/name within the site")
    trunk: Ref | None = None
    active_schedule: Ref | None = Field(None, description="when the device may call; none: any time")
    test_interval_hours: Annotated[int, Field(ge=1, le=24 * 365)] | None = Field(
        None, description="periodic test-call interval; default 72 for elevator phones (EN 81-28)"
    )
    test_ani: _text(64) | None = Field(  # type: ignore[valid-type]
        None,
        description="a second number the device uses only for its periodic test calls; stored in E.164, "
        "read like the ANI",
    )
    status: _choice(DeviceStatus) = DeviceStatus.ACTIVE.value  # type: ignore[valid-type]
    maintenance_until: DateTimeText | None = None
    maintenance_contact: OptionalSipUri = Field(
        "", description="called first while the device is in maintenance (else the site's)"
    )
    notes: Notes = ""


class DnisRuleCreate(_Input):
    """A dialled number anigate answers for, and what kind of line it is."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {"number": "+49 30 2390 5000", "line": "test", "target_uri": "sip:test-rx@192.0.2.20"}
        }
    )

    number: _text(  # type: ignore[valid-type]
        64,
        min_length=1,
        description="a telephone number in any written form (stored in E.164, national forms read with "
        "the server's region), else digits as dialled (0-9 * # +), e.g. 112",
    )
    line: _choice(LineKind)  # type: ignore[valid-type]
    priority: _choice(CallPriority) | None = Field(  # type: ignore[valid-type]
        None, description="default by line: emergency -> emergency, intercom -> normal, test -> non-urgent"
    )
    target_uri: OptionalSipUri = Field("", description="the test receiver; required on a test line")
    description: _text(200) = ""  # type: ignore[valid-type]


class NumberListEntryCreate(_Input):
    """A calling number or prefix on the blocklist or the graylist."""

    model_config = ConfigDict(
        openapi_extra={"example": {"pattern": "+4930555*", "kind": "block", "reason": "prank calls"}}
    )

    pattern: _text(  # type: ignore[valid-type]
        64,
        min_length=1,
        description="a telephone number in any written form (stored in E.164), or a prefix: + then 1 "
        "to 15 digits then *",
    )
    kind: _choice(ListKind)  # type: ignore[valid-type]
    reason: Notes = ""
    expires_at: DateTimeText | None = Field(None, description="the entry stops applying then; none: never")


class FloodRuleCreate(_Input):
    """A call-flood limit: more than max_calls within window_seconds."""

    model_config = ConfigDict(
        openapi_extra={
            "example": {
                "scope": "ani",
                "device_kind": "elevator_phone",
                "max_calls": 5,
                "window_seconds": 300,
                "effect": "urgent",
            }
        }
    )

    scope: _choice(FloodScope)  # type: ignore[valid-type]
    device_kind: _choice(DeviceKind) | None = Field(  # type: ignore[valid-type]
        None, description="none: callers without a more specific rule, unknown callers included"
    )
    max_calls: Annotated[int, Field(ge=1, le=100_000)]
    window_seconds: Annotated[int, Field(ge=1, le=86_400)]
    effect: _choice(FloodEffect) = FloodEffect.FLAG.value  # type: ignore[valid-type]


CenterUpdate = patch_model(CenterCreate, "CenterUpdate")
ScheduleUpdate = patch_model(ScheduleCreate, "ScheduleUpdate")
SiteUpdate = patch_model(SiteCreate, "SiteUpdate")
LocationUpdate = patch_model(LocationCreate, "LocationUpdate")
TrunkUpdate = patch_model(TrunkCreate, "TrunkUpdate")
DeviceUpdate = patch_model(DeviceCreate, "DeviceUpdate")
DnisRuleUpdate = patch_model(DnisRuleCreate, "DnisRuleUpdate")
NumberListEntryUpdate = patch_model(NumberListEntryCreate, "NumberListEntryUpdate")
FloodRuleUpdate = patch_model(FloodRuleCreate, "FloodRuleUpdate")


# --- responses -----------------------------------------------------------------------------------


_READ_ONLY: Any = {"readOnly": True}


class _Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(json_schema_extra=_READ_ONLY)
    created_at: datetime = Field(json_schema_extra=_READ_ONLY)
    updated_at: datetime = Field(json_schema_extra=_READ_ONLY)


class Window(BaseModel):
    """A schedule window in canonical form: days 0 (Monday) to 6, times HH:MM, end 24:00 for midnight."""

    days: list[int]
    start: str
    end: str


class Center(_Output):
    name: str
    sip_uris: list[str]
    phone: str
    languages: list[str]
    timezone: str
    countries: list[str]
    ack_deadlines: dict[str, int]


class Schedule(_Output):
    name: str
    windows: list[Window]
    holidays: list[str]

    @field_validator("windows", mode="before")
    @classmethod
    def _canonical(cls, raw: Any) -> Any:
        return [
            {
                "days": sorted(w.days),
                "start": w.start.strftime("%H:%M"),
                "end": "24:00" if w.end is None else w.end.strftime("%H:%M"),
            }
            for w in parse_windows(raw)
        ]


class Site(_Output):
    name: str
    slug: str
    address: str
    country: str
    timezone: str
    day_center_id: int | None
    out_of_hours_center_id: int | None
    business_hours_id: int | None
    holidays: list[str]
    maintenance_contact: str
    notes: str


class Location(_Output):
    site_id: int
    building: str
    kind: LocationKind
    name: str
    floor: str
    notes: str
    camera_ref: str


class Trunk(_Output):
    name: str
    carrier: str
    source_addresses: list[str]
    trust: TrunkTrust
    ani_header: AniHeader
    default_region: str
    expects_attestation: bool
    test_call_marker: str
    rescue_ended_marker: str
    pending_site_id: int | None
    notes: str


class Device(_Output):
    ani: str = Field(description="E.164")
    test_ani: str | None = Field(description="E.164; the number of the device's test calls, if any")
    kind: DeviceKind
    vendor: str
    model: str
    serial: str
    site_id: int
    location_id: int | None
    trunk_id: int | None
    active_schedule_id: int | None
    test_interval_hours: int | None
    status: DeviceStatus
    maintenance_until: datetime | None
    maintenance_contact: str
    last_call_at: datetime | None = Field(
        description="last call routed for this device", json_schema_extra=_READ_ONLY
    )
    last_test_call_at: datetime | None = Field(
        description="last periodic test call", json_schema_extra=_READ_ONLY
    )
    last_heartbeat_at: datetime | None = Field(
        description="last SIP OPTIONS keep-alive from the device", json_schema_extra=_READ_ONLY
    )
    notes: str


class DnisRule(_Output):
    number: str = Field(description="E.164, or digits as dialled")
    line: LineKind
    priority: CallPriority
    target_uri: str
    description: str


class NumberListEntry(_Output):
    pattern: str = Field(description="E.164 number, or a prefix ending in *")
    kind: ListKind
    reason: str
    expires_at: datetime | None


class FloodRule(_Output):
    scope: FloodScope
    device_kind: DeviceKind | None = Field(description="none: any kind, unknown callers included")
    max_calls: int
    window_seconds: int
    effect: FloodEffect


def page_model(item: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        f"{item.__name__}Page",
        items=(list[item], ...),  # type: ignore[valid-type]
        total=(int, Field(description="matching objects on all pages")),
        page=(int, ...),
        per_page=(int, ...),
    )
