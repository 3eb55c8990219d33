"""Immutable in-memory index of the registry for the call path, swapped atomically when it changes.

The SIP answer never waits on the database: :class:`SnapshotHolder` keeps the current
:class:`Snapshot`, and a background refresher rebuilds it when the registry revision moved.
Schedules are compiled once per snapshot (:class:`registry.schedules.WeeklySchedule`), never per call.

The revision is a counter (``registry.models.RegistryRevision``), moved by one in the same
transaction as every registry change, just before it commits; the counter's row lock orders
registry commits, so a reader that sees revision N sees every change up to N. It used to be the
highest change-log id, which skips changes on PostgreSQL: ids are handed out when a row is written,
not when its transaction commits, so id 101 can commit and be read before id 100 commits, and the
change of id 100 then waits for some later change. The rule, for this refresher and for any feed
that follows a table (events, outbox): **an id cursor over rows written by concurrent transactions
skips late commits on PostgreSQL.** Read the counter first, then the rows: a snapshot may then hold
part of a later change too, but it carries the older revision, and the next poll rebuilds it.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry.choices import (
    AniHeader,
    CallPriority,
    DeviceKind,
    DeviceStatus,
    FloodEffect,
    FloodScope,
    LineKind,
    ListKind,
    TrunkTrust,
)
from registry.models import (
    Device,
    DnisRule,
    FloodRule,
    NumberListEntry,
    RegistryRevision,
    Schedule,
    SecurityCenter,
    Site,
    Trunk,
)
from registry.schedules import ScheduleError, WeeklySchedule
from registry.services import contact_uri_error

log = logging.getLogger(__name__)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    id: int
    ani: str
    kind: DeviceKind
    status: DeviceStatus
    site_id: int
    location_id: int | None
    #: the trunk the device is expected to call on (None: any)
    trunk_id: int | None
    #: when the device is expected to call, read in its site's timezone (None: any time)
    active_schedule_id: int | None = None
    #: SIP URI called first while the device is in maintenance ("" : the site's, if any)
    maintenance_contact: str = ""
    #: the device's maintenance ends at this instant (None: when its status changes)
    maintenance_until: datetime | None = None
    #: a second number the device uses only for its periodic test calls
    test_ani: str | None = None


@dataclass(frozen=True, slots=True)
class SiteEntry:
    id: int
    slug: str
    name: str
    country: str
    timezone: str
    day_center_id: int | None
    out_of_hours_center_id: int | None
    #: None: no business-hours schedule, the site is always inside hours (except its holidays)
    business_hours_id: int | None = None
    #: ISO dates, added to the business-hours schedule's own holidays
    holidays: tuple[str, ...] = ()
    maintenance_contact: str = ""


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """A registry schedule as data: windows in the JSON form of ``registry.schedules``."""

    id: int
    name: str
    windows: tuple[dict[str, Any], ...]
    holidays: tuple[str, ...] = ()


#: the window of a site that has holidays but no business-hours schedule
_ALWAYS = ({"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "24:00"},)


@dataclass(frozen=True, slots=True)
class CenterEntry:
    id: int
    name: str
    uris: tuple[str, ...]
    languages: tuple[str, ...]
    #: ISO 3166-1 alpha-2 codes: unknown callers from these countries come here first
    countries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegionalCenter:
    """The center that takes a country's unknown callers first, and why (for the call's reason)."""

    center: CenterEntry
    #: ``lists GB``, or ``day center of 2 sites in DE`` when no center lists the country
    basis: str


@dataclass(frozen=True, slots=True)
class TrunkEntry:
    id: int
    name: str
    trusted: bool
    ani_header: str
    region: str
    expects_attestation: bool
    networks: tuple[IPNetwork, ...]
    #: ``Name`` or ``Name: value`` of the header marking a test call ("": none)
    test_call_marker: str = ""
    #: unknown callers are added to this site as pending devices (None: not on this trunk)
    pending_site_id: int | None = None
    #: ``Name`` or ``Name: value`` of the header marking a lift phone's "rescue ended" call
    rescue_ended_marker: str = ""


@dataclass(frozen=True, slots=True)
class DnisEntry:
    """A dialled number's line kind and priority; ``target_uri`` is a test line's test receiver."""

    id: int
    number: str
    line: LineKind
    priority: CallPriority
    target_uri: str = ""


@dataclass(frozen=True, slots=True)
class ListEntry:
    id: int
    pattern: str
    kind: ListKind
    reason: str = ""
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FloodLimit:
    """More than ``max_calls`` within ``window_seconds`` per ``scope`` is a call flood."""

    scope: FloodScope
    device_kind: DeviceKind | None
    max_calls: int
    window_seconds: int
    effect: FloodEffect


#: built-in limits; a registry flood rule replaces the one of the same scope and kind. A lift phone
#: calling again and again may mean someone trapped; an intercom rung again and again, a prank.
DEFAULT_FLOOD_LIMITS = (
    FloodLimit(FloodScope.ANI, DeviceKind.ELEVATOR_PHONE, 3, 600, FloodEffect.URGENT),
    FloodLimit(FloodScope.ANI, DeviceKind.EMERGENCY_PHONE, 3, 600, FloodEffect.URGENT),
    FloodLimit(FloodScope.ANI, DeviceKind.DOOR_INTERCOM, 5, 300, FloodEffect.ABUSE),
    FloodLimit(FloodScope.ANI, None, 5, 300, FloodEffect.FLAG),
    FloodLimit(FloodScope.SITE, None, 20, 300, FloodEffect.FLAG),
    FloodLimit(FloodScope.TRUNK, None, 300, 60, FloodEffect.FLAG),
)


@dataclass(frozen=True)
class Snapshot:
    revision: int
    devices: dict[str, DeviceEntry]
    sites: dict[int, SiteEntry]
    centers: dict[int, CenterEntry]
    trunks: dict[int, TrunkEntry]
    default_center_id: int | None
    #: exact host addresses first (the common case), then networks by longest prefix
    _hosts: dict[str, TrunkEntry] = field(repr=False, default_factory=dict)
    _networks: tuple[tuple[IPNetwork, TrunkEntry], ...] = field(repr=False, default=())
    #: compiled business hours per site id; a site missing here is always inside hours
    _site_hours: dict[int, WeeklySchedule] = field(repr=False, default_factory=dict)
    #: compiled device schedules by (schedule id, site timezone), shared by the devices using them
    _active_hours: dict[tuple[int, str], WeeklySchedule] = field(repr=False, default_factory=dict)
    #: per language, the center that takes callers speaking it (see :meth:`build`)
    _by_language: dict[str, CenterEntry] = field(repr=False, default_factory=dict)
    #: DNIS rules by number as stored (E.164 or digits as dialled)
    dnis: dict[str, DnisEntry] = field(default_factory=dict)
    #: devices by their separate test calling number
    test_anis: dict[str, DeviceEntry] = field(default_factory=dict)
    #: where test calls go that no test line's rule names a receiver for (None: nowhere)
    test_receiver: str | None = None
    #: how long a device's last center stays its center for a call again (seconds; 0: off)
    repeat_window: float = 600.0
    _lists_exact: dict[str, ListEntry] = field(repr=False, default_factory=dict)
    #: prefix entries, longest first
    _lists_prefix: tuple[ListEntry, ...] = field(repr=False, default=())
    _flood: dict[tuple[FloodScope, DeviceKind | None], FloodLimit] = field(repr=False, default_factory=dict)
    #: per device kind, memo of :meth:`flood_limits` (filled on first use; the snapshot never changes)
    _flood_by_kind: dict[
        DeviceKind | None, tuple[FloodLimit | None, FloodLimit | None, FloodLimit | None]
    ] = field(repr=False, default_factory=dict)
    #: per country (ISO 3166-1 alpha-2), the center that takes its unknown callers first
    _by_country: dict[str, RegionalCenter] = field(repr=False, default_factory=dict)

    @classmethod
    def build(
        cls,
        revision: int,
        devices: Iterable[DeviceEntry],
        sites: Iterable[SiteEntry],
        centers: Iterable[CenterEntry],
        trunks: Iterable[TrunkEntry],
        default_center: str | None = None,
        schedules: Iterable[ScheduleEntry] = (),
        *,
        dnis_rules: Iterable[DnisEntry] = (),
        number_lists: Iterable[ListEntry] = (),
        flood_limits: Iterable[FloodLimit] = (),
        test_receiver: str | None = None,
        repeat_window: float = 600.0,
    ) -> Snapshot:
        centers_by_id = {c.id: c for c in centers}
        default_id = None
        if default_center:
            default_id = next((c.id for c in centers_by_id.values() if c.name == default_center), None)
            if default_id is None:
                log.warning("default center %r is not in the registry", default_center)
        if default_id is None and centers_by_id:
            default_id = min(centers_by_id)
        trunks_by_id = {t.id: t for t in trunks}
        hosts: dict[str, TrunkEntry] = {}
        nets: list[tuple[IPNetwork, TrunkEntry]] = []
        for t in trunks_by_id.values():
            for net in t.networks:
                if net.num_addresses == 1:
                    hosts[str(net.network_address)] = t
                else:
                    nets.append((net, t))
        nets.sort(key=lambda item: item[0].prefixlen, reverse=True)
        devices_by_ani = {d.ani: d for d in devices}
        sites_by_id = {s.id: s for s in sites}
        site_hours, active_hours = _compile_schedules(
            {s.id: s for s in schedules}, sites_by_id, devices_by_ani.values()
        )
        # for each language: the default center if it speaks it, else a center whose first
        # language it is, else any center that lists it (lowest id first); only centers with a URI
        reachable = [c for c in centers_by_id.values() if c.uris]
        by_language: dict[str, CenterEntry] = {}
        for lang in {lang.lower() for c in reachable for lang in c.languages}:
            speakers = [c for c in reachable if lang in (x.lower() for x in c.languages)]
            by_language[lang] = min(
                speakers, key=lambda c: (c.id != default_id, c.languages[0].lower() != lang, c.id)
            )
        by_country = _regional_centers(reachable, sites_by_id.values(), default_id)
        dnis = {r.number: r for r in dnis_rules}
        if not test_receiver:
            # the first test line (lowest id) that names a receiver takes the other test calls too
            lines = sorted(
                (r for r in dnis.values() if r.line is LineKind.TEST and r.target_uri), key=lambda r: r.id
            )
            test_receiver = lines[0].target_uri if lines else None
        lists = list(number_lists)
        flood = {(f.scope, f.device_kind): f for f in DEFAULT_FLOOD_LIMITS}
        flood.update({(f.scope, f.device_kind): f for f in flood_limits})
        return cls(
            revision,
            devices_by_ani,
            sites_by_id,
            centers_by_id,
            trunks_by_id,
            default_id,
            hosts,
            tuple(nets),
            site_hours,
            active_hours,
            by_language,
            dnis,
            {d.test_ani: d for d in devices_by_ani.values() if d.test_ani},
            test_receiver or None,
            repeat_window,
            {e.pattern: e for e in lists if not e.pattern.endswith("*")},
            tuple(
                sorted(
                    (e for e in lists if e.pattern.endswith("*")), key=lambda e: len(e.pattern), reverse=True
                )
            ),
            flood,
            _by_country=by_country,
        )

    def dnis_rule(self, dialled: str, number: str | None = None) -> DnisEntry | None:
        """The rule of the dialled number: as dialled, else in its E.164 form ``number``."""
        rule = self.dnis.get(dialled) if dialled else None
        if rule is None and number:
            rule = self.dnis.get(number)
        return rule

    def listed(self, ani: str, at: datetime) -> ListEntry | None:
        """The number-list entry for ``ani`` at ``at``: an exact entry, else the longest prefix."""
        entry = self._lists_exact.get(ani)
        if entry is not None and (entry.expires_at is None or at < entry.expires_at):
            return entry
        for entry in self._lists_prefix:
            if ani.startswith(entry.pattern[:-1]) and (entry.expires_at is None or at < entry.expires_at):
                return entry
        return None

    def flood_limit(self, scope: FloodScope, kind: DeviceKind | None) -> FloodLimit | None:
        """The limit for callers of ``kind`` (None: not a registered device) in ``scope``."""
        return self._flood.get((scope, kind)) or self._flood.get((scope, None))

    def flood_limits(
        self, kind: DeviceKind | None
    ) -> tuple[FloodLimit | None, FloodLimit | None, FloodLimit | None]:
        """The limits per ANI, per site and per trunk for callers of ``kind`` (one lookup a call)."""
        limits = self._flood_by_kind.get(kind)
        if limits is None:
            limits = self._flood_by_kind[kind] = (
                self.flood_limit(FloodScope.ANI, kind),
                self.flood_limit(FloodScope.SITE, kind),
                self.flood_limit(FloodScope.TRUNK, kind),
            )
        return limits

    def center_for_language(self, language: str) -> CenterEntry | None:
        """The center for callers speaking ``language`` (ISO 639-1): the default center when it
        speaks it, else one whose first language it is, else any that lists it; None if nobody."""
        return self._by_language.get(language)

    def regional_center(self, country: str) -> RegionalCenter | None:
        """The center for unknown callers from ``country`` (ISO 3166-1 alpha-2), None if none
        serves it: a center listing the country, else the center of most of its sites."""
        return self._by_country.get(country.upper())

    def business_hours(self, site: SiteEntry) -> WeeklySchedule | None:
        """The site's compiled business hours (site timezone and holidays); None: always inside."""
        return self._site_hours.get(site.id)

    def active_hours(self, device: DeviceEntry, site: SiteEntry) -> WeeklySchedule | None:
        """When ``device`` is expected to call, in its site's timezone; None: at any time."""
        if device.active_schedule_id is None:
            return None
        return self._active_hours.get((device.active_schedule_id, site.timezone))

    def trunk_for(self, ip: str) -> TrunkEntry | None:
        """The trunk whose source addresses contain ``ip`` (an exact address wins over a network)."""
        hit = self._hosts.get(ip)
        if hit is not None or not self._networks:
            return hit
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for net, trunk in self._networks:
            if addr.version == net.version and addr in net:
                return trunk
        return None


