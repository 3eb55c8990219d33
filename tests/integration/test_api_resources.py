"""REST API for centers, schedules, sites, locations and trunks; problem documents; the OpenAPI document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from registry.models import ChangeLog
from tests import factories as f
from tests.api_support import PROBLEM_JSON, assert_problem, bearer


@pytest.fixture
def headers(session) -> dict[str, str]:
    return bearer(session, "alice")


def _create(client, headers, path: str, body: dict) -> dict:  # type: ignore[type-arg]
    resp = client.post(f"/api/v1/{path}", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Location"] == f"/api/v1/{path}/{resp.get_json()['id']}"
    return resp.get_json()  # type: ignore[no-any-return]


def test_build_an_estate_through_the_api(client, session, headers) -> None:
    center = _create(
        client,
        headers,
        "centers",
        {"name": "Berlin Control", "sip_uris": ["sip:berlin@192.0.2.10"], "phone": "030 2390 5600"},
    )
    assert center["phone"] == "+493023905600" and center["timezone"] == "UTC"
    schedule = _create(
        client,
        headers,
        "schedules",
        {
            "name": "weekdays",
            "windows": [{"days": ["mon", "tue", 2, 3, "fri"], "start": "22:00", "end": "06:00"}],
            "holidays": ["2026-12-25", "2026-01-01"],
        },
    )
    # windows come back in canonical form, holidays sorted
    assert schedule["windows"] == [{"days": [0, 1, 2, 3, 4], "start": "22:00", "end": "06:00"}]
    assert schedule["holidays"] == ["2026-01-01", "2026-12-25"]
    site = _create(
        client,
        headers,
        "sites",
        {
            "name": "Tower A",
            "slug": "tower-a",
            "country": "de",
            "timezone": "Europe/Berlin",
            "day_center": "Berlin Control",
            "out_of_hours_center": center["id"],
            "business_hours": "weekdays",
        },
    )
    assert site["country"] == "DE"
    assert site["day_center_id"] == site["out_of_hours_center_id"] == center["id"]
    assert site["business_hours_id"] == schedule["id"]
    location = _create(
        client, headers, "locations", {"site": "tower-a", "kind": "shaft_pit", "name": "Pit 1"}
    )
    assert location["site_id"] == site["id"]
    trunk = _create(
        client,
        headers,
        "trunks",
        {
            "name": "carrier",
            "source_addresses": ["192.0.2.1/32", "2001:db8::/64"],
            "trust": "trusted",
            "default_region": "DE",
        },
    )
    assert trunk["source_addresses"] == ["192.0.2.1", "2001:db8::/64"]
    assert trunk["ani_header"] == "pai" and trunk["expects_attestation"] is False

    for path, obj in [
        ("centers", center),
        ("schedules", schedule),
        ("sites", site),
        ("locations", location),
        ("trunks", trunk),
    ]:
        listed = client.get(f"/api/v1/{path}", headers=headers).get_json()
        assert listed["total"] == 1 and listed["items"] == [obj]
        assert client.get(f"/api/v1/{path}/{obj['id']}", headers=headers).get_json() == obj

    session.expire_all()
    logged = session.scalars(select(ChangeLog.object_type).where(ChangeLog.source == "api")).all()
    assert sorted(logged) == ["center", "location", "schedule", "site", "trunk"]


def test_patch_changes_only_the_fields_sent(client, session, headers) -> None:
    est = f.estate(session)
    site_id = est["site"].id
    resp = client.patch(f"/api/v1/sites/{site_id}", json={"notes": "key at reception"}, headers=headers)
    assert resp.status_code == 200
    assert resp.get_json()["notes"] == "key at reception"
    assert resp.get_json()["business_hours_id"] == est["schedule"].id
    resp = client.patch(f"/api/v1/sites/{site_id}", json={"business_hours": None}, headers=headers)
    assert resp.get_json()["business_hours_id"] is None
    # a required field cannot be cleared
    problem = assert_problem(
        client.patch(f"/api/v1/sites/{site_id}", json={"name": None}, headers=headers), 422
    )
    assert "name" in problem["errors"]
    problem = assert_problem(
        client.patch(f"/api/v1/sites/{site_id}", json={"name": "  "}, headers=headers), 422
    )
    assert problem["errors"] == {"name": "required"}
    resp = client.patch(f"/api/v1/trunks/{est['trunk'].id}", json={"trust": "untrusted"}, headers=headers)
    assert resp.get_json()["trust"] == "untrusted"


def test_registry_validation_is_422_per_field(client, session, headers) -> None:
    f.estate(session)
    body = {"name": "Tower B", "slug": "tower-a", "country": "XX", "timezone": "Mars/Olympus"}
    problem = assert_problem(client.post("/api/v1/sites", json=body, headers=headers), 422)
    assert set(problem["errors"]) == {"slug", "country", "timezone"}
    body = {"name": "bad", "windows": [{"days": [7], "start": "25:00", "end": "18:00"}]}
    problem = assert_problem(client.post("/api/v1/schedules", json=body, headers=headers), 422)
    assert set(problem["errors"]) == {"windows.0.days.0", "windows.0.start"}


def test_delete_of_an_object_in_use_is_409(client, session, headers) -> None:
    est = f.estate(session)
    problem = assert_problem(client.delete(f"/api/v1/sites/{est['site'].id}", headers=headers), 409)
    assert "still used" in problem["detail"]
    assert client.delete(f"/api/v1/devices/{est['device'].id}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/locations/{est['location'].id}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/sites/{est['site'].id}", headers=headers).status_code == 204
    assert_problem(client.get(f"/api/v1/sites/{est['site'].id}", headers=headers), 404)


def test_http_errors_under_api_are_problems(client, headers) -> None:
    assert_problem(client.get("/api/v1/no-such-thing", headers=headers), 404)
    assert_problem(client.get("/api/v1/devices/abc", headers=headers), 404)
    # an id no row can have is no such object (tests/integration/test_ids_out_of_range.py)
    assert_problem(client.get("/api/v1/devices/0", headers=headers), 404)
    assert_problem(client.get("/api/v1/devices/2147483648", headers=headers), 404)
    resp = client.put("/api/v1/devices", headers=headers)
    assert_problem(resp, 405)
    assert {m.strip() for m in resp.headers["Allow"].split(",")} >= {"GET", "POST"}
    # the X-Request-ID is echoed on errors too
    resp = client.get("/api/v1/nowhere", headers={"X-Request-ID": "abc"})
    assert resp.headers["X-Request-ID"] == "abc"
    # outside /api/ Flask's own error pages stay
    resp = client.get("/no-such-page")
    assert resp.status_code == 404 and resp.mimetype != PROBLEM_JSON


def test_server_errors_are_problems_without_internals(app, client, headers, monkeypatch) -> None:
    import registry.api.views as views

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "get_object", boom)
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    resp = client.get("/api/v1/devices/1", headers=headers)
    body = assert_problem(resp, 500)
    assert "secret" not in resp.get_data(as_text=True)
    assert body["title"] == "Internal Server Error"


def test_openapi_document_describes_every_operation(client) -> None:
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    expected = {
        "get": {"200", "401", "403", "422"},
        "post": {"201", "400", "401", "403", "409", "415", "422"},
        "patch": {"200", "400", "401", "403", "404", "409", "415", "422"},
        "delete": {"204", "401", "403", "404", "409", "422"},
        "put": {"200", "400", "401", "403", "409", "415", "422"},
    }
    # an alarm action answers the alarm after it (200), or 409 when its state refuses; ending a
    # silence keeps the row and answers it
    action = {"200", "400", "401", "403", "404", "409", "415", "422"}
    ended = {"200", "401", "403", "404", "409", "422"}
    rule_path = "/api/v1/alarm-rules/{trigger}/{device_kind}"
    operations = 0
    for path, item in doc["paths"].items():
        assert path.startswith("/api/v1/") and path != "/api/v1/openapi.json"
        for method, op in item.items():
            operations += 1
            assert op["security"] == [{"bearerAuth": []}], (method, path)
            # the route API answers a decision (200) and creates nothing a client could clash with
            want = {"200", "400", "401", "403", "415", "422"} if path.endswith("/route") else expected[method]
            if path.startswith("/api/v1/alarms/{id}/"):
                want = action
            elif path == "/api/v1/silences/{id}" and method == "delete":
                want = ended
            elif (path, method) in (("/api/v1/silences", "post"), (rule_path, "delete")):
                want = expected[method] - {"409"}  # a new silence or a rule's removal clashes with nothing
            elif path.startswith("/api/v1/sinks"):
                # the sinks: admins read them and act on their dead letters; an action has no body
                ok = "202" if path.endswith("/test") else "200"
                want = {ok, "401", "403", "422"} | ({"404"} if "{" in path else set())
            assert want <= set(op["responses"]), (method, path)
            if "{" in path:
                assert "404" in op["responses"]
                assert any(p["in"] == "path" for p in op["parameters"])
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert list(response["content"]) == [PROBLEM_JSON], (method, path, code)
            if method in ("post", "put", "patch") and not path.startswith("/api/v1/sinks"):
                assert "application/json" in op["requestBody"]["content"]
    # registry CRUD, by-ANI, call list, detail and route; alarm list, detail and 5 actions, silence
    # CRUD, alarm-rule list, put and delete; sinks list, detail, dead letters, retry all, retry one,
    # test event
    assert operations == 9 * 5 + 1 + 3 + 7 + 5 + 3 + 6
    post = doc["paths"]["/api/v1/devices"]["post"]
    assert post["responses"]["201"]["headers"]["Location"]["required"] is True
    params = {p["name"]: p for p in doc["paths"]["/api/v1/devices"]["get"]["parameters"]}
    assert set(params) == {"page", "per_page", "site", "kind", "trunk", "status", "location", "q"}
    assert params["per_page"]["schema"]["maximum"] == 1000
    assert params["per_page"]["schema"]["default"] == 50
    device = doc["components"]["schemas"]["Device"]["properties"]
    assert {"site_id", "last_call_at", "last_test_call_at", "created_at", "updated_at"} <= set(device)
    assert "id" not in doc["components"]["schemas"]["DeviceCreate"]["properties"]
