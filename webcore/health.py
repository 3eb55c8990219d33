"""Health endpoints for load balancers and supervisors: ``GET /healthz`` (liveness: the web app runs)
and ``GET /readyz`` (the database answers and a worker with a running call recorder reported lately).

No login and nothing sensitive: states, counts and ages only. May import flask, webcore and routing.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from registry.db import utcnow
from routing.health import readiness, worker_statuses
from webcore.context import db

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    return _no_store(jsonify(status="ok"))


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    try:
        rows = worker_statuses(db())
    except SQLAlchemyError as exc:
        log.warning("readiness: the database does not answer: %s", exc)
        return _no_store(jsonify(status="unavailable", reason="the database does not answer")), 503
    state = readiness(rows, utcnow())
    status = "ready" if state.ready else "unavailable"
    body = jsonify(status=status, reason=state.reason, workers=state.workers)
    return _no_store(body), 200 if state.ready else 503
