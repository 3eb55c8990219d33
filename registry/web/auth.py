"""Logins for the web app: Flask-Login sessions over the registry's users, with lock-out.

The session keeps the user id and a fingerprint of the password hash, so a password change or a
deactivated account ends every open session at the next request.
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
from registry.models import User
from registry.web import bp
from webcore.context import db, request_id, services

login_manager = LoginManager()
login_manager.login_view = "registry.login"
login_manager.login_message = "Please log in."
login_manager.session_protection = "strong"


class WebUser(UserMixin):
    """The logged-in person for one request (loaded fresh from the database each time)."""

    def __init__(self, user: User):
        self.user = user
        self.id = f"{user.id}:{_fingerprint(user)}"
        self.username = user.username
        self.role = user.role

    def actor(self) -> Actor:
        return actor_for_user(self.user, "web", request_id=request_id())


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


@login_manager.user_loader
def _load_user(session_id: str) -> WebUser | None:
    user_id, _, fingerprint = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db().get(User, int(user_id))
    if user is None or not user.is_active or _fingerprint(user) != fingerprint:
        return None
    return WebUser(user)


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
        db().commit()  # the failure count counts even when the login failed
        if result.user is not None:
            session.clear()  # no session fixation: a fresh session for the logged-in user
            session.permanent = True
            login_user(WebUser(result.user))
            return redirect(_safe_next(request.args.get("next")))
        if result.locked_until is not None:
            minutes = max(1, round(settings.login_lockout_seconds / 60))
            form.password.errors = [
                f"Too many failed logins: this account is locked for {minutes} minutes. "
                "Try again later or ask an administrator."
            ]
        else:
            form.password.errors = ["Wrong username or password."]
        return render_template("registry/login.html", form=form), 401
    return render_template("registry/login.html", form=form)


class LogoutForm(FlaskForm):
    """Logging out is a POST with a CSRF token: a link on another site cannot log a user out."""


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    if not LogoutForm().validate_on_submit():
        abort(400)
    logout_user()
    session.clear()
    flash("Logged out.", "success")
    return redirect(url_for("registry.login"))


@bp.app_context_processor
def _inject() -> dict[str, Any]:
    return {"logout_form": LogoutForm() if current_user.is_authenticated else None}
