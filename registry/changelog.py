"""The change log: one function writes every create/update/delete, whatever the entry point.

Single changes and CSV bulk imports both go through :func:`record_changes`, with snapshots made by
:func:`snapshot_values`, so the log reads the same whether a device came from the API, a CSV or a form.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from registry.actors import Actor
from registry.bulk import insert_rows
from registry.choices import ChangeAction
from registry.db import Base, utcnow
from registry.models import ChangeLog

#: columns never copied into the log (secrets, noise)
_SKIP = {"password_hash", "digest", "created_at", "updated_at"}


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
    return len(rows)
