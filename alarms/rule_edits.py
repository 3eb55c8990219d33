"""Admins' edits of the alarm rules: the rules in force (shipped defaults merged with ``AlarmRule``
rows), an admin's rule for one trigger and device kind, and its removal (back to the default). Every
change in the change log; the caller commits. Must not import flask or integrations.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from alarms.choices import AlarmKind, PerceivedSeverity, Trigger
from alarms.models import AlarmRule
from alarms.rules import ANY_KIND, DEFAULT_RULES, Rule
from alarms.service import load_rulebook
from registry.actors import Actor
from registry.changelog import Change, record_changes, snapshot
from registry.choices import ChangeAction, DeviceKind, TokenScope
from registry.errors import NotFound, ValidationFailed

_DEFAULTS = {(r.trigger, r.device_kind): r for r in DEFAULT_RULES}
_TRIGGER_ORDER = {t: i for i, t in enumerate(Trigger)}


@dataclass(frozen=True)
class RuleInForce:
    """A rule as it applies now; ``custom``: an admin's, else the shipped default."""

    rule: Rule
    custom: bool
    #: the shipped default this one replaces, if there is one
    default: Rule | None


def _in_force(rule: Rule, custom: bool) -> RuleInForce:
    return RuleInForce(rule, custom, _DEFAULTS.get((rule.trigger, rule.device_kind)))


def rules_in_force(session: Session, actor: Actor) -> list[RuleInForce]:
    """Every rule in force, by trigger then device kind (any kind last)."""
    actor.require_scope(TokenScope.ALARMS_READ)
    custom = {(r.trigger, r.device_kind) for r in session.scalars(select(AlarmRule))}
    rules = load_rulebook(session).rules()
    rules.sort(key=lambda r: (_TRIGGER_ORDER[r.trigger], r.device_kind == ANY_KIND, r.device_kind))
    return [_in_force(r, (r.trigger, r.device_kind) in custom) for r in rules]


def _key(trigger: Trigger | str, device_kind: str) -> tuple[Trigger, str]:
    errors: dict[str, str] = {}
    if trigger not in Trigger.values():
        errors["trigger"] = f"one of {', '.join(Trigger.values())}"
    if device_kind != ANY_KIND and device_kind not in DeviceKind.values():
        errors["device_kind"] = f"one of {', '.join(DeviceKind.values())}, or empty for any kind"
    if errors:
        raise ValidationFailed(errors)
    return Trigger(trigger), device_kind


def _row(session: Session, trigger: Trigger, device_kind: str) -> AlarmRule | None:
    return session.scalars(
        select(AlarmRule)
        .where(AlarmRule.trigger == trigger.value, AlarmRule.device_kind == device_kind)
        .with_for_update()
    ).first()


def _label(row: AlarmRule) -> str:
    return f"{row.trigger.value} / {row.device_kind or 'any kind'}"


def put_rule(
    session: Session,
    actor: Actor,
    trigger: Trigger | str,
    device_kind: str,
    *,
    kind: AlarmKind | str,
    severity: PerceivedSeverity | str,
    latched: bool = False,
    enabled: bool = True,
) -> RuleInForce:
    """An admin's rule for ``trigger`` on devices of ``device_kind`` (``""``: any kind), replacing the
    default or an earlier edit. ``enabled`` false turns the trigger off for that kind."""
    actor.require_scope(TokenScope.ALARMS_WRITE)
    actor.require_admin("the alarm rules")
    key = _key(trigger, device_kind)
    errors: dict[str, str] = {}
    if kind not in AlarmKind.values():
        errors["kind"] = f"one of {', '.join(AlarmKind.values())}"
    if severity not in PerceivedSeverity.values():
        errors["severity"] = f"one of {', '.join(PerceivedSeverity.values())}"
    if errors:
        raise ValidationFailed(errors)
    row = _row(session, *key)
    before = snapshot(row) if row is not None else None
    if row is None:
        row = AlarmRule(trigger=key[0], device_kind=key[1])
        session.add(row)
    row.kind, row.severity = AlarmKind(kind), PerceivedSeverity(severity)
    row.latched, row.enabled = latched, enabled
    session.flush()
    action = ChangeAction.CREATE if before is None else ChangeAction.UPDATE
    record_changes(session, actor, [Change(action, "alarm_rule", row.id, _label(row), before, snapshot(row))])
    return _in_force(
        Rule(row.trigger, row.device_kind, row.kind, row.severity, row.latched, row.enabled), True
    )


def delete_rule(
    session: Session, actor: Actor, trigger: Trigger | str, device_kind: str
) -> RuleInForce | None:
    """Remove an admin's rule: the shipped default applies again (returned), or none if there is no
    default for that trigger and kind. 404 when there was no admin rule."""
    actor.require_scope(TokenScope.ALARMS_WRITE)
    actor.require_admin("the alarm rules")
    key = _key(trigger, device_kind)
    row = _row(session, *key)
    if row is None:
        raise NotFound("alarm rule", f"{key[0].value}/{key[1] or 'any'}")
    record_changes(
        session, actor, [Change(ChangeAction.DELETE, "alarm_rule", row.id, _label(row), snapshot(row), None)]
    )
    session.delete(row)
    session.flush()
    default = _DEFAULTS.get(key)
    return _in_force(default, False) if default is not None else None
