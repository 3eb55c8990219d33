"""Extension points of the web pages: packages that own a page (console, call and alarm history,
reports) add their links to the navigation and their panels to a registry object's detail page here,
so that ``registry/web`` never imports them (NetBox's plugin template extensions work the same way).

May import flask and markupsafe; the registry's web package reads what is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from markupsafe import Markup

if TYPE_CHECKING:
    from registry.actors import Actor


@dataclass(frozen=True)
class NavEntry:
    """A link in the navigation row ``group``; shown to the actors ``visible`` accepts."""

    group: str
    endpoint: str
    label: str
    visible: Callable[[Actor], bool]
    #: the endpoints (besides ``endpoint``) on which this link is marked current
    also_current: tuple[str, ...] = ()


#: ``panel(obj, actor)`` returns the HTML of a section of a detail page (escaped by its template)
Panel = Callable[[Any, "Actor"], Markup]


@dataclass
class PageExtensions:
    nav: list[NavEntry]
    panels: dict[str, list[Panel]]


def _extensions(app: Flask | None = None) -> PageExtensions:
    app = app or current_app
    return app.extensions.setdefault("anigate_pages", PageExtensions([], {}))  # type: ignore[no-any-return]


def add_nav(app: Flask, entry: NavEntry) -> None:
    _extensions(app).nav.append(entry)


def add_panel(app: Flask, object_type: str, panel: Panel) -> None:
    """Add a section to the detail page of ``object_type`` (``device``, ``site``, ...)."""
    _extensions(app).panels.setdefault(object_type, []).append(panel)


def nav_entries() -> list[NavEntry]:
    return list(_extensions().nav)


def panels(object_type: str, obj: Any, actor: Actor) -> list[Markup]:
    return [panel(obj, actor) for panel in _extensions().panels.get(object_type, [])]
