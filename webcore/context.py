"""Per-request resources: one SQLAlchemy session per request, closed on teardown."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from webcore import protection

if TYPE_CHECKING:
    from bootstrap import Services


def services() -> Services:
    return current_app.extensions["anigate"]  # type: ignore[no-any-return]


def db() -> Session:
    """The request's session; the view commits it when the use case succeeded."""
    if "db_session" not in g:
        g.db_session = services().session_factory()
    return g.db_session  # type: ignore[no-any-return]


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
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()

    @app.after_request
    def _echo_request_id(response):  # type: ignore[no-untyped-def]
        response.headers["X-Request-ID"] = request_id()
        return response
