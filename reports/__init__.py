"""Reports per site and per center over a period (charts as server-rendered SVG) and the EN 81-28
test-call compliance report (printable page and CSV).

A web package: may import flask, webcore, the registry, routing and alarms cores; nothing imports it
but app.py.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from webcore import pages

bp = Blueprint(
    "reports",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/reports",
)


def init_app(app: Flask) -> None:
    from reports import views

    app.register_blueprint(bp)
    pages.add_nav(
        app,
        pages.NavEntry(
            "Operations",
            "reports.report",
            "Reports",
            views.may_see_reports,
            also_current=("reports.test_call_compliance",),
        ),
    )
