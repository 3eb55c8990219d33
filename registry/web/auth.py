"""Logins for the web app: Flask-Login over server-side sessions (``registry.logins``), with lock-out.

The signed cookie carries a random session secret (the table keeps its digest) and a fingerprint of
the password hash: logout, a password reset or a deactivation ends the session row, so a copied
cookie is refused at once; a password changed by any other path still ends it through the fingerprint.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from registry.accounts import actor_for_user, login
from registry.actors import Actor
from registry.choices import Role
from registry.logins import end_web_session, find_web_session, record_seen, seen_due, start_web_session
from registry.models import User
from registry.web import bp
from webcore.context import commit, db, request_id, services

login_manager = LoginManager()
login_manager.login_view = "registry.login"
login_manager.login_message = "Please log in."
login_manager.session_protection = "strong"


class WebUser(UserMixin):
    """The logged-in person for one request (loaded fresh from the database each time)."""

    def __init__(self, user: User, session_secret: str):
        self.user = user
        self.session_secret = session_secret
        #: what Flask-Login keeps in the cookie and hands back to :func:`_load_user`
        self.id = f"{session_secret}:{_fingerprint(user)}"
        self.username = user.username
        self.role = user.role

    def actor(self) -> Actor:
        return actor_for_user(self.user, "web", request_id=request_id())

    @property
    def may_browse(self) -> bool:
        """An integration (PBX) account sees only its own tokens; everyone else the registry."""
        return bool(self.role != Role.INTEGRATION)


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _lifetime() -> timedelta:
    return timedelta(seconds=services().settings.session_lifetime_seconds)


@login_manager.user_loader
def _load_user(session_id: str) -> WebUser | None:
    secret, _, fingerprint = session_id.rpartition(":")
    web_session = find_web_session(db(), secret)
    if web_session is None or _fingerprint(web_session.user) != fingerprint:
        return None
    if seen_due(web_session):  # best effort, own transaction: a page view never waits on a lock
        record_seen(services().engine, web_session.id, _lifetime())
    return WebUser(web_session.user, secret)


def current_actor() -> Actor:
    """The logged-in user as the registry's :class:`Actor` (views are ``@login_required``)."""
    if not current_user.is_authenticated:
        abort(401)
    return current_user.actor()  # type: ignore[no-any-return]


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=120)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def _safe_next(target: str | None) -> str:
    """Only a local path: never redirect a fresh login to another site."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("registry.home")


def failed_login_message(max_failures: int, lockout_seconds: int) -> str:
    minutes = max(1, round(lockout_seconds / 60))
    return (
        f"Wrong username or password, or the account is locked: after {max_failures} failed logins "
        f"in a row an account is locked for {minutes} minutes. Try again later or ask an administrator."
    )


@bp.route("/login", methods=["GET", "POST"], endpoint="login")
def login_page() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        settings = services().settings
        result = login(
            db(),
            form.username.data.strip(),
            form.password.data,
            max_failures=settings.login_max_failures,
            lockout=timedelta(seconds=settings.login_lockout_seconds),
        )
        secret = start_web_session(db(), result.user, _lifetime()) if result.user is not None else ""
        commit()  # the failure count counts even when the login failed
        if result.user is not None:
            session.clear()  # no session fixation: a fresh session for the logged-in user
            session.permanent = True
            login_user(WebUser(result.user, secret))
            return redirect(_safe_next(request.args.get("next")))
        # wrong name, wrong password and locked account read the same: no hint which names exist
        form.password.errors = [
            failed_login_message(settings.login_max_failures, settings.login_lockout_seconds)
        ]
        return render_template("registry/login.html", form=form), 401
    return render_template("registry/login.html", form=form)


class LogoutForm(FlaskForm):
    """Logging out is a POST with a CSRF token: a link on another site cannot log a user out."""


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    if not LogoutForm().validate_on_submit():
        abort(400)
    end_web_session(db(), current_user.session_secret)
    commit()  # the session row ends here: a copy of the cookie is refused from now on
    logout_user()
    session.clear()
    flash("Logged out.", "success")
    return redirect(url_for("registry.login"))


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    return {"logout_form": LogoutForm() if current_user.is_authenticated else None}


#: the pages of an integration (PBX) account: its own tokens, and logging in and out
_INTEGRATION_ENDPOINTS = frozenset(
    {
        "registry.login",
        "registry.logout",
        "registry.static",
        "registry.token_list",
        "registry.token_create",
        "registry.token_revoke",
    }
)


@bp.before_request
def _integration_accounts_see_only_their_tokens() -> Response | None:
    if not current_user.is_authenticated or current_user.may_browse:
        return None
    if request.endpoint == "registry.home":
        return redirect(url_for("registry.token_list"))
    if request.endpoint not in _INTEGRATION_ENDPOINTS:
        abort(403)
    return None
