"""Web composition root: ``create_app(settings=None, services=None)`` wires blueprints, errors, CLI.

``python app.py`` runs the development server; production uses ``gunicorn wsgi:app``. The SIP listener
and scheduled jobs never run here (see worker.py).
"""

from __future__ import annotations

import os
import socket

from flask_openapi3 import Info, OpenAPI

import console
import history
import ops.web
import outbound
import reports
import webcore.context
import webcore.health
import webcore.urls
from alarms import api as alarms_api
from bootstrap import Services, build_services, check_secret_key, secret_key
from config import Settings
from ops.logs import configure_logging
from outbound import api as outbound_api
from registry import api as registry_api
from registry import cli as registry_cli
from registry import web as registry_web
from routing import api as routing_api

API_INFO = Info(
    title="anigate registry API",
    version="1",
    description="Register SIP emergency devices by ANI and look them up; follow calls and act on "
    "alarms. Errors are "
    "application/problem+json (RFC 9457). Authenticate with `Authorization: Bearer <token>`.",
)


def create_app(settings: Settings | None = None, services: Services | None = None) -> OpenAPI:
    settings = settings or (services.settings if services else Settings.from_env())
    services = services or build_services(settings)
    app = OpenAPI(
        __name__,
        info=API_INFO,
        security_schemes=registry_api.SECURITY_SCHEMES,
        doc_ui=False,
        validation_error_status=422,
        validation_error_callback=registry_api.validation_problem,
    )
    app.config.update(
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=64 * 1024 * 1024,
    )
    app.json.sort_keys = False  # fields in model order, as the OpenAPI document lists them
    app.extensions["anigate"] = services
    configure_logging(settings, "web")
    webcore.context.init_app(app)
    webcore.urls.init_app(app)  # before the blueprints: their rules use <id:...>
    registry_api.init_app(app)
    app.register_api(routing_api.build_blueprint(settings.api_page_size, settings.api_max_page_size))
    app.register_api(alarms_api.build_blueprint(settings.api_page_size, settings.api_max_page_size))
    app.register_api(outbound_api.build_blueprint())
    app.register_blueprint(webcore.health.bp)
    ops.web.init_app(app, services, settings)  # /metrics: no login (see its docstring)
    registry_web.init_app(app)  # after the API blueprints: their token routes are exempt from CSRF
    # the operations pages, in the order of their navigation links
    console.init_app(app)
    history.init_app(app)
    reports.init_app(app)
    outbound.init_app(app)
    for group in registry_cli.COMMANDS:
        app.cli.add_command(group)
    return app


def check_serving_key(app: OpenAPI) -> None:
    """Before a web server serves: several hosts on one database must share ANIGATE_SECRET_KEY, and
    one with another key raises ``SecretKeyMismatch`` (it does not boot; the log says why)."""
    services: Services = app.extensions["anigate"]
    check_secret_key(services.session_factory, services.settings, f"web {socket.gethostname()}:{os.getpid()}")


if __name__ == "__main__":
    _settings = Settings.from_env()
    _app = create_app(_settings)
    check_serving_key(_app)
    _app.run(host=_settings.http_host, port=_settings.http_port, debug=False)
