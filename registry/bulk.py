"""Multi-row INSERT for bulk writes (CSV import, change log): the fastest portable form per backend.

PostgreSQL gets ``INSERT ... SELECT FROM json_populate_recordset(NULL::<table>, <one JSON text>)``:
one parameter instead of a statement with thousands of placeholders for the driver to parse and
escape; other backends get SQLAlchemy's insertmanyvalues. Must not import flask.
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
    if session.get_bind().dialect.name == "postgresql":
        out: list[Row[Any]] = []
        for i in range(0, len(rows), PG_CHUNK):
            out.extend(_recordset_insert(session, table, rows[i : i + PG_CHUNK], returning))
        return out
    stmt = insert(table)
    if returning:
        return list(session.execute(stmt.returning(*(table.c[k] for k in returning)), rows))
    session.execute(stmt, rows)
    return []


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
