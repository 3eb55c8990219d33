"""Security headers on every response, and ``503`` with ``Retry-After`` while the database is locked
or unreachable (problem+json under /api/, a plain HTML page elsewhere).

Hand-written: flask-talisman would also force HTTPS redirects and cookie flags that loopback HTTP
and our own cookie settings decide already; four headers are a few lines. Must not touch the database
(the 503 page is built without it, since the database is what failed).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import suppress

from flask import Flask, Response, g, request
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)

#: every page is our own HTML and one stylesheet: no inline script or style, no frames, no plugins
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: seconds a client is asked to wait (SQLite's busy timeout is 5 s)
RETRY_AFTER = 5
#: what SQLite says when another connection holds the write lock (or the file is gone)
_SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "unable to open database file")
#: PostgreSQL SQLSTATE classes of a server that cannot serve now: connection exception,
#: insufficient resources, operator intervention (shutdown, cancelled by a statement timeout)
_PG_UNAVAILABLE_CLASSES = ("08", "53", "57")
_PG_LOCK_NOT_AVAILABLE = "55P03"


def database_unavailable(exc: BaseException) -> bool:
    """The database is locked, overloaded or unreachable (worth a retry), not a bug in a query."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        return any(m in str(orig).lower() for m in _SQLITE_UNAVAILABLE)
    sqlstate = getattr(orig, "sqlstate", None)
    if not sqlstate:  # a driver error without a server's answer: the connection failed
        return True
    return bool(sqlstate == _PG_LOCK_NOT_AVAILABLE or sqlstate[:2] in _PG_UNAVAILABLE_CLASSES)


_BUSY_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Busy · anigate</title></head>
<body>
<main>
<h1>The registry is busy</h1>
<p>The database is busy or cannot be reached, so this request was not carried out.
Please try again in {seconds} seconds.</p>
<p><a href="/">Back to the registry</a></p>
</main>
</body>
</html>
"""


def unavailable_response() -> Response:
    detail = f"The database is busy or unavailable; nothing was changed. Retry in {RETRY_AFTER} seconds."
    if request.path.startswith("/api/"):
        body = {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": detail}
        resp = Response(json.dumps(body), status=503, mimetype="application/problem+json")
    else:
        resp = Response(_BUSY_PAGE.format(seconds=RETRY_AFTER), status=503, mimetype="text/html")
    resp.headers["Retry-After"] = str(RETRY_AFTER)
    return resp


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def _database_error(exc: Exception) -> Response:
        if not database_unavailable(exc):
            raise exc  # a real error: Flask logs it and answers 500
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        session = g.get("db_session")
        if session is not None:
            with suppress(SQLAlchemyError):  # the connection may be gone; closing it is enough then
                session.rollback()
        return unavailable_response()

    app.register_error_handler(OperationalError, _database_error)
    app.register_error_handler(PoolTimeout, _database_error)
