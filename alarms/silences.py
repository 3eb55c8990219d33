"""Silence use cases: plan, change and end maintenance windows per device, site or trunk, scoped by
role; every change in the change log, the caller commits. Must not import flask or integrations.

Admins silence anything; facility managers the devices and sites of their sites (a trunk serves many
owners' sites: admins only); operators read the silences touching their center's sites and plan none
(they shelve a single alarm instead).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, or_, select, true
from sqlalchemy.orm import Session

from alarms.choices import SilenceScope
from alarms.models import Silence
from alarms.service import AlarmService
from registry.actors import Actor
from registry.changelog import Change, record_changes, snapshot
from registry.choices import ChangeAction, Role, TokenScope
from registry.db import as_id, utcnow
from registry.errors import Conflict, Forbidden, ValidationFailed
from registry.models import Device, Site, Trunk
from registry.queries import scoped_get

#: the longest maintenance window: a longer one is a decommissioning, not a silence
MAX_SILENCE = timedelta(days=31)
#: how far ahead a silence may be planned
MAX_LEAD = timedelta(days=365)
MAX_REASON = 2000


def silence_scope(actor: Actor) -> ColumnElement[bool]:
    """SQL condition on :class:`Silence` keeping those touching a site ``actor`` sees: a silence of
    one of its devices, of the site, or of a trunk one of its devices calls over. Admins see all."""
    if actor.is_admin:
        return true()
    sites = select(Site.id).where(actor.site_filter())
    return or_(
        (Silence.scope == SilenceScope.SITE.value) & Silence.target_id.in_(sites),
        (Silence.scope == SilenceScope.DEVICE.value)
        & Silence.target_id.in_(select(Device.id).where(Device.site_id.in_(sites))),
        (Silence.scope == SilenceScope.TRUNK.value)
        & Silence.target_id.in_(
            select(Device.trunk_id).where(Device.site_id.in_(sites), Device.trunk_id.is_not(None))
        ),
    )


def in_force(now: datetime) -> ColumnElement[bool]:
    return (Silence.starts_at <= now) & (Silence.ends_at > now)


def silence_query(
    actor: Actor,
    now: datetime,
    *,
    active: bool | None = None,
    scope: SilenceScope | None = None,
    target: int | None = None,
) -> Select[Silence]:
    """Silences ``actor`` may see, latest start first; ``active`` True: in force at ``now``, False:
    planned or over."""
    actor.require_scope(TokenScope.ALARMS_READ)
    stmt = select(Silence).where(silence_scope(actor))
    if active is not None:
        stmt = stmt.where(in_force(now) if active else ~in_force(now))
    if scope is not None:
        stmt = stmt.where(Silence.scope == scope.value)
    if target is not None:
        stmt = stmt.where(Silence.target_id == target)
    return stmt.order_by(Silence.starts_at.desc(), Silence.id.desc())


def get_silence(session: Session, actor: Actor, silence_id: object, for_update: bool = False) -> Silence:
    if not for_update:
        actor.require_scope(TokenScope.ALARMS_READ)
    return scoped_get(session, Silence, "silence", silence_id, silence_scope(actor), for_update)


def _require_planner(actor: Actor, scope: SilenceScope) -> None:
    actor.require_scope(TokenScope.ALARMS_WRITE)
    if actor.is_admin:
        return
    if actor.role != Role.FACILITY_MANAGER:
        raise Forbidden("only facility managers and administrators plan silences; operators shelve an alarm")
    if scope is SilenceScope.TRUNK:
        raise Forbidden("only an administrator may silence a trunk (it serves other owners' sites too)")


def _target_site(session: Session, scope: SilenceScope, target_id: int) -> tuple[bool, int | None]:
    """Whether the target exists, and its site (a device's site, the site itself; none for a trunk)."""
    if scope is SilenceScope.DEVICE:
        device = session.get(Device, target_id)
        return device is not None, device.site_id if device is not None else None
    if scope is SilenceScope.SITE:
        return session.get(Site, target_id) is not None, target_id
    return session.get(Trunk, target_id) is not None, None


def _check_target(session: Session, actor: Actor, scope: SilenceScope, target: object) -> int:
    ident = as_id(target)
    exists, site = _target_site(session, scope, ident) if ident is not None else (False, None)
    # a target outside the manager's sites reads like one that does not exist (as in the registry)
    if ident is None or not exists or (site is not None and not actor.may_write_site(site)):
        raise ValidationFailed({"target_id": f"no {scope.value} {target}"})
    return ident


def _check_reason(reason: str, errors: dict[str, str]) -> str:
    reason = reason.strip()
    if not reason:
        errors["reason"] = "a silence needs a reason (for example: lift 3 refurbished, phone disconnected)"
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"at most {MAX_REASON} characters"
    return reason


def _check_span(starts_at: datetime, ends_at: datetime, now: datetime, errors: dict[str, str]) -> None:
    if starts_at - now > MAX_LEAD:
        errors["starts_at"] = f"a silence may be planned at most {MAX_LEAD.days} days ahead"
    if ends_at <= now:
        errors["ends_at"] = "must be in the future"
    elif ends_at <= starts_at:
        errors["ends_at"] = "must be after starts_at"
    elif ends_at - starts_at > MAX_SILENCE:
        errors["ends_at"] = f"a silence lasts at most {MAX_SILENCE.days} days"


def _label(s: Silence) -> str:
    return f"{s.scope.value} {s.target_id}: {s.reason}"


def create_silence(
    session: Session,
    actor: Actor,
    *,
    scope: SilenceScope | str,
    target_id: object,
    ends_at: datetime,
    reason: str,
    starts_at: datetime | None = None,
    now: datetime | None = None,
) -> Silence:
    """A new silence. Alarms raised while it is in force are suppressed; alarms already open stay as
    they are (a silence never hides an emergency someone is already handling)."""
    now = now or utcnow()
    scope = SilenceScope(scope)
    _require_planner(actor, scope)
    ident = _check_target(session, actor, scope, target_id)
    errors: dict[str, str] = {}
    starts_at = starts_at or now
    reason = _check_reason(reason, errors)
    _check_span(starts_at, ends_at, now, errors)
    if errors:
        raise ValidationFailed(errors)
    silence = Silence(
        scope=scope,
        target_id=ident,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_by=actor.name[:120],
        created_at=now,
    )
    session.add(silence)
    session.flush()
    record_changes(
        session,
        actor,
        [Change(ChangeAction.CREATE, "silence", silence.id, _label(silence), None, snapshot(silence))],
    )
    return silence


def _for_change(session: Session, actor: Actor, silence_id: object, now: datetime) -> Silence:
    actor.require_scope(TokenScope.ALARMS_WRITE)
    silence = get_silence(session, actor, silence_id, for_update=True)
    _require_planner(actor, silence.scope)
    if not actor.is_admin:  # a manager changes the silences of their own sites only
        _check_target(session, actor, silence.scope, silence.target_id)
    if silence.expired_at is not None or silence.ends_at <= now:
        raise Conflict(f"silence {silence.id} has ended", field="ends_at")
    return silence


def update_silence(
    session: Session,
    actor: Actor,
    silence_id: object,
    *,
    ends_at: datetime | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Silence:
    """Move the end of a silence that has not ended, or change its reason (nothing else changes)."""
    now = now or utcnow()
    silence = _for_change(session, actor, silence_id, now)
    before = snapshot(silence)
    errors: dict[str, str] = {}
    if reason is not None:
        reason = _check_reason(reason, errors)
    if ends_at is not None:
        _check_span(silence.starts_at, ends_at, now, errors)
        errors.pop("starts_at", None)  # the start was checked when it was planned
    if errors:
        raise ValidationFailed(errors)
    if reason is not None:
        silence.reason = reason
    if ends_at is not None:
        silence.ends_at = ends_at
    session.flush()
    record_changes(
        session,
        actor,
        [Change(ChangeAction.UPDATE, "silence", silence.id, _label(silence), before, snapshot(silence))],
    )
    return silence


def end_silence(session: Session, actor: Actor, silence_id: object, service: AlarmService) -> Silence:
    """End a silence now, keeping its row (a planned one never starts): the alarms it suppressed
    whose condition still holds become active at once."""
    now = service.clock()
    silence = _for_change(session, actor, silence_id, now)
    before = snapshot(silence)
    silence.ends_at = now
    silence.starts_at = min(silence.starts_at, now)
    service.wake_silenced(session, silence)
    session.flush()
    label = f"{_label(silence)} (ended)"
    record_changes(
        session, actor, [Change(ChangeAction.UPDATE, "silence", silence.id, label, before, snapshot(silence))]
    )
    return silence
