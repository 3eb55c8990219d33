"""What the JSON API does with hostile bodies: nesting too deep (400), too large (413), and a flood of
unknown keys (a short 422 that lists 20 fields and counts the rest), each as problem+json."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from registry.api.views import COLLECTIONS
from registry.choices import TokenScope
from tests import factories as f
from tests.api_support import READ_WRITE, assert_problem, bearer
from tests.web_support import csrf_token, job_page, login, text_of, user

#: every write endpoint of the API: (method, path)
WRITES = [
    *[("POST", f"/api/v1/{c.path}") for c in COLLECTIONS],
    *[("PATCH", f"/api/v1/{c.path}/1") for c in COLLECTIONS],
    ("POST", "/api/v1/calls/route"),
]
#: the limit the README advertises
MAX_BODY_BYTES = 1024 * 1024
NESTED = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def headers(session) -> dict[str, str]:
    scopes = (*READ_WRITE, TokenScope.CALLS_ROUTE.value)
    return bearer(session, "alice", scopes=scopes) | {"Content-Type": "application/json"}


def send(client: Any, method: str, path: str, body: str | bytes, headers: dict[str, str], **kw: Any) -> Any:
    return client.open(path, method=method, data=body, headers=headers, **kw)


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_deeply_nested_json_is_a_400_problem_on_every_write(client, headers, method, path) -> None:
    for body in (NESTED, '{"name": ' + NESTED + "}", '{"a":' * 100_000 + "1" + "}" * 100_000):
        problem = assert_problem(send(client, method, path, body, headers), 400)
        assert problem["detail"] == "The JSON body is nested too deeply."


def test_nesting_a_parser_can_read_is_an_ordinary_422(client, headers) -> None:
    body = '{"name": ' + "[" * 500 + "]" * 500 + "}"
    problem = assert_problem(send(client, "POST", "/api/v1/sites", body, headers), 422)
    assert problem["errors"]["name"] == "Input should be a valid string"


def test_a_body_over_the_limit_is_a_413_problem(client, headers) -> None:
    """The same 200,000 unknown keys that once gave an 8.9 MB 422 after 2.4 s."""
    body = json.dumps({f"k{i}": 1 for i in range(200_000)})
    assert len(body) > MAX_BODY_BYTES
    for method, path in WRITES:
        started = time.monotonic()
        resp = send(client, method, path, body, headers)
        assert time.monotonic() - started < 1
        problem = assert_problem(resp, 413)
        assert problem["detail"] == "The request body is larger than 1024 KiB."
        assert len(resp.data) < 500


def test_a_chunked_body_without_a_length_is_limited_too(client, headers) -> None:
    body = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    resp = client.post(
        "/api/v1/sites",
        input_stream=io.BytesIO(body),
        headers={**headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn says of a chunked body
    )
    assert_problem(resp, 413)


def test_a_body_just_under_the_limit_is_read(client, headers) -> None:
    body = '{"name": "' + "x" * (MAX_BODY_BYTES - 20) + '"}'
    assert len(body) <= MAX_BODY_BYTES
    problem = assert_problem(send(client, "POST", "/api/v1/sites", body, headers), 422)
    assert problem["errors"]["name"] == "String should have at most 120 characters"


def test_a_422_lists_20_fields_and_counts_the_others(client, headers) -> None:
    body = json.dumps({f"k{i}": 1 for i in range(25)})
    problem = assert_problem(send(client, "POST", "/api/v1/sites", body, headers), 422)
    # pydantic's order: the missing fields first, then the unknown keys as sent
    assert list(problem["errors"]) == ["name", "slug", "country", "timezone", *[f"k{i}" for i in range(16)]]
    assert problem["errors"]["k0"] == "Extra inputs are not permitted"
    assert problem["more_errors"] == 9  # k16..k24
    assert problem["detail"] == "Some fields are invalid: 20 listed, and 9 more errors."


def test_a_few_errors_are_all_listed_without_a_count(client, headers) -> None:
    problem = assert_problem(send(client, "POST", "/api/v1/sites", '{"name": 1, "x": 2}', headers), 422)
    assert problem["detail"] == "Some fields are invalid."
    assert set(problem["errors"]) == {"name", "slug", "country", "timezone", "x"}
    assert "more_errors" not in problem


def test_a_megabyte_of_unknown_keys_gets_a_short_422_fast(client, headers) -> None:
    keys: list[str] = []
    size = 2
    while size + len(f'"k{len(keys)}":1,') < MAX_BODY_BYTES:
        keys.append(f"k{len(keys)}")
        size += len(f'"{keys[-1]}":1,')
    body = "{" + ",".join(f'"{k}":1' for k in keys) + "}"
    assert len(body) <= MAX_BODY_BYTES and len(keys) > 90_000
    for method, path in WRITES:
        started = time.monotonic()
        resp = send(client, method, path, body, headers)
        elapsed = time.monotonic() - started
        problem = assert_problem(resp, 422)
        assert len(problem["errors"]) == 20
        assert problem["more_errors"] > 90_000 - 20
        assert len(resp.data) < 4000, len(resp.data)
        assert elapsed < 2, elapsed


def test_the_csv_upload_keeps_its_own_larger_limit(client, session) -> None:
    """The web upload is not the JSON API: a 2 MB file is read and checked, not refused with 413."""
    f.site(session)
    session.commit()
    user(session, "ada")
    login(client, "ada")
    rows = [f",+49 30 2390 {5000 + i},other,tower-a,{'n' * 9000}" for i in range(240)]
    body = ("id,ani,kind,site,notes\n" + "\n".join(rows) + "\n").encode()
    assert len(body) > 2 * MAX_BODY_BYTES
    # encoded here, in memory: the test client would spool a large form to a file it never closes
    boundary, form = encode_multipart(
        {"csrf_token": csrf_token(client, "/devices/import"), "file": FileStorage(io.BytesIO(body), "d.csv")}
    )
    resp = client.post("/devices/import", data=form, content_type=f"multipart/form-data; boundary={boundary}")
    page = job_page(client, resp)  # stored and checked by a job, not refused
    assert text_of(page, "csv-rows") == "240"
    assert "Nothing was imported" not in page
