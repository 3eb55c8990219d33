"""User management pages, for admins only: list, detail (with change history), create, edit and
unlock. Every page is a 403 for anyone else, GET or POST. No delete: a user is deactivated, so the
change log's references to them keep their meaning. The rules live in ``registry.accounts``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from registry import errors
from registry.accounts import create_user, unlock_user, update_user
from registry.actors import Actor
from registry.db import utcnow
from registry.models import User
from registry.queries import change_history, paginate
from registry.web import bp, tables
from registry.web.auth import current_actor
from registry.web.forms import NONE, PageForm, UnlockForm, UserEditForm, UserForm
from registry.web.views import PER_PAGE, _page_number, _page_url, options
from webcore.context import commit, db


@dataclass(frozen=True)
class UserPages:
    """What the shared list, detail and form templates need to know of the user pages."""

    object_type: str = "user"
    noun: str = "user"
    plural: str = "users"
    title: str = "Users"
    noun_title: str = "User"

    def endpoint(self, page: str) -> str:
        return f"registry.user_{page}"


P = UserPages()

#: errors of ``registry.accounts.update_user`` whose field has another name on the edit form
_EDIT_FIELDS = {"password": "new_password"}


def admin_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Logged in (else the login page) and an admin (else 403, before any form is read)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_actor().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return login_required(wrapped)


def _get_user(id: int) -> User:
    user = db().get(User, id)
    if user is None:
        abort(404)
    return user


def _locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()


def _fill_choices(form: UserForm | UserEditForm, actor: Actor) -> None:
    form.sites.choices = options(actor, "site")
    form.center.choices = [NONE, *options(actor, "center")]


def _render_form(form: PageForm, obj: User | None, other: dict[str, str | Markup], status: int) -> Any:
    page = render_template(
        "registry/form.html", p=P, obj=obj, form=form, label=obj.username if obj else "", other_errors=other
    )
    return (page, status) if status != 200 else page


@bp.route("/users/", endpoint="user_list")
@admin_page
def user_list() -> str:
    result = paginate(db(), select(User).order_by(User.username), _page_number(), PER_PAGE)
    columns = tables.user_columns(utcnow())
    return render_template(
        "registry/list.html",
        p=P,
        intro="",
        columns=columns,
        rows=[[col.cell(u) for col in columns] for u in result.items],
        result=result,
        filters=None,
        filtering=False,
        may_create=True,
        page_url=_page_url,
    )


@bp.route("/users/<id:id>/", endpoint="user_detail")
@admin_page
def user_detail(id: int) -> str:
    user = _get_user(id)
    return render_template(
        "registry/user_detail.html",
        p=P,
        obj=user,
        label=user.username,
        props=tables.user_props(user, utcnow()),
        history=tables.history(change_history(db(), "user", id)),
        may_change=True,
        locked=_locked(user),
        unlock_form=UnlockForm(),
    )


@bp.route("/users/new", methods=["GET", "POST"], endpoint="user_create")
@admin_page
def user_create() -> Any:
    actor = current_actor()
    session = db()
    form = UserForm()
    other: dict[str, str | Markup] = {}
    status = 200
    if form.validate_on_submit():
        if form.password.data != form.password_repeat.data:
            status, form.password_repeat.errors = 422, ["the passwords differ"]
        else:
            try:
                user = create_user(
                    session,
                    form.username.data or "",
                    form.password.data or "",
                    form.role.data or "",
                    sites=form.sites.data or [],
                    center=form.center.data or None,
                    actor=actor,
                )
                commit()
            except errors.ValidationFailed as e:
                session.rollback()
                status, other = 422, form.set_errors(e.errors)
            except IntegrityError:  # the same username, created a moment ago
                session.rollback()
                status, form.username.errors = 409, ["this username is taken"]
            else:
                flash(f"Saved user {user.username}", "success")
                return redirect(url_for("registry.user_detail", id=user.id))
    elif request.method == "POST":
        abort(400)
    _fill_choices(form, actor)
    return _render_form(form, None, other, status)


@bp.route("/users/<id:id>/edit", methods=["GET", "POST"], endpoint="user_edit")
@admin_page
def user_edit(id: int) -> Any:
    actor = current_actor()
    session = db()
    user = _get_user(id)
    form = UserEditForm()
    other: dict[str, str | Markup] = {}
    status = 200
    if form.validate_on_submit():
        password = form.new_password.data or ""
        if password != (form.new_password_repeat.data or ""):
            status, form.new_password_repeat.errors = 422, ["the passwords differ"]
        else:
            try:
                update_user(
                    session,
                    actor,
                    id,
                    role=form.role.data or "",
                    sites=form.sites.data or [],
                    center=form.center.data or None,
                    is_active=bool(form.is_active.data),
                    password=password or None,  # blank keeps the password
                )
                commit()
            except errors.ValidationFailed as e:
                session.rollback()
                status = 422
                other = form.set_errors({_EDIT_FIELDS.get(k, k): v for k, v in e.errors.items()})
            else:
                flash(f"Saved user {user.username}", "success")
                return redirect(url_for("registry.user_detail", id=id))
    elif request.method == "POST":
        abort(400)
    else:
        form.process(
            data={
                "role": user.role.value,
                "sites": [str(s.id) for s in user.sites],
                "center": "" if user.center_id is None else str(user.center_id),
                "is_active": user.is_active,
            }
        )
    _fill_choices(form, actor)
    return _render_form(form, user, other, status)


@bp.route("/users/<id:id>/unlock", methods=["POST"], endpoint="user_unlock")
@admin_page
def user_unlock(id: int) -> Response:
    if not UnlockForm().validate_on_submit():
        abort(400)
    user = unlock_user(db(), current_actor(), id)
    commit()
    flash(f"Unlocked user {user.username}", "success")
    return redirect(url_for("registry.user_detail", id=id))
