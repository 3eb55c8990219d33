"""Recording outcomes decided outside the SIP listener (the HTTP route API) and the web process's
snapshot. The SIP path journals instead (see journal.py); both end in the same ``calls`` rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.outbox import add_events
from routing.callevents import call_events
from routing.models import CallRecord
from routing.recorder import CallObserver, call_row, insert_calls, observe
from routing.snapshot import SnapshotHolder, SnapshotOptions, load_snapshot, registry_revision


def record_call(session: Session, record: dict[str, Any], observers: Sequence[CallObserver] = ()) -> int:
    """Insert one call record, its ``CallRouted`` event and what ``observers`` (the alarm engine) make
    of it, in the caller's transaction; returns its id."""
    row = call_row(record)
    insert_calls(session, [row])
    events = call_events(session, [row], [record])
    add_events(session, events)
    observe(session, observers, events)
    found = session.scalar(select(CallRecord.id).where(CallRecord.record_id == record["record_id"]))
    assert found is not None
    return found


def fresh_snapshot(session: Session, holder: SnapshotHolder, options: SnapshotOptions) -> None:
    """Rebuild ``holder``'s snapshot when the registry moved (one cheap query per call)."""
    if registry_revision(session) != holder.current.revision or not holder.current.centers:
        holder.swap(load_snapshot(session, options))
