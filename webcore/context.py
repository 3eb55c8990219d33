"""Per-request resources: one SQLAlchemy session per request, closed on teardown."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from bootstrap import Services


def services() -> Services:
    return current_app.extensions["anigate"]  # type: ignore[no-any-return]


def db() -> Session:
    """The request's session; the view commits it when the use case succeeded."""
    if "db_session" not in g:
        g.db_session = services().session_factory()
    return g.db_session  # type: ignore[no-any-return]


def request_id() -> str:
    if "request_id" not in g:
        g.request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
    return g.request_id  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
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
