"""Unknown callers go to the regional center of their number's country first (a center listing the
country, else the center of its sites), then to a center speaking its language, then the default.

The demo estate's centers and sites come from ``registry.demo`` itself, built into a snapshot by hand
(no database): Leitstelle Berlin (de, en; DE AT CH LI) is the default, London Control Room (en; GB IE
IM JE GG) the other.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from registry.choices import DeviceKind, DeviceStatus
from registry.demo import CENTERS, SITES
from routing.policy import CallFacts, Decision, Priority, Severity, decide
from routing.snapshot import CenterEntry, DeviceEntry, SiteEntry, Snapshot, TrunkEntry

LOOPBACK = TrunkEntry(1, "loopback", True, "pai", "DE", False, ())
#: a Wednesday, 11:00 in Berlin
NOON = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

BERLIN = ["sip:leitstelle@127.0.0.1:5070", "sip:leitstelle-backup@127.0.0.1:5071"]
LONDON = ["sip:control@127.0.0.1:5080"]


def demo_centers(with_countries: bool = True) -> list[CenterEntry]:
    return [
        CenterEntry(
            i,
            c["name"],
            tuple(c["sip_uris"]),
            tuple(c["languages"]),
            tuple(c["countries"]) if with_countries else (),
        )
        for i, c in enumerate(CENTERS, start=1)
    ]


def demo_sites(centers: list[CenterEntry]) -> list[SiteEntry]:
    ids = {c.name: c.id for c in centers}
    return [
        SiteEntry(
            i,
            s["slug"],
            s["name"],
            s["country"],
            s["timezone"],
            ids[s["day_center"]],
            ids[s["out_of_hours_center"]],
        )
        for i, s in enumerate(SITES, start=10)
    ]


def demo(with_countries: bool = True, **kw: Any) -> Snapshot:
    """The demo estate's routing snapshot; the default center is the first (as with
    ``ANIGATE_DEFAULT_CENTER`` unset)."""
    centers = demo_centers(with_countries)
    args: dict[str, Any] = {
        "devices": (),
        "sites": demo_sites(centers),
        "centers": centers,
        "trunks": [LOOPBACK],
    } | kw
    return Snapshot.build(1, **args)


def call(ani: str) -> CallFacts:
    return CallFacts(ani=ani, at=NOON, ani_verified=True, trunk=LOOPBACK, dnis="112")


def uris(d: Decision) -> list[str]:
    return [t.uri for t in d.targets]


# --- the demo estate: DE, GB and FR unknown callers ------------------------------------------------

#: (number, Contacts in order, language, the reason's words)
DEMO_TABLE = {
    "DE": (
        "+4915112345678",
        BERLIN,
        "de",
        "unknown ANI +4915112345678; number of DE (mobile); "
        "unknown caller from DE: regional center 'Leitstelle Berlin' (lists DE) first",
    ),
    # the bug: the default center Berlin lists English, so a UK mobile went to Berlin
    "GB": (
        "+447700900123",
        LONDON + BERLIN,
        "en",
        "unknown ANI +447700900123; number of GB (unknown); "
        "unknown caller from GB: regional center 'London Control Room' (lists GB) first; "
        "center speaking 'en' 'Leitstelle Berlin' as fallback",
    ),
    # no center serves France and none speaks French: the default center
    "FR": (
        "+33123456789",
        BERLIN,
        "de",
        "unknown ANI +33123456789; number of FR (fixed); no center serves FR; no center speaks fr; "
        "default center 'Leitstelle Berlin' first",
    ),
}


@pytest.mark.parametrize("country", DEMO_TABLE)
def test_an_unknown_caller_of_the_demo_estate_goes_to_the_regional_center_of_its_country(
    country: str,
) -> None:
    ani, contacts, language, reason = DEMO_TABLE[country]
    d = decide(demo(), call(ani))
    assert (d.status, uris(d), d.language, d.priority) == (302, contacts, language, Priority.EMERGENCY)
    assert d.reason.startswith(reason), d.reason
    assert d.device is None and d.site is None
    [anomaly] = d.anomalies
    assert (anomaly.code, anomaly.severity, anomaly.evidence["region"]) == (
        "unknown_ani",
        Severity.WARNING,
        country,
    )


#: without the country lists (centers as migration 0008 leaves them): the sites' countries decide
SITES_TABLE = {
    "DE": (
        "+4915112345678",
        BERLIN,
        "regional center 'Leitstelle Berlin' (day center of 2 sites in DE) first",
    ),
    "GB": (
        "+447700900123",
        LONDON + BERLIN,
        "regional center 'London Control Room' (day center of 1 site in GB) first",
    ),
    "FR": (
        "+33123456789",
        BERLIN,
        "no center serves FR; no center speaks fr; default center 'Leitstelle Berlin'",
    ),
}


@pytest.mark.parametrize("country", SITES_TABLE)
def test_without_country_lists_the_center_of_the_countrys_sites_is_its_regional_center(country: str) -> None:
    ani, contacts, words = SITES_TABLE[country]
    d = decide(demo(with_countries=False), call(ani))
    assert uris(d) == contacts
    assert words in d.reason, d.reason


@pytest.mark.parametrize(
    ("ani", "first", "language", "words"),
    [
        (
            "+43122345678",
            "Leitstelle Berlin",
            "de",
            "unknown caller from AT: regional center 'Leitstelle Berlin'",
        ),
        (
            "+41441234567",
            "Leitstelle Berlin",
            "de",
            "unknown caller from CH: regional center 'Leitstelle Berlin'",
        ),
        (
            "+353112345678",
            "London Control Room",
            "en",
            "unknown caller from IE: regional center 'London Control",
        ),
        (
            "+441534123456",
            "London Control Room",
            "en",
            "unknown caller from JE: regional center 'London Control",
        ),
        # nobody serves the US: the language rule (the default center speaks English)
        (
            "+12125550123",
            "Leitstelle Berlin",
            "en",
            "no center serves US; center speaking 'en' 'Leitstelle Berlin'",
        ),
        # a number of no country (UIFN freephone): no regional center, the default
        ("+80012345678", "Leitstelle Berlin", "de", "number of no known country"),
    ],
)
def test_the_demo_estates_other_countries(ani: str, first: str, language: str, words: str) -> None:
    d = decide(demo(), call(ani))
    assert (d.targets[0].center_name, d.language) == (first, language)
    assert words in d.reason, d.reason


def test_a_decommissioned_uk_device_is_routed_as_an_unknown_caller_from_gb() -> None:
    old = DeviceEntry(
        1, "+447700900123", DeviceKind.ELEVATOR_PHONE, DeviceStatus.DECOMMISSIONED, 12, None, None
    )
    d = decide(demo(devices=[old]), call(old.ani))
    assert uris(d) == LONDON + BERLIN and d.anomalies[0].code == "decommissioned_device"


def test_a_registered_device_keeps_its_sites_centers_whatever_its_numbers_country() -> None:
    # a UK number registered at Spree Tower (DE): its site decides, not the regional rule
    lift = DeviceEntry(1, "+447700900123", DeviceKind.ELEVATOR_PHONE, DeviceStatus.ACTIVE, 10, None, None)
    d = decide(demo(devices=[lift]), call(lift.ani))
    assert uris(d) == BERLIN and "regional" not in d.reason


# --- which center is a country's, deterministically -----------------------------------------------


def center(
    cid: int, name: str, langs: tuple[str, ...] = ("en",), countries: tuple[str, ...] = (), uri: bool = True
) -> CenterEntry:
    return CenterEntry(cid, name, (f"sip:{name.lower()}@10.0.0.{cid}",) if uri else (), langs, countries)


def site(sid: int, country: str, day: int | None, night: int | None) -> SiteEntry:
    return SiteEntry(sid, f"s{sid}", f"Site {sid}", country, "Europe/London", day, night)


def first_center(snap: Snapshot, ani: str = "+447700900123") -> str:
    return decide(snap, call(ani)).targets[0].center_name


def test_a_center_listing_the_country_beats_the_center_of_its_sites() -> None:
    centers = [center(1, "Home"), center(2, "Leeds"), center(3, "Cardiff", countries=("GB",))]
    snap = Snapshot.build(1, (), [site(10, "GB", 2, 2)], centers, ())
    assert first_center(snap) == "Cardiff"
    assert snap.regional_center("gb") is not None and snap.regional_center("GB").basis == "lists GB"  # type: ignore[union-attr]


def test_of_several_centers_listing_a_country_the_default_wins_else_the_lowest_id() -> None:
    centers = [
        center(1, "Home"),
        center(2, "Leeds", countries=("GB",)),
        center(3, "Cardiff", countries=("GB",)),
    ]
    assert first_center(Snapshot.build(1, (), (), centers, ())) == "Leeds"
    assert first_center(Snapshot.build(1, (), (), centers, (), default_center="Cardiff")) == "Cardiff"


def test_of_the_centers_of_a_countrys_sites_the_day_center_of_most_sites_wins() -> None:
    centers = [center(1, "Home"), center(2, "Leeds"), center(3, "Cardiff")]
    # Cardiff covers the nights of three sites, Leeds the days of two: Leeds
    sites = [site(10, "GB", 2, 3), site(11, "GB", 2, 3), site(12, "GB", None, 3)]
    assert first_center(Snapshot.build(1, (), sites, centers, ())) == "Leeds"
    # equal days: more nights wins
    sites = [site(10, "GB", 2, 3), site(11, "GB", 3, 3)]
    assert first_center(Snapshot.build(1, (), sites, centers, ())) == "Cardiff"
    # a full tie: the default center, else the lowest id
    sites = [site(10, "GB", 2, 3), site(11, "GB", 3, 2)]
    assert first_center(Snapshot.build(1, (), sites, centers, ())) == "Leeds"
    assert first_center(Snapshot.build(1, (), sites, centers, (), default_center="Cardiff")) == "Cardiff"
    # only nights: that center all the same, and the reason says so
    only_nights = Snapshot.build(1, (), [site(10, "GB", None, 3)], centers, ())
    assert "(out-of-hours center of 1 site in GB)" in decide(only_nights, call("+447700900123")).reason


def test_a_center_without_a_sip_uri_is_never_a_regional_center() -> None:
    centers = [
        center(1, "Home", ("de",)),
        center(2, "Mute", countries=("GB",), uri=False),
        center(3, "Leeds"),
    ]
    assert first_center(Snapshot.build(1, (), [site(10, "GB", 3, None)], centers, ())) == "Leeds"
    only_mute = Snapshot.build(1, (), [site(10, "GB", 2, 2)], centers[:2], ())
    assert only_mute.regional_center("GB") is None and first_center(only_mute) == "Home"


def test_the_call_is_answered_in_the_callers_language_if_the_regional_center_speaks_it() -> None:
    centers = [center(1, "Zürich", ("fr", "de"), ("CH",)), center(2, "Berlin", ("de",))]
    d = decide(Snapshot.build(1, (), (), centers, (), default_center="Berlin"), call("+41441234567"))
    # CH speaks de first, but de is Zürich's second language: still the first of CH's it speaks
    assert [t.center_name for t in d.targets] == ["Zürich", "Berlin"] and d.language == "de"


def test_a_regional_center_speaking_none_of_the_callers_languages_answers_in_its_own() -> None:
    centers = [center(1, "Berlin", ("de",)), center(2, "Dublin", ("en",), ("CH",))]
    d = decide(Snapshot.build(1, (), (), centers, ()), call("+41441234567"))
    assert [t.center_name for t in d.targets] == ["Dublin", "Berlin"] and d.language == "en"
    assert d.reason.endswith(
        "unknown caller from CH: regional center 'Dublin' (lists CH) first; "
        "center speaking 'de' 'Berlin' as fallback; anomalies: unknown_ani"
    )


def test_country_codes_stored_in_lower_case_still_count() -> None:
    centers = [center(1, "Home"), replace(center(2, "Leeds"), countries=("gb",))]
    assert first_center(Snapshot.build(1, (), (), centers, ())) == "Leeds"