def _regional_centers(
    reachable: list[CenterEntry], sites: Iterable[SiteEntry], default_id: int | None
) -> dict[str, RegionalCenter]:
    """Per country, the center that takes its unknown callers first (only centers with a URI).

    A center that lists the country wins; when several do, the default center, else the lowest
    id. Where no center lists it, the center of the country's sites stands in: the day center of
    the most sites there, then the out-of-hours center of the most, then the default center, then
    the lowest id (a center that only covers a site's nights ranks below one that takes its days).
    """
    out: dict[str, RegionalCenter] = {}
    for code in sorted({x.upper() for c in reachable for x in c.countries}):
        listing = [c for c in reachable if code in (x.upper() for x in c.countries)]
        best = min(listing, key=lambda c: (c.id != default_id, c.id))
        out[code] = RegionalCenter(best, f"lists {code}")
    by_id = {c.id: c for c in reachable}
    #: country -> center id -> [sites it is the day center of, sites it is the night center of]
    tally: dict[str, dict[int, list[int]]] = {}
    for site in sites:
        code = site.country.upper()
        if code in out:
            continue
        for slot, center_id in ((0, site.day_center_id), (1, site.out_of_hours_center_id)):
            if center_id is not None and center_id in by_id:
                tally.setdefault(code, {}).setdefault(center_id, [0, 0])[slot] += 1
    for code, per_center in sorted(tally.items()):
        cid = min(per_center, key=lambda i: (-per_center[i][0], -per_center[i][1], i != default_id, i))
        day, night = per_center[cid]
        role, n = ("day center", day) if day else ("out-of-hours center", night)
        out[code] = RegionalCenter(by_id[cid], f"{role} of {n} site{'' if n == 1 else 's'} in {code}")
    return out


