"""Events out, for admins: the sinks (MQTT, SNMP, webhook, VMS) in admin pages and the REST API,
with each sink's backlog, dead letters, retry and a test event.

A web package over ``integrations`` (the relay and the sink use cases); nothing imports it but app.py.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from registry.actors import Actor
from webcore import pages

bp = Blueprint("outbound", __name__, template_folder="templates")


def _admin(actor: Actor) -> bool:
    return actor.is_admin


def init_app(app: Flask) -> None:
    from outbound import views  # noqa: F401  (routes on bp)

    app.register_blueprint(bp)
    pages.add_nav(
        app,
        pages.NavEntry(
            "Admin",
            "outbound.sink_list",
            "Events out",
            _admin,
            also_current=("outbound.sink_detail", "outbound.sink_edit", "outbound.sink_create"),
        ),
    )
