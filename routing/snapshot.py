"""Immutable in-memory index of the registry for the call path, swapped atomically when it changes.

The SIP answer never waits on the database: :class:`SnapshotHolder` keeps the current
:class:`Snapshot`, and a background refresher rebuilds it when the change log has grown (every
registry change writes a change-log row, so its highest id is the registry's revision).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from registry.choices import AniHeader, DeviceKind, DeviceStatus, TrunkTrust
from registry.models import ChangeLog, Device, SecurityCenter, Site, Trunk

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
    trunk_id: int | None


@dataclass(frozen=True, slots=True)
class SiteEntry:
    id: int
    slug: str
    name: str
    country: str
    timezone: str
    day_center_id: int | None
    out_of_hours_center_id: int | None


@dataclass(frozen=True, slots=True)
class CenterEntry:
    id: int
    name: str
    uris: tuple[str, ...]
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrunkEntry:
    id: int
    name: str
    trusted: bool
    ani_header: str
    region: str
    expects_attestation: bool
    networks: tuple[IPNetwork, ...]


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

    @classmethod
    def build(
        cls,
        revision: int,
        devices: Iterable[DeviceEntry],
        sites: Iterable[SiteEntry],
        centers: Iterable[CenterEntry],
        trunks: Iterable[TrunkEntry],
        default_center: str | None = None,
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
        return cls(
            revision,
            {d.ani: d for d in devices},
            {s.id: s for s in sites},
            centers_by_id,
            trunks_by_id,
            default_id,
            hosts,
            tuple(nets),
        )

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


EMPTY = Snapshot.build(0, (), (), (), ())


def registry_revision(session: Session) -> int:
    return session.scalar(select(func.max(ChangeLog.id))) or 0


def load_snapshot(session: Session, default_center: str | None = None) -> Snapshot:
    revision = registry_revision(session)
    devices = (
        DeviceEntry(r.id, r.ani, r.kind, r.status, r.site_id, r.location_id, r.trunk_id)
        for r in session.execute(
            select(
                Device.id,
                Device.ani,
                Device.kind,
                Device.status,
                Device.site_id,
                Device.location_id,
                Device.trunk_id,
            )
        )
    )
    sites = [
        SiteEntry(s.id, s.slug, s.name, s.country, s.timezone, s.day_center_id, s.out_of_hours_center_id)
        for s in session.scalars(select(Site))
    ]
    centers = [
        CenterEntry(c.id, c.name, tuple(c.sip_uris), tuple(c.languages))
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
        )
        for t in session.scalars(select(Trunk))
    ]
    return Snapshot.build(revision, devices, sites, centers, trunks, default_center)


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
        default_center: str | None = None,
        interval: float = 0.5,
    ):
        self.holder = holder
        self.factory = factory
        self.default_center = default_center
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
            snap = load_snapshot(session, self.default_center)
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
