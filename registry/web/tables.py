"""What the registry pages show of each object: list columns, detail properties, change history.

Values become :class:`Cell` s of plain text (plus a link or a badge class); the templates escape the
text, so nothing from outside is ever marked safe. May import flask (``url_for``) and the registry
core; of routing, only the built-in flood limits (``routing.snapshot.DEFAULT_FLOOD_LIMITS``), to show them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from registry.choices import ChangeAction, DeviceKind, DeviceStatus, FloodScope, LabelledChoice, ListKind
from registry.db import Base
from registry.models import (
    ChangeLog,
    Device,
    DnisRule,
    FloodRule,
    Location,
    NumberListEntry,
    Schedule,
    SecurityCenter,
    Site,
    Trunk,
    User,
)
from registry.queries import periodic_test_state
from registry.schedules import window_lines
from routing.snapshot import DEFAULT_FLOOD_LIMITS

DASH = "—"


@dataclass(frozen=True)
class Cell:
    """One value on a page: ``text`` (escaped by the template), an optional link and badge class."""

    text: str = DASH
    href: str | None = None
    #: None: no badge; "ok", "warn", "bad" or "" (neutral): a badge of that class
    badge: str | None = None
    #: keep the line breaks of multi-line text (notes, addresses)
    multiline: bool = False


@dataclass(frozen=True)
class Column:
    label: str
    cell: Callable[[Any], Cell]
    #: hidden on a phone-width screen
    minor: bool = False


@dataclass(frozen=True)
class Prop:
    key: str
    label: str
    cell: Cell


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else DASH


def text(value: Any, *, multiline: bool = False) -> Cell:
    if value is None or value == "" or value == []:
        return Cell()
    if isinstance(value, LabelledChoice):
        return Cell(value.label)
    if isinstance(value, datetime):
        return Cell(when(value))
    if isinstance(value, bool):
        return Cell("yes" if value else "no")
    if isinstance(value, list | tuple):
        return Cell(("\n" if multiline else ", ").join(str(v) for v in value), multiline=multiline)
    return Cell(str(value), multiline=multiline)


def link(obj: Any, label: str, endpoint: str) -> Cell:
    return Cell(label, url_for(endpoint, id=obj.id)) if obj is not None else Cell()


def site_cell(site: Site | None) -> Cell:
    return link(site, site.name if site else "", "registry.site_detail")


def location_cell(loc: Location | None) -> Cell:
    return link(loc, location_name(loc) if loc else "", "registry.location_detail")


def trunk_cell(trunk: Trunk | None) -> Cell:
    return link(trunk, trunk.name if trunk else "", "registry.trunk_detail")


def center_cell(center: SecurityCenter | None) -> Cell:
    return link(center, center.name if center else "", "registry.center_detail")


def schedule_cell(schedule: Schedule | None) -> Cell:
    return link(schedule, schedule.name if schedule else "", "registry.schedule_detail")


def location_name(loc: Location) -> str:
    return f"{loc.building} / {loc.name}" if loc.building else loc.name


_STATUS_BADGE = {
    DeviceStatus.ACTIVE: "ok",
    DeviceStatus.MAINTENANCE: "warn",
    DeviceStatus.PENDING: "warn",
    DeviceStatus.DECOMMISSIONED: "",
}
_TEST_BADGE = {"overdue": "bad", "due": "warn", "ok": "ok"}


def status_cell(device: Device) -> Cell:
    return Cell(device.status.label, badge=_STATUS_BADGE.get(device.status, ""))


def test_state_cell(device: Device, now: datetime) -> Cell:
    state = periodic_test_state(device, now)
    return Cell(state, badge=_TEST_BADGE[state]) if state else Cell()


# --- list columns ---------------------------------------------------------------------------------


def device_columns(now: datetime) -> tuple[Column, ...]:
    return (
        Column("ANI", lambda d: link(d, d.ani, "registry.device_detail")),
        Column("Kind", lambda d: text(d.kind)),
        Column("Status", status_cell),
        Column("Site", lambda d: site_cell(d.site)),
        Column("Location", lambda d: location_cell(d.location)),
        Column("Trunk", lambda d: trunk_cell(d.trunk), minor=True),
        Column("Last call", lambda d: text(d.last_call_at), minor=True),
        Column("Last test call", lambda d: text(d.last_test_call_at), minor=True),
        Column("Test calls", lambda d: test_state_cell(d, now)),
    )


SITE_COLUMNS = (
    Column("Name", lambda s: link(s, s.name, "registry.site_detail")),
    Column("Slug", lambda s: text(s.slug)),
    Column("Country", lambda s: text(s.country)),
    Column("Timezone", lambda s: text(s.timezone), minor=True),
    Column("Day center", lambda s: center_cell(s.day_center)),
    Column("Out-of-hours center", lambda s: center_cell(s.out_of_hours_center), minor=True),
)
LOCATION_COLUMNS = (
    Column("Name", lambda loc: link(loc, loc.name, "registry.location_detail")),
    Column("Building", lambda loc: text(loc.building)),
    Column("Kind", lambda loc: text(loc.kind)),
    Column("Floor", lambda loc: text(loc.floor), minor=True),
    Column("Site", lambda loc: site_cell(loc.site)),
)
TRUNK_COLUMNS = (
    Column("Name", lambda t: link(t, t.name, "registry.trunk_detail")),
    Column("Carrier", lambda t: text(t.carrier)),
    Column("Trust", lambda t: Cell(t.trust.value, badge="ok" if t.trust.value == "trusted" else "warn")),
    Column("ANI header", lambda t: text(t.ani_header), minor=True),
    Column("Source addresses", lambda t: text(t.source_addresses)),
    Column("Region", lambda t: text(t.default_region), minor=True),
)
CENTER_COLUMNS = (
    Column("Name", lambda c: link(c, c.name, "registry.center_detail")),
    Column("SIP URIs", lambda c: text(c.sip_uris)),
    Column("Phone", lambda c: text(c.phone), minor=True),
    Column("Languages", lambda c: text(c.languages)),
    Column("Countries", lambda c: text(c.countries)),
    Column("Timezone", lambda c: text(c.timezone), minor=True),
)


# --- routing rules: schedules, dialled numbers, number lists, flood limits ---------------------------


def windows_cell(s: Schedule) -> Cell:
    return text(window_lines(s.windows), multiline=True)


_LIST_BADGE = {ListKind.BLOCK: "bad", ListKind.GRAY: "warn"}


def list_kind_cell(e: NumberListEntry) -> Cell:
    return Cell(e.kind.value, badge=_LIST_BADGE.get(e.kind, ""))


def in_force_cell(e: NumberListEntry, now: datetime) -> Cell:
    """Whether the entry still applies: an expired one is kept but no longer consulted."""
    if e.expires_at is not None and e.expires_at <= now:
        return Cell("expired", badge="")
    return Cell("in force", badge="ok")


def device_kind_text(kind: LabelledChoice | None) -> Cell:
    return text(kind) if kind is not None else Cell("any kind")


def flood_rule_name(scope: FloodScope, kind: DeviceKind | None) -> str:
    return f"{scope.label}, {kind.label if kind else 'any kind'}"


def flood_limit_text(max_calls: int, window_seconds: int) -> str:
    return f"more than {max_calls} calls in {window_seconds} s"


def flood_defaults() -> str:
    """The built-in limits a flood rule of the same scope and device kind replaces, in one line."""
    limits = "; ".join(
        f"{flood_rule_name(d.scope, d.device_kind)}: "
        f"{flood_limit_text(d.max_calls, d.window_seconds)} ({d.effect.label.lower()})"
        for d in DEFAULT_FLOOD_LIMITS
    )
    return f"A rule replaces the built-in limit for the same scope and device kind. Built-in: {limits}."


SCHEDULE_COLUMNS = (
    Column("Name", lambda s: link(s, s.name, "registry.schedule_detail")),
    Column("Windows", windows_cell),
    Column("Holidays", lambda s: text(s.holidays), minor=True),
)
DNIS_RULE_COLUMNS = (
    Column("Number", lambda r: link(r, r.number, "registry.dnis_rule_detail")),
    Column("Line", lambda r: text(r.line)),
    Column("Priority", lambda r: text(r.priority)),
    Column("Target URI", lambda r: text(r.target_uri)),
    Column("Description", lambda r: text(r.description), minor=True),
)


def number_list_entry_columns(now: datetime) -> tuple[Column, ...]:
    return (
        Column("Number or prefix", lambda e: link(e, e.pattern, "registry.number_list_entry_detail")),
        Column("List", list_kind_cell),
        Column("Expires", lambda e: text(e.expires_at)),
        Column("State", lambda e: in_force_cell(e, now)),
        Column("Reason", lambda e: text(e.reason), minor=True),
    )


FLOOD_RULE_COLUMNS = (
    Column("Counted", lambda r: link(r, r.scope.label, "registry.flood_rule_detail")),
    Column("Device kind", lambda r: device_kind_text(r.device_kind)),
    Column("Limit", lambda r: Cell(flood_limit_text(r.max_calls, r.window_seconds))),
    Column("Effect", lambda r: text(r.effect)),
)


# --- detail properties ----------------------------------------------------------------------------


def device_props(d: Device, now: datetime) -> list[Prop]:
    return [
        Prop("ani", "ANI", text(d.ani)),
        Prop("test_ani", "Test ANI", text(d.test_ani)),
        Prop("kind", "Kind", text(d.kind)),
        Prop("status", "Status", status_cell(d)),
        Prop("site", "Site", site_cell(d.site)),
        Prop("location", "Location", location_cell(d.location)),
        Prop("trunk", "Trunk", trunk_cell(d.trunk)),
        Prop("active_schedule", "Active hours", schedule_cell(d.active_schedule)),
        Prop("test_interval_hours", "Test interval (hours)", text(d.test_interval_hours)),
        Prop("test_call_state", "Test calls", test_state_cell(d, now)),
        Prop("last_call_at", "Last call", text(d.last_call_at)),
        Prop("last_test_call_at", "Last test call", text(d.last_test_call_at)),
        Prop("last_heartbeat_at", "Last heartbeat", text(d.last_heartbeat_at)),
        Prop("maintenance_until", "Maintenance until", text(d.maintenance_until)),
        Prop("maintenance_contact", "Maintenance contact", text(d.maintenance_contact)),
        Prop("vendor", "Vendor", text(d.vendor)),
        Prop("model", "Model", text(d.model)),
        Prop("serial", "Serial number", text(d.serial)),
        Prop("notes", "Notes", text(d.notes, multiline=True)),
        Prop("created_at", "Created", text(d.created_at)),
        Prop("updated_at", "Updated", text(d.updated_at)),
    ]


def site_props(s: Site, now: datetime) -> list[Prop]:
    return [
        Prop("name", "Name", text(s.name)),
        Prop("slug", "Slug", text(s.slug)),
        Prop("address", "Address", text(s.address, multiline=True)),
        Prop("country", "Country", text(s.country)),
        Prop("timezone", "Timezone", text(s.timezone)),
        Prop("day_center", "Day center", center_cell(s.day_center)),
        Prop("out_of_hours_center", "Out-of-hours center", center_cell(s.out_of_hours_center)),
        Prop("business_hours", "Business hours", schedule_cell(s.business_hours)),
        Prop("holidays", "Holidays", text(s.holidays)),
        Prop("maintenance_contact", "Maintenance contact", text(s.maintenance_contact)),
        Prop("notes", "Notes", text(s.notes, multiline=True)),
        Prop("devices", "Devices", Cell("devices of this site", url_for("registry.device_list", site=s.id))),
    ]


def location_props(loc: Location, now: datetime) -> list[Prop]:
    return [
        Prop("site", "Site", site_cell(loc.site)),
        Prop("building", "Building", text(loc.building)),
        Prop("name", "Name", text(loc.name)),
        Prop("kind", "Kind", text(loc.kind)),
        Prop("floor", "Floor", text(loc.floor)),
        Prop("camera_ref", "Camera", text(loc.camera_ref)),
        Prop("notes", "Notes", text(loc.notes, multiline=True)),
    ]


def trunk_props(t: Trunk, now: datetime) -> list[Prop]:
    return [
        Prop("name", "Name", text(t.name)),
        Prop("carrier", "Carrier", text(t.carrier)),
        Prop("source_addresses", "Source addresses", text(t.source_addresses, multiline=True)),
        Prop("trust", "Trust", text(t.trust)),
        Prop("ani_header", "ANI header", text(t.ani_header)),
        Prop("default_region", "Default region", text(t.default_region)),
        Prop("expects_attestation", "Expects attestation", text(t.expects_attestation)),
        Prop("test_call_marker", "Test-call marker", text(t.test_call_marker)),
        Prop("rescue_ended_marker", "Rescue-ended marker", text(t.rescue_ended_marker)),
        Prop("pending_site", "Pending site", site_cell(t.pending_site)),
        Prop("notes", "Notes", text(t.notes, multiline=True)),
        Prop(
            "devices", "Devices", Cell("devices on this trunk", url_for("registry.device_list", trunk=t.id))
        ),
    ]


def center_props(c: SecurityCenter, now: datetime) -> list[Prop]:
    return [
        Prop("name", "Name", text(c.name)),
        Prop("sip_uris", "SIP URIs", text(c.sip_uris, multiline=True)),
        Prop("phone", "Phone", text(c.phone)),
        Prop("languages", "Languages", text(c.languages)),
        Prop("countries", "Countries", text(c.countries)),
        Prop(
            "ack_deadlines",
            "Acknowledgement deadlines",
            text(", ".join(f"{k} {v} s" for k, v in (c.ack_deadlines or {}).items()) or "service defaults"),
        ),
        Prop("timezone", "Timezone", text(c.timezone)),
    ]


def schedule_props(s: Schedule, now: datetime) -> list[Prop]:
    return [
        Prop("name", "Name", text(s.name)),
        Prop("windows", "Windows", windows_cell(s)),
        Prop("holidays", "Holidays", text(s.holidays)),
        Prop("created_at", "Created", text(s.created_at)),
        Prop("updated_at", "Updated", text(s.updated_at)),
    ]


def dnis_rule_props(r: DnisRule, now: datetime) -> list[Prop]:
    return [
        Prop("number", "Number", text(r.number)),
        Prop("line", "Line", text(r.line)),
        Prop("priority", "Priority", text(r.priority)),
        Prop("target_uri", "Target URI", text(r.target_uri)),
        Prop("description", "Description", text(r.description)),
        Prop("created_at", "Created", text(r.created_at)),
        Prop("updated_at", "Updated", text(r.updated_at)),
    ]


def number_list_entry_props(e: NumberListEntry, now: datetime) -> list[Prop]:
    return [
        Prop("pattern", "Number or prefix", text(e.pattern)),
        Prop("kind", "List", text(e.kind)),
        Prop("expires_at", "Expires", text(e.expires_at)),
        Prop("state", "State", in_force_cell(e, now)),
        Prop("reason", "Reason", text(e.reason, multiline=True)),
        Prop("created_at", "Created", text(e.created_at)),
        Prop("updated_at", "Updated", text(e.updated_at)),
    ]


def flood_rule_props(r: FloodRule, now: datetime) -> list[Prop]:
    return [
        Prop("scope", "Counted", text(r.scope)),
        Prop("device_kind", "Device kind", device_kind_text(r.device_kind)),
        Prop("max_calls", "Max calls", text(r.max_calls)),
        Prop("window_seconds", "Window (seconds)", text(r.window_seconds)),
        Prop("effect", "Effect", text(r.effect)),
        Prop("created_at", "Created", text(r.created_at)),
        Prop("updated_at", "Updated", text(r.updated_at)),
    ]


# --- change history -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    at: str
    actor: str
    source: str
    action: str
    changes: list[str]


def _value(value: Any) -> str:
    if value is None or value == "" or value == []:
        return DASH
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


#: logged reference columns and the table each names (the change log keeps ids, people read names)
_REFERENCES: dict[str, type[Site | Location | Trunk | SecurityCenter | Schedule]] = {
    "site_id": Site,
    "pending_site_id": Site,
    "location_id": Location,
    "trunk_id": Trunk,
    "center_id": SecurityCenter,
    "day_center_id": SecurityCenter,
    "out_of_hours_center_id": SecurityCenter,
    "business_hours_id": Schedule,
    "active_schedule_id": Schedule,
}
#: model -> id -> name, for the references of one page of history
Names = dict[type[Base], dict[int, str]]


def _reference_names(session: Session | None, entries: Sequence[ChangeLog]) -> Names:
    """The names of every object the entries refer to: one query per referenced table, not per row."""
    wanted: dict[type[Base], set[int]] = {}
    for e in entries:
        for values in (e.before or {}, e.after or {}):
            for key, model in _REFERENCES.items():
                ref = values.get(key)
                if isinstance(ref, int) and not isinstance(ref, bool):
                    wanted.setdefault(model, set()).add(ref)
    names: Names = {}
    if session is None:
        return names
    for table, ids in wanted.items():
        rows = session.scalars(select(table).where(table.id.in_(sorted(ids))))  # type: ignore[attr-defined]
        names[table] = {
            row.id: location_name(row) if isinstance(row, Location) else row.name  # type: ignore[attr-defined]
            for row in rows
        }
    return names


def _field(key: str, value: Any, names: Names) -> tuple[str, str]:
    """A logged column as people read it: ``site: Spree Tower`` for ``site_id: 1``; an object since
    deleted is ``site: #7 (deleted)``."""
    model = _REFERENCES.get(key)
    if model is None:
        return key, _value(value)
    label = key.removesuffix("_id")
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        return label, _value(value)
    name = names.get(model, {}).get(value)
    return label, name if name is not None else f"#{value} (deleted)"


