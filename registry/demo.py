"""The demo estate: a realistic small registry for a newcomer's first look.

Two security centers (German- and English-speaking, each with its countries), three sites in
Germany and the UK, a carrier trunk per country plus a trusted loopback trunk (127.0.0.1) so that
sipp on this machine works at once, 30 devices of every kind, and three logins to look at it with
(admin, facility manager, operator). Created through the ordinary use cases, so the change log
fills too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.accounts import create_user
from registry.actors import Actor
from registry.choices import Role
from registry.models import User
from registry.services import create_object

WEEKDAYS = [0, 1, 2, 3, 4]

#: the two security centers; each lists the countries whose unknown callers it takes first (the
#: regional rule of ``routing.policy``: a UK number goes to London although Berlin speaks English)
CENTERS: tuple[dict[str, Any], ...] = (
    {
        "name": "Leitstelle Berlin",
        "sip_uris": ["sip:leitstelle@127.0.0.1:5070", "sip:leitstelle-backup@127.0.0.1:5071"],
        "phone": "+49 30 901820",
        "languages": ["de", "en"],
        "timezone": "Europe/Berlin",
        "countries": ["DE", "AT", "CH", "LI"],
    },
    {
        "name": "London Control Room",
        "sip_uris": ["sip:control@127.0.0.1:5080"],
        "phone": "+44 20 7946 0000",
        "languages": ["en"],
        "timezone": "Europe/London",
        "countries": ["GB", "IE", "IM", "JE", "GG"],
    },
)

#: the three sites; centers and business hours by name (the schedules made by :func:`load_demo`)
SITES: tuple[dict[str, Any], ...] = (
    {
        "name": "Spree Tower",
        "slug": "spree-tower",
        "country": "DE",
        "timezone": "Europe/Berlin",
        "address": "Stralauer Allee 1, 10245 Berlin",
        "day_center": "Leitstelle Berlin",
        "out_of_hours_center": "Leitstelle Berlin",
        "business_hours": "Office hours Mon-Fri 07-19",
        "holidays": ["2026-12-25", "2026-12-26", "2027-01-01"],
        "notes": "Concierge desk staffed 06:00-22:00, +49 30 901820.",
    },
    {
        "name": "Parkhaus Marienplatz",
        "slug": "parkhaus-marienplatz",
        "country": "DE",
        "timezone": "Europe/Berlin",
        "address": "Rindermarkt 16, 80331 München",
        "day_center": "Leitstelle Berlin",
        "out_of_hours_center": "London Control Room",
        "business_hours": "Retail Mon-Sat 08-22",
        "holidays": ["2026-12-25", "2026-12-26"],
    },
    {
        "name": "Canary Wharf House",
        "slug": "canary-wharf-house",
        "country": "GB",
        "timezone": "Europe/London",
        "address": "1 Harbour Exchange Sq, London E14 9GE",
        "day_center": "London Control Room",
        "out_of_hours_center": "Leitstelle Berlin",
        "business_hours": "Office hours Mon-Fri 07-19",
        "holidays": ["2026-12-25", "2026-12-28"],
    },
)


def load_demo(session: Session) -> dict[str, int]:
    """Create the demo estate in the caller's transaction; returns counts per object type."""
    actor = Actor.system("demo")
    counts: dict[str, int] = {}

    def add(object_type: str, data: dict[str, Any]) -> Any:
        counts[object_type + "s"] = counts.get(object_type + "s", 0) + 1
        return create_object(session, actor, object_type, data)

    for center in CENTERS:
        add("center", dict(center))
    office = add(
        "schedule",
        {
            "name": "Office hours Mon-Fri 07-19",
            "windows": [{"days": WEEKDAYS, "start": "07:00", "end": "19:00"}],
        },
    )
    retail = add(
        "schedule",
        {
            "name": "Retail Mon-Sat 08-22",
            "windows": [{"days": [0, 1, 2, 3, 4, 5], "start": "08:00", "end": "22:00"}],
        },
    )
    night = add(
        "schedule",
        {
            "name": "Night shift 22-06",
            "windows": [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "22:00", "end": "06:00"}],
        },
    )

    tower, carpark, wharf = (add("site", dict(site)) for site in SITES)

    add(
        "trunk",
        {
            "name": "Telekom SIP-Trunk",
            "carrier": "Deutsche Telekom",
            "trust": "trusted",
            "source_addresses": ["127.0.0.2", "127.0.10.0/24"],
            "ani_header": "pai",
            "default_region": "DE",
        },
    )
    add(
        "trunk",
        {
            "name": "BT SIPT",
            "carrier": "BT",
            "trust": "trusted",
            "source_addresses": ["127.0.0.3"],
            "ani_header": "pci",
            "default_region": "GB",
        },
    )
    loop = add(
        "trunk",
        {
            "name": "loopback",
            "carrier": "this machine (sipp)",
            "trust": "trusted",
            "source_addresses": ["127.0.0.1", "::1"],
            "ani_header": "pai",
            "default_region": "DE",
            "notes": "Lets sipp on this machine call in at once.",
        },
    )
    telekom = "Telekom SIP-Trunk"
    bt = "BT SIPT"

    def place(
        site: Any, building: str, kind: str, name: str, floor: str = "", notes: str = "", camera: str = ""
    ) -> Any:
        return add(
            "location",
            {
                "site": site.id,
                "building": building,
                "kind": kind,
                "name": name,
                "floor": floor,
                "notes": notes,
                "camera_ref": camera,
            },
        )

    # Spree Tower: 6 lifts in two cores, machine rooms, entrance intercoms
    for i in range(1, 7):
        core = "North core" if i <= 3 else "South core"
        cabin = place(
            tower,
            core,
            "elevator_cabin",
            f"Lift {i}",
            notes=("Machine-room key at the concierge desk." if i == 1 else ""),
            camera=f"cam-tower-lift{i}",
        )
        add(
            "device",
            {
                "ani": f"030 2390 56{i:02d}",
                "kind": "elevator_phone",
                "site": tower.id,
                "location": cabin.id,
                "trunk": telekom,
                "vendor": "Telegärtner",
                "model": "TLT 3.0",
                "serial": f"TG-24-{1000 + i}",
            },
        )
        roof = place(tower, core, "cabin_roof", f"Lift {i} roof")
        add(
            "device",
            {
                "ani": f"030 2390 57{i:02d}",
                "kind": "elevator_phone",
                "site": tower.id,
                "location": roof.id,
                "trunk": telekom,
                "vendor": "Telegärtner",
                "model": "TLT 3.0 roof",
                "serial": f"TG-24-{2000 + i}",
            },
        )
    for n, entrance in enumerate(["Main entrance", "Loading bay"], start=1):
        loc = place(tower, "Lobby", "entrance", entrance, floor="0", camera=f"cam-tower-door{n}")
        add(
            "device",
            {
                "ani": f"+49 30 2390 580{n}",
                "kind": "door_intercom",
                "site": tower.id,
                "location": loc.id,
                "trunk": "loopback",
                "vendor": "2N",
                "model": "IP Verso",
                "active_schedule": office.id,
            },
        )

    # Parkhaus Marienplatz: help points on every level, two lifts
    for level in ["-3", "-2", "-1", "0"]:
        loc = place(
            carpark,
            "",
            "car_park_level",
            f"Level {level}",
            floor=level,
            camera=f"onvif-profile-p{level.replace('-', 'm')}",
        )
        for k in (1, 2):
            add(
                "device",
                {
                    "ani": f"089 2441 9{int(level) + 4}{k}0",
                    "kind": "car_park_help_point",
                    "site": carpark.id,
                    "location": loc.id,
                    "trunk": telekom,
                    "vendor": "Commend",
                    "model": "WS203",
                    "active_schedule": retail.id,
                },
            )
    for i in (1, 2):
        cabin = place(carpark, "", "elevator_cabin", f"Aufzug {i}")
        add(
            "device",
            {
                "ani": f"+49 89 2441 98{i:02d}",
                "kind": "elevator_phone",
                "site": carpark.id,
                "location": cabin.id,
                "trunk": telekom,
                "vendor": "Schindler",
                "model": "ALARMline",
                "test_interval_hours": 24,
            },
        )

    # Canary Wharf House: lifts, a refuge-area emergency phone, an intercom on the night shift
    for i in range(1, 5):
        cabin = place(wharf, "Tower", "elevator_cabin", f"Car {i}", camera=f"cam-cwh-car{i}")
        add(
            "device",
            {
                "ani": f"020 7946 01{i:02d}",
                "kind": "elevator_phone",
                "site": wharf.id,
                "location": cabin.id,
                "trunk": bt,
                "vendor": "Avire",
                "model": "Memco",
                "serial": f"AV-{77000 + i}",
            },
        )
    refuge = place(wharf, "Tower", "stairwell", "Refuge area level 12", floor="12")
    add(
        "device",
        {
            "ani": "+44 20 7946 0200",
            "kind": "emergency_phone",
            "site": wharf.id,
            "location": refuge.id,
            "trunk": bt,
            "vendor": "Avire",
            "model": "EVC",
        },
    )
    gate = place(wharf, "Car park", "entrance", "Barrier exit", floor="-1")
    add(
        "device",
        {
            "ani": "+44 20 7946 0201",
            "kind": "door_intercom",
            "site": wharf.id,
            "location": gate.id,
            "trunk": loop.id,
            "active_schedule": night.id,
            "status": "maintenance",
            "maintenance_until": "2026-12-31T17:00:00+00:00",
            "notes": "Barrier motor replaced; intercom under test until year end.",
        },
    )
    session.flush()
    return counts


@dataclass(frozen=True)
class DemoLogin:
    """A login made with the demo estate; ``password`` is known only until it is shown once."""

    role: Role
    username: str
    password: str
    #: what the login sees, in words
    sees: str


#: (role, username, site slug, center name, what it sees) of the demo logins
DEMO_USERS = (
    (Role.ADMIN, "demo-admin", None, None, "everything, and the users"),
    (Role.FACILITY_MANAGER, "demo-manager", "spree-tower", None, "the site Spree Tower"),
    (Role.OPERATOR, "demo-operator", None, "Leitstelle Berlin", "the sites of Leitstelle Berlin, read-only"),
)


def create_demo_logins(session: Session) -> list[DemoLogin]:
    """One user per role over the demo estate (in the caller's transaction), each with a random
    password (16 URL-safe characters) that only the return value holds: the database keeps its hash.
    A name already taken is left as it is."""
    actor = Actor.system("demo")
    made = []
    for role, username, site, center, sees in DEMO_USERS:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            continue
        password = secrets.token_urlsafe(12)
        create_user(
            session, username, password, role, sites=[site] if site else [], center=center, actor=actor
        )
        made.append(DemoLogin(role, username, password, sees))
    return made
