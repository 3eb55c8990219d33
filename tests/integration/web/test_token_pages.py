"""The API token pages: everyone manages their own tokens (admins everyone's), the secret is shown
once, revocation is a CSRF-checked POST, and an integration account sees no other page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from registry.models import ApiToken, ChangeLog, User, WebSession
from tests import factories as f
from tests.web_support import login, post_form, text_of, user

NEW_PASSWORD = "a brand new passphrase"
_SECRET = re.compile(r'<code id="token-secret">(ag_[A-Za-z0-9_-]+)</code>')


def html(resp: Any) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def estate(session) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    est = f.estate(session)
    site_b = f.site(session, name="Wharf", slug="wharf", country="GB", timezone="Europe/London")
    session.commit()
    return est | {"site_b": site_b}


def _new_token(client: Any, **form: Any) -> Any:
    return post_form(
        client, "/tokens/new", {"name": "script", "scopes": ["registry:read"], **form}, "/tokens/"
    )


def _secret(resp: Any) -> str:
    match = _SECRET.search(html(resp))
    assert match, html(resp)
    return match.group(1)


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_a_facility_manager_creates_a_token_sees_it_once_and_revokes_it(client, session, estate) -> None:
    user(session, "fay", "facility_manager", sites=[estate["site"].id])
    login(client, "fay")
    page = html(client.get("/tokens/"))
    assert 'id="nav-tokens"' in page and "No tokens yet." in page
    assert 'value="registry:read"' in page and 'value="calls:route"' not in page  # not offered

    created = _new_token(client, name="nightly export", expires="30d")
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    secret = _secret(created)
    assert client.get("/api/v1/sites", headers=_bearer(secret)).status_code == 200

    listing = html(client.get("/tokens/"))
    token = session.scalars(select(ApiToken)).one()
    row = text_of(listing, f"token-{token.id}") or ""
    assert row.startswith(f"nightly export {token.prefix}… registry:read")
    assert "active" in row and secret not in listing  # the prefix only, never the secret again

    assert client.post(f"/tokens/{token.id}/revoke").status_code == 400  # no CSRF token
    revoked = post_form(client, f"/tokens/{token.id}/revoke", {}, "/tokens/")
    assert revoked.status_code == 302
    assert client.get("/api/v1/sites", headers=_bearer(secret)).status_code == 401
    listing = html(client.get("/tokens/"))
    assert "revoked" in (text_of(listing, f"token-{token.id}") or "")
    assert f'id="revoke-{token.id}"' not in listing
    history = text_of(listing, "history") or ""
    assert "fay web Created" in history and "fay web Updated" in history
    for change in session.scalars(select(ChangeLog).where(ChangeLog.object_type == "api_token")):
        assert secret not in str(change.after) and token.digest not in str(change.after)


def test_a_route_token_for_a_facility_manager_is_refused_on_the_page(client, session, estate) -> None:
    user(session, "fay", "facility_manager", sites=[estate["site"].id])
    login(client, "fay")
    resp = _new_token(client, scopes=["registry:read", "calls:route"])
    assert resp.status_code == 422
    assert (text_of(html(resp), "error-scopes") or "").startswith(
        "'calls:route' is for PBX integration accounts made by an administrator"
    )
    bad_expiry = _new_token(client, expires="yesterday")
    assert bad_expiry.status_code == 422 and "is neither a duration" in (
        text_of(html(bad_expiry), "error-expires") or ""
    )
    assert session.scalars(select(ApiToken)).all() == []


def test_admins_see_everyones_tokens_others_only_their_own(app, client, session, estate) -> None:
    user(session, "root")
    user(session, "fay", "facility_manager", sites=[estate["site"].id])
    user(session, "gus", "facility_manager", sites=[estate["site_b"].id])
    fay, gus = app.test_client(), app.test_client()
    login(fay, "fay")
    login(gus, "gus")
    _new_token(fay, name="fay's")
    fays = session.scalars(select(ApiToken)).one()
    gus_page = html(gus.get("/tokens/"))
    assert "fay&#39;s" not in gus_page and fays.prefix not in gus_page
    assert post_form(gus, f"/tokens/{fays.id}/revoke", {}, "/tokens/").status_code == 404

    login(client, "root")
    everyone = html(client.get("/tokens/"))
    assert fays.prefix in everyone and "fay&#39;s" in everyone
    fay_id = session.scalars(select(User.id).where(User.username == "fay")).one()
    only_fay = html(client.get(f"/tokens/?user={fay_id}"))
    assert "API tokens of fay" in only_fay
    # an admin makes a token for another account (the PBX's, typically) and revokes anyone's
    made = _new_token(client, user=str(fay_id), name="for fay")
    assert made.status_code == 200 and "<dt>Owner</dt><dd>fay</dd>" in html(made)
    assert session.scalars(select(ApiToken).where(ApiToken.name == "for fay")).one().user_id == fay_id
    revoked = post_form(client, f"/tokens/{fays.id}/revoke?user={fay_id}", {}, "/tokens/")
    assert revoked.headers["Location"] == f"/tokens/?user={fay_id}"
    session.expire_all()
    assert session.get(ApiToken, fays.id).revoked_at is not None
    # and the user detail page links to the user's tokens
    assert f'href="/tokens/?user={fay_id}"' in html(client.get(f"/users/{fay_id}/"))


def test_an_integration_account_sees_only_its_tokens_and_gets_route_tokens(
    app, client, session, estate
) -> None:
    user(session, "root")
    login(client, "root")
    made = post_form(
        client,
        "/users/new",
        {
            "username": "pbx",
            "role": "integration",
            "password": NEW_PASSWORD,
            "password_repeat": NEW_PASSWORD,
            "center": "",
        },
    )
    assert made.status_code == 302, html(made)
    pbx = app.test_client()
    landed = login(pbx, "pbx", NEW_PASSWORD)
    assert pbx.get(landed.headers["Location"]).headers["Location"] == "/tokens/"
    page = html(pbx.get("/tokens/"))
    assert 'class="mainnav' not in page  # no registry nav
    assert 'value="calls:route"' in page and 'value="registry:read"' not in page
    for path in ("/devices/", "/sites/", "/users/", f"/devices/{estate['device'].id}/", "/sites/new"):
        assert pbx.get(path).status_code == 403, path
    refused = _new_token(pbx, scopes=["registry:read"])
    assert refused.status_code == 422
    assert text_of(html(refused), "error-scopes") == (
        "an integration account's tokens carry only 'calls:route', not 'registry:read'"
    )
    secret = _secret(_new_token(pbx, name="asterisk", scopes=["calls:route"]))
    body = {"trunk": "loopback", "ani": estate["device"].ani, "dnis": "112"}
    assert pbx.post("/api/v1/calls/route", json=body, headers=_bearer(secret)).status_code == 200


@pytest.mark.parametrize("change", ["password", "deactivate"])
def test_a_password_reset_or_deactivation_ends_tokens_and_sessions(
    app, client, session, estate, change
) -> None:
    user(session, "root")
    fay = user(session, "fay", "facility_manager", sites=[estate["site"].id])
    fay_client = app.test_client()
    login(fay_client, "fay")
    secret = _secret(_new_token(fay_client))
    login(client, "root")
    form = {"role": "facility_manager", "sites": [str(estate["site"].id)], "center": ""}
    if change == "password":
        form |= {"is_active": "y", "new_password": NEW_PASSWORD, "new_password_repeat": NEW_PASSWORD}
    assert post_form(client, f"/users/{fay.id}/edit", form).status_code == 302
    assert client.get("/api/v1/sites", headers=_bearer(secret)).status_code == 401
    assert fay_client.get("/devices/").status_code == 302
    session.expire_all()
    assert all(
        s.revoked_at is not None
        for s in session.scalars(select(WebSession).where(WebSession.user_id == fay.id))
    )
    token = session.scalars(select(ApiToken)).one()
    assert token.revoked_at is not None
    logged = session.scalars(
        select(ChangeLog).where(ChangeLog.object_type == "api_token", ChangeLog.action == "update")
    ).one()
    assert logged.actor == "root" and logged.after is not None and logged.after["revoked_at"]


def test_revoking_needs_the_csrf_token_and_an_existing_token(client, session, estate) -> None:
    user(session, "root")
    login(client, "root")
    assert post_form(client, "/tokens/999999/revoke", {}, "/tokens/").status_code == 404
    assert post_form(client, f"/tokens/{2**40}/revoke", {}, "/tokens/").status_code == 404
    assert client.post("/tokens/new", data={"name": "x", "scopes": ["registry:read"]}).status_code == 400
    assert session.scalars(select(ApiToken)).all() == []
