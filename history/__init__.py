"""History pages: calls (search, detail), alarms with their transitions, and the device page's
panels of last calls, alarms and test calls.

A web package: may import flask, webcore, the registry, routing and alarms cores; nothing imports it
but app.py.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("history", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