def _compile_schedules(
    schedules: dict[int, ScheduleEntry],
    sites: dict[int, SiteEntry],
    devices: Iterable[DeviceEntry],
) -> tuple[dict[int, WeeklySchedule], dict[tuple[int, str], WeeklySchedule]]:
    """Business hours per site and device schedules per (schedule, timezone), each built once.

    A schedule that cannot be compiled (bad window, timezone or date) is logged and left out: the
    site is then always inside hours and the device may call at any time, so a registry error can
    never stop a call from being routed.
    """
    site_hours: dict[int, WeeklySchedule] = {}
    for site in sites.values():
        entry = schedules.get(site.business_hours_id) if site.business_hours_id is not None else None
        if entry is None and not site.holidays:
            continue
        windows = entry.windows if entry is not None else _ALWAYS
        try:
            site_hours[site.id] = WeeklySchedule.build(
                windows, site.timezone, entry.holidays if entry is not None else (), site.holidays
            )
        except ScheduleError as exc:
            log.warning("site %s: business hours not usable, treated as always open: %s", site.slug, exc)
    active_hours: dict[tuple[int, str], WeeklySchedule] = {}
    broken: set[tuple[int, str]] = set()
    for device in devices:
        sid = device.active_schedule_id
        home = sites.get(device.site_id)
        if sid is None or home is None:
            continue
        key = (sid, home.timezone)
        if key in active_hours or key in broken:
            continue
        entry = schedules.get(sid)
        try:
            if entry is None:
                raise ScheduleError(f"schedule {sid} is not in the snapshot")
            active_hours[key] = WeeklySchedule.build(entry.windows, home.timezone, entry.holidays)
        except ScheduleError as exc:
            broken.add(key)
            log.warning("schedule %s in %s not usable, devices may call any time: %s", sid, key[1], exc)
    return site_hours, active_hours


