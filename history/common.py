"""What the history pages share: page numbers, select options limited to the actor's scope, and the
names of the registry objects a page of calls or alarms refers to (one query per table).

A web module: may import flask, webcore and the registry core.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from registry.actors import Actor
from registry.choices import Role
from registry.db import as_id
from registry.models import Device, SecurityCenter, Site
from registry.queries import visible
from registry.web.tables import DASH, Cell

PER_PAGE = 50
ANY = SelectChoice("", "Any")


def page_number() -> int:
    page = request.args.get("page", 1, type=int) or 1
    return max(1, min(page, 1_000_000))


def page_url(page: int) -> str:
    args: dict[str, Any] = {**request.args.to_dict(), "page": page}
    return url_for(request.endpoint or "registry.home", **args)


def chosen_id(value: str | None) -> int | None:
    """A select's id; a value that cannot be an id filters to nothing (id 0), never to everything."""
    if not value:
        return None
    ident = as_id(value)
    return ident if ident is not None else 0


def utc(value: datetime | None) -> datetime | None:
    """A datetime-local input's value, read as UTC (the page says so)."""
    return value.replace(tzinfo=UTC) if value is not None else None


def when(value: datetime | None, seconds: bool = True) -> str:
    if value is None:
        return DASH
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


# --- select options: only what the actor may see ----------------------------------------------------


def site_options(session: Session, actor: Actor) -> list[SelectChoice]:
    sites: Iterable[Site] = session.scalars(visible(actor, Site).order_by(Site.name, Site.id))  # type: ignore[arg-type]
    return [ANY, *(SelectChoice(str(s.id), s.name) for s in sites)]


def device_options(session: Session, actor: Actor) -> list[SelectChoice]:
    """The devices on the actor's sites (the scope of ``registry.queries.visible``), with their site."""
    rows = session.execute(
        select(Device.id, Device.ani, Site.name)
        .join(Site, Site.id == Device.site_id)
        .where(actor.site_filter())
        .order_by(Site.name, Device.ani)
    )
    return [ANY, *(SelectChoice(str(i), f"{ani} ({site})") for i, ani, site in rows)]


def center_options(session: Session, actor: Actor) -> list[SelectChoice]:
    """Admins: every center; an operator: their own; a facility manager: the centers serving their
    sites (the only ones their calls can have gone to)."""
    stmt = select(SecurityCenter.id, SecurityCenter.name).order_by(SecurityCenter.name)
    if actor.role == Role.OPERATOR:
        stmt = stmt.where(SecurityCenter.id == (actor.center_id or 0))
    elif not actor.is_admin:
        serving = (
            select(Site.day_center_id)
            .where(actor.site_filter())
            .union(select(Site.out_of_hours_center_id).where(actor.site_filter()))
        )
        stmt = stmt.where(SecurityCenter.id.in_(serving))
    return [ANY, *(SelectChoice(str(i), name) for i, name in session.execute(stmt))]


# --- names of what a page refers to ---------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """id -> label of the devices, sites and centers of one page (registry as it is now)."""

    devices: dict[int, str]
    sites: dict[int, str]
    centers: dict[int, str]

    def device(self, device_id: int | None) -> Cell:
        return _ref(device_id, self.devices, "registry.device_detail")

    def site(self, site_id: int | None) -> Cell:
        return _ref(site_id, self.sites, "registry.site_detail")

    def center(self, center_id: int | None) -> Cell:
        return _ref(center_id, self.centers, "registry.center_detail")


def _ref(ident: int | None, names: dict[int, str], endpoint: str) -> Cell:
    if ident is None:
        return Cell()
    name = names.get(ident)
    if name is None:  # the record outlives the registry object (no foreign key on purpose)
        return Cell(f"#{ident} (deleted)")
    return Cell(name, url_for(endpoint, id=ident))


def names_of(
    session: Session,
    device_ids: Iterable[int | None],
    site_ids: Iterable[int | None],
    center_ids: Iterable[int | None],
) -> Names:
    """The labels of the referenced objects in three queries, whatever the page's length."""

    def wanted(ids: Iterable[int | None]) -> list[int]:
        return sorted({i for i in ids if i is not None})

    devices = dict(
        session.execute(select(Device.id, Device.ani).where(Device.id.in_(wanted(device_ids)))).all()
    )
    sites = dict(session.execute(select(Site.id, Site.name).where(Site.id.in_(wanted(site_ids)))).all())
    centers = dict(
        session.execute(
            select(SecurityCenter.id, SecurityCenter.name).where(SecurityCenter.id.in_(wanted(center_ids)))
        ).all()
    )
    return Names(devices, sites, centers)
