"""Property-based test of the REST API against its own OpenAPI document (schemathesis).

Every operation is called with generated valid and invalid input on a small seeded estate (with one
alarm), as an administrator with the registry's and the alarms' read and write scopes, and every
response is checked by schemathesis' default checks: no server errors, documented status codes,
content types, headers and response schemas, invalid input rejected, valid input accepted,
authentication not ignored.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from alarms.service import AlarmService
from tests import factories as f
from tests.api_support import READ_WRITE, bearer

CONFIG = {
    "checks": {
        # The document says what is well formed; whether a number exists in its numbering plan, a
        # referenced site exists, a timezone is an IANA name or a slug is free is only known to the
        # registry, which answers such well-formed but unprocessable input with 422 (RFC 9110
        # §15.5.21). Positive (schema-valid) data is therefore accepted with 422 as well.
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "422"],
        },
    },
}


@pytest.fixture
def api_schema(app, session):  # type: ignore[no-untyped-def]
    est = f.estate(session)
    f.site(session, name="Car Park B", slug="car-park-b", country="GB", timezone="Europe/London")
    f.device(session, est["site"].id, ani="+49 30 2390 5601", kind="door_intercom", serial="D-1")
    session.commit()
    call = f.lift_call(est)
    AlarmService().on_calls(session, [call])  # alarm 1: a latched lift alarm to act on
    session.commit()
    headers = bearer(session, "schemathesis", scopes=(*READ_WRITE, "alarms:read", "alarms:write"))
    config = SchemathesisConfig.from_dict(CONFIG | {"headers": headers})
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request) -> None:  # type: ignore[no-untyped-def]
    # schemathesis 4.32's lazy loader reads and rewrites ``node._nodeid``, which pytest 9.2 replaced
    # by a structured id: give it the plain attribute it expects (reporting only, no behaviour).
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_conforms_to_its_openapi_document(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate()
