"""Server-rendered web app for facility managers, operators and admins (Flask-Login, Flask-WTF).

Views call the registry's use cases and queries with the logged-in user's :class:`Actor`; every
form POST carries a CSRF token (``CSRFProtect`` on the whole app; the bearer-token API is exempt).
May import flask, flask_wtf, flask_login, webcore and the registry core; nothing imports it back.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask
from flask_wtf.csrf import CSRFProtect

bp = Blueprint(
    "registry",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/registry",
)
csrf = CSRFProtect()

#: blueprints authenticated by bearer tokens: no cookie, so no CSRF to fear
_TOKEN_BLUEPRINTS = ("api", "calls_api", "alarms_api", "sinks_api")


def init_app(app: Flask) -> None:
    from registry.web import auth, csv_views, token_views, user_views, views  # noqa: F401  (routes on bp)

    settings = app.extensions["anigate"].settings
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_lifetime_seconds),
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session's life: a form left open is not lost
    )
    csrf.init_app(app)
    for name in _TOKEN_BLUEPRINTS:
        if name in app.blueprints:
            csrf.exempt(app.blueprints[name])
    auth.login_manager.init_app(app)
    app.register_blueprint(bp)
