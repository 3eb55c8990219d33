"""``GET /metrics`` of the web app: the database's figures (``ops.dbmetrics``) in Prometheus' text
format. No login, like ``/healthz``; with ``ANIGATE_METRICS_TOKEN`` set it wants
``Authorization: Bearer <token>`` (what Prometheus sends with ``authorization: {credentials: ...}``),
else keep it behind a firewall or the reverse proxy. Process metrics (CPU, memory) are left out: a
scrape lands on either gunicorn process, and its numbers would jump between them.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bootstrap import Services
from config import Settings
from ops.dbmetrics import DatabaseCollector

bp = Blueprint("metrics", __name__)

_REGISTRY = "anigate.metrics"


def init_app(app: Flask, services: Services, settings: Settings) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(services.session_factory))
    app.extensions[_REGISTRY] = (registry, settings.metrics_token)
    app.register_blueprint(bp)


def _authorised(token: str) -> bool:
    if not token:
        return True
    scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@bp.get("/metrics")
def metrics() -> Response:
    registry, token = current_app.extensions[_REGISTRY]
    if not _authorised(token):
        return Response(
            "a bearer token is required\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
            mimetype="text/plain",
        )
    return Response(
        generate_latest(registry), 200, {"Cache-Control": "no-store", "Content-Type": CONTENT_TYPE_LATEST}
    )
