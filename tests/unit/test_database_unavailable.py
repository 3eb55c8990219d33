"""Which database errors mean "busy or unreachable, retry" (503) and which are bugs (500)."""

from __future__ import annotations

import sqlite3

import psycopg.errors
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from webcore.protection import database_unavailable


def _wrapped(orig: BaseException) -> OperationalError:
    return OperationalError("UPDATE x", {}, orig)


@pytest.mark.parametrize(
    "orig",
    [
        sqlite3.OperationalError("database is locked"),
        sqlite3.OperationalError("database table is locked"),
        sqlite3.OperationalError("unable to open database file"),
        psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.TooManyConnections("sorry, too many clients already"),
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        psycopg.OperationalError("connection failed: Connection refused"),
    ],
)
def test_locks_and_lost_connections_are_unavailable(orig: BaseException) -> None:
    assert database_unavailable(_wrapped(orig))


def test_a_pool_timeout_is_unavailable() -> None:
    assert database_unavailable(PoolTimeout("QueuePool limit reached"))


@pytest.mark.parametrize(
    "exc",
    [
        _wrapped(sqlite3.OperationalError("no such table: devices")),
        _wrapped(psycopg.errors.UndefinedTable('relation "devices" does not exist')),
        IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")),
        RuntimeError("database is locked"),
    ],
)
def test_schema_errors_and_others_are_not(exc: BaseException) -> None:
    assert not database_unavailable(exc)
