"""REST API for devices: create/update/delete with change log, conflicts, validation, look-up by ANI,
filters and pagination."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import select

from registry.choices import ChangeAction
from registry.models import ChangeLog, Device
from tests import factories as f
from tests.api_support import assert_problem, bearer


@pytest.fixture
def estate(session):  # type: ignore[no-untyped-def]
    return f.estate(session)


@pytest.fixture
def admin_headers(session, estate) -> dict[str, str]:
    return bearer(session, "alice")


def _log(session, object_id: int) -> list[ChangeLog]:
    session.expire_all()
    stmt = select(ChangeLog).where(ChangeLog.object_type == "device", ChangeLog.object_id == object_id)
    return list(session.scalars(stmt.order_by(ChangeLog.id)))


def test_create_update_delete_leave_change_log_rows(client, session, estate, admin_headers) -> None:
    headers = admin_headers | {"X-Request-ID": "req-42"}
    body = {
        "ani": "030 2390 5601",
        "kind": "elevator_phone",
        "site": "tower-a",  # natural keys as well as ids
        "location": "A/Lift 1",
        "trunk": "loopback",
        "active_schedule": "office hours",
        "vendor": "Acme",
        "maintenance_until": "2030-01-01T08:00:00+01:00",
    }
    resp = client.post("/api/v1/devices", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    dev = resp.get_json()
    assert resp.headers["Location"] == f"/api/v1/devices/{dev['id']}"
    assert dev["ani"] == "+493023905601"
    assert dev["site_id"] == estate["site"].id
    assert dev["location_id"] == estate["location"].id
    assert dev["trunk_id"] == estate["trunk"].id
    assert dev["active_schedule_id"] == estate["schedule"].id
    assert dev["test_interval_hours"] == 72  # EN 81-28 default for lift phones
    assert dev["maintenance_until"] == "2030-01-01T07:00:00Z"
    assert dev["last_call_at"] is None and dev["last_test_call_at"] is None
    assert dev["created_at"] and dev["updated_at"]
    assert client.get(resp.headers["Location"], headers=headers).get_json() == dev

    resp = client.patch(
        f"/api/v1/devices/{dev['id']}", json={"vendor": "Bcme", "location": None}, headers=headers
    )
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["vendor"] == "Bcme"
    assert resp.get_json()["location_id"] is None
    assert resp.get_json()["trunk_id"] == estate["trunk"].id  # untouched fields keep their value

    resp = client.delete(f"/api/v1/devices/{dev['id']}", headers=headers)
    assert resp.status_code == 204 and resp.data == b""
    assert_problem(client.get(f"/api/v1/devices/{dev['id']}", headers=headers), 404)

    create, update, delete = _log(session, dev["id"])
    for row in (create, update, delete):
        assert (row.source, row.actor, row.request_id) == ("api", "alice", "req-42")
        assert row.user_id is not None
    assert create.action == ChangeAction.CREATE and create.before is None
    assert create.after["ani"] == "+493023905601"
    assert update.action == ChangeAction.UPDATE
    assert (update.before["vendor"], update.after["vendor"]) == ("Acme", "Bcme")
    assert (update.before["location_id"], update.after["location_id"]) == (estate["location"].id, None)
    assert delete.action == ChangeAction.DELETE and delete.after is None
    assert delete.before["vendor"] == "Bcme"


def test_duplicate_ani_is_409_with_the_existing_device(client, estate, admin_headers) -> None:
    existing = estate["device"].id
    body = {"ani": "tel:+49-30-1234-5678", "kind": "door_intercom", "site": estate["site"].id}
    problem = assert_problem(client.post("/api/v1/devices", json=body, headers=admin_headers), 409)
    assert problem["existing_id"] == existing
    assert problem["existing"] == f"/api/v1/devices/{existing}"
    assert problem["field"] == "ani"
    assert "+493012345678" in problem["detail"]

    other = client.post(
        "/api/v1/devices", json=body | {"ani": "+49 30 2390 5601"}, headers=admin_headers
    ).get_json()["id"]
    resp = client.patch(f"/api/v1/devices/{other}", json={"ani": "0301234 5678"}, headers=admin_headers)
    assert assert_problem(resp, 409)["existing_id"] == existing


@pytest.mark.parametrize(
    ("ani", "message"),
    [
        ("12", "'12' is too short: a local number needs its area code"),
        ("+49 30 12x", "'+49 30 12x' is not a telephone number (only digits and + allowed)"),
        ("+999 1234567", "has no country code that exists"),
    ],
)
def test_bad_number_is_422_on_the_ani_field(client, estate, admin_headers, ani: str, message: str) -> None:
    body = {"ani": ani, "kind": "door_intercom", "site": "tower-a"}
    problem = assert_problem(client.post("/api/v1/devices", json=body, headers=admin_headers), 422)
    assert list(problem["errors"]) == ["ani"]
    assert message in problem["errors"]["ani"]


def test_malformed_input_is_422_per_field(client, estate, admin_headers) -> None:
    body = {"ani": 4930, "kind": "toaster", "site": "tower-a", "color": "red", "test_interval_hours": "72"}
    problem = assert_problem(client.post("/api/v1/devices", json=body, headers=admin_headers), 422)
    assert set(problem["errors"]) == {"ani", "kind", "color", "test_interval_hours"}
    # a body that is not JSON, or no JSON object
    assert_problem(client.post("/api/v1/devices", data="ani=1", headers=admin_headers), 415)
    bad_json = admin_headers | {"Content-Type": "application/json"}
    assert_problem(client.post("/api/v1/devices", data="{ani: 1", headers=bad_json), 400)
    problem = assert_problem(client.post("/api/v1/devices", json=[body], headers=admin_headers), 422)
    assert problem["errors"] == {"body": "a JSON object is required"}
    problem = assert_problem(client.post("/api/v1/devices", headers=admin_headers), 422)
    assert problem["errors"] == {"body": "a JSON object is required"}
    # what only the registry knows is reported the same way
    body = {"ani": "+49 30 2390 5601", "kind": "elevator_phone", "site": "nowhere", "test_interval_hours": 96}
    problem = assert_problem(client.post("/api/v1/devices", json=body, headers=admin_headers), 422)
    assert problem["errors"]["site"] == "no site 'nowhere'"
    assert "EN 81-28" in problem["errors"]["test_interval_hours"]


@pytest.mark.parametrize(
    "written",
    [
        "+49 30 12345678",
        "+493012345678",
        "030 12345678",
        "03012345678",
        "0049 30 12345678",
        "030/1234-5678",  # "/" survives the path converter
        "493012345678",
        "tel:+49-30-1234-5678",
        "<tel:+49-30-12345678;phone-context=example.com>",
        "sip:+493012345678@carrier.example;user=phone",
        "sips:+49-30-12345678@10.0.0.1:5061;transport=tls",
        "sip:%2B493012345678@host",
    ],
)
def test_every_written_form_finds_the_device_by_ani(client, estate, admin_headers, written: str) -> None:
    resp = client.get(f"/api/v1/devices/by-ani/{quote(written, safe='')}", headers=admin_headers)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["id"] == estate["device"].id


def test_by_ani_reads_national_forms_with_the_region(client, session, estate, admin_headers) -> None:
    uk = f.device(session, estate["site"].id, ani="+44 20 7946 0958", kind="door_intercom")
    session.commit()
    assert_problem(client.get("/api/v1/devices/by-ani/020%207946%200958", headers=admin_headers), 404)
    resp = client.get("/api/v1/devices/by-ani/020%207946%200958?region=GB", headers=admin_headers)
    assert resp.get_json()["id"] == uk.id
    assert_problem(client.get("/api/v1/devices/by-ani/+4930999999", headers=admin_headers), 404)
    assert_problem(client.get("/api/v1/devices/by-ani/not-a-number", headers=admin_headers), 404)
    assert_problem(client.get("/api/v1/devices/by-ani/0301?region=Germany", headers=admin_headers), 422)


def test_filters(client, session, estate, admin_headers) -> None:
    site_b = f.site(session, name="Car Park B", slug="car-park-b")
    loc_b = f.location(session, site_b.id, kind="car_park_level", name="Level -1", building="")
    other = f.trunk(session, name="carrier", source_addresses=["192.0.2.1"])
    help_point = f.device(
        session,
        site_b.id,
        ani="+49 30 2390 5601",
        kind="car_park_help_point",
        location=loc_b.id,
        trunk=other.id,
        serial="HP-0001",
        status="maintenance",
    )
    session.commit()
    lift = estate["device"].id

    def ids(query: str) -> list[int]:
        resp = client.get(f"/api/v1/devices?{query}", headers=admin_headers)
        assert resp.status_code == 200, resp.get_json()
        return [d["id"] for d in resp.get_json()["items"]]

    assert ids("") == [lift, help_point.id]
    assert ids("site=car-park-b") == ids(f"site={site_b.id}") == [help_point.id]
    assert ids("kind=elevator_phone") == [lift]
    assert ids(f"trunk={other.id}") == [help_point.id]
    assert ids("status=maintenance") == [help_point.id]
    assert ids(f"location={estate['location'].id}") == [lift]
    assert ids("q=hp-00") == [help_point.id]
    assert ids("q=2390") == [help_point.id]
    assert ids("site=tower-a&kind=car_park_help_point") == []
    assert ids("site=99999999999999999999") == []
    problem = assert_problem(
        client.get("/api/v1/devices?kind=toaster&colour=red", headers=admin_headers), 422
    )
    assert set(problem["errors"]) == {"kind", "colour"}


def test_pagination(client, session, estate, admin_headers) -> None:
    for n in range(11):
        f.device(session, estate["site"].id, ani=f"+49 30 2390 56{n:02d}", kind="door_intercom")
    session.commit()
    all_ids = sorted(session.scalars(select(Device.id)))
    assert len(all_ids) == 12

    pages = []
    for page in (1, 2, 3):
        body = client.get(f"/api/v1/devices?per_page=5&page={page}", headers=admin_headers).get_json()
        assert (body["total"], body["page"], body["per_page"]) == (12, page, 5)
        pages.append([d["id"] for d in body["items"]])
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [i for p in pages for i in p] == all_ids
    assert client.get("/api/v1/devices?page=4&per_page=5", headers=admin_headers).get_json()["items"] == []
    # the default and the maximum page size come from the settings
    default = client.get("/api/v1/devices", headers=admin_headers).get_json()
    assert default["per_page"] == 50 and len(default["items"]) == 12
    for bad in ("page=0", "per_page=0", "per_page=1001", "page=x"):
        assert_problem(client.get(f"/api/v1/devices?{bad}", headers=admin_headers), 422)
    assert client.get("/api/v1/devices?per_page=1000", headers=admin_headers).status_code == 200
