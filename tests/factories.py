"""Builders for registry objects in tests, through the real use cases (so the change log fills too)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from registry.actors import Actor
from registry.db import utcnow
from registry.events import CallRouted
from registry.services import create_object

ADMIN = Actor.system("test", "factory")


def center(session: Session, **kw: Any) -> Any:
    data = {
        "name": "Berlin Control",
        "sip_uris": ["sip:berlin@127.0.0.1:5070"],
        "languages": ["de", "en"],
        "timezone": "Europe/Berlin",
    } | kw
    return create_object(session, ADMIN, "center", data)


def schedule(session: Session, **kw: Any) -> Any:
    data = {
        "name": "office hours",
        "windows": [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}],
    } | kw
    return create_object(session, ADMIN, "schedule", data)


def site(session: Session, **kw: Any) -> Any:
    data = {"name": "Tower A", "slug": "tower-a", "country": "DE", "timezone": "Europe/Berlin"} | kw
    return create_object(session, ADMIN, "site", data)


def location(session: Session, site_ref: Any, **kw: Any) -> Any:
    data = {"site": site_ref, "kind": "elevator_cabin", "name": "Lift 1", "building": "A"} | kw
    return create_object(session, ADMIN, "location", data)


def trunk(session: Session, **kw: Any) -> Any:
    data = {
        "name": "loopback",
        "source_addresses": ["127.0.0.1"],
        "trust": "trusted",
        "ani_header": "pai",
        "default_region": "DE",
    } | kw
    return create_object(session, ADMIN, "trunk", data)


def device(session: Session, site_ref: Any, **kw: Any) -> Any:
    data = {"ani": "+493012345678", "kind": "elevator_phone", "site": site_ref} | kw
    return create_object(session, ADMIN, "device", data)


def dnis_rule(session: Session, **kw: Any) -> Any:
    data = {"number": "+493023905000", "line": "emergency"} | kw
    return create_object(session, ADMIN, "dnis_rule", data)


def number_list_entry(session: Session, **kw: Any) -> Any:
    data = {"pattern": "+4930555*", "kind": "block"} | kw
    return create_object(session, ADMIN, "number_list_entry", data)


def flood_rule(session: Session, **kw: Any) -> Any:
    data = {"scope": "ani", "max_calls": 5, "window_seconds": 300} | kw
    return create_object(session, ADMIN, "flood_rule", data)


def estate(session: Session) -> dict[str, Any]:
    """A center, schedule, site, location, trunk and one lift phone, committed."""
    c = center(session)
    sch = schedule(session)
    s = site(session, day_center=c.id, out_of_hours_center=c.id, business_hours=sch.id)
    loc = location(session, s.id)
    t = trunk(session)
    d = device(session, s.id, location=loc.id, trunk=t.id)
    session.commit()
    return {"center": c, "schedule": sch, "site": s, "location": loc, "trunk": t, "device": d}


def lift_call(est: dict[str, Any], **kw: Any) -> CallRouted:
    """The ``CallRouted`` of an emergency call from ``estate()``'s lift phone (raises a lift alarm)."""
    dev = est["device"]
    values = {
        "occurred_at": utcnow(),
        "call_id": "c1@pbx",
        "record_id": "r1",
        "ani": dev.ani,
        "device_id": dev.id,
        "device_kind": "elevator_phone",
        "site_id": est["site"].id,
        "center_id": est["center"].id,
        "line": "emergency",
    } | kw
    return CallRouted(**values)