def _changes(entry: ChangeLog, names: Names) -> list[str]:
    if entry.action == ChangeAction.UPDATE:
        before, after = entry.before or {}, entry.after or {}
        out = []
        for key in after:
            if key == "id" or before.get(key) == after.get(key):
                continue
            label, old = _field(key, before.get(key), names)
            new = _field(key, after.get(key), names)[1]
            out.append(f"{label}: {old} → {new}")
        return out
    if entry.action == ChangeAction.CREATE:
        after = entry.after or {}
        fields = [_field(key, v, names) for key, v in after.items() if key != "id" and _value(v) != DASH]
        return [f"{label}: {shown}" for label, shown in fields]
    return []


def history(entries: Sequence[ChangeLog]) -> list[HistoryRow]:
    """The rows of a change history, references named (the entries' own session looks them up)."""
    names = _reference_names(object_session(entries[0]) if entries else None, entries)
    return [
        HistoryRow(when(e.at), e.actor, e.source, ChangeAction(e.action).label, _changes(e, names))
        for e in entries
    ]


# --- users (admins only) ---------------------------------------------------------------------------


def user_scope(u: User) -> Cell:
    """A facility manager's sites (slugs), else the user's center."""
    if u.sites:
        return Cell(", ".join(sorted(s.slug for s in u.sites)))
    return text(u.center.name if u.center else None)


