"""API token pages for every user: their own tokens (admins: everyone's), create with a secret shown
once, revoke with a CSRF-checked POST, and the tokens' change history. The rules (which role may hold
which scope, who may revoke what) live in ``registry.accounts``; nothing here decides them.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import SelectField, SelectMultipleField, StringField, widgets
from wtforms.fields.choices import SelectChoice

from registry import errors
from registry.accounts import ROLE_SCOPES, create_token, list_tokens, parse_expiry, revoke_token, token_state
from registry.actors import Actor
from registry.choices import TokenScope
from registry.db import as_id, utcnow
from registry.models import ApiToken, ChangeLog, User
from registry.web import bp, tables
from registry.web.auth import current_actor
from registry.web.forms import PageForm
from webcore.context import commit, db

_STATE_BADGES = {"active": "ok", "expired": "", "revoked": "", "inactive user": "warn"}
#: most token changes listed under the tokens
_HISTORY_LIMIT = 100


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as checkboxes (the wtforms documentation's recipe)."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class TokenForm(PageForm):
    """A new token. Admins choose the owner (an integration account's, say); everyone else makes
    their own. Checked by ``registry.accounts.create_token``."""

    user = SelectField("Owner", choices=[], validate_choice=False)
    name = StringField("Name", description="What the token is for, e.g. the PBX's name.")
    scopes = MultiCheckboxField("Scopes", choices=[], validate_choice=False)
    expires = StringField(
        "Expires",
        description="12h, 30d or 2w from now, or a date (2027-01-01, the start of that day in UTC); "
        "blank: never.",
    )


class RevokeForm(FlaskForm):
    """The revoke button of one token: a POST with the CSRF token and nothing else."""


def _form(actor: Actor) -> TokenForm:
    form = TokenForm()
    allowed = ROLE_SCOPES[actor.role]
    form.scopes.choices = [
        SelectChoice(s.value, f"{s.value} ({s.label})") for s in TokenScope if actor.is_admin or s in allowed
    ]
    if actor.is_admin:
        users = db().scalars(select(User).where(User.is_active.is_(True)).order_by(User.username))
        form.user.choices = [SelectChoice(str(u.id), f"{u.username} ({u.role.label})") for u in users]
        if not form.user.data:
            form.user.data = str(_filter_user() or actor.user_id or "")
    return form


def _filter_user() -> int | None:
    return as_id(request.args.get("user", "")) if current_actor().is_admin else None


def _render(form: TokenForm, status: int = 200, other: dict[str, str | Markup] | None = None) -> Any:
    actor = current_actor()
    session = db()
    now = utcnow()
    user_id = _filter_user()
    tokens = list_tokens(session, actor, user_id)
    rows = [
        {
            "token": t,
            "state": tables.Cell(token_state(t, now), badge=_STATE_BADGES.get(token_state(t, now), "")),
            "created": tables.when(t.created_at),
            "last_used": tables.when(t.last_used_at),
            "expires": tables.when(t.expires_at) if t.expires_at else "never",
            "active": token_state(t, now) == "active",
        }
        for t in tokens
    ]
    ids = [t.id for t in tokens]
    history = session.scalars(
        select(ChangeLog)
        .where(ChangeLog.object_type == "api_token", ChangeLog.object_id.in_(ids or [0]))
        .order_by(ChangeLog.id.desc())
        .limit(_HISTORY_LIMIT)
    ).all()
    filtered = session.get(User, user_id) if user_id else None
    page = render_template(
        "registry/tokens.html",
        form=form,
        rows=rows,
        history=tables.history(history),
        is_admin=actor.is_admin,
        filtered=filtered,
        revoke_form=RevokeForm(),
        other_errors=other or {},
    )
    return (page, status) if status != 200 else page


@bp.route("/tokens/", endpoint="token_list")
@login_required
def token_list() -> Any:
    return _render(_form(current_actor()))


@bp.route("/tokens/new", methods=["POST"], endpoint="token_create")
@login_required
def token_create() -> Any:
    actor = current_actor()
    session = db()
    form = _form(actor)
    if not form.validate_on_submit():
        abort(400)
    owner = as_id(form.user.data) if actor.is_admin and form.user.data else actor.user_id
    if owner is None:
        abort(404)
    try:
        expires_at = parse_expiry(form.expires.data)
        token, secret = create_token(
            session, owner, form.name.data or "", form.scopes.data or [], expires_at, actor=actor
        )
        commit()
    except errors.ValidationFailed as e:
        session.rollback()
        return _render(form, 422, form.set_errors(e.errors))
    except errors.NotFound:
        session.rollback()
        abort(404)
    resp = make_response(render_template("registry/token_created.html", token=token, secret=secret))
    resp.headers["Cache-Control"] = "no-store"  # the secret is on this page only, never in a cache
    return resp


@bp.route("/tokens/<int:id>/revoke", methods=["POST"], endpoint="token_revoke")
@login_required
def token_revoke(id: int) -> Response:
    if not RevokeForm().validate_on_submit():
        abort(400)
    token: ApiToken = revoke_token(db(), current_actor(), id)  # NotFound: someone else's, a 404 page
    commit()
    flash(f"Revoked token {token.name} ({token.prefix}…) of {token.user.username}", "success")
    back = request.args.get("user", "")
    return redirect(url_for("registry.token_list", **({"user": back} if as_id(back) else {})))
