"""The reports' GET filter (site, center, period) and the :class:`reports.queries.Scope` it gives.

A site or center the actor may not see (or an id that is none) is answered 404, as any object out
of scope is; a bad or too long period falls back to the default one with a message. May import
flask, flask_wtf, the registry core and ``reports.queries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import abort, request
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice

from registry.actors import Actor
from registry.choices import Role
from registry.models import SecurityCenter, Site
from registry.queries import visible
from reports.queries import Scope

#: the default period: this many days up to and including today
DEFAULT_DAYS = 30
#: the longest period a report covers (it bounds the work of one page)
MAX_DAYS = 366


class ReportFilterForm(FlaskForm):
    """A GET form whose values stay in the URL, so a report can be bookmarked and handed on."""

    class Meta:
        csrf = False

    site = SelectField("Site", choices=[], validate_choice=False)
    center = SelectField("Center", choices=[], validate_choice=False)
    since = DateField("From", format="%Y-%m-%d")
    until = DateField("Until (not included)", format="%Y-%m-%d")


@dataclass(frozen=True)
class Filtered:
    form: ReportFilterForm
    scope: Scope
    #: the scope in words, for the page and the printout
    scope_label: str
    #: why the period asked for was not used ("" when it was)
    period_error: str = ""


def visible_centers(session: Session, actor: Actor) -> list[SecurityCenter]:
    """Admins: every center; operators: their own; facility managers: those serving their sites."""
    stmt = select(SecurityCenter).order_by(SecurityCenter.name, SecurityCenter.id)
    if actor.is_admin:
        return list(session.scalars(stmt))
    if actor.role == Role.OPERATOR:
        return list(session.scalars(stmt.where(SecurityCenter.id == (actor.center_id or 0))))
    serving = (
        select(Site.day_center_id)
        .where(actor.site_filter())
        .union(select(Site.out_of_hours_center_id).where(actor.site_filter()))
    )
    return list(session.scalars(stmt.where(SecurityCenter.id.in_(serving))))


def _chosen(raw: str | None, objects: dict[str, object]) -> object | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if raw not in objects:
        abort(404)  # out of scope, unknown or no id at all: not told apart
    return objects[raw]


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def report_filter(session: Session, actor: Actor, now: datetime) -> Filtered:
    form = ReportFilterForm(formdata=request.args)
    listed: list[Site] = list(session.scalars(visible(actor, Site).order_by(Site.name, Site.id)))  # type: ignore[arg-type]
    sites = {str(s.id): s for s in listed}
    centers = {str(c.id): c for c in visible_centers(session, actor)}
    form.site.choices = [SelectChoice("", "All"), *(SelectChoice(k, s.name) for k, s in sites.items())]
    form.center.choices = [SelectChoice("", "All"), *(SelectChoice(k, c.name) for k, c in centers.items())]
    site = _chosen(request.args.get("site"), sites)  # type: ignore[arg-type]
    center = _chosen(request.args.get("center"), centers)  # type: ignore[arg-type]
    assert site is None or isinstance(site, Site)
    assert center is None or isinstance(center, SecurityCenter)
    own_center = session.get(SecurityCenter, actor.center_id) if actor.center_id else None
    tz = _zone(
        site.timezone if site else center.timezone if center else own_center.timezone if own_center else None
    )
    first, end, error = _period(form, now.astimezone(tz).date())
    form.since.data, form.until.data = first, end
    scope = Scope(
        actor=actor,
        first_day=first,
        end_day=end,
        tz=tz,
        start=datetime.combine(first, time(0), tz).astimezone(UTC),
        end=datetime.combine(end, time(0), tz).astimezone(UTC),
        site_id=site.id if site else None,
        center_id=center.id if center else None,
    )
    return Filtered(form, scope, _scope_label(session, actor, site, center), error)


def _period(form: ReportFilterForm, today: date) -> tuple[date, date, str]:
    default_end = today + timedelta(days=1)
    default = (default_end - timedelta(days=DEFAULT_DAYS), default_end)
    asked = bool(request.args.get("since") or request.args.get("until"))
    since, until = form.since.data, form.until.data
    if not asked:
        return *default, ""
    if since is None and until is None:
        return *default, "The dates were not understood (YYYY-MM-DD); showing the last 30 days."
    since = since or (until or default_end) - timedelta(days=DEFAULT_DAYS)
    until = until or since + timedelta(days=DEFAULT_DAYS)
    if until <= since:
        return *default, "The period ends before it starts; showing the last 30 days."
    if (until - since).days > MAX_DAYS:
        return *default, f"A report covers at most {MAX_DAYS} days; showing the last 30 days."
    return since, until, ""


def _scope_label(session: Session, actor: Actor, site: Site | None, center: SecurityCenter | None) -> str:
    if actor.is_admin:
        whose = "all sites and centers"
    elif actor.role == Role.FACILITY_MANAGER:
        names = session.scalars(select(Site.name).where(actor.site_filter()).order_by(Site.name)).all()
        whose = "your sites: " + (", ".join(names) or "none")
    else:
        own = session.get(SecurityCenter, actor.center_id) if actor.center_id else None
        whose = f"center {own.name} and the sites it covers" if own else "no center"
    parts = [whose]
    if site is not None:
        parts.append(f"site {site.name}")
    if center is not None:
        parts.append(f"center {center.name}")
    return "; ".join(parts)
