"""Registry use cases: create, update and delete every registry object, with scoping and change log.

One code path for every entry point (REST API, CSV import, web forms, CLI, demo loader): validation
and normalisation live in the ``clean_*`` functions, persistence and the change log in
:func:`create_object`, :func:`update_object`, :func:`delete_object`. Must not import flask.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import phonenumbers
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from registry.actors import Actor
from registry.changelog import Change, record_changes, snapshot, snapshot_values
from registry.choices import (
    DEFAULT_TEST_INTERVAL_HOURS,
    AniHeader,
    CallPriority,
    ChangeAction,
    DeviceKind,
    DeviceStatus,
    FloodEffect,
    FloodScope,
    LineKind,
    ListKind,
    LocationKind,
    TokenScope,
    TrunkTrust,
)
from registry.db import Base, as_id
from registry.errors import Conflict, NotFound, ValidationFailed
from registry.models import (
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
from registry.numbers import InvalidNumber, normalise_ani
from registry.schedules import (
    ScheduleError,
    check_timezone,
    parse_holidays,
    parse_windows,
    windows_from_lines,
)
from sip.grammar import redirect_target_error

Ref = int | str

#: ISO 3166-1 alpha-2 codes known to the numbering-plan data
REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_LANG = re.compile(r"^[a-z]{2,3}$")
#: RFC 3261 §25.1: a header name is a ``token``
_SIP_TOKEN = r"[A-Za-z0-9!%*_+`'~.-]+"
#: a test-call marker: ``Header-Name`` (present) or ``Header-Name: value`` (value contained)
_MARKER = re.compile(rf"^(?P<name>{_SIP_TOKEN})(?:[ \t]*:[ \t]*(?P<value>[^\x00-\x1f\x7f]*))?$")
#: a dialled number kept as dialled (short codes such as 112): digits and the keypad's * # +
_DIALLED = re.compile(r"^[0-9*#+]{1,32}$")
#: a number-list prefix: + then 1 to 15 digits (E.164 allows 15) then *
_PREFIX = re.compile(r"^\+[0-9]{1,15}\*$")
_NUMBER_LABEL = {"ani": "ANI", "test_ani": "test ANI"}
#: priority of a dialled-number rule when none is given, by kind of line
DEFAULT_PRIORITY = {
    LineKind.EMERGENCY: CallPriority.EMERGENCY,
    LineKind.INTERCOM: CallPriority.NORMAL,
    LineKind.TEST: CallPriority.NON_URGENT,
}
#: EN 81-28: a lift alarm device calls in at least every 72 hours
MAX_LIFT_TEST_INTERVAL_HOURS = 72


class Lookups:
    """Resolves references (an id, or a natural key: slug, name) for one actor, with caches.

    For a single change it queries as needed; :meth:`preload` fills every cache at once for a bulk
    import, so that 100,000 rows do not make 100,000 queries.
    """

    def __init__(self, session: Session, actor: Actor, default_region: str = "DE"):
        self.session = session
        self.actor = actor
        self.default_region = default_region
        self._by_id: dict[type[Base], dict[int, Any]] = {}
        self._by_key: dict[type[Base], dict[str, Any]] = {}
        self._complete: set[type[Base]] = set()
        self._locations: dict[tuple[int, str], Location] = {}
        #: preloaded: every device number (ANI or test ANI) -> (device id, "ani" or "test_ani", site id)
        self._anis: dict[str, tuple[int, str, int | None]] | None = None

    _KEYS: dict[type[Base], str] = {
        Site: "slug",
        Trunk: "name",
        Schedule: "name",
        SecurityCenter: "name",
    }

    def preload(self) -> Lookups:
        for model in self._KEYS:
            self._load_all(model)
        for loc in self.session.scalars(select(Location)):
            self._remember_location(loc)
        self._anis = {}
        numbers = select(Device.ani, Device.test_ani, Device.id, Device.site_id)
        for ani, test_ani, device_id, site_id in self.session.execute(numbers):
            self._anis.setdefault(ani, (device_id, "ani", site_id))
            if test_ani:
                self._anis.setdefault(test_ani, (device_id, "test_ani", site_id))
        return self

    def _load_all(self, model: type[Base]) -> None:
        key = self._KEYS[model]
        by_id = self._by_id.setdefault(model, {})
        by_key = self._by_key.setdefault(model, {})
        for obj in self.session.scalars(select(model)):
            by_id[obj.id] = obj
            by_key[getattr(obj, key)] = obj
        self._complete.add(model)

    def _get(self, model: type[Base], ref: Ref | None) -> Any:
        if ref is None or ref == "":
            return None
        by_id = self._by_id.setdefault(model, {})
        by_key = self._by_key.setdefault(model, {})
        if isinstance(ref, str) and ref.isdigit() and model is not Site:
            ref = as_id(ref) or 0  # digits that cannot be an id find nothing
        if isinstance(ref, int):
            if ref in by_id or model in self._complete:
                return by_id.get(ref)
            if as_id(ref) is None:
                return None
            obj = self.session.get(model, ref)
        else:
            if ref in by_key or model in self._complete:
                return by_key.get(ref)
            col = getattr(model, self._KEYS[model])
            obj = self.session.scalars(select(model).where(col == ref)).first()
        if obj is not None:
            by_id[obj.id] = obj
            by_key[getattr(obj, self._KEYS[model])] = obj
        return obj

    def site(self, ref: Ref | None) -> Site | None:
        """A site this actor may change devices in, by id or slug."""
        if isinstance(ref, str) and ref.isdigit():
            site = self._get(Site, as_id(ref)) or self._get(Site, ref)
        else:
            site = self._get(Site, ref)
        if site is None or not self.actor.may_write_site(site.id):
            return None
        return site

    def trunk(self, ref: Ref | None) -> Trunk | None:
        return self._get(Trunk, ref)

    def schedule(self, ref: Ref | None) -> Schedule | None:
        return self._get(Schedule, ref)

    def center(self, ref: Ref | None) -> SecurityCenter | None:
        return self._get(SecurityCenter, ref)

    def _remember_location(self, loc: Location) -> None:
        self._locations[(loc.site_id, str(loc.id))] = loc
        self._locations.setdefault((loc.site_id, loc.name), loc)
        self._locations[(loc.site_id, f"{loc.building}/{loc.name}")] = loc

    def location(self, site_id: int, ref: Ref | None) -> Location | None:
        """A location of ``site_id`` by id, ``name`` or ``building/name``."""
        if ref is None or ref == "":
            return None
        key = (site_id, str(ref))
        if key in self._locations:
            return self._locations[key]
        if self._anis is not None:  # preloaded: the cache is complete
            return None
        stmt = select(Location).where(Location.site_id == site_id)
        if isinstance(ref, int) or str(ref).isdigit():
            loc_id = as_id(ref)
            if loc_id is None:
                return None
            stmt = stmt.where(Location.id == loc_id)
        elif "/" in str(ref):
            building, name = str(ref).split("/", 1)
            stmt = stmt.where(Location.building == building, Location.name == name)
        else:
            stmt = stmt.where(Location.name == str(ref)).order_by(Location.id)
        loc = self.session.scalars(stmt).first()
        if loc is not None:
            self._remember_location(loc)
        return loc

    def number_owner(self, number: str) -> tuple[int, str, int | None] | None:
        """The device that calls from ``number``, as what and where: (id, ``"ani"`` or
        ``"test_ani"``, site id; None for a row of this import).

        A number identifies one device, whether it is the device's ANI or its test ANI.
        """
        if self._anis is not None:
            return self._anis.get(number)
        row = self.session.execute(
            select(Device.id, Device.ani, Device.site_id)
            .where(or_(Device.ani == number, Device.test_ani == number))
            .limit(1)
        ).first()
        if row is None:
            return None
        return row.id, "ani" if row.ani == number else "test_ani", row.site_id

    def claim_ani(self, number: str, device_id: int, column: str = "ani") -> None:
        """Remember ``number`` as taken (a bulk import's earlier rows, under negative ids)."""
        if self._anis is not None:
            self._anis[number] = (device_id, column, None)


# --- small coercions shared by every cleaner (CSV gives strings, the API typed values) -------------


class _Errors(dict[str, str]):
    def check(self) -> None:
        if self:
            raise ValidationFailed(self)


def _text(
    data: Mapping[str, Any],
    key: str,
    errors: _Errors,
    *,
    max_len: int,
    required: bool = False,
    default: str = "",
) -> str:
    value = data.get(key, default)
    value = "" if value is None else str(value).strip()
    if required and not value:
        errors[key] = "required"
    elif "\x00" in value:
        errors[key] = "must not contain NUL characters"
    elif not _encodable(value):
        # a lone surrogate (a JSON "\\ud800" escape) is no character: no database can store it
        errors[key] = "must be valid Unicode text (a lone surrogate half was given)"
    elif len(value) > max_len:
        errors[key] = f"at most {max_len} characters"
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _choice(data: Mapping[str, Any], key: str, choices: type, errors: _Errors, default: Any = None) -> Any:
    value = data.get(key)
    if value is None or value == "":
        if default is None:
            errors[key] = "required"
        return default
    try:
        return choices(str(value).strip().lower())
    except ValueError:
        errors[key] = f"{value!r} is not one of: {', '.join(choices.values())}"
        return default


def _int(data: Mapping[str, Any], key: str, errors: _Errors, lo: int, hi: int) -> int | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    try:
        n = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        errors[key] = f"{value!r} is not a whole number"
        return None
    if isinstance(value, bool) or not lo <= n <= hi:
        errors[key] = f"must be between {lo} and {hi}"
        return None
    return n


def _bool(data: Mapping[str, Any], key: str, errors: _Errors, default: bool = False) -> bool:
    value = data.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in {"1", "true", "yes", "y", "on"}:
        return True
    if v in {"0", "false", "no", "n", "off"}:
        return False
    errors[key] = f"{value!r} is not yes/no"
    return default


def _datetime(data: Mapping[str, Any], key: str, errors: _Errors) -> datetime | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip())
        except ValueError:
            errors[key] = f"{value!r} is not an ISO 8601 date-time"
            return None
    if dt.tzinfo is None:
        errors[key] = "needs a UTC offset (e.g. 2026-12-01T08:00:00+01:00)"
        return None
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is past the last representable year
        errors[key] = f"{value!r} is out of range"
        return None


