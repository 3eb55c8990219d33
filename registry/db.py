"""Database plumbing: declarative ``Base`` with a naming convention, engines, sessions, unit of work,
and hooks that run as the last statements of a transaction (:func:`before_commit`).

Owns engine creation (SQLite pragmas, PostgreSQL via psycopg 3). Must not import flask.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; anigate stores aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


def utcnow() -> datetime:
    return datetime.now(UTC)


#: the largest primary key every backend stores (INTEGER is 32 bits on PostgreSQL)
MAX_ID = 2**31 - 1


def as_id(ref: object) -> int | None:
    """``ref`` as a primary key (an int, or ASCII digits, in 1..MAX_ID), else None.

    A reference that cannot be an id finds nothing instead of overflowing the database driver.
    """
    if isinstance(ref, bool):
        return None
    if isinstance(ref, str):
        if not (ref.isascii() and ref.isdigit()) or len(ref) > len(str(MAX_ID)):
            return None
        ref = int(ref)
    if isinstance(ref, int) and 0 < ref <= MAX_ID:
        return ref
    return None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


#: the instance folder and the database file (its WAL and shared-memory files follow the file's mode)
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def owner_only(path: Path, mode: int) -> None:
    """Take group and other permissions off a file or folder of ours that has them."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
        path.chmod(mode)


def private_dir(path: Path) -> None:
    """Make ``path`` (and missing parents) a folder only its owner can enter (0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    owner_only(path, PRIVATE_DIR_MODE)


def _private_sqlite_file(database: str) -> None:
    """The SQLite file exists and is 0600 before SQLite opens it: SQLite gives the -wal and -shm files
    the database file's mode, so they are private too. A folder made here is 0700."""
    path = Path(database)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE_MODE))  # empty is a new database
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        owner_only(name, PRIVATE_FILE_MODE)


def _json_text(value: Any) -> str:
    # the JSON columns (call targets and anomalies, outbox bodies, change diffs) with orjson: the
    # recorder writes several per call, and the standard library's encoder was a tenth of its CPU
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, **options: Any) -> Engine:
    """Build an engine; SQLite gets WAL and foreign keys, its file is made owner-only (0600, in a 0700
    folder when the folder is new). JSON columns are encoded and decoded with orjson."""
    options.setdefault("json_serializer", _json_text)
    options.setdefault("json_deserializer", orjson.loads)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            _private_sqlite_file(parsed.database)
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options.setdefault("pool_pre_ping", True)
    return create_engine(url, **options)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


#: ``session.info`` key: the hooks to run just before the current transaction commits
_BEFORE_COMMIT = "anigate.before_commit"


def before_commit(session: Session, key: str, hook: Callable[[Session], object]) -> None:
    """Run ``hook(session)`` once, inside the current transaction, just before it commits.

    For writes whose row locks must be held as briefly as possible (the registry revision): the
    hook runs after the session's last flush, so nothing else in the transaction waits on a lock
    after it. Hooks with the same ``key`` run once per transaction; a rollback forgets them; a
    SAVEPOINT rolled back keeps them (a hook must be harmless when its cause was undone).
    """
    session.info.setdefault(_BEFORE_COMMIT, {})[key] = hook


def _run_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT is released: the hooks wait for the outermost commit
    hooks: dict[str, Callable[[Session], object]] | None = session.info.get(_BEFORE_COMMIT)
    if not hooks:
        return
    session.flush()  # pending ORM writes take their locks before the hooks do, not after
    # in key order: hooks that lock counter rows ("outbox", "registry_revision") take them in the
    # same order in every transaction, so two writers never wait on each other's counter
    for _key, hook in sorted(hooks.items()):
        hook(session)
    session.info.pop(_BEFORE_COMMIT, None)


def _forget_before_commit(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or rolled back
        session.info.pop(_BEFORE_COMMIT, None)


# On the Session class rather than one sessionmaker: every session anigate or a test makes runs
# the hooks, so a registry change can never commit without moving the revision.
event.listen(Session, "before_commit", _run_before_commit)
event.listen(Session, "after_transaction_end", _forget_before_commit)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back otherwise."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dialect_insert(session: Session) -> Callable[..., Any]:
    """The ``insert`` of the session's backend (PostgreSQL or SQLite): both have ``ON CONFLICT``
    (``on_conflict_do_nothing``/``on_conflict_do_update``), which the generic insert has not."""
    return postgresql.insert if session.connection().dialect.name == "postgresql" else sqlite.insert
