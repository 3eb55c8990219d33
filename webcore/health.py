"""Health endpoints for load balancers and supervisors: ``GET /healthz`` (liveness: the web app runs)
and ``GET /readyz`` (the database answers, a worker reported lately and every fresh worker is healthy:
SIP listener bound, call recorder running, journal backlog within its bound, no call held unjournaled,
the live registry snapshot; every enabled MQTT sink connected). Each failed check is named.

No login and nothing sensitive: states, counts and ages only. May import flask, webcore, routing and
the sink table of integrations (read only).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from integrations.models import SinkConfig
from registry.db import utcnow
from routing.health import readiness, worker_statuses
from webcore.context import db, services

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

#: what the relay writes into ``sinks.status`` while an MQTT sink's broker is reachable
CONNECTED = "connected"


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def mqtt_sinks_down(session: Session) -> list[str]:
    """Enabled MQTT sinks whose relay last said they are not connected (cannot connect, or
    disconnected with events waiting). A sink the relay has not reported on yet is not counted."""
    rows = session.execute(
        select(SinkConfig.name, SinkConfig.status)
        .where(SinkConfig.kind == "mqtt", SinkConfig.enabled.is_(True))
        .order_by(SinkConfig.name)
    )
    return [name for name, status in rows if status and status != CONNECTED]


@bp.get("/healthz")
def healthz() -> Response:
    return _no_store(jsonify(status="ok"))


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    session = db()
    try:
        rows = worker_statuses(session)
        down = mqtt_sinks_down(session)
    except SQLAlchemyError as exc:
        log.warning("readiness: the database does not answer: %s", exc)
        reason = "the database does not answer"
        return _no_store(jsonify(status="unavailable", reason=reason, reasons=[reason])), 503
    limit = int(services().settings.ready_journal_backlog_mb * (1 << 20))
    state = readiness(rows, utcnow(), backlog_max_bytes=limit, sinks_down=down)
    status = "ready" if state.ready else "unavailable"
    body = jsonify(status=status, reason=state.reason, reasons=state.reasons, workers=state.workers)
    return _no_store(body), 200 if state.ready else 503