def _str_list(data: Mapping[str, Any], key: str, errors: _Errors) -> list[str]:
    value = data.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,;\s]+", value) if v]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors[key] = "must be a list of strings"
        return []
    return [v.strip() for v in value if v.strip()]


def _json_list(data: Mapping[str, Any], key: str, errors: _Errors) -> list[Any]:
    value = data.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except ValueError:
            errors[key] = "must be a JSON list"
            return []
    if not isinstance(value, list):
        errors[key] = "must be a list"
        return []
    return value


def _unique(
    session: Session,
    model: type[Base],
    column: str,
    value: Any,
    own_id: int | None,
    errors: _Errors,
    label: str,
) -> None:
    col = getattr(model, column)
    stmt = select(model.id).where(col == value)  # type: ignore[attr-defined]
    if own_id is not None:
        stmt = stmt.where(model.id != own_id)  # type: ignore[attr-defined]
    other = session.scalar(stmt)
    if other is not None:
        errors[column] = f"{label} {value!r} is already used by id {other}"


def _holidays(data: Mapping[str, Any], key: str, errors: _Errors) -> list[str]:
    raw = _str_list(data, key, errors) if not isinstance(data.get(key), list) else data[key]
    try:
        return sorted(d.isoformat() for d in parse_holidays(raw or []))
    except ScheduleError as exc:
        errors[key] = str(exc)
        return []


