"""Read side of alarms: the scoped, filtered alarm list (newest first) and where each alarm is (device,
site, building, location, floor, from the registry as it is now). Must not import flask or integrations.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from alarms.choices import ANNUNCIATED, AlarmKind, AlarmState, PerceivedSeverity
from alarms.models import Alarm, AlarmTransition
from alarms.service import alarm_scope
from registry.actors import Actor
from registry.choices import TokenScope
from registry.models import Device, Location, Site


@dataclass(frozen=True)
class AlarmFilter:
    """What the alarm list is narrowed to; empty collections and None mean "any"."""

    states: Collection[AlarmState] = ()
    #: True: the annunciated states (what an operator sees as active); False: the others
    active: bool | None = None
    severities: Collection[PerceivedSeverity] = ()
    kinds: Collection[AlarmKind] = ()
    site: int | None = None
    center: int | None = None
    device: int | None = None
    #: ``first_at`` at or after / before, ``last_at`` at or after / before
    first_since: datetime | None = None
    first_until: datetime | None = None
    last_since: datetime | None = None
    last_until: datetime | None = None


def alarm_query(actor: Actor, f: AlarmFilter = AlarmFilter()) -> Select[Alarm]:
    """The alarms ``actor`` may see (``alarm_scope``) matching ``f``, newest first (raised last)."""
    actor.require_scope(TokenScope.ALARMS_READ)
    stmt = select(Alarm).where(alarm_scope(actor))
    if f.states:
        stmt = stmt.where(Alarm.state.in_(sorted(s.value for s in f.states)))
    if f.active is not None:
        annunciated = Alarm.state.in_(sorted(s.value for s in ANNUNCIATED))
        stmt = stmt.where(annunciated if f.active else ~annunciated)
    if f.severities:
        stmt = stmt.where(Alarm.severity.in_(sorted(s.value for s in f.severities)))
    if f.kinds:
        stmt = stmt.where(Alarm.kind.in_(sorted(k.value for k in f.kinds)))
    if f.site is not None:
        stmt = stmt.where(Alarm.site_id == f.site)
    if f.center is not None:
        stmt = stmt.where(Alarm.center_id == f.center)
    if f.device is not None:
        stmt = stmt.where(Alarm.device_id == f.device)
    if f.first_since is not None:
        stmt = stmt.where(Alarm.first_at >= f.first_since)
    if f.first_until is not None:
        stmt = stmt.where(Alarm.first_at < f.first_until)
    if f.last_since is not None:
        stmt = stmt.where(Alarm.last_at >= f.last_since)
    if f.last_until is not None:
        stmt = stmt.where(Alarm.last_at < f.last_until)
    return stmt.order_by(Alarm.first_at.desc(), Alarm.id.desc())


@dataclass(frozen=True)
class Place:
    """Where an alarm is, for the person who must go there."""

    device_ani: str | None = None
    device_kind: str | None = None
    site_name: str | None = None
    building: str | None = None
    location: str | None = None
    floor: str | None = None


def alarm_places(session: Session, alarms: Iterable[Alarm]) -> dict[int, Place]:
    """Alarm id -> its place, in two queries for a whole page (devices with their location, sites)."""
    alarms = list(alarms)
    device_ids = sorted({a.device_id for a in alarms if a.device_id is not None})
    site_ids = sorted({a.site_id for a in alarms if a.site_id is not None})
    devices = {
        row.id: row
        for row in session.execute(
            select(Device.id, Device.ani, Device.kind, Location.building, Location.name, Location.floor)
            .outerjoin(Location, Location.id == Device.location_id)
            .where(Device.id.in_(device_ids))
        )
    }
    sites: dict[int, str] = {
        site_id: name
        for site_id, name in session.execute(select(Site.id, Site.name).where(Site.id.in_(site_ids)))
    }
    out: dict[int, Place] = {}
    for a in alarms:
        dev = devices.get(a.device_id) if a.device_id is not None else None
        site = sites.get(a.site_id) if a.site_id is not None else None
        if dev is None:
            out[a.id] = Place(site_name=site)
            continue
        out[a.id] = Place(
            device_ani=dev.ani,
            device_kind=dev.kind.value,
            site_name=site,
            building=dev.building,
            location=dev.name,
            floor=dev.floor,
        )
    return out


def alarm_transitions(session: Session, alarm_id: int) -> Sequence[AlarmTransition]:
    """The alarm's history, oldest first (read fresh: actions add transitions without the relationship)."""
    return session.scalars(
        select(AlarmTransition).where(AlarmTransition.alarm_id == alarm_id).order_by(AlarmTransition.id)
    ).all()