EMPTY = Snapshot.build(0, (), (), (), ())


def registry_revision(session: Session) -> int:
    """The registry's committed revision (0 before the first change); read it before the tables."""
    return session.scalar(select(RegistryRevision.value).where(RegistryRevision.id == 1)) or 0


@dataclass(frozen=True, slots=True)
class SnapshotOptions:
    """Routing settings that travel with the snapshot (from ``config.Settings``)."""

    #: name of the center that takes calls nobody else takes (None: the lowest id)
    default_center: str | None = None
    #: test receiver for test calls no test line's rule names one for
    test_receiver: str | None = None
    #: seconds within which a device calling again goes to the center of its last call
    repeat_window: float = 600.0

    @classmethod
    def from_settings(cls, settings: Any) -> SnapshotOptions:
        return cls(
            settings.default_center or None,
            settings.test_receiver or None,
            float(settings.repeat_caller_window),
        )


def load_snapshot(session: Session, options: SnapshotOptions = SnapshotOptions()) -> Snapshot:
    revision = registry_revision(session)  # first: the rows read below hold at least revision's changes
    devices = (
        DeviceEntry(
            r.id,
            r.ani,
            r.kind,
            r.status,
            r.site_id,
            r.location_id,
            r.trunk_id,
            r.active_schedule_id,
            _target(r.maintenance_contact, "device", r.id, "maintenance_contact"),
            r.maintenance_until,
            r.test_ani,
        )
        for r in session.execute(
            select(
                Device.id,
                Device.ani,
                Device.kind,
                Device.status,
                Device.site_id,
                Device.location_id,
                Device.trunk_id,
                Device.active_schedule_id,
                Device.maintenance_contact,
                Device.maintenance_until,
                Device.test_ani,
            )
        )
    )
    sites = [
        SiteEntry(
            s.id,
            s.slug,
            s.name,
            s.country,
            s.timezone,
            s.day_center_id,
            s.out_of_hours_center_id,
            s.business_hours_id,
            tuple(s.holidays or ()),
            _target(s.maintenance_contact, "site", s.id, "maintenance_contact"),
        )
        for s in session.scalars(select(Site))
    ]
    schedules = [
        ScheduleEntry(s.id, s.name, tuple(s.windows or ()), tuple(s.holidays or ()))
        for s in session.scalars(select(Schedule))
    ]
    centers = [
        CenterEntry(
            c.id,
            c.name,
            tuple(u for u in c.sip_uris if _target(u, "center", c.id, "sip_uris")),
            tuple(c.languages),
            tuple(c.countries or ()),
        )
        for c in session.scalars(select(SecurityCenter))
    ]
    trunks = [
        TrunkEntry(
            t.id,
            t.name,
            t.trust == TrunkTrust.TRUSTED,
            AniHeader(t.ani_header).value,
            t.default_region,
            t.expects_attestation,
            tuple(ipaddress.ip_network(a, strict=False) for a in t.source_addresses),
            t.test_call_marker or "",
            t.pending_site_id,
            t.rescue_ended_marker or "",
        )
        for t in session.scalars(select(Trunk))
    ]
    dnis = [
        DnisEntry(r.id, r.number, r.line, r.priority, _target(r.target_uri, "DNIS rule", r.id, "target_uri"))
        for r in session.scalars(select(DnisRule))
    ]
    lists = [
        ListEntry(e.id, e.pattern, e.kind, e.reason or "", e.expires_at)
        for e in session.scalars(select(NumberListEntry))
    ]
    floods = [
        FloodLimit(f.scope, f.device_kind, f.max_calls, f.window_seconds, f.effect)
        for f in session.scalars(select(FloodRule))
    ]
    return Snapshot.build(
        revision,
        devices,
        sites,
        centers,
        trunks,
        options.default_center,
        schedules,
        dnis_rules=dnis,
        number_lists=lists,
        flood_limits=floods,
        test_receiver=_target(options.test_receiver, "test receiver") or None,
        repeat_window=options.repeat_window,
    )