def _timezone(data: Mapping[str, Any], key: str, errors: _Errors, default: str = "") -> str:
    value = str(data.get(key) or default).strip()
    try:
        check_timezone(value)
    except ScheduleError as exc:
        errors[key] = str(exc)
    return value


def _ref(
    look: Callable[[Any], Any],
    data: Mapping[str, Any],
    key: str,
    errors: _Errors,
    label: str,
    required: bool = False,
) -> Any:
    ref = data.get(key)
    if ref is None or ref == "":
        if required:
            errors[key] = "required"
        return None
    obj = look(ref)
    if obj is None:
        errors[key] = f"no {label} {ref!r}"
    return obj


def _countries(data: Mapping[str, Any], key: str, errors: _Errors) -> list[str]:
    """ISO 3166-1 alpha-2 codes, upper-cased, each once, in the order given."""
    codes = list(dict.fromkeys(x.upper() for x in _str_list(data, key, errors)))
    unknown = [c for c in codes if c not in REGIONS]
    if unknown and key not in errors:
        listed = ", ".join(repr(c) for c in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        verb = "is not an ISO 3166 country code" if len(unknown) == 1 else "are not ISO 3166 country codes"
        hint = "the United Kingdom is GB" if "UK" in unknown else "two letters such as DE, AT, GB"
        errors[key] = f"{listed} {verb} ({hint})"
    return codes


#: X.733 severities an acknowledgement deadline can be set for
DEADLINE_SEVERITIES = ("critical", "major", "minor", "warning")


def _ack_deadlines(data: Mapping[str, Any], key: str, errors: _Errors) -> dict[str, int]:
    """``{"critical": 30}`` or ``critical=30, major=300``: whole seconds, 1 to 3600, per severity."""
    raw = data.get(key)
    if raw in (None, "", {}):
        return {}
    pairs: list[tuple[str, object]]
    if isinstance(raw, Mapping):
        pairs = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, str):
        pairs = [
            (p.partition("=")[0], p.partition("=")[2] if "=" in p else None)
            for p in raw.split(",")
            if p.strip()
        ]
    else:
        errors[key] = "severity=seconds pairs, for example critical=30, major=300"
        return {}
    out: dict[str, int] = {}
    for name, value in pairs:
        severity = name.strip().lower()
        if severity not in DEADLINE_SEVERITIES:
            errors[key] = f"{name.strip()!r} is not a severity ({', '.join(DEADLINE_SEVERITIES)})"
            return {}
        try:
            seconds = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            seconds = None
        if seconds is None or not 1 <= seconds <= 3600:
            errors[key] = f"the deadline of {severity} must be whole seconds from 1 to 3600"
            return {}
        out[severity] = seconds
    return out


