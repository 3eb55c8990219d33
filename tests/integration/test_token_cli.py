"""``flask --app app tokens create|list|revoke``: expiry, revocation by id or prefix, role rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from registry.accounts import authenticate_token, create_user
from registry.db import utcnow
from registry.models import ApiToken, ChangeLog
from tests import factories as f

PASSWORD = "correct horse battery"


def _create(runner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["tokens", "create", *args])


def test_tokens_expire_list_and_revoke_from_the_cli(runner, session) -> None:
    create_user(session, "boss", PASSWORD, "admin")
    session.commit()
    month = _create(runner, "boss", "--name", "month", "--expires", "30d")
    dated = _create(runner, "boss", "--name", "dated", "--expires", "2099-01-01", "--scope", "calls:route")
    forever = _create(runner, "boss", "--name", "forever")
    assert [r.exit_code for r in (month, dated, forever)] == [0, 0, 0], month.output + dated.output
    tokens = {t.name: t for t in session.scalars(select(ApiToken))}
    assert abs(tokens["month"].expires_at - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    assert tokens["dated"].expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert tokens["forever"].expires_at is None

    listing = runner.invoke(args=["tokens", "list", "boss"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert lines[0] == "id\tuser\tname\tprefix\tscopes\tcreated\tlast_used\texpires\tstate"
    rows = {line.split("\t")[2]: line.split("\t") for line in lines[1:]}
    assert rows["dated"][3:5] == [tokens["dated"].prefix, "calls:route"]
    assert rows["dated"][7:] == ["2099-01-01T00:00Z", "active"]
    assert rows["forever"][6:] == ["-", "never", "active"]
    secret = month.output.strip()
    assert secret not in listing.output and tokens["month"].digest not in listing.output

    by_prefix = runner.invoke(args=["tokens", "revoke", tokens["month"].prefix])
    assert by_prefix.exit_code == 0, by_prefix.output
    assert by_prefix.output.startswith(f"revoked token {tokens['month'].id} month")
    session.expire_all()
    assert authenticate_token(session, secret) is None  # refused at once
    by_id = runner.invoke(args=["tokens", "revoke", str(tokens["forever"].id)])
    session.expire_all()
    assert by_id.exit_code == 0 and authenticate_token(session, forever.output.strip()) is None
    assert "\trevoked" in runner.invoke(args=["tokens", "list"]).output
    logged = session.scalars(
        select(ChangeLog).where(ChangeLog.object_type == "api_token").order_by(ChangeLog.id)
    ).all()
    assert [(c.action.value, c.source) for c in logged] == [("create", "cli")] * 3 + [("update", "cli")] * 2
    assert logged[-1].after is not None and logged[-1].after["revoked_at"] is not None

    unknown = runner.invoke(args=["tokens", "revoke", "ag_nothing"])
    assert unknown.exit_code == 1 and "error: api token ag_nothing not found" in unknown.output


def test_bad_expiry_and_a_route_token_for_a_facility_manager_are_refused(runner, session) -> None:
    site = f.site(session)
    create_user(session, "fay", PASSWORD, "facility_manager", sites=[site.id])
    session.commit()
    for expires, message in [
        ("soon", "error: expires: 'soon' is neither a duration (12h, 30d, 2w) nor a date (2027-01-01)"),
        ("2020-01-01", "error: expires: the expiry is in the past"),
    ]:
        result = _create(runner, "fay", "--expires", expires)
        assert result.exit_code == 1 and message in result.output, result.output
    route = _create(runner, "fay", "--scope", "calls:route")
    assert route.exit_code == 1
    assert "error: scopes: 'calls:route' is for PBX integration accounts" in route.output
    assert "fay is facility manager" in route.output
    assert session.scalars(select(ApiToken)).all() == []
