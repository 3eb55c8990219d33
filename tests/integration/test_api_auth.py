"""REST API authentication and scoping: bearer tokens, token scopes, roles and site scoping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.db import utcnow
from registry.models import ApiToken
from tests import factories as f
from tests.api_support import READ, assert_problem, bearer

NEW_DEVICE = {"ani": "+49 30 2390 5601", "kind": "door_intercom", "site": "tower-a"}


@pytest.fixture
def estate(session):  # type: ignore[no-untyped-def]
    return f.estate(session)


def test_no_token_is_401_with_a_bearer_challenge(client, estate) -> None:
    for method, url in [
        ("get", "/api/v1/devices"),
        ("get", f"/api/v1/devices/{estate['device'].id}"),
        ("post", "/api/v1/devices"),
        ("delete", f"/api/v1/sites/{estate['site'].id}"),
    ]:
        resp = getattr(client, method)(url)
        body = assert_problem(resp, 401)
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="anigate"'
        assert "Authorization" in body["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer ag_not-a-real-token", "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer", "ag_secret"],
)
def test_unknown_or_malformed_token_is_401(client, estate, header: str) -> None:
    resp = client.get("/api/v1/devices", headers={"Authorization": header})
    assert_problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")


def test_revoked_and_expired_tokens_are_401(client, session, estate) -> None:
    headers = bearer(session, "bob")
    token = session.scalars(select(ApiToken)).one()
    token.revoked_at = utcnow()
    session.commit()
    resp = client.get("/api/v1/devices", headers=headers)
    assert_problem(resp, 401)
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]

    token.revoked_at = None
    token.expires_at = utcnow() - timedelta(minutes=1)
    session.commit()
    assert_problem(client.get("/api/v1/devices", headers=headers), 401)


def test_a_read_token_lists_and_records_its_use(client, session, estate) -> None:
    headers = bearer(session, "reader", scopes=READ)
    resp = client.get("/api/v1/devices", headers=headers)
    assert resp.status_code == 200
    assert [d["id"] for d in resp.get_json()["items"]] == [estate["device"].id]
    session.expire_all()
    first_use = session.scalars(select(ApiToken)).one().last_used_at
    assert first_use is not None
    # within a minute, further reads do not rewrite it (a read must not cost a write)
    assert client.get("/api/v1/sites", headers=headers).status_code == 200
    session.expire_all()
    assert session.scalars(select(ApiToken)).one().last_used_at == first_use


def test_a_token_without_write_scope_cannot_change_anything(client, session, estate) -> None:
    headers = bearer(session, "reader", scopes=READ)
    resp = client.post("/api/v1/devices", json=NEW_DEVICE, headers=headers)
    body = assert_problem(resp, 403)
    assert "registry:write" in body["detail"]
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
    # the scope is checked before the body: a read-only token learns nothing from validation
    assert_problem(client.post("/api/v1/devices", json={"bogus": 1}, headers=headers), 403)
    dev = estate["device"].id
    assert_problem(client.patch(f"/api/v1/devices/{dev}", json={"vendor": "x"}, headers=headers), 403)
    assert_problem(client.delete(f"/api/v1/devices/{dev}", headers=headers), 403)
    assert client.get(f"/api/v1/devices/{dev}", headers=headers).status_code == 200


def test_a_token_without_read_scope_cannot_read(client, session, estate) -> None:
    headers = bearer(session, "writer", scopes=["registry:write"])
    assert_problem(client.get("/api/v1/devices", headers=headers), 403)
    assert_problem(client.get(f"/api/v1/sites/{estate['site'].id}", headers=headers), 403)


def test_operator_reads_own_center_sites_but_cannot_write(client, session, estate) -> None:
    headers = bearer(session, "olga", role="operator", center=estate["center"].id)
    assert client.get("/api/v1/devices", headers=headers).get_json()["total"] == 1
    dev = estate["device"].id
    body = assert_problem(client.post("/api/v1/devices", json=NEW_DEVICE, headers=headers), 403)
    assert "read-only" in body["detail"]
    assert_problem(client.patch(f"/api/v1/devices/{dev}", json={"vendor": "x"}, headers=headers), 403)
    assert_problem(client.delete(f"/api/v1/devices/{dev}", headers=headers), 403)
    # shared reference data is for administrators only
    center = {"name": "Night Desk", "sip_uris": ["sip:night@127.0.0.1"]}
    assert_problem(client.post("/api/v1/centers", json=center, headers=headers), 403)


def test_facility_manager_sees_only_own_sites(client, session, estate) -> None:
    site_b = f.site(session, name="Tower B", slug="tower-b")
    loc_b = f.location(session, site_b.id, name="Lift B")
    dev_b = f.device(session, site_b.id, ani="+49 30 2390 5602", kind="door_intercom", location=loc_b.id)
    session.commit()
    headers = bearer(session, "fiona", role="facility_manager", sites=[estate["site"].id])

    for url in (f"/api/v1/devices/{dev_b.id}", f"/api/v1/sites/{site_b.id}", f"/api/v1/locations/{loc_b.id}"):
        assert_problem(client.get(url, headers=headers), 404)
    assert_problem(client.patch(f"/api/v1/devices/{dev_b.id}", json={"vendor": "x"}, headers=headers), 404)
    assert_problem(client.delete(f"/api/v1/devices/{dev_b.id}", headers=headers), 404)
    assert_problem(client.get("/api/v1/devices/by-ani/+493023905602", headers=headers), 404)

    assert [d["id"] for d in client.get("/api/v1/devices", headers=headers).get_json()["items"]] == [
        estate["device"].id
    ]
    assert client.get(f"/api/v1/devices?site={site_b.id}", headers=headers).get_json()["total"] == 0
    assert [s["slug"] for s in client.get("/api/v1/sites", headers=headers).get_json()["items"]] == [
        "tower-a"
    ]
    assert client.get("/api/v1/locations", headers=headers).get_json()["total"] == 1

    # in the own site a facility manager creates, changes and deletes devices
    resp = client.post("/api/v1/devices", json=NEW_DEVICE, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    new_id = resp.get_json()["id"]
    assert (
        client.patch(f"/api/v1/devices/{new_id}", json={"serial": "S1"}, headers=headers).status_code == 200
    )
    assert client.delete(f"/api/v1/devices/{new_id}", headers=headers).status_code == 204
    # ... but cannot place one in somebody else's site (it does not exist for them)
    body = assert_problem(
        client.post("/api/v1/devices", json=NEW_DEVICE | {"site": "tower-b"}, headers=headers), 422
    )
    assert body["errors"] == {"site": "no site 'tower-b'"}
    # ... nor change the shared sites themselves
    assert_problem(
        client.patch(f"/api/v1/sites/{estate['site'].id}", json={"notes": "x"}, headers=headers), 403
    )