def contact_uri_error(value: str) -> str | None:
    """Why ``value`` cannot be where calls are redirected to (a 302 Contact), or None: the one
    check of every URI field that can reach a Contact (RFC 3261 §25.1, no URI headers), used by
    the cleaners and by the routing snapshot for rows written before the check existed."""
    problem = redirect_target_error(value)
    return None if problem is None else f"{problem}: {value!r}"


def _sip_uri(data: Mapping[str, Any], key: str, errors: _Errors, *, max_len: int = 255) -> str:
    """An optional sip: or sips: URI that a 302 can carry ('' when not given)."""
    value = _text(data, key, errors, max_len=max_len)
    problem = contact_uri_error(value) if value and key not in errors else None
    if problem is not None:
        errors[key] = problem
    return value


# --- cleaners: raw mapping in, column values out -------------------------------------------------


def clean_center(lk: Lookups, data: Mapping[str, Any], own: SecurityCenter | None) -> dict[str, Any]:
    e = _Errors()
    v: dict[str, Any] = {"name": _text(data, "name", e, max_len=120, required=True)}
    uris = _str_list(data, "sip_uris", e)
    if "sip_uris" not in e:
        bad = [p for p in map(contact_uri_error, uris) if p is not None]
        if bad:
            e["sip_uris"] = bad[0]
        elif not uris:
            e["sip_uris"] = "at least one SIP URI is needed to send calls to"
    v["sip_uris"] = uris
    phone = _text(data, "phone", e, max_len=32)
    if phone:
        try:
            phone = normalise_ani(phone, lk.default_region)
        except InvalidNumber as exc:
            e["phone"] = str(exc)
    v["phone"] = phone
    langs = [x.lower() for x in _str_list(data, "languages", e)]
    if any(not _LANG.match(x) for x in langs):
        e["languages"] = "ISO 639 language codes such as de, en, fr"
    v["languages"] = langs
    v["timezone"] = _timezone(data, "timezone", e, "UTC")
    v["countries"] = _countries(data, "countries", e)
    v["ack_deadlines"] = _ack_deadlines(data, "ack_deadlines", e)
    if "name" not in e:
        _unique(lk.session, SecurityCenter, "name", v["name"], own and own.id, e, "name")
    e.check()
    return v


def clean_schedule(lk: Lookups, data: Mapping[str, Any], own: Schedule | None) -> dict[str, Any]:
    e = _Errors()
    v: dict[str, Any] = {"name": _text(data, "name", e, max_len=120, required=True)}
    windows = _json_list(data, "windows", e)
    try:
        if windows and all(isinstance(w, str) for w in windows):  # one a line: mon-fri 08:00-18:00
            windows = windows_from_lines(windows)
        parse_windows(windows)
    except ScheduleError as exc:
        e["windows"] = str(exc)
    v["windows"] = windows
    v["holidays"] = _holidays(data, "holidays", e)
    if "name" not in e:
        _unique(lk.session, Schedule, "name", v["name"], own and own.id, e, "name")
    e.check()
    return v


def clean_site(lk: Lookups, data: Mapping[str, Any], own: Site | None) -> dict[str, Any]:
    e = _Errors()
    v: dict[str, Any] = {
        "name": _text(data, "name", e, max_len=120, required=True),
        "slug": _text(data, "slug", e, max_len=64, required=True).lower(),
        "address": _text(data, "address", e, max_len=2000),
        "notes": _text(data, "notes", e, max_len=10000),
    }
    if v["slug"] and "slug" not in e and not _SLUG.match(v["slug"]):
        e["slug"] = "lower-case letters, digits and hyphens, starting with a letter or digit"
    country = _text(data, "country", e, max_len=2, required=True).upper()
    if country and "country" not in e and country not in REGIONS:
        e["country"] = f"{country!r} is not an ISO 3166 country code"
    v["country"] = country
    v["timezone"] = _timezone(data, "timezone", e)
    day = _ref(lk.center, data, "day_center", e, "security center")
    ooh = _ref(lk.center, data, "out_of_hours_center", e, "security center")
    hours = _ref(lk.schedule, data, "business_hours", e, "schedule")
    v["day_center_id"] = day and day.id
    v["out_of_hours_center_id"] = ooh and ooh.id
    v["business_hours_id"] = hours and hours.id
    v["holidays"] = _holidays(data, "holidays", e)
    v["maintenance_contact"] = _sip_uri(data, "maintenance_contact", e)
    if v["slug"] and "slug" not in e:
        _unique(lk.session, Site, "slug", v["slug"], own and own.id, e, "slug")
    e.check()
    return v


