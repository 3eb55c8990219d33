"""A center's countries (ISO 3166-1 alpha-2): validated alike in the use case, the API and the form,
change-logged, and used by the route API for unknown callers of the demo estate (DE, GB, FR)."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from registry.cli import alembic_config, upgrade_database
from registry.demo import load_demo
from registry.errors import ValidationFailed
from registry.models import ChangeLog, SecurityCenter
from routing.models import CallRecord
from routing.snapshot import load_snapshot
from tests import factories as f
from tests.api_support import assert_problem, bearer
from tests.web_support import form_values, login, post_form, text_of, user


def html(resp: Any) -> str:
    return resp.get_data(as_text=True)


# --- the field --------------------------------------------------------------------------------------


def test_countries_are_upper_cased_each_once_and_change_logged(session) -> None:
    c = f.center(session, countries="gb, ie;GB im")
    assert c.countries == ["GB", "IE", "IM"]
    session.commit()
    logged = session.scalars(select(ChangeLog).where(ChangeLog.object_type == "center")).one()
    assert logged.after is not None and logged.after["countries"] == ["GB", "IE", "IM"]
    assert f.center(session, name="Nowhere").countries == []


@pytest.mark.parametrize(
    ("countries", "message"),
    [
        (["DE", "XX"], "'XX' is not an ISO 3166 country code (two letters such as DE, AT, GB)"),
        (["UK"], "'UK' is not an ISO 3166 country code (the United Kingdom is GB)"),
        (
            ["EU", "de", "Germany"],
            "'EU', 'GERMANY' are not ISO 3166 country codes (two letters such as DE, AT, GB)",
        ),
        ("DE, 001", "'001' is not an ISO 3166 country code (two letters such as DE, AT, GB)"),
        ([1], "must be a list of strings"),
    ],
)
def test_unknown_country_codes_are_refused_on_the_field(session, countries: Any, message: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        f.center(session, countries=countries)
    assert info.value.errors == {"countries": message}


def test_the_api_reads_and_writes_a_centers_countries(client, session) -> None:
    auth = bearer(session, "admin")
    body = {"name": "London", "sip_uris": ["sip:london@127.0.0.1:5080"], "languages": ["en"]}
    resp = client.post("/api/v1/centers", json=body | {"countries": ["gb", "JE"]}, headers=auth)
    assert resp.status_code == 201, html(resp)
    center = resp.get_json()
    assert center["countries"] == ["GB", "JE"]
    bad = client.patch(f"/api/v1/centers/{center['id']}", json={"countries": ["GB", "UK"]}, headers=auth)
    problem = assert_problem(bad, 422)
    assert problem["errors"] == {
        "countries": "'UK' is not an ISO 3166 country code (the United Kingdom is GB)"
    }
    wrong_shape = client.patch(f"/api/v1/centers/{center['id']}", json={"countries": ["GBR"]}, headers=auth)
    assert list(assert_problem(wrong_shape, 422)["errors"]) == ["countries.0"]
    ok = client.patch(f"/api/v1/centers/{center['id']}", json={"countries": ["IE"]}, headers=auth)
    assert ok.status_code == 200 and ok.get_json()["countries"] == ["IE"]
    assert client.get(f"/api/v1/centers/{center['id']}", headers=auth).get_json()["countries"] == ["IE"]


def test_the_center_form_edits_the_countries_and_shows_a_bad_code_on_its_field(client, session) -> None:
    user(session, "ada")
    login(client, "ada")
    form = {"name": "London", "sip_uris": "sip:london@127.0.0.1:5080", "languages": "en", "timezone": "UTC"}
    resp = post_form(client, "/centers/new", form | {"countries": "gb, ie"})
    assert resp.status_code == 302, html(resp)
    center = session.scalars(select(SecurityCenter)).one()
    assert center.countries == ["GB", "IE"]
    page = html(client.get(resp.headers["Location"]))
    assert text_of(page, "prop-countries") == "GB, IE"
    edit_path = f"/centers/{center.id}/edit"
    values = form_values(html(client.get(edit_path)))
    assert values["countries"] == "GB, IE"
    bad = client.post(edit_path, data=values | {"countries": "GB, UK"})
    assert bad.status_code == 422
    assert (
        text_of(html(bad), "error-countries")
        == "'UK' is not an ISO 3166 country code (the United Kingdom is GB)"
    )
    session.expire_all()
    assert session.get(SecurityCenter, center.id).countries == ["GB", "IE"]  # nothing saved


def test_migration_0008_gives_existing_centers_no_countries_and_goes_back(database_url: str) -> None:
    upgrade_database(database_url, "0007")
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO security_centers (name, sip_uris, phone, languages, timezone, created_at,"
                    " updated_at) VALUES ('Old', '[\"sip:old@127.0.0.1\"]', '', '[\"de\"]', 'UTC',"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        upgrade_database(database_url)
        with Session(engine) as s:
            old = s.scalars(select(SecurityCenter)).one()
            assert (old.name, old.countries) == ("Old", [])
            # and the snapshot reads it: no country, so its sites' countries and its languages route
            [entry] = load_snapshot(s).centers.values()
            assert (entry.languages, entry.countries) == (("de",), ())
        command.downgrade(alembic_config(database_url), "0007")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM security_centers")).scalars().all() == ["Old"]
    finally:
        engine.dispose()


# --- the route API on the demo estate ---------------------------------------------------------------

BERLIN = ["sip:leitstelle@127.0.0.1:5070", "sip:leitstelle-backup@127.0.0.1:5071"]
LONDON = ["sip:control@127.0.0.1:5080"]

#: unknown caller's country -> (number, Contacts in order, first center, the reason's words)
ROUTE_TABLE = {
    "DE": (
        "+4915112345678",
        BERLIN,
        "Leitstelle Berlin",
        "unknown caller from DE: regional center 'Leitstelle Berlin' (lists DE) first",
    ),
    # the bug: the default center (Berlin) lists English, so this UK mobile reached Berlin
    "GB": (
        "+447700900123",
        LONDON + BERLIN,
        "London Control Room",
        "unknown caller from GB: regional center 'London Control Room' (lists GB) first; "
        "center speaking 'en' 'Leitstelle Berlin' as fallback",
    ),
    "FR": (
        "+33123456789",
        BERLIN,
        "Leitstelle Berlin",
        "no center serves FR; no center speaks fr; default center 'Leitstelle Berlin' first",
    ),
}


@pytest.mark.parametrize("country", ROUTE_TABLE)
def test_the_route_api_sends_an_unknown_caller_of_the_demo_estate_to_its_regional_center(
    client, session, country: str
) -> None:
    load_demo(session)
    session.commit()
    auth = bearer(session, "pbx", role="integration", scopes=("calls:route",))
    ani, contacts, first, words = ROUTE_TABLE[country]
    resp = client.post(
        "/api/v1/calls/route",
        json={"trunk": "loopback", "ani": ani, "caller_id": ani, "dnis": "112"},
        headers=auth,
    )
    assert resp.status_code == 200, html(resp)
    d = resp.get_json()
    assert (d["status"], [t["uri"] for t in d["targets"]], d["targets"][0]["center"]) == (
        302,
        contacts,
        first,
    )
    assert d["contact"].startswith(f"<{contacts[0]}>;q=1.0")
    assert words in d["reason"], d["reason"]
    assert [a["code"] for a in d["anomalies"]] == ["unknown_ani"]
    stored = session.get(CallRecord, d["call"])
    center = session.scalars(select(SecurityCenter).where(SecurityCenter.name == first)).one()
    assert stored.center_id == center.id  # the call history says who took it
