"""Reports per site and per center over a period (charts as server-rendered SVG) and the EN 81-28
test-call compliance report (printable page and CSV).

A web package: may import flask, webcore, the registry, routing and alarms cores; nothing imports it
but app.py.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("reports", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
