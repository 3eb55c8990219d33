"""registry.bulk.insert_rows stores exactly what SQLAlchemy's own INSERT stores (enums, aware
datetimes, JSON and its null, NULL keys), and RETURNING gives the new rows only, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text

from registry.bulk import insert_rows
from registry.choices import ChangeAction, DeviceKind, DeviceStatus
from registry.models import ChangeLog, Device
from tests import factories as f

AT = datetime(2026, 12, 2, 8, 30, 15, 123456, tzinfo=UTC)


def _log_row(i: int) -> dict[str, Any]:
    return {
        "at": AT,
        "user_id": None,
        "actor": "täster",
        "source": "csv",
        "request_id": "",
        "action": ChangeAction.CREATE if i % 2 else ChangeAction.UPDATE,
        "object_type": "device",
        "object_id": i,
        "object_repr": f"+49302390{i:04d}",
        "before": None if i % 2 else {"notes": "=1", "list": [1, "ü", None]},
        "after": {"ani": f"+49302390{i:04d}", "maintenance_until": None},
    }


def _raw(session: Any, ids: list[int]) -> list[tuple[Any, ...]]:
    """The stored values as the database has them (as text: no type processing on the way back)."""
    stmt = text(
        "SELECT CAST(at AS TEXT), user_id, actor, source, request_id, action, object_type, object_id, "
        "object_repr, CAST(before AS TEXT), CAST(after AS TEXT) FROM change_log "
        "WHERE id IN :ids ORDER BY object_id"
    ).bindparams(bindparam("ids", expanding=True))
    return [tuple(row) for row in session.execute(stmt, {"ids": ids})]


def test_bulk_rows_are_stored_as_sqlalchemys_insert_stores_them(session) -> None:
    rows = [_log_row(i) for i in range(1, 5)]
    insert_rows(session, ChangeLog, [dict(r) for r in rows])
    bulk_ids = list(session.scalars(select(ChangeLog.id).order_by(ChangeLog.id)))
    session.execute(insert(ChangeLog), [dict(r) for r in rows])
    plain_ids = [i for i in session.scalars(select(ChangeLog.id).order_by(ChangeLog.id)) if i not in bulk_ids]
    assert len(bulk_ids) == len(plain_ids) == 4
    if session.get_bind().dialect.name == "sqlite":
        # the driver's executemany path: the very same stored text (PostgreSQL's JSON recordset
        # path stores SQL NULL for None and compact JSON; it reads back the same, below)
        assert _raw(session, bulk_ids) == _raw(session, plain_ids)

    logs = session.scalars(select(ChangeLog).where(ChangeLog.id.in_(bulk_ids)).order_by(ChangeLog.id)).all()
    plain = session.scalars(select(ChangeLog).where(ChangeLog.id.in_(plain_ids)).order_by(ChangeLog.id)).all()
    expected = [(r["at"], r["action"], r["before"], r["after"]) for r in rows]
    assert [(log.at, log.action, log.before, log.after) for log in logs] == expected
    assert [(log.at, log.action, log.before, log.after) for log in plain] == expected


def test_returning_gives_exactly_the_new_rows_when_the_table_has_rows_already(session) -> None:
    site = f.site(session)
    f.device(session, site.id, ani="+493023900001")
    session.commit()
    now = datetime.now(UTC)
    new = [
        {
            "ani": f"+49302391{i:04d}",
            "test_ani": None,
            "kind": DeviceKind.ELEVATOR_PHONE,
            "vendor": "",
            "model": "",
            "serial": "",
            "site_id": site.id,
            "location_id": None,
            "trunk_id": None,
            "active_schedule_id": None,
            "test_interval_hours": 72,
            "status": DeviceStatus.ACTIVE,
            "maintenance_until": None,
            "maintenance_contact": "",
            "notes": "",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(3)
    ]
    returned = insert_rows(session, Device, new, ("id", "ani"))
    assert sorted(r.ani for r in returned) == [d["ani"] for d in new]
    stored = {d.ani: d.id for d in session.scalars(select(Device))}
    assert {r.ani: r.id for r in returned} == {a: i for a, i in stored.items() if a != "+493023900001"}
    (one,) = insert_rows(session, Device, [new[0] | {"ani": "+493023919999"}], ("id", "ani"))
    assert one.ani == "+493023919999" and one.id == max(stored.values()) + 1
