"""Read side of call history: calls an actor may see, filtered and newest first.

Admins see every call; a facility manager the calls of devices on their sites; an operator the calls
sent to their center or arriving from the sites their center covers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session

from registry.actors import Actor
from registry.choices import FloodScope, Role, TokenScope
from registry.errors import NotFound
from registry.models import Site
from routing.history import SeedRow
from routing.models import CallRecord
from routing.policy import HistoryQuery, Recent


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


_SCOPE_COLUMNS = {
    FloodScope.ANI: (CallRecord.ani, str),
    FloodScope.SITE: (CallRecord.site_id, int),
    FloodScope.TRUNK: (CallRecord.trunk_id, int),
}


class CallTableHistory:
    """:class:`routing.history.HistoryStore` over the ``calls`` table, for the HTTP route API
    (several web processes share no memory). Calls the SIP worker has journaled but not yet
    stored are not seen; the recorder stores them within a fraction of a second."""

    def __init__(self, session: Session):
        self.session = session

    def recall(self, query: HistoryQuery, now: float) -> Recent:
        at = datetime.fromtimestamp(now, UTC)
        counts = {}
        for w in query.windows:
            column, kind = _SCOPE_COLUMNS[w.scope]
            stmt = select(func.count()).where(
                column == kind(w.key), CallRecord.received_at >= at - timedelta(seconds=w.seconds)
            )
            counts[w.scope] = (self.session.scalar(stmt) or 0) + 1
        last_center = age = None
        if query.device_id is not None and query.repeat_seconds > 0:
            last = self.session.execute(
                select(CallRecord.received_at, CallRecord.center_id)
                .where(
                    CallRecord.device_id == query.device_id,
                    CallRecord.received_at >= at - timedelta(seconds=query.repeat_seconds),
                    CallRecord.center_id.is_not(None),
                )
                .order_by(CallRecord.received_at.desc())
                .limit(1)
            ).first()
            if last is not None:
                age, last_center = max(0.0, (at - last.received_at).total_seconds()), last.center_id
        return Recent(last_center, age, MappingProxyType(counts))

    def note(self, query: HistoryQuery, now: float, center_id: int | None) -> None:
        """Nothing to do: the call's own record is what the next call will count."""


def recent_calls(session: Session, since: datetime, limit: int = 200_000) -> Iterator[SeedRow]:
    """The newest calls received since ``since`` (at most ``limit``), oldest first, to seed the
    SIP worker's :class:`routing.history.CallMemory` after a restart."""
    stmt = (
        select(
            CallRecord.received_at,
            CallRecord.ani,
            CallRecord.site_id,
            CallRecord.trunk_id,
            CallRecord.device_id,
            CallRecord.center_id,
        )
        .where(CallRecord.received_at >= since)
        .order_by(CallRecord.received_at.desc())
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    for r in reversed(rows):
        yield (r.received_at.timestamp(), r.ani, r.site_id, r.trunk_id, r.device_id, r.center_id)
