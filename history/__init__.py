"""History pages: calls (search, detail), alarms with their transitions, and the device page's
panels of last calls, alarms and test calls.

A web package: may import flask, webcore, the registry, routing and alarms cores; nothing imports it
but app.py.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, render_template
from flask_login import current_user

from registry import errors
from registry.actors import Actor
from registry.choices import Role
from webcore import pages

bp = Blueprint("history", __name__, template_folder="templates")


def may_browse_history(actor: Actor) -> bool:
    """Everyone who may browse the pages; an integration (PBX) account sees only its tokens."""
    return actor.role != Role.INTEGRATION


@bp.before_request
def _only_people_who_browse() -> None:
    # login_required on each view sends the anonymous to the login page; this keeps PBX accounts out
    if current_user.is_authenticated and not current_user.may_browse:
        abort(403)


@bp.errorhandler(errors.NotFound)
def _not_found(e: errors.NotFound) -> tuple[str, int]:
    """Out of scope reads as not found (never 403, never a hint that it exists)."""
    return render_template("registry/error.html", code=404, title="Not found"), 404


def init_app(app: Flask) -> None:
    from history import alarm_views, call_views  # noqa: F401  (routes on bp)
    from history.panels import device_panel

    app.register_blueprint(bp)
    pages.add_nav(
        app,
        pages.NavEntry(
            "Operations", "history.call_list", "Calls", may_browse_history, ("history.call_detail",)
        ),
    )
    pages.add_nav(
        app,
        pages.NavEntry(
            "Operations", "history.alarm_list", "Alarms", may_browse_history, ("history.alarm_detail",)
        ),
    )
    pages.add_panel(app, "device", device_panel)
