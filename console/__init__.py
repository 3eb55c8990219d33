"""The security center console (``/console``): live call cards and active alarms of the operator's
center, fed by Server-Sent Events from the outbox, with the alarm actions.

A web package: may import flask, webcore, the registry, routing and alarms cores; nothing imports it
but app.py.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from registry.actors import Actor
from registry.choices import Role
from webcore import pages

bp = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/console",
)


def may_use_console(actor: Actor) -> bool:
    return actor.is_admin or actor.role == Role.OPERATOR


def init_app(app: Flask) -> None:
    from console import views
    from console.stream import Feed

    services = app.extensions["anigate"]
    app.extensions["console"] = views.ConsoleState(
        Feed(services.session_factory), services.settings.console_max_streams
    )
    app.register_blueprint(bp)
    pages.add_nav(app, pages.NavEntry("Operations", "console.console", "Console", may_use_console))
