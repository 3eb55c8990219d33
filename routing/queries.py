"""Read side of call history: calls an actor may see, filtered and newest first.

Admins see every call; a facility manager the calls of devices on their sites; an operator the calls
sent to their center or arriving from the sites their center covers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session

from registry.actors import Actor
from registry.choices import Role, TokenScope
from registry.errors import NotFound
from registry.models import Site
from routing.models import CallRecord


def visible_calls(actor: Actor) -> Select[CallRecord]:
    stmt = select(CallRecord)
    if actor.is_admin:
        return stmt
    if actor.role == Role.FACILITY_MANAGER:
        return stmt.where(CallRecord.site_id.in_(actor.site_ids)) if actor.site_ids else stmt.where(false())
    if actor.center_id is None:
        return stmt.where(false())
    covered = select(Site.id).where(actor.site_filter())
    return stmt.where(or_(CallRecord.center_id == actor.center_id, CallRecord.site_id.in_(covered)))


def call_query(
    actor: Actor,
    *,
    device: int | None = None,
    site: int | None = None,
    center: int | None = None,
    ani: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[CallRecord]:
    actor.require_scope(TokenScope.REGISTRY_READ)
    stmt = visible_calls(actor)
    if device is not None:
        stmt = stmt.where(CallRecord.device_id == device)
    if site is not None:
        stmt = stmt.where(CallRecord.site_id == site)
    if center is not None:
        stmt = stmt.where(CallRecord.center_id == center)
    if ani:
        stmt = stmt.where(CallRecord.ani == ani)
    if since is not None:
        stmt = stmt.where(CallRecord.received_at >= since)
    if until is not None:
        stmt = stmt.where(CallRecord.received_at < until)
    return stmt.order_by(CallRecord.received_at.desc(), CallRecord.id.desc())


def get_call(session: Session, actor: Actor, call_id: int) -> CallRecord:
    actor.require_scope(TokenScope.REGISTRY_READ)
    call = session.scalars(visible_calls(actor).where(CallRecord.id == call_id)).first()
    if call is None:
        raise NotFound("call", call_id)
    return call
