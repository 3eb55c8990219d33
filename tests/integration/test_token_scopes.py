"""Which role may hold which token scope: ``calls:route`` belongs to admins and integration (PBX)
accounts, refused at creation and cut off at use; an integration account has no registry rights."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.accounts import (
    authenticate_token,
    check_token,
    create_token,
    create_user,
    hash_token,
    update_user,
)
from registry.actors import Actor
from registry.db import utcnow
from registry.errors import ValidationFailed
from registry.models import ApiToken, ChangeLog
from routing.models import CallRecord
from tests import factories as f
from tests.api_support import assert_problem, bearer

PASSWORD = "correct horse battery"


@pytest.fixture
def estate(session) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Site A (the estate's, with a lift phone) and site B with its own lift phone."""
    est = f.estate(session)
    site_b = f.site(session, name="Wharf", slug="wharf", country="GB", timezone="Europe/London")
    dev_b = f.device(session, site_b.id, ani="+442079460000", trunk=est["trunk"].id)
    session.commit()
    return est | {"site_b": site_b, "device_b": dev_b}


def _route(client: Any, headers: dict[str, str], ani: str) -> Any:
    return client.post(
        "/api/v1/calls/route", json={"trunk": "loopback", "ani": ani, "dnis": "112"}, headers=headers
    )


def _raw_token(session: Any, user: Any, scopes: list[str]) -> dict[str, str]:
    """A token written into the table by hand, past the use case's checks."""
    secret = "ag_raw-" + "x" * 30 + str(user.id)
    session.add(ApiToken(user=user, name="raw", prefix=secret[:10], digest=hash_token(secret), scopes=scopes))
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("role", ["facility_manager", "operator"])
def test_calls_route_is_refused_to_a_facility_manager_or_operator(session, estate, role: str) -> None:
    kw: dict[str, Any] = (
        {"sites": [estate["site"].id]} if role == "facility_manager" else {"center": estate["center"].id}
    )
    user = create_user(session, "fay", PASSWORD, role, **kw)
    with pytest.raises(ValidationFailed) as err:
        create_token(session, user, "pbx", ["registry:read", "calls:route"], actor=Actor.system("test"))
    message = err.value.errors["scopes"]
    assert message.startswith("'calls:route' is for PBX integration accounts made by an administrator")
    assert "only a user with role admin or integration may hold it" in message
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_a_facility_managers_raw_route_token_is_refused_at_use(client, session, estate) -> None:
    fm = create_user(session, "fay", PASSWORD, "facility_manager", sites=[estate["site"].id])
    headers = _raw_token(session, fm, ["registry:read", "calls:route"])
    resp = _route(client, headers, estate["device_b"].ani)  # a device of site B
    body = assert_problem(resp, 403)
    assert "calls:route" in body["detail"]
    assert 'error="insufficient_scope", scope="calls:route"' in resp.headers["WWW-Authenticate"]
    # nothing was recorded into site B's history
    assert session.scalar(select(func.count()).select_from(CallRecord)) == 0
    # the rest of the token still reads the facility manager's own sites, and only those
    sites = client.get("/api/v1/sites", headers=headers).get_json()["items"]
    assert [s["slug"] for s in sites] == [estate["site"].slug]


def test_an_admin_token_loses_calls_route_when_its_owner_is_demoted(client, session, estate) -> None:
    admin = create_user(session, "boss", PASSWORD, "admin")
    _, secret = create_token(session, admin, "pbx", ["calls:route"])
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    assert _route(client, headers, estate["device"].ani).status_code == 200
    update_user(session, Actor.system("test"), admin.id, role="facility_manager", sites=[estate["site"].id])
    session.commit()
    assert_problem(_route(client, headers, estate["device"].ani), 403)


def test_an_integration_account_routes_every_site_and_touches_nothing_else(client, session, estate) -> None:
    headers = bearer(session, "pbx", role="integration", scopes=["calls:route"])
    routed = _route(client, headers, estate["device_b"].ani)
    assert routed.status_code == 200, routed.get_data(as_text=True)
    assert routed.get_json()["site_id"] == estate["site_b"].id
    assert_problem(client.get("/api/v1/devices", headers=headers), 403)  # no registry:read
    assert_problem(client.get("/api/v1/calls", headers=headers), 403)
    # its tokens carry nothing but calls:route, whatever a hand-written row says
    pbx = session.scalars(select(ApiToken)).one().user
    with pytest.raises(ValidationFailed) as err:
        create_token(session, pbx, "more", ["calls:route", "registry:write"])
    assert (
        err.value.errors["scopes"]
        == "an integration account's tokens carry only 'calls:route', not 'registry:write'"
    )
    session.rollback()
    raw = _raw_token(session, pbx, ["registry:read", "registry:write", "calls:route"])
    assert_problem(client.get("/api/v1/sites", headers=raw), 403)
    new_site = {"name": "Pier", "slug": "pier", "country": "GB", "timezone": "Europe/London"}
    assert_problem(client.post("/api/v1/sites", json=new_site, headers=raw), 403)


def test_an_integration_account_has_no_sites_or_center(session, estate) -> None:
    with pytest.raises(ValidationFailed) as err:
        create_user(
            session, "pbx", PASSWORD, "integration", sites=[estate["site"].id], center=estate["center"].id
        )
    assert err.value.errors == {
        "sites": "an integration account has no sites",
        "center": "an integration account has no center",
    }


def test_a_token_past_its_expiry_is_refused(session, estate) -> None:
    admin = create_user(session, "boss", PASSWORD, "admin")
    _, secret = create_token(session, admin, "short", ["registry:read"], utcnow() + timedelta(hours=1))
    session.commit()
    assert authenticate_token(session, secret) is not None
    assert check_token(session, secret, utcnow() + timedelta(hours=2)) is None


def test_token_changes_are_logged_without_secret_or_digest(session, estate) -> None:
    admin = create_user(session, "boss", PASSWORD, "admin")
    token, secret = create_token(session, admin, "pbx", ["registry:read"], actor=Actor.system("cli"))
    session.commit()
    row = session.scalars(select(ChangeLog).where(ChangeLog.object_type == "api_token")).one()
    assert (row.action.value, row.object_id, row.actor, row.source) == ("create", token.id, "cli", "cli")
    assert (
        row.after is not None
        and row.after["prefix"] == secret[:10]
        and row.after["scopes"] == ["registry:read"]
    )
    dumped = str(row.before) + str(row.after)
    assert secret not in dumped and token.digest not in dumped
