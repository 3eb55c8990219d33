"""Read side of the registry: scoped selects, filters, pagination, lookups by ANI.

Every list or get goes through :func:`visible`, so no entry point can forget the actor's scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from registry.actors import Actor
from registry.choices import DeviceStatus, TokenScope
from registry.db import Base, as_id
from registry.errors import NotFound
from registry.models import ChangeLog, Device, Location, Site
from registry.numbers import InvalidNumber, normalise_ani

T = TypeVar("T", bound=Base)


def visible(actor: Actor, model: type[T]) -> Select[tuple[T]]:
    """SELECT of the rows of ``model`` the actor may see."""
    stmt = select(model)
    if actor.is_admin:
        return stmt
    if model is Site:
        return stmt.where(actor.site_filter())
    if model in (Device, Location):
        return stmt.join(Site, Site.id == model.site_id).where(actor.site_filter())  # type: ignore[attr-defined]
    return stmt  # centers, trunks, schedules: shared reference data


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def paginate(session: Session, stmt: Select[Any], page: int, per_page: int) -> Page:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items, total, page, per_page)


def device_query(
    actor: Actor,
    *,
    site: int | str | None = None,
    kind: str | None = None,
    trunk: int | None = None,
    status: str | None = None,
    q: str | None = None,
    location: int | None = None,
) -> Select[tuple[Device]]:
    """Devices the actor sees, filtered like NetBox (``?site=&kind=&trunk=&status=&q=``)."""
    stmt = visible(actor, Device)
    if site is not None:
        if isinstance(site, int) or str(site).isdigit():
            stmt = stmt.where(Device.site_id == (as_id(site) or 0))
        else:
            stmt = stmt.where(Device.site_id.in_(select(Site.id).where(Site.slug == site)))
    if kind:
        stmt = stmt.where(Device.kind == kind)
    if trunk is not None:
        stmt = stmt.where(Device.trunk_id == trunk)
    if status:
        stmt = stmt.where(Device.status == status)
    if location is not None:
        stmt = stmt.where(Device.location_id == location)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(
            or_(
                Device.ani.like(like),
                Device.serial.ilike(like),
                Device.vendor.ilike(like),
                Device.model.ilike(like),
                Device.notes.ilike(like),
            )
        )
    return stmt.order_by(Device.id)


#: statuses whose devices are not expected to make test calls
_NOT_IN_SERVICE = frozenset({DeviceStatus.DECOMMISSIONED, DeviceStatus.PENDING})


def periodic_test_state(device: Device, now: datetime) -> str | None:
    """EN 81-28 periodic test calls of a device at ``now``: None when none are expected (no interval,
    decommissioned or pending), ``"overdue"`` when the last one (or, never having made one, the
    device's registration) is longer ago than the interval, ``"due"`` while the first is awaited,
    else ``"ok"``."""
    if device.test_interval_hours is None or device.status in _NOT_IN_SERVICE:
        return None
    interval = timedelta(hours=device.test_interval_hours)
    if device.last_test_call_at is None:
        return "overdue" if now - device.created_at > interval else "due"
    return "overdue" if now - device.last_test_call_at > interval else "ok"


def device_by_ani(session: Session, actor: Actor, raw: str, region: str = "DE") -> Device:
    """The device whose ANI is ``raw`` written in any form; NotFound when unknown or out of scope."""
    actor.require_scope(TokenScope.REGISTRY_READ)
    try:
        ani = normalise_ani(raw, region)
    except InvalidNumber:
        raise NotFound("device", raw) from None
    device = session.scalars(visible(actor, Device).where(Device.ani == ani)).first()
    if device is None:
        raise NotFound("device", ani)
    return device


def change_history(
    session: Session, object_type: str, object_id: int, limit: int = 200
) -> Sequence[ChangeLog]:
    stmt = (
        select(ChangeLog)
        .where(ChangeLog.object_type == object_type, ChangeLog.object_id == object_id)
        .order_by(ChangeLog.id.desc())
        .limit(limit)
    )
    return session.scalars(stmt).all()


def scoped_get(
    session: Session,
    model: type[T],
    label: str,
    ref: object,
    scope: ColumnElement[bool],
    for_update: bool = False,
) -> T:
    """The ``model`` row with id ``ref`` that ``scope`` lets the actor see, else NotFound (an id that
    cannot be one, a row that does not exist and a row out of scope are not told apart);
    ``for_update`` locks it for a change."""
    ident = as_id(ref)
    if ident is None:
        raise NotFound(label, ref)
    stmt = select(model).where(model.id == ident, scope)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(label, ref)
    return row
