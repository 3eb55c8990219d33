"""The change log and the registry revision: one function writes every create/update/delete,
whatever the entry point, and moves the revision the SIP snapshot follows.

Single changes and CSV bulk imports both go through :func:`record_changes`, with snapshots made by
:func:`snapshot_values`, so the log reads the same whether a device came from the API, a CSV or a form.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, inspect
from sqlalchemy.orm import Session

from registry.actors import Actor
from registry.bulk import insert_rows
from registry.choices import ChangeAction
from registry.db import Base, before_commit, dialect_insert, utcnow
from registry.events import DeviceChanged, DeviceStatusChanged, DomainEvent
from registry.models import ChangeLog, RegistryRevision
from registry.outbox import add_events

#: columns never copied into the log (secrets, noise)
_SKIP = {"password_hash", "digest", "created_at", "updated_at"}

#: logged objects the routing snapshot does not read: their changes leave the revision alone
UNROUTED_OBJECTS = frozenset({"user", "token", "api_token", "silence", "alarm_rule"})


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:  # most values; exact type, so str enums still get their .value
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@cache
def _logged_keys(model: type[Base]) -> tuple[str, ...]:
    return tuple(col.key for col in inspect(model).columns if col.key not in _SKIP)


def snapshot_values(model: type[Base], values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready copy of a row's column values, in column order (called per row by bulk imports)."""
    return {key: _jsonable(values[key]) for key in _logged_keys(model) if key in values}


def snapshot(obj: Base) -> dict[str, Any]:
    mapper = inspect(type(obj))
    return snapshot_values(type(obj), {c.key: getattr(obj, c.key) for c in mapper.columns})


@dataclass(frozen=True)
class Change:
    action: ChangeAction
    object_type: str
    object_id: int
    object_repr: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def record_changes(session: Session, actor: Actor, changes: Iterable[Change]) -> int:
    """Append change-log rows in the caller's transaction; returns how many were written."""
    now = utcnow()
    changes = list(changes)
    rows = [
        {
            "at": now,
            "user_id": actor.user_id,
            "actor": actor.name,
            "source": actor.source,
            "request_id": actor.request_id,
            "action": c.action,
            "object_type": c.object_type,
            "object_id": c.object_id,
            "object_repr": c.object_repr[:200],
            "before": c.before,
            "after": c.after,
        }
        for c in changes
        if c.action != ChangeAction.UPDATE or c.before != c.after
    ]
    insert_rows(session, ChangeLog, rows)
    add_events(session, device_events(now, actor, [c for c in changes if c.object_type == "device"]))
    if any(row["object_type"] not in UNROUTED_OBJECTS for row in rows):
        before_commit(session, "registry_revision", bump_revision)
    return len(rows)


def bump_revision(session: Session) -> None:
    """Move the registry revision by one, in the caller's transaction.

    Called by :func:`record_changes` through :func:`registry.db.before_commit`, i.e. as the last
    statement before the commit: the counter row's lock, which every registry transaction takes,
    is then held only for the commit itself. Holding it longer would make registry writers queue
    behind a long CSV import, and could deadlock against the call recorder (device rows, then the
    counter) if a writer took the counter first and a device row after. An upsert, so that a
    database made by ``create_all`` (tests) needs no seed row; the migration seeds it.
    """
    table: Table = RegistryRevision.__table__  # type: ignore[assignment]
    stmt = dialect_insert(session)(table).values(id=1, value=1, changed_at=utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={"value": table.c.value + 1, "changed_at": stmt.excluded.changed_at},
    )
    session.execute(stmt)


#: what a building-management system shows for a registry status (``overdue`` and ``fault`` come
#: from alarms; a pending device is not shown)
BMS_STATUS = {"active": "online", "maintenance": "maintenance", "decommissioned": "decommissioned"}


def device_events(at: datetime, actor: Actor, changes: Sequence[Change]) -> list[DomainEvent]:
    """``DeviceChanged`` for each device change, and ``DeviceStatusChanged`` when what a BMS shows for
    the device moved (created, status changed, deleted)."""
    out: list[DomainEvent] = []
    for c in changes:
        before, after = c.before or {}, c.after or {}
        if c.action == ChangeAction.UPDATE and before == after:
            continue
        keys = list(dict.fromkeys([*before, *after]))
        diff = {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}
        current = after or before
        out.append(
            DeviceChanged(
                occurred_at=at,
                device_id=c.object_id,
                site_id=current.get("site_id"),
                action=c.action.value,
                ani=current.get("ani"),
                changes=diff,
                by=actor.name,
            )
        )
        was = BMS_STATUS.get(before.get("status", "")) if before else None
        now = BMS_STATUS.get(after.get("status", "")) if after else "decommissioned"
        if now is not None and now != was:
            out.append(
                DeviceStatusChanged(
                    occurred_at=at,
                    device_id=c.object_id,
                    site_id=current.get("site_id"),
                    status=now,
                    previous=was,
                    reason=f"{c.action.label.lower()} by {actor.name}",
                )
            )
    return out