def clean_location(lk: Lookups, data: Mapping[str, Any], own: Location | None) -> dict[str, Any]:
    e = _Errors()
    site = _ref(lk.site, data, "site", e, "site", required=True)
    v: dict[str, Any] = {
        "site_id": site and site.id,
        "building": _text(data, "building", e, max_len=120),
        "kind": _choice(data, "kind", LocationKind, e),
        "name": _text(data, "name", e, max_len=120, required=True),
        "floor": _text(data, "floor", e, max_len=32),
        "notes": _text(data, "notes", e, max_len=10000),
        "camera_ref": _text(data, "camera_ref", e, max_len=200),
    }
    if site is not None and v["name"] and "name" not in e:
        stmt = select(Location.id).where(
            Location.site_id == site.id,
            Location.building == v["building"],
            Location.name == v["name"],
        )
        other = lk.session.scalar(stmt)
        if other is not None and (own is None or other != own.id):
            e["name"] = f"the site already has a location {v['name']!r} in this building (id {other})"
    e.check()
    return v


def clean_trunk(lk: Lookups, data: Mapping[str, Any], own: Trunk | None) -> dict[str, Any]:
    e = _Errors()
    v: dict[str, Any] = {
        "name": _text(data, "name", e, max_len=120, required=True),
        "carrier": _text(data, "carrier", e, max_len=120),
        "trust": _choice(data, "trust", TrunkTrust, e),
        "ani_header": _choice(data, "ani_header", AniHeader, e, AniHeader.PAI),
        "expects_attestation": _bool(data, "expects_attestation", e),
        "notes": _text(data, "notes", e, max_len=10000),
    }
    addrs = []
    for raw in _str_list(data, "source_addresses", e):
        try:
            net = ipaddress.ip_network(raw, strict=False)
        except ValueError:
            e["source_addresses"] = f"{raw!r} is not an IP address or CIDR network"
            break
        addrs.append(str(net.network_address) if net.num_addresses == 1 else str(net))
    if not addrs and "source_addresses" not in e:
        e["source_addresses"] = "at least one source address is needed to recognise the trunk"
    v["source_addresses"] = addrs
    region = _text(data, "default_region", e, max_len=2, required=True).upper()
    if region and "default_region" not in e and region not in REGIONS:
        e["default_region"] = f"{region!r} is not an ISO 3166 country code"
    v["default_region"] = region
    v["test_call_marker"] = _test_call_marker(data, "test_call_marker", e)
    v["rescue_ended_marker"] = _test_call_marker(data, "rescue_ended_marker", e)
    pending_site = _ref(lk.site, data, "pending_site", e, "site")
    v["pending_site_id"] = pending_site and pending_site.id
    if "name" not in e:
        _unique(lk.session, Trunk, "name", v["name"], own and own.id, e, "name")
    if addrs and "source_addresses" not in e:
        taken = {
            a: t.name
            for t in lk.session.scalars(select(Trunk))
            if own is None or t.id != own.id
            for a in t.source_addresses
        }
        clash = [a for a in addrs if a in taken]
        if clash:
            e["source_addresses"] = f"{clash[0]} already belongs to trunk {taken[clash[0]]!r}"
    e.check()
    return v


def _test_call_marker(data: Mapping[str, Any], key: str, errors: _Errors) -> str:
    """``Header-Name`` or ``Header-Name: value``, written canonically; '' for none."""
    raw = _text(data, key, errors, max_len=200)
    if not raw or key in errors:
        return raw
    m = _MARKER.match(raw)
    if m is None or m.group("value") == "":
        errors[key] = "a SIP header name (letters, digits and -.!%*_+`'~), optionally followed by ': value'"
        return raw
    name, value = m.group("name"), (m.group("value") or "").strip()
    marker = f"{name}: {value}" if value else name
    if len(marker) > 200:
        errors[key] = "at most 200 characters"
    return marker


