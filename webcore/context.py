"""Per-request resources: one SQLAlchemy session per request (the request's unit of work), its one
commit point :func:`commit` with after-commit hooks, closed (rolled back unless committed) on
teardown."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from webcore import protection

if TYPE_CHECKING:
    from bootstrap import Services


def services() -> Services:
    return current_app.extensions["anigate"]  # type: ignore[no-any-return]


def db() -> Session:
    """The request's session; :func:`commit` commits it when the use case succeeded."""
    if "db_session" not in g:
        g.db_session = services().session_factory()
    return g.db_session  # type: ignore[no-any-return]


def after_commit(hook: Callable[[], object]) -> None:
    """Run ``hook`` once the request's unit of work has committed (never if it rolls back): the place
    for what must only follow a durable change (NetBox flushes its events the same way)."""
    g.setdefault("after_commit", []).append(hook)


def commit() -> None:
    """The request's one commit point: commit the unit of work (its outbox events with it), then run
    the after-commit hooks. Views and API handlers call this, never ``session.commit()``."""
    db().commit()
    for hook in g.pop("after_commit", []):
        hook()


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,64}$")


def request_id() -> str:
    """The caller's X-Request-ID when it is a plain token (it ends up in the change log), else new."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    return g.request_id  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    """The request's session and id; security headers and the 503 answer (``webcore.protection``)."""
    protection.init_app(app)

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        g.pop("after_commit", None)  # not committed: they never run
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()

    @app.after_request
    def _echo_request_id(response):  # type: ignore[no-untyped-def]
        response.headers["X-Request-ID"] = request_id()
        return response
