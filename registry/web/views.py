"""Pages of the registry: list, detail (with change history), create, edit and delete for sites,
locations, devices, trunks, centers and the routing rules (schedules, DNIS rules, number lists,
flood rules), from one set of generic views parametrised per resource (:class:`Pages`). No SQL and
no ``session.add`` here: views call ``registry.queries`` and ``registry.services`` with the
logged-in user's actor, and commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup
from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

import webcore.pages
from registry import errors
from registry.actors import Actor
from registry.api.problems import API_PREFIX, http_problem
from registry.choices import DeviceKind, DeviceStatus, Role
from registry.db import as_id, utcnow
from registry.models import (
    DnisRule,
    FloodRule,
    Location,
    NumberListEntry,
    Schedule,
    SecurityCenter,
    Site,
    Trunk,
)
from registry.queries import change_history, device_query, paginate, visible
from registry.services import RESOURCES, Resource, create_object, delete_object, get_object, update_object
from registry.web import bp, tables
from registry.web.auth import current_actor
from registry.web.forms import (
    NONE,
    CenterForm,
    Choices,
    DeleteForm,
    DeviceFilterForm,
    DeviceForm,
    DnisRuleForm,
    FloodRuleForm,
    LocationForm,
    NumberListEntryForm,
    ResourceForm,
    ScheduleForm,
    SiteForm,
    TrunkForm,
)
from webcore.context import commit, db, services

PER_PAGE = 50


@dataclass(frozen=True)
class Pages:
    """The five pages of one kind of registry object."""

    object_type: str  # key of registry.services.RESOURCES
    path: str  # URL segment: /devices/
    form: type[ResourceForm]
    columns: Callable[[datetime], Sequence[tables.Column]]
    props: Callable[[Any, datetime], list[tables.Prop]]
    #: list order (the device list is ordered by ``device_query``)
    order: tuple[ColumnElement[Any], ...] = ()
    #: the object in words, singular and plural, where the type's name does not read well (DNIS)
    words: tuple[str, str] | None = None
    #: one line shown above the list
    intro: Callable[[], str] | None = None

    @property
    def resource(self) -> Resource:
        return RESOURCES[self.object_type]

    @property
    def noun(self) -> str:
        return self.words[0] if self.words else self.object_type.replace("_", " ")

    @property
    def plural(self) -> str:
        return self.words[1] if self.words else self.resource.plural

    @property
    def title(self) -> str:
        """The plural at the head of a sentence (Jinja's ``capitalize`` would lower DNIS)."""
        return self.plural[:1].upper() + self.plural[1:]

    @property
    def noun_title(self) -> str:
        return self.noun[:1].upper() + self.noun[1:]

    def endpoint(self, page: str) -> str:
        return f"registry.{self.object_type}_{page}"


PAGES = (
    Pages("device", "devices", DeviceForm, tables.device_columns, tables.device_props),
    Pages(
        "site", "sites", SiteForm, lambda now: tables.SITE_COLUMNS, tables.site_props, (Site.name, Site.id)
    ),
    Pages(
        "location",
        "locations",
        LocationForm,
        lambda now: tables.LOCATION_COLUMNS,
        tables.location_props,
        (Location.site_id, Location.building, Location.name),
    ),
    Pages("trunk", "trunks", TrunkForm, lambda now: tables.TRUNK_COLUMNS, tables.trunk_props, (Trunk.name,)),
    Pages(
        "center",
        "centers",
        CenterForm,
        lambda now: tables.CENTER_COLUMNS,
        tables.center_props,
        (SecurityCenter.name,),
    ),
    # routing rules: shared by every site, changed by admins only
    Pages(
        "schedule",
        "schedules",
        ScheduleForm,
        lambda now: tables.SCHEDULE_COLUMNS,
        tables.schedule_props,
        (Schedule.name,),
    ),
    Pages(
        "dnis_rule",
        "dnis-rules",
        DnisRuleForm,
        lambda now: tables.DNIS_RULE_COLUMNS,
        tables.dnis_rule_props,
        (DnisRule.number,),
        words=("DNIS rule", "DNIS rules"),
    ),
    Pages(
        "number_list_entry",
        "number-lists",
        NumberListEntryForm,
        tables.number_list_entry_columns,
        tables.number_list_entry_props,
        (NumberListEntry.kind, NumberListEntry.pattern),
    ),
    Pages(
        "flood_rule",
        "flood-rules",
        FloodRuleForm,
        lambda now: tables.FLOOD_RULE_COLUMNS,
        tables.flood_rule_props,
        (FloodRule.scope, FloodRule.device_kind, FloodRule.id),
        intro=tables.flood_defaults,
    ),
)

#: the navigation: the registry, then the routing rules in a second row
NAV = (
    ("Registry", ("device", "site", "location", "trunk", "center")),
    ("Rules", ("schedule", "dnis_rule", "number_list_entry", "flood_rule")),
)
#: nav labels where the page's plural is too long for a link
_NAV_LABELS = {"number_list_entry": "Number lists"}


@dataclass(frozen=True)
class NavLink:
    href: str
    label: str
    current: bool


def nav_groups() -> list[tuple[str, list[NavLink]]]:
    """The nav rows, each link marked current on any page of its kind of object: first the pages
    other packages registered (``webcore.pages``: console, history, reports) the actor may see, then
    the registry and its rules; admins get a row for the user pages."""
    actor = current_actor()
    pages = {p.object_type: p for p in PAGES}
    endpoint = request.endpoint or ""
    here = endpoint.removeprefix("registry.").rpartition("_")[0]
    extra: dict[str, list[NavLink]] = {}
    for entry in webcore.pages.nav_entries():
        if entry.visible(actor):
            current = endpoint == entry.endpoint or endpoint in entry.also_current
            extra.setdefault(entry.group, []).append(NavLink(url_for(entry.endpoint), entry.label, current))
    users = NavLink(url_for("registry.user_list"), "Users", here == "user")
    admin = [("Admin", [users, *extra.pop("Admin", [])])]
    return (
        list(extra.items())
        + [
            (
                group,
                [
                    NavLink(url_for(pages[t].endpoint("list")), _NAV_LABELS.get(t, pages[t].title), t == here)
                    for t in types
                ],
            )
            for group, types in NAV
        ]
        + (admin if actor.is_admin else [])
    )


@bp.app_context_processor
def _inject_nav() -> dict[str, Any]:
    return {"nav_groups": nav_groups}


@bp.route("/")
@login_required
def home() -> Response:
    """An operator starts on the console (when it is installed), everyone else on the devices."""
    actor = current_actor()
    if actor.role == Role.OPERATOR and "console.console" in current_app.view_functions:
        return redirect(url_for("console.console"))
    return redirect(url_for("registry.device_list"))


# --- who may change what (the services enforce it; pages hide what would be refused) ----------------


def require_change(actor: Actor, res: Resource, obj: Any = None) -> None:
    """Forbidden when the role may not change this kind of object; NotFound outside the actor's sites."""
    if res.site_of is None:
        actor.require_admin(res.plural)
    else:
        actor.require_site_writer()
        if obj is not None and not actor.may_write_site(res.site_of(obj)):
            raise errors.NotFound(res.object_type, obj.id)


def may_change(actor: Actor, res: Resource, obj: Any = None) -> bool:
    try:
        require_change(actor, res, obj)
    except (errors.Forbidden, errors.NotFound):
        return False
    return True


# --- select options: only what the actor may see ---------------------------------------------------


def options(actor: Actor, kind: str) -> Choices:
    session = db()
    if kind == "site":
        sites = session.scalars(visible(actor, Site).order_by(Site.name, Site.id))
        return [SelectChoice(str(s.id), s.name) for s in sites]
    if kind == "location":
        locations = session.scalars(
            visible(actor, Location).order_by(Location.site_id, Location.building, Location.name)
        )
        return [
            SelectChoice(str(loc.id), f"{loc.site.name}: {tables.location_name(loc)}") for loc in locations
        ]
    model: type[SecurityCenter | Schedule | Trunk] = {
        "center": SecurityCenter,
        "schedule": Schedule,
        "trunk": Trunk,
    }[kind]
    named = session.scalars(visible(actor, model).order_by(model.name))
    return [SelectChoice(str(obj.id), obj.name) for obj in named]


def fill_choices(form: ResourceForm, actor: Actor, creating: bool) -> None:
    for name, kind in form.REFS.items():
        field = form[name]
        found = options(actor, kind)
        if kind == "site" and name == "site":  # required: the devices and locations of a site
            field.choices = [SelectChoice("", "Choose…"), *found]
            if creating and len(found) == 1 and not field.data:
                field.data = found[0].value
        else:
            field.choices = [NONE, *found]


def conflict_message(e: errors.Conflict) -> str | Markup:
    """A duplicate number names the device that has it, as a link (the message's text escaped)."""
    if e.existing_id is None or e.field not in ("ani", "test_ani"):
        return e.message
    href = url_for("registry.device_detail", id=e.existing_id)
    name = f"device {e.existing_id}"
    head = e.message.removesuffix(name) if e.message.endswith(name) else f"{e.message}: "
    return Markup('{}<a href="{}">{}</a>').format(head, href, name)


# --- the generic views -----------------------------------------------------------------------------


def _page_number() -> int:
    page = request.args.get("page", 1, type=int) or 1
    return max(1, min(page, 1_000_000))


def _page_url(page: int) -> str:
    args: dict[str, Any] = {**request.args.to_dict(), "page": page}
    return url_for(request.endpoint or "registry.home", **args)


def _device_filters(actor: Actor) -> tuple[DeviceFilterForm, Any]:
    form = DeviceFilterForm(formdata=request.args)
    form.site.choices = [SelectChoice("", "Any"), *options(actor, "site")]
    form.trunk.choices = [SelectChoice("", "Any"), *options(actor, "trunk")]
    kind = form.kind.data if form.kind.data in DeviceKind.values() else None
    status = form.status.data if form.status.data in DeviceStatus.values() else None
    trunk = as_id(form.trunk.data) if form.trunk.data else None
    stmt = device_query(
        actor,
        site=(form.site.data or "").strip() or None,
        kind=kind,
        status=status,
        trunk=trunk if trunk is not None else (0 if form.trunk.data else None),
        q=(form.q.data or "").strip() or None,
    )
    return form, stmt


def list_view(p: Pages) -> str:
    actor = current_actor()
    filters = None
    if p.object_type == "device":
        filters, stmt = _device_filters(actor)
    else:
        stmt = visible(actor, p.resource.model).order_by(*p.order)
    result = paginate(db(), stmt, _page_number(), PER_PAGE)
    columns = p.columns(utcnow())
    return render_template(
        "registry/list.html",
        p=p,
        intro=p.intro() if p.intro else "",
        columns=columns,
        rows=[[col.cell(obj) for col in columns] for obj in result.items],
        result=result,
        filters=filters,
        filtering=any(v for k, v in request.args.items() if k != "page"),
        may_create=may_change(actor, p.resource),
        page_url=_page_url,
    )


def detail_view(p: Pages, id: int) -> str:
    actor = current_actor()
    obj = get_object(db(), actor, p.object_type, id)
    return render_template(
        "registry/detail.html",
        p=p,
        obj=obj,
        label=p.resource.describe(obj),
        props=p.props(obj, utcnow()),
        history=tables.history(change_history(db(), p.object_type, id)),
        may_change=may_change(actor, p.resource, obj),
        panels=webcore.pages.panels(p.object_type, obj, actor),
    )


def edit_view(p: Pages, id: int | None = None) -> Response | tuple[str, int] | str:
    """The create page (``id`` None) and the edit page: show, save, or show again with the errors."""
    actor = current_actor()
    session = db()
    obj = get_object(session, actor, p.object_type, id) if id is not None else None
    require_change(actor, p.resource, obj)
    form = p.form()
    other_errors: dict[str, str | Markup] = {}
    status = 200
    if form.validate_on_submit():
        data = form.cleaner_data(creating=obj is None)
        region = services().settings.default_region
        try:
            if id is None:
                saved = create_object(session, actor, p.object_type, data, default_region=region)
            else:
                saved = update_object(session, actor, p.object_type, id, data, default_region=region)
            commit()
        except errors.ValidationFailed as e:
            session.rollback()
            status, other_errors = 422, form.set_errors(e.errors)
        except errors.Conflict as e:
            session.rollback()
            status, other_errors = 409, form.set_errors({e.field or "": conflict_message(e)})
        except IntegrityError:  # a concurrent change won the race between the checks and the flush
            session.rollback()
            status = 409
            other_errors = {"": "The change conflicts with the current state of the registry; try again."}
        else:
            flash(f"Saved {p.noun} {p.resource.describe(saved)}", "success")
            return redirect(url_for(p.endpoint("detail"), id=saved.id))
    elif request.method == "POST":
        abort(400)
    elif obj is not None:
        form.show(obj)
    fill_choices(form, actor, creating=obj is None)
    page = render_template(
        "registry/form.html",
        p=p,
        obj=obj,
        form=form,
        label=p.resource.describe(obj) if obj is not None else "",
        other_errors=other_errors,
    )
    return (page, status) if status != 200 else page


def delete_view(p: Pages, id: int) -> Response | str:
    actor = current_actor()
    session = db()
    obj = get_object(session, actor, p.object_type, id)
    require_change(actor, p.resource, obj)
    label = p.resource.describe(obj)
    form = DeleteForm()
    if form.validate_on_submit():
        try:
            delete_object(session, actor, p.object_type, id)
            commit()
        except errors.Conflict as e:
            session.rollback()
            flash(f"Not deleted: {e.message}.", "error")
            return redirect(url_for(p.endpoint("detail"), id=id))
        flash(f"Deleted {p.noun} {label}", "success")
        return redirect(url_for(p.endpoint("list")))
    if request.method == "POST":
        abort(400)
    return render_template("registry/confirm_delete.html", p=p, obj=obj, label=label, form=form)


def _register(p: Pages) -> None:
    def list_page() -> Any:
        return list_view(p)

    def detail_page(id: int) -> Any:
        return detail_view(p, id)

    def create_page() -> Any:
        return edit_view(p)

    def edit_page(id: int) -> Any:
        return edit_view(p, id)

    def delete_page(id: int) -> Any:
        return delete_view(p, id)

    base = f"/{p.path}"
    rules: tuple[tuple[str, str, Callable[..., Any], list[str]], ...] = (
        (f"{base}/", "list", list_page, ["GET"]),
        (f"{base}/new", "create", create_page, ["GET", "POST"]),
        (f"{base}/<id:id>/", "detail", detail_page, ["GET"]),
        (f"{base}/<id:id>/edit", "edit", edit_page, ["GET", "POST"]),
        (f"{base}/<id:id>/delete", "delete", delete_page, ["GET", "POST"]),
    )
    for rule, page, view, methods in rules:
        bp.add_url_rule(rule, f"{p.object_type}_{page}", login_required(view), methods=methods)


for _pages in PAGES:
    _register(_pages)


# --- error pages: out of scope is "not found" (never 403, never a hint that it exists) --------------


_ERROR_TITLES = {403: "Not allowed", 404: "Not found"}


def error_page(code: int, message: str = "") -> tuple[str, int]:
    title = _ERROR_TITLES.get(code, "Error")
    return render_template("registry/error.html", code=code, title=title, message=message), code


@bp.errorhandler(errors.NotFound)
def _registry_not_found(e: errors.NotFound) -> tuple[str, int]:
    return error_page(404)


@bp.errorhandler(errors.Forbidden)
def _registry_forbidden(e: errors.Forbidden) -> tuple[str, int]:
    return error_page(403, str(e))


@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
def _http_error(e: HTTPException) -> Any:
    """HTML pages for the web app; under /api/ the API's problem documents, as before."""
    if request.path.startswith(API_PREFIX):
        return http_problem(e)
    return error_page(e.code or 500)