def _target(uri: str | None, *where: object) -> str:
    """``uri`` if a 302 can carry it, else "" (logged with ``where``): a row written before the
    registry checked redirect targets, or behind its back, must never reach the wire; the call
    goes to the next target instead (or gets 480). Runs once per snapshot, not per call."""
    if not uri:
        return ""
    problem = contact_uri_error(uri)
    if problem is None:
        return uri
    log.warning("%s left out of redirects: %s", " ".join(map(str, where)), problem)
    return ""


class SnapshotHolder:
    """The current snapshot; readers take ``holder.current`` (one attribute read, no lock)."""

    def __init__(self, snapshot: Snapshot = EMPTY):
        self.current = snapshot
        self.listeners: list[Callable[[Snapshot], Any]] = []

    def swap(self, snapshot: Snapshot) -> None:
        self.current = snapshot
        for listener in self.listeners:
            listener(snapshot)


class SnapshotRefresher:
    """Polls the registry revision and rebuilds the snapshot when it moved (default every 0.5 s)."""

    def __init__(
        self,
        holder: SnapshotHolder,
        factory: sessionmaker[Session],
        options: SnapshotOptions = SnapshotOptions(),
        interval: float = 0.5,
    ):
        self.holder = holder
        self.factory = factory
        self.options = options
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        with self.factory() as session:
            if (
                registry_revision(session) == self.holder.current.revision
                and self.holder.current is not EMPTY
            ):
                return False
            snap = load_snapshot(session, self.options)
        self.holder.swap(snap)
        log.info(
            "registry snapshot r%d: %d devices, %d trunks", snap.revision, len(snap.devices), len(snap.trunks)
        )
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # the database may be briefly away: keep the last snapshot
                log.exception("snapshot refresh failed; keeping revision %d", self.holder.current.revision)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="snapshot-refresher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