def clean_device(lk: Lookups, data: Mapping[str, Any], own: Device | None) -> dict[str, Any]:
    """Validate a device; the ANI is read with the trunk's region, else the site's country."""
    e = _Errors()
    site = _ref(lk.site, data, "site", e, "site", required=True)
    trunk = _ref(lk.trunk, data, "trunk", e, "trunk")
    kind = _choice(data, "kind", DeviceKind, e)
    v: dict[str, Any] = {
        "kind": kind,
        "vendor": _text(data, "vendor", e, max_len=120),
        "model": _text(data, "model", e, max_len=120),
        "serial": _text(data, "serial", e, max_len=120),
        "site_id": site and site.id,
        "trunk_id": trunk and trunk.id,
        "status": _choice(data, "status", DeviceStatus, e, DeviceStatus.ACTIVE),
        "maintenance_until": _datetime(data, "maintenance_until", e),
        "maintenance_contact": _sip_uri(data, "maintenance_contact", e),
        "notes": _text(data, "notes", e, max_len=10000),
    }
    location = None
    if site is not None:
        location = _ref(partial(lk.location, site.id), data, "location", e, "location in this site")
    v["location_id"] = location and location.id
    schedule = _ref(lk.schedule, data, "active_schedule", e, "schedule")
    v["active_schedule_id"] = schedule and schedule.id

    if "test_interval_hours" in data:
        interval = _int(data, "test_interval_hours", e, 1, 24 * 365)
    else:
        interval = own.test_interval_hours if own else DEFAULT_TEST_INTERVAL_HOURS.get(kind)
    too_rare = interval is None or interval > MAX_LIFT_TEST_INTERVAL_HOURS
    if kind == DeviceKind.ELEVATOR_PHONE and "test_interval_hours" not in e and too_rare:
        e["test_interval_hours"] = (
            f"an elevator phone must test-call at least every {MAX_LIFT_TEST_INTERVAL_HOURS} h (EN 81-28)"
        )
    v["test_interval_hours"] = interval

    region = (trunk and trunk.default_region) or (site and site.country) or lk.default_region
    ani = ""
    try:
        ani = normalise_ani(data.get("ani") or "", region)
    except InvalidNumber as exc:
        e["ani"] = str(exc)
    v["ani"] = ani
    test_ani = None
    raw_test_ani = data.get("test_ani")
    if raw_test_ani is not None and str(raw_test_ani).strip():
        try:
            test_ani = normalise_ani(str(raw_test_ani), region)
        except InvalidNumber as exc:
            e["test_ani"] = str(exc)
        else:
            if test_ani == ani:
                e["test_ani"] = "must differ from the device's own ANI"
    v["test_ani"] = test_ani
    e.check()
    # one number, one device: an ANI or test ANI may not be another device's ANI or test ANI
    for column, number in (("ani", ani), ("test_ani", test_ani)):
        taken = lk.number_owner(number) if number else None
        if taken is None or (own is not None and taken[0] == own.id):
            continue
        owner, held_as, owner_site = taken
        if owner_site is not None and not lk.actor.may_write_site(owner_site):
            # another site's device: its id and page are not this facility manager's to know
            label = _NUMBER_LABEL[column]
            raise Conflict(f"{label} {number} is already registered to a device outside your sites", column)
        where = "registered to" if held_as == column else f"the {_NUMBER_LABEL[held_as]} of"
        raise Conflict(f"{_NUMBER_LABEL[column]} {number} is already {where} device {owner}", column, owner)
    return v


def clean_dnis_rule(lk: Lookups, data: Mapping[str, Any], own: DnisRule | None) -> dict[str, Any]:
    """A dialled number: E.164 when it reads as a phone number (server region), else as dialled."""
    e = _Errors()
    raw = _text(data, "number", e, max_len=64, required=True)
    number = raw
    if raw and "number" not in e:
        try:
            number = normalise_ani(raw, lk.default_region)
        except InvalidNumber:
            if not _DIALLED.match(raw):
                e["number"] = (
                    f"{raw!r} is neither a telephone number nor digits as dialled (0-9 * # +, at most 32)"
                )
    line = _choice(data, "line", LineKind, e)
    if data.get("priority") is None or data.get("priority") == "":
        priority = DEFAULT_PRIORITY.get(line) if line is not None else None
    else:
        priority = _choice(data, "priority", CallPriority, e)
    v: dict[str, Any] = {
        "number": number,
        "line": line,
        "priority": priority,
        "target_uri": _sip_uri(data, "target_uri", e),
        "description": _text(data, "description", e, max_len=200),
    }
    if line == LineKind.TEST and not v["target_uri"] and "target_uri" not in e:
        e["target_uri"] = "a test line needs the test receiver's SIP URI"
    if number and "number" not in e:
        _unique(lk.session, DnisRule, "number", number, own.id if own else None, e, "number")
    e.check()
    return v


