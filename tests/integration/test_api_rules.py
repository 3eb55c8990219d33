"""REST API for dialled-number rules, number lists and flood rules (admin-only shared objects), and
the routing fields of sites, trunks and devices: test ANI, maintenance contacts, test-call marker."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from registry.choices import ChangeAction
from registry.models import ChangeLog
from tests import factories as f
from tests.api_support import assert_problem, bearer


@pytest.fixture
def estate(session) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return f.estate(session)


@pytest.fixture
def headers(session, estate) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(session, "alice")


def _create(client, headers, path: str, body: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    resp = client.post(f"/api/v1/{path}", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Location"] == f"/api/v1/{path}/{resp.get_json()['id']}"
    return resp.get_json()  # type: ignore[no-any-return]


def _errors(client, headers, method: str, url: str, body: dict[str, Any]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return assert_problem(getattr(client, method)(url, json=body, headers=headers), 422)["errors"]  # type: ignore[no-any-return]


def _list(client, headers, path: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return client.get(f"/api/v1/{path}", headers=headers).get_json()["items"]  # type: ignore[no-any-return]


# --- dialled-number rules ---------------------------------------------------------------------------


def test_dnis_rules_create_list_patch_delete(client, headers) -> None:
    emergency = _create(client, headers, "dnis-rules", {"number": "030 2390 5000", "line": "emergency"})
    assert {k: emergency[k] for k in ("number", "line", "priority", "target_uri", "description")} == {
        "number": "+493023905000",  # national form read with the server's region (DE)
        "line": "emergency",
        "priority": "emergency",
        "target_uri": "",
        "description": "",
    }
    short = _create(client, headers, "dnis-rules", {"number": "112", "line": "intercom"})
    assert (short["number"], short["priority"]) == ("112", "normal")  # a short code, kept as dialled
    test = _create(
        client,
        headers,
        "dnis-rules",
        {"number": "+49 30 2390 5099", "line": "test", "target_uri": "sip:test-rx@192.0.2.20"},
    )
    assert (test["number"], test["priority"]) == ("+493023905099", "non-urgent")
    explicit = _create(
        client, headers, "dnis-rules", {"number": "*99#", "line": "intercom", "priority": "urgent"}
    )
    assert (explicit["number"], explicit["priority"]) == ("*99#", "urgent")

    assert [r["number"] for r in _list(client, headers, "dnis-rules")] == [
        "+493023905000",
        "112",
        "+493023905099",
        "*99#",
    ]
    url = f"/api/v1/dnis-rules/{short['id']}"
    assert client.get(url, headers=headers).get_json() == short

    resp = client.patch(url, json={"description": "lobby intercom", "line": "emergency"}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    # only the fields sent change: the priority stays what it was
    assert (resp.get_json()["description"], resp.get_json()["line"], resp.get_json()["priority"]) == (
        "lobby intercom",
        "emergency",
        "normal",
    )
    # null priority: back to the line's default
    assert client.patch(url, json={"priority": None}, headers=headers).get_json()["priority"] == "emergency"

    assert client.delete(url, headers=headers).status_code == 204
    assert_problem(client.get(url, headers=headers), 404)


def test_dnis_rule_validation(client, headers) -> None:
    rule = _create(client, headers, "dnis-rules", {"number": "+493023905000", "line": "emergency"})
    assert _errors(client, headers, "post", "/api/v1/dnis-rules", {"number": "abc", "line": "emergency"}) == {
        "number": "'abc' is neither a telephone number nor digits as dialled (0-9 * # +, at most 32)"
    }
    assert _errors(
        client, headers, "post", "/api/v1/dnis-rules", {"number": "1" * 33, "line": "intercom"}
    ) == {
        "number": f"'{'1' * 33}' is neither a telephone number nor digits as dialled (0-9 * # +, at most 32)"
    }
    assert _errors(client, headers, "post", "/api/v1/dnis-rules", {"number": "0800 1", "line": "test"}) == {
        "number": "'0800 1' is neither a telephone number nor digits as dialled (0-9 * # +, at most 32)",
        "target_uri": "a test line needs the test receiver's SIP URI",
    }
    # the same number written another way
    assert _errors(
        client, headers, "post", "/api/v1/dnis-rules", {"number": "tel:+49-30-2390-5000", "line": "intercom"}
    ) == {"number": f"number '+493023905000' is already used by id {rule['id']}"}
    # a rule cannot become a test line without its receiver
    url = f"/api/v1/dnis-rules/{rule['id']}"
    assert _errors(client, headers, "patch", url, {"line": "test"}) == {
        "target_uri": "a test line needs the test receiver's SIP URI"
    }
    # malformed input is refused by the schema, per field
    assert set(
        _errors(
            client,
            headers,
            "post",
            "/api/v1/dnis-rules",
            {"number": "112", "line": "fax", "target_uri": "http://x"},
        )
    ) == {"line", "target_uri"}


# --- number lists -----------------------------------------------------------------------------------


def test_number_lists_create_list_patch_delete(client, headers) -> None:
    gray = _create(client, headers, "number-lists", {"pattern": "030 555 1234", "kind": "gray"})
    assert (gray["pattern"], gray["kind"], gray["reason"], gray["expires_at"]) == (
        "+49305551234",
        "gray",
        "",
        None,
    )
    block = _create(
        client,
        headers,
        "number-lists",
        {
            "pattern": "+4930555*",
            "kind": "block",
            "reason": "prank calls",
            "expires_at": "2030-01-01T08:00:00+01:00",
        },
    )
    assert (block["pattern"], block["expires_at"]) == ("+4930555*", "2030-01-01T07:00:00Z")
    assert [e["pattern"] for e in _list(client, headers, "number-lists")] == ["+49305551234", "+4930555*"]

    url = f"/api/v1/number-lists/{block['id']}"
    resp = client.patch(url, json={"kind": "gray", "expires_at": None}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["kind"], resp.get_json()["expires_at"], resp.get_json()["reason"]) == (
        "gray",
        None,
        "prank calls",
    )
    assert client.delete(url, headers=headers).status_code == 204
    assert_problem(client.get(url, headers=headers), 404)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("+49x*", "'+49x*' is not a prefix: + then 1 to 15 digits then * (e.g. +4930*)"),
        ("4930*", "'4930*' is not a prefix: + then 1 to 15 digits then * (e.g. +4930*)"),
        ("+*", "'+*' is not a prefix: + then 1 to 15 digits then * (e.g. +4930*)"),
        (
            "+1234567890123456*",
            "'+1234567890123456*' is not a prefix: + then 1 to 15 digits then * (e.g. +4930*)",
        ),
        ("+4930**", "'+4930**' is not a prefix: + then 1 to 15 digits then * (e.g. +4930*)"),
        ("030 12", "'030 12' is not a valid number in the numbering plan of DE (+49)"),
    ],
)
def test_bad_number_list_pattern_is_422(client, headers, pattern: str, message: str) -> None:
    body = {"pattern": pattern, "kind": "block"}
    assert _errors(client, headers, "post", "/api/v1/number-lists", body) == {"pattern": message}


def test_number_list_pattern_is_unique(client, headers) -> None:
    first = _create(client, headers, "number-lists", {"pattern": "+4930555*", "kind": "block"})
    body = {"pattern": "+4930555*", "kind": "gray"}
    assert _errors(client, headers, "post", "/api/v1/number-lists", body) == {
        "pattern": f"pattern '+4930555*' is already used by id {first['id']}"
    }


# --- flood rules ------------------------------------------------------------------------------------


def test_flood_rules_create_list_patch_delete(client, headers) -> None:
    lift = _create(
        client,
        headers,
        "flood-rules",
        {
            "scope": "ani",
            "device_kind": "elevator_phone",
            "max_calls": 5,
            "window_seconds": 300,
            "effect": "urgent",
        },
    )
    assert {k: lift[k] for k in ("scope", "device_kind", "max_calls", "window_seconds", "effect")} == {
        "scope": "ani",
        "device_kind": "elevator_phone",
        "max_calls": 5,
        "window_seconds": 300,
        "effect": "urgent",
    }
    anyone = _create(client, headers, "flood-rules", {"scope": "ani", "max_calls": 20, "window_seconds": 60})
    assert (anyone["device_kind"], anyone["effect"]) == (None, "flag")
    per_site = _create(
        client, headers, "flood-rules", {"scope": "site", "max_calls": 50, "window_seconds": 60}
    )
    assert [(r["scope"], r["device_kind"]) for r in _list(client, headers, "flood-rules")] == [
        ("ani", "elevator_phone"),
        ("ani", None),
        ("site", None),
    ]

    url = f"/api/v1/flood-rules/{lift['id']}"
    resp = client.patch(url, json={"max_calls": 3}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["max_calls"], resp.get_json()["window_seconds"]) == (3, 300)
    # a rule may become the "any kind" rule of a scope that has none
    resp = client.patch(f"/api/v1/flood-rules/{per_site['id']}", json={"scope": "trunk"}, headers=headers)
    assert (resp.get_json()["scope"], resp.get_json()["device_kind"]) == ("trunk", None)
    assert client.delete(url, headers=headers).status_code == 204
    assert_problem(client.get(url, headers=headers), 404)


def test_flood_rule_scope_and_kind_are_unique_also_for_any_kind(client, headers) -> None:
    anyone = _create(client, headers, "flood-rules", {"scope": "ani", "max_calls": 20, "window_seconds": 60})
    lift = _create(
        client,
        headers,
        "flood-rules",
        {"scope": "ani", "device_kind": "elevator_phone", "max_calls": 5, "window_seconds": 300},
    )
    # two "any kind" rules of one scope: the database alone would take them (NULLs are distinct)
    body = {"scope": "ani", "max_calls": 10, "window_seconds": 60}
    assert _errors(client, headers, "post", "/api/v1/flood-rules", body) == {
        "device_kind": f"scope 'ani' already has a rule for any kind (id {anyone['id']})"
    }
    assert _errors(
        client, headers, "post", "/api/v1/flood-rules", body | {"device_kind": "elevator_phone"}
    ) == {"device_kind": f"scope 'ani' already has a rule for elevator_phone (id {lift['id']})"}
    assert _errors(client, headers, "patch", f"/api/v1/flood-rules/{lift['id']}", {"device_kind": None}) == {
        "device_kind": f"scope 'ani' already has a rule for any kind (id {anyone['id']})"
    }
    # the schema bounds the numbers
    assert set(
        _errors(
            client,
            headers,
            "post",
            "/api/v1/flood-rules",
            {"scope": "site", "max_calls": 0, "window_seconds": 86_401},
        )
    ) == {"max_calls", "window_seconds"}


# --- who may change them ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "make", "body", "plural"),
    [
        ("dnis-rules", f.dnis_rule, {"number": "112", "line": "intercom"}, "dnis rules"),
        ("number-lists", f.number_list_entry, {"pattern": "+4940*", "kind": "gray"}, "number list entries"),
        ("flood-rules", f.flood_rule, {"scope": "site", "max_calls": 9, "window_seconds": 9}, "flood rules"),
    ],
)
def test_a_facility_manager_reads_rules_but_cannot_change_them(
    client,
    session,
    estate,
    path: str,
    make: Any,
    body: dict[str, Any],
    plural: str,
) -> None:
    existing = make(session)
    session.commit()
    headers = bearer(session, "fiona", role="facility_manager", sites=[estate["site"].id])
    url = f"/api/v1/{path}/{existing.id}"
    assert client.get(f"/api/v1/{path}", headers=headers).get_json()["total"] == 1
    assert client.get(url, headers=headers).get_json()["id"] == existing.id
    problem = assert_problem(client.post(f"/api/v1/{path}", json=body, headers=headers), 403)
    assert problem["detail"] == f"only an administrator may change {plural}"
    assert_problem(client.patch(url, json=body, headers=headers), 403)
    assert_problem(client.delete(url, headers=headers), 403)
    missing = f"/api/v1/{path}/99999"
    assert_problem(client.get(missing, headers=headers), 404)
    assert_problem(client.patch(missing, json=body, headers=headers), 404)
    assert_problem(client.delete(missing, headers=headers), 404)
    assert client.get(url, headers=headers).status_code == 200  # still there


def test_creating_a_dnis_rule_moves_the_registry_revision(client, session, headers) -> None:
    session.expire_all()
    before = session.scalar(select(func.max(ChangeLog.id))) or 0
    rule = _create(
        client, headers | {"X-Request-ID": "req-7"}, "dnis-rules", {"number": "112", "line": "intercom"}
    )
    session.expire_all()
    row = session.scalars(select(ChangeLog).where(ChangeLog.id > before)).one()
    assert (row.action, row.object_type, row.object_id, row.object_repr) == (
        ChangeAction.CREATE,
        "dnis_rule",
        rule["id"],
        "112",
    )
    assert (row.source, row.actor, row.request_id, row.before) == ("api", "alice", "req-7", None)
    assert row.after == {
        "id": rule["id"],
        "number": "112",
        "line": "intercom",
        "priority": "normal",
        "target_uri": "",
        "description": "",
    }


# --- routing fields of sites, trunks and devices -----------------------------------------------------


def test_device_test_ani_and_maintenance_contact(client, estate, headers) -> None:
    body = {
        "ani": "030 2390 5601",
        "test_ani": "030 2390 5691",
        "kind": "elevator_phone",
        "site": "tower-a",
        "maintenance_contact": "sip:lift-service@192.0.2.30",
    }
    dev = _create(client, headers, "devices", body)
    assert (dev["ani"], dev["test_ani"], dev["maintenance_contact"]) == (
        "+493023905601",
        "+493023905691",
        "sip:lift-service@192.0.2.30",
    )
    assert dev["last_heartbeat_at"] is None and dev["last_test_call_at"] is None
    url = f"/api/v1/devices/{dev['id']}"
    resp = client.patch(url, json={"test_ani": None, "maintenance_contact": ""}, headers=headers)
    assert (resp.get_json()["test_ani"], resp.get_json()["maintenance_contact"]) == (None, "")
    assert (
        client.get(f"/api/v1/devices/{estate['device'].id}", headers=headers).get_json()["test_ani"] is None
    )


def test_one_number_one_device_across_ani_and_test_ani(client, estate, headers) -> None:
    lift = estate["device"]  # ANI +493012345678
    new = {"ani": "+49 30 2390 5601", "kind": "door_intercom", "site": "tower-a"}
    # a test ANI that is another device's ANI
    problem = assert_problem(
        client.post("/api/v1/devices", json=new | {"test_ani": "030 1234 5678"}, headers=headers), 409
    )
    assert (problem["field"], problem["existing_id"], problem["existing"]) == (
        "test_ani",
        lift.id,
        f"/api/v1/devices/{lift.id}",
    )
    assert problem["detail"] == f"test ANI +493012345678 is already the ANI of device {lift.id}"

    resp = client.patch(f"/api/v1/devices/{lift.id}", json={"test_ani": "+49 30 1234 5699"}, headers=headers)
    assert resp.get_json()["test_ani"] == "+493012345699"
    # an ANI that is another device's test ANI
    problem = assert_problem(
        client.post("/api/v1/devices", json=new | {"ani": "030 1234 5699"}, headers=headers), 409
    )
    assert (problem["field"], problem["existing_id"]) == ("ani", lift.id)
    assert problem["detail"] == f"ANI +493012345699 is already the test ANI of device {lift.id}"
    # a test ANI that is another device's test ANI
    problem = assert_problem(
        client.post("/api/v1/devices", json=new | {"test_ani": "+493012345699"}, headers=headers), 409
    )
    assert (problem["field"], problem["existing_id"]) == ("test_ani", lift.id)
    assert problem["detail"] == f"test ANI +493012345699 is already registered to device {lift.id}"
    # the device's own numbers
    assert _errors(
        client, headers, "patch", f"/api/v1/devices/{lift.id}", {"test_ani": "tel:+49-30-1234-5678"}
    ) == {"test_ani": "must differ from the device's own ANI"}
    assert _errors(client, headers, "post", "/api/v1/devices", new | {"test_ani": "12"}) == {
        "test_ani": "'12' is too short: a local number needs its area code"
    }
    # unchanged numbers of the device itself are no conflict
    resp = client.patch(f"/api/v1/devices/{lift.id}", json={"notes": "ok"}, headers=headers)
    assert resp.status_code == 200, resp.get_json()


def test_trunk_test_call_marker_and_pending_site(client, session, estate, headers) -> None:
    tower_b = f.site(session, name="Tower B", slug="tower-b")
    session.commit()
    url = f"/api/v1/trunks/{estate['trunk'].id}"
    resp = client.patch(
        url, json={"test_call_marker": "Call-Info:test-call", "pending_site": "tower-b"}, headers=headers
    )
    assert resp.status_code == 200, resp.get_json()
    trunk = resp.get_json()
    assert (trunk["test_call_marker"], trunk["pending_site_id"]) == ("Call-Info: test-call", tower_b.id)
    assert (
        client.patch(url, json={"test_call_marker": "X-EN81-Test"}, headers=headers).get_json()[
            "test_call_marker"
        ]
        == "X-EN81-Test"
    )
    for bad in ("X Test", "X-Test:", ": value", "X-Tést"):
        assert set(_errors(client, headers, "patch", url, {"test_call_marker": bad})) == {"test_call_marker"}
    assert _errors(client, headers, "patch", url, {"pending_site": "atlantis"}) == {
        "pending_site": "no site 'atlantis'"
    }

    # the site is in use while the trunk would add pending devices to it
    problem = assert_problem(client.delete(f"/api/v1/sites/{tower_b.id}", headers=headers), 409)
    assert problem["detail"] == f"site {tower_b.id} is still used by 1 trunk(s)"
    assert problem["field"] == "pending_site_id"
    assert (
        client.patch(url, json={"pending_site": None}, headers=headers).get_json()["pending_site_id"] is None
    )
    assert client.delete(f"/api/v1/sites/{tower_b.id}", headers=headers).status_code == 204


def test_site_maintenance_contact(client, estate, headers) -> None:
    url = f"/api/v1/sites/{estate['site'].id}"
    resp = client.patch(url, json={"maintenance_contact": "sips:service@lifts.example"}, headers=headers)
    assert resp.get_json()["maintenance_contact"] == "sips:service@lifts.example"
    assert set(_errors(client, headers, "patch", url, {"maintenance_contact": "mailto:x@y"})) == {
        "maintenance_contact"
    }


def test_openapi_document_has_the_rule_collections(client) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in ("dnis-rules", "number-lists", "flood-rules"):
        assert set(doc["paths"][f"/api/v1/{path}"]) == {"get", "post"}
        assert set(doc["paths"][f"/api/v1/{path}/{{id}}"]) == {"get", "patch", "delete"}
    assert doc["paths"]["/api/v1/number-lists"]["get"]["operationId"] == "list_number_lists"
    schemas = doc["components"]["schemas"]
    assert {"test_ani", "maintenance_contact", "last_heartbeat_at", "last_test_call_at"} <= set(
        schemas["Device"]["properties"]
    )
    assert {"test_call_marker", "pending_site_id"} <= set(schemas["Trunk"]["properties"])
    assert "maintenance_contact" in schemas["Site"]["properties"]
    assert set(schemas["FloodRuleCreate"]["required"]) == {"scope", "max_calls", "window_seconds"}
