"""A benchmark estate: sites in Germany, the UK and the US, and as many valid device rows as wanted.

Also a throw-away database (SQLite file or PostgreSQL schema) migrated with alembic. Used by the
scripts in this folder only.
"""

from __future__ import annotations

import csv
import random
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from registry.actors import Actor
from registry.cli import upgrade_database
from registry.csvio import COLUMNS
from registry.services import create_object

ACTOR = Actor.system("bench", "bench")


@dataclass(frozen=True)
class BenchSite:
    slug: str
    name: str
    country: str
    timezone: str
    #: national form of the i-th number: ``{n}`` = first + i; US: ``{a}`` exchange, ``{b}`` line
    pattern: str
    first: int

    def national(self, i: int) -> str:
        return self.pattern.format(n=self.first + i, a=self.first + i // 10_000, b=i % 10_000)

    @property
    def trunk(self) -> str:
        return TRUNK_OF[self.country]


SITES = [
    BenchSite("berlin-spree-tower", "Spree Tower", "DE", "Europe/Berlin", "030 {n:08d}", 20_000_000),
    BenchSite("hamburg-hafencity", "HafenCity Forum", "DE", "Europe/Berlin", "040 {n:08d}", 32_900_000),
    BenchSite("muenchen-parkhaus", "Parkhaus Marienplatz", "DE", "Europe/Berlin", "089 {n:08d}", 24_410_000),
    BenchSite("frankfurt-messe", "Messeturm", "DE", "Europe/Berlin", "069 {n:08d}", 75_600_000),
    BenchSite("london-canary-wharf", "Canary Wharf House", "GB", "Europe/London", "020 {n:08d}", 31_000_000),
    BenchSite("manchester-piccadilly", "Piccadilly Place", "GB", "Europe/London", "0161 {n:07d}", 4_960_000),
    BenchSite("nyc-hudson-yards", "Hudson Yards", "US", "America/New_York", "(212) {a:03d}-{b:04d}", 736),
    BenchSite(
        "sf-salesforce-tower", "Salesforce Tower", "US", "America/Los_Angeles", "415 {a:03d} {b:04d}", 555
    ),
    BenchSite("boston-seaport", "Seaport Square", "US", "America/New_York", "617-{a:03d}-{b:04d}", 253),
]
TRUNK_OF = {"DE": "Telekom", "GB": "BT", "US": "Twilio"}
COUNTRY_CODE = {"DE": "49", "GB": "44", "US": "1"}
TRUNKS = [
    ("Telekom", "DE", "127.0.10.0/24"),
    ("BT", "GB", "127.0.20.0/24"),
    ("Twilio", "US", "127.0.30.0/24"),
]
LIFTS_PER_SITE = 40
LEVELS = ["-3", "-2", "-1", "0"]


def build_reference_data(session: Session) -> None:
    """Centers, schedules, trunks, the sites and their locations, through the real use cases."""
    centers = {
        "DE": create_object(
            session,
            ACTOR,
            "center",
            {
                "name": "Leitstelle Berlin",
                "timezone": "Europe/Berlin",
                "sip_uris": ["sip:leitstelle@127.0.0.1:5070"],
                "languages": ["de", "en"],
            },
        ),
        "GB": create_object(
            session,
            ACTOR,
            "center",
            {
                "name": "London Control",
                "timezone": "Europe/London",
                "sip_uris": ["sip:control@127.0.0.1:5080"],
                "languages": ["en"],
            },
        ),
        "US": create_object(
            session,
            ACTOR,
            "center",
            {
                "name": "NYC Command",
                "timezone": "America/New_York",
                "sip_uris": ["sip:command@127.0.0.1:5090"],
                "languages": ["en", "es"],
            },
        ),
    }
    office = create_object(
        session,
        ACTOR,
        "schedule",
        {"name": "office hours", "windows": [{"days": [0, 1, 2, 3, 4], "start": "07:00", "end": "19:00"}]},
    )
    for name, region, net in TRUNKS:
        create_object(
            session,
            ACTOR,
            "trunk",
            {"name": name, "source_addresses": [net], "trust": "trusted", "default_region": region},
        )
    for bs in SITES:
        site = create_object(
            session,
            ACTOR,
            "site",
            {
                "name": bs.name,
                "slug": bs.slug,
                "country": bs.country,
                "timezone": bs.timezone,
                "day_center": centers[bs.country].id,
                "out_of_hours_center": centers["DE" if bs.country == "GB" else "GB"].id,
                "business_hours": office.id,
            },
        )
        for n in range(1, LIFTS_PER_SITE + 1):
            building = "North core" if n % 2 else "South core"
            create_object(
                session,
                ACTOR,
                "location",
                {"site": site.id, "building": building, "kind": "elevator_cabin", "name": f"Lift {n}"},
            )
        for level in LEVELS:
            create_object(
                session,
                ACTOR,
                "location",
                {"site": site.id, "kind": "car_park_level", "name": f"Level {level}", "floor": level},
            )
        create_object(
            session, ACTOR, "location", {"site": site.id, "kind": "entrance", "name": "Main entrance"}
        )


def _written_form(national: str, country: str, rng: random.Random) -> str:
    """The number as people write it: mostly national, sometimes international, E.164 or a URI."""
    digits = "".join(c for c in national if c.isdigit())
    if country != "US":
        digits = digits.removeprefix("0")  # the national trunk prefix
    cc = COUNTRY_CODE[country]
    roll = rng.random()
    if roll < 0.5:
        return national
    if roll < 0.7:
        return f"+{cc}{digits}"
    if roll < 0.9:
        return f"+{cc} {digits[:3]} {digits[3:]}"
    if roll < 0.95:
        return f"tel:+{cc}-{digits[:3]}-{digits[3:]}"
    return f"00{cc}{digits}" if country != "US" else f"+1 {digits}"


def device_rows(n: int, seed: int = 1) -> Iterator[dict[str, str]]:
    """``n`` valid, distinct devices spread round-robin over :data:`SITES`."""
    rng = random.Random(seed)
    vendors = [("Kone", "KSC 3"), ("Schindler", "ALARMline"), ("Telegärtner", "TLT 3.0"), ("Avire", "Memco")]
    for k in range(n):
        bs = SITES[k % len(SITES)]
        row = {c: "" for c in COLUMNS["device"] if c != "id"}
        ani = _written_form(bs.national(k // len(SITES)), bs.country, rng)
        row.update(ani=ani, site=bs.slug, trunk=bs.trunk)
        kind = rng.random()
        if kind < 0.7:
            vendor, model = rng.choice(vendors)
            lift = rng.randint(1, LIFTS_PER_SITE)
            building = "North core" if lift % 2 else "South core"
            row.update(
                kind="elevator_phone",
                vendor=vendor,
                model=model,
                serial=f"{vendor[:2].upper()}-{k:07d}",
                location=f"{building}/Lift {lift}",
                test_interval_hours=rng.choice(["", "24", "72"]),
            )
        elif kind < 0.9:
            row.update(
                kind="car_park_help_point",
                vendor="Commend",
                model="WS203",
                location=f"Level {rng.choice(LEVELS)}",
            )
        else:
            row.update(
                kind="door_intercom",
                vendor="2N",
                model="IP Verso",
                location="Main entrance",
                active_schedule="office hours",
                notes="Concierge: ask for the key; lobby camera 3",
            )
        if rng.random() < 0.02:
            row.update(status="maintenance", maintenance_until="2026-12-31T17:00:00+00:00")
        yield row


def write_devices_csv(path: Path, n: int, seed: int = 1) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[c for c in COLUMNS["device"] if c != "id"])
        writer.writeheader()
        writer.writerows(device_rows(n, seed))


@contextmanager
def fresh_database(pg_url: str | None) -> Iterator[str]:
    """An empty database migrated to head: a temp SQLite file, or a throw-away schema in ``pg_url``."""
    if not pg_url:
        with tempfile.TemporaryDirectory(prefix="anigate-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade_database(url)
            yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        upgrade_database(rendered)
        yield rendered
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