def clean_number_list_entry(
    lk: Lookups, data: Mapping[str, Any], own: NumberListEntry | None
) -> dict[str, Any]:
    """A calling number in E.164 (any written form, server region), or a prefix ``+<digits>*``."""
    e = _Errors()
    raw = _text(data, "pattern", e, max_len=64, required=True)
    pattern = raw
    if raw and "pattern" not in e:
        if raw.endswith("*"):
            if not _PREFIX.match(raw):
                e["pattern"] = f"{raw!r} is not a prefix: + then 1 to 15 digits then * (e.g. +4930*)"
        else:
            try:
                pattern = normalise_ani(raw, lk.default_region)
            except InvalidNumber as exc:
                e["pattern"] = str(exc)
    v: dict[str, Any] = {
        "pattern": pattern,
        "kind": _choice(data, "kind", ListKind, e),
        "reason": _text(data, "reason", e, max_len=10000),
        "expires_at": _datetime(data, "expires_at", e),
    }
    if pattern and "pattern" not in e:
        _unique(lk.session, NumberListEntry, "pattern", pattern, own.id if own else None, e, "pattern")
    e.check()
    return v


def clean_flood_rule(lk: Lookups, data: Mapping[str, Any], own: FloodRule | None) -> dict[str, Any]:
    """A call-flood limit per scope and device kind (none: callers without a more specific rule)."""
    e = _Errors()
    scope = _choice(data, "scope", FloodScope, e)
    kind = None
    if data.get("device_kind") is not None and data.get("device_kind") != "":
        kind = _choice(data, "device_kind", DeviceKind, e)
    v: dict[str, Any] = {
        "scope": scope,
        "device_kind": kind,
        "max_calls": _int(data, "max_calls", e, 1, 100_000),
        "window_seconds": _int(data, "window_seconds", e, 1, 86_400),
        "effect": _choice(data, "effect", FloodEffect, e, FloodEffect.FLAG),
    }
    for key in ("max_calls", "window_seconds"):
        if v[key] is None and key not in e:
            e[key] = "required"
    if scope is not None and "device_kind" not in e:
        # NULLs are distinct in a unique constraint: the database would take two "any kind" rules
        same_kind = FloodRule.device_kind.is_(None) if kind is None else FloodRule.device_kind == kind
        stmt = select(FloodRule.id).where(FloodRule.scope == scope, same_kind)
        if own is not None:
            stmt = stmt.where(FloodRule.id != own.id)
        other = lk.session.scalar(stmt)
        if other is not None:
            what = kind.value if kind else "any kind"
            e["device_kind"] = f"scope {scope.value!r} already has a rule for {what} (id {other})"
    e.check()
    return v


# --- generic persistence ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """How one kind of registry object is cleaned, scoped, named and guarded on delete."""

    object_type: str
    model: type[Base]
    clean: Callable[[Lookups, Mapping[str, Any], Any], dict[str, Any]]
    describe: Callable[[Any], str]
    #: site that owns an object (scoped writes); None: a shared object only admins change
    site_of: Callable[[Any], int] | None
    #: (model, foreign-key column, what it is) that block a delete while they point here
    dependents: tuple[tuple[type[Base], str, str], ...] = ()

    @property
    def plural(self) -> str:
        """The kind of object in plain words, plural: ``devices``, ``number list entries``."""
        words = self.object_type.replace("_", " ")
        return words[:-1] + "ies" if words.endswith("y") else words + "s"


RESOURCES: dict[str, Resource] = {
    r.object_type: r
    for r in (
        Resource(
            "center",
            SecurityCenter,
            clean_center,
            lambda o: o.name,
            None,
            (
                (Site, "day_center_id", "site"),
                (Site, "out_of_hours_center_id", "site"),
                (User, "center_id", "user"),
            ),
        ),
        Resource(
            "schedule",
            Schedule,
            clean_schedule,
            lambda o: o.name,
            None,
            ((Site, "business_hours_id", "site"), (Device, "active_schedule_id", "device")),
        ),
        Resource(
            "site",
            Site,
            clean_site,
            lambda o: o.slug,
            None,
            (
                (Device, "site_id", "device"),
                (Location, "site_id", "location"),
                (Trunk, "pending_site_id", "trunk"),
            ),
        ),
        Resource(
            "location",
            Location,
            clean_location,
            lambda o: f"{o.building}/{o.name}".lstrip("/"),
            lambda o: o.site_id,
            ((Device, "location_id", "device"),),
        ),
        Resource("trunk", Trunk, clean_trunk, lambda o: o.name, None, ((Device, "trunk_id", "device"),)),
        Resource("device", Device, clean_device, lambda o: o.ani, lambda o: o.site_id),
        Resource("dnis_rule", DnisRule, clean_dnis_rule, lambda o: o.number, None),
        Resource("number_list_entry", NumberListEntry, clean_number_list_entry, lambda o: o.pattern, None),
        Resource(
            "flood_rule",
            FloodRule,
            clean_flood_rule,
            lambda o: f"per {o.scope} for {o.device_kind or 'any kind'}",
            None,
        ),
    )
}


