"""Multi-row INSERT for bulk writes (CSV import, change log): the fastest portable form per backend.

PostgreSQL gets ``INSERT ... SELECT FROM json_populate_recordset(NULL::<table>, <one JSON text>)``:
one parameter instead of a statement with thousands of placeholders for the driver to parse and
escape; SQLite gets one plain ``INSERT`` run by the driver's ``executemany`` over values converted
by the columns' own type processors (SQLAlchemy's per-row parameter handling was most of the write
time); other backends get SQLAlchemy's insertmanyvalues. Must not import flask.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, Text, bindparam, func, insert, literal_column, select
from sqlalchemy.orm import Session

from registry.db import Base

#: rows per statement on PostgreSQL (bounds the size of one JSON parameter)
PG_CHUNK = 20_000


def insert_rows(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], returning: Sequence[str] = ()
) -> list[Row[Any]]:
    """Insert ``rows`` (all with the same keys, the column names) into ``model``'s table; the
    ``returning`` columns of each new row, in no particular order (match them by a unique key).
    """
    if not rows:
        return []
    table = cast(Table, model.__table__)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        out: list[Row[Any]] = []
        for i in range(0, len(rows), PG_CHUNK):
            out.extend(_recordset_insert(session, table, rows[i : i + PG_CHUNK], returning))
        return out
    if dialect == "sqlite":
        done = _sqlite_insert(session, table, rows, returning)
        if done is not None:
            return done
    stmt = insert(table)
    if returning:
        return list(session.execute(stmt.returning(*(table.c[k] for k in returning)), rows))
    session.execute(stmt, rows)
    return []


def _sqlite_insert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], returning: Sequence[str]
) -> list[Row[Any]] | None:
    """``executemany`` of one compiled ``INSERT``; None when the statement would need values
    SQLAlchemy computes per row (a column default of a column the rows leave out, a given ``id``)."""
    connection = session.connection()
    dialect = connection.dialect
    keys = list(rows[0])
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    order = list(compiled.positiontup or ())
    if sorted(order) != sorted(keys) or "id" in keys or (returning and "id" not in table.c):
        return None
    convert = [(key, table.c[key].type.dialect_impl(dialect).bind_processor(dialect)) for key in order]
    params = [tuple(row[k] if fn is None else fn(row[k]) for k, fn in convert) for row in rows]
    if not returning:
        connection.exec_driver_sql(compiled.string, params)
        return []
    # RETURNING does not work with executemany: the first row alone gives the first new id; SQLite
    # gives every later row a larger one, and no other connection inserts until this transaction
    # ends (one writer at a time), so the new rows are exactly those from that id on
    first = connection.execute(insert(table).returning(table.c.id), rows[0]).scalar_one()
    if len(params) > 1:
        connection.exec_driver_sql(compiled.string, params[1:])
    new = select(*(table.c[k] for k in returning)).where(table.c.id >= first)
    return list(connection.execute(new))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        # as registry.db.UTCDateTime: a naive value would be read in the server's timezone
        raise ValueError("naive datetime given; anigate stores aware UTC datetimes only")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} cannot go into a bulk insert")


def _recordset_insert(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], returning: Sequence[str]
) -> list[Row[Any]]:
    keys = list(rows[0])
    payload = json.dumps(rows, default=_json_default, ensure_ascii=False, separators=(",", ":"))
    row_type: ColumnElement[Any] = literal_column(
        f"NULL::{session.get_bind().dialect.identifier_preparer.format_table(table)}"
    )
    records = func.json_populate_recordset(
        row_type, bindparam("rows", payload, Text).op("::")(literal_column("json"))
    )
    source = records.table_valued(*keys)
    stmt = insert(table).from_select(keys, select(*(source.c[k] for k in keys)))
    if returning:
        return list(session.execute(stmt.returning(*(table.c[k] for k in returning))))
    session.execute(stmt)
    return []