def user_locked(u: User, now: datetime) -> Cell:
    if u.locked_until is not None and u.locked_until > now:
        return Cell(f"locked until {when(u.locked_until)}", badge="bad")
    return Cell()


def user_active(u: User) -> Cell:
    return Cell("active", badge="ok") if u.is_active else Cell("inactive", badge="")


def user_columns(now: datetime) -> list[Column]:
    return [
        Column("Username", lambda u: Cell(u.username, href=url_for("registry.user_detail", id=u.id))),
        Column("Role", lambda u: text(u.role)),
        Column("Sites or center", user_scope),
        Column("Active", user_active),
        Column("Locked", lambda u: user_locked(u, now)),
        Column("Last change", lambda u: text(u.updated_at), minor=True),
    ]


def user_props(u: User, now: datetime) -> list[Prop]:
    return [
        Prop("username", "Username", text(u.username)),
        Prop("role", "Role", text(u.role)),
        Prop("sites", "Sites", text(sorted(s.slug for s in u.sites))),
        Prop("center", "Center", text(u.center.name if u.center else None)),
        Prop("is_active", "Active", user_active(u)),
        Prop("locked", "Locked", user_locked(u, now)),
        Prop("failed_logins", "Failed logins in a row", text(u.failed_logins or 0)),
        Prop("created_at", "Created", text(u.created_at)),
        Prop("updated_at", "Updated", text(u.updated_at)),
    ]