def _check_write(actor: Actor, res: Resource, obj_site: int | None) -> None:
    actor.require_scope(TokenScope.REGISTRY_WRITE)
    if res.site_of is None:
        actor.require_admin(res.plural)
    else:
        actor.require_site_writer()


def get_object(session: Session, actor: Actor, object_type: str, obj_id: int) -> Any:
    """An object the actor may see, else :class:`NotFound` (no leak of existence)."""
    from registry.queries import visible

    actor.require_scope(TokenScope.REGISTRY_READ)
    res = RESOURCES[object_type]
    obj = session.scalars(visible(actor, res.model).where(res.model.id == obj_id)).first()  # type: ignore[attr-defined]
    if obj is None:
        raise NotFound(object_type, obj_id)
    return obj


def _input(obj: Any | None, res: Resource, data: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a partial update onto the object's current values, in the cleaners' input form."""
    if obj is None:
        return dict(data)
    current: dict[str, Any] = {c.key: getattr(obj, c.key) for c in res.model.__table__.columns}
    for col in list(current):
        if col.endswith("_id") and col != "id":
            current[col.removesuffix("_id")] = current.pop(col)
    current.update(data)
    return current


def create_object(
    session: Session, actor: Actor, object_type: str, data: Mapping[str, Any], *, default_region: str = "DE"
) -> Any:
    res = RESOURCES[object_type]
    _check_write(actor, res, None)
    values = res.clean(Lookups(session, actor, default_region), data, None)
    obj = res.model(**values)
    session.add(obj)
    session.flush()
    record_changes(
        session,
        actor,
        [Change(ChangeAction.CREATE, object_type, obj.id, res.describe(obj), None, snapshot(obj))],
    )
    return obj


def update_object(
    session: Session,
    actor: Actor,
    object_type: str,
    obj_id: int,
    data: Mapping[str, Any],
    *,
    default_region: str = "DE",
) -> Any:
    res = RESOURCES[object_type]
    obj = get_object(session, actor, object_type, obj_id)
    _check_write(actor, res, None)
    if res.site_of is not None and not actor.may_write_site(res.site_of(obj)):
        raise NotFound(object_type, obj_id)
    before = snapshot(obj)
    values = res.clean(Lookups(session, actor, default_region), _input(obj, res, data), obj)
    for key, value in values.items():
        setattr(obj, key, value)
    session.flush()
    record_changes(
        session,
        actor,
        [Change(ChangeAction.UPDATE, object_type, obj.id, res.describe(obj), before, snapshot(obj))],
    )
    return obj


def delete_object(session: Session, actor: Actor, object_type: str, obj_id: int) -> None:
    res = RESOURCES[object_type]
    obj = get_object(session, actor, object_type, obj_id)
    _check_write(actor, res, None)
    if res.site_of is not None and not actor.may_write_site(res.site_of(obj)):
        raise NotFound(object_type, obj_id)
    for model, column, label in res.dependents:
        n = session.scalar(select(func.count()).where(getattr(model, column) == obj.id))
        if n:
            raise Conflict(f"{object_type} {obj.id} is still used by {n} {label}(s)", column)
    before = snapshot(obj)
    session.delete(obj)
    session.flush()
    record_changes(
        session, actor, [Change(ChangeAction.DELETE, object_type, obj_id, res.describe(obj), before, None)]
    )


def record_bulk_creates(session: Session, actor: Actor, object_type: str, rows: list[dict[str, Any]]) -> None:
    """Change-log rows for objects inserted in bulk (``rows`` carry their new ``id``)."""
    res = RESOURCES[object_type]
    record_changes(
        session,
        actor,
        (
            Change(
                ChangeAction.CREATE,
                object_type,
                row["id"],
                res.describe(_Row(row)),
                None,
                snapshot_values(res.model, row),
            )
            for row in rows
        ),
    )


class _Row:
    """Attribute access over a dict, so ``Resource.describe`` works on bulk rows too."""

    def __init__(self, values: Mapping[str, Any]):
        self.__dict__.update(values)


def create_device(session: Session, actor: Actor, data: Mapping[str, Any], **kw: Any) -> Device:
    return create_object(session, actor, "device", data, **kw)  # type: ignore[no-any-return]


def update_device(
    session: Session, actor: Actor, device_id: int, data: Mapping[str, Any], **kw: Any
) -> Device:
    return update_object(session, actor, "device", device_id, data, **kw)  # type: ignore[no-any-return]
