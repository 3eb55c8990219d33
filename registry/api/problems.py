"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

Translates registry errors (ValidationFailed, Conflict, NotFound, Forbidden), pydantic validation
errors and Flask's HTTP errors under ``/api/``. May import flask, SQLAlchemy's exceptions and registry errors.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from flask import Blueprint, Flask, Response, json, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from registry.errors import Conflict, Forbidden, NotFound, ValidationFailed

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
API_PREFIX = "/api/"
#: RFC 6750 §3: the challenge a client without a usable token gets
BEARER_REALM = 'Bearer realm="anigate"'

#: fields a 422 lists at most; the rest are counted in ``more_errors``
MAX_FIELD_ERRORS = 20
_BETWEEN_ITEMS = re.compile(r"[\s,]*")

# pydantic names the member of a union that failed ("constrained-int", "function-after[...]");
# a client needs the field path only.
_UNION_TAG = re.compile(r"^(constrained-)?(int|str|float|bool|none|list|dict)$|^[a-z-]+\[.*\]$")


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(status: int, title: str = "", detail: str = "", **extra: Any) -> Response:
    """A problem response; with ``type`` about:blank the title is the status phrase (RFC 9457 §4.2.1)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title or phrase(status), "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


def _field_path(loc: tuple[Any, ...]) -> str:
    loc = loc[1:] if loc[:1] == ("body",) else loc
    # a union tag always follows the field it belongs to, so the first part is kept as sent
    parts = [str(p) for i, p in enumerate(loc) if not (i and isinstance(p, str) and _UNION_TAG.match(p))]
    return ".".join(parts) or "body"


def _pydantic_errors(e: Any) -> Iterator[dict[str, Any]]:
    """pydantic's errors one at a time, decoded from its JSON report (built in Rust) as they are read.

    A body of 100,000 unknown keys has 100,000 errors; ``e.errors()`` would build a dict for each
    before the first 20 are picked.
    """
    text = e.json(include_url=False, include_input=False, include_context=False)
    decoder = jsonlib.JSONDecoder()
    pos = _BETWEEN_ITEMS.match(text, 1).end()  # type: ignore[union-attr]  (the pattern matches "")
    while pos < len(text) and text[pos] != "]":
        err, pos = decoder.raw_decode(text, pos)
        pos = _BETWEEN_ITEMS.match(text, pos).end()  # type: ignore[union-attr]
        yield err


def validation_problem(e: Any) -> Response:
    """pydantic's ValidationError as a 422 problem with one message per field, for at most
    :data:`MAX_FIELD_ERRORS` fields; ``more_errors`` counts the errors left out."""
    found: dict[str, list[dict[str, Any]]] = {}
    listed = 0
    for err in _pydantic_errors(e):
        field = _field_path(tuple(err.get("loc", ())))
        if field not in found and len(found) == MAX_FIELD_ERRORS:
            break
        found.setdefault(field, []).append(err)
        listed += 1
    errors = {}
    for field, errs in found.items():
        # of a union's failures, "wrong type" of the members the value was not meant for tells least
        best = next((x for x in errs if not x["type"].endswith("_type")), errs[0])
        errors[field] = "a JSON object is required" if best["type"] == "model_type" else best["msg"]
    more = e.error_count() - listed
    if not more:
        return problem(422, detail="Some fields are invalid.", errors=errors)
    detail = f"Some fields are invalid: {len(errors)} listed, and {more} more errors."
    return problem(422, detail=detail, errors=errors, more_errors=more)


def unauthorized(detail: str, *, invalid_token: bool = False) -> Response:
    resp = problem(401, detail=detail)
    challenge = BEARER_REALM
    if invalid_token:
        challenge += f', error="invalid_token", error_description="{detail}"'
    resp.headers["WWW-Authenticate"] = challenge
    return resp


def insufficient_scope(detail: str, scope: str) -> Response:
    resp = problem(403, detail=detail)
    resp.headers["WWW-Authenticate"] = f'{BEARER_REALM}, error="insufficient_scope", scope="{scope}"'
    return resp


def registry_problem(e: Exception) -> Response:
    """A registry use-case error as a problem response."""
    if isinstance(e, ValidationFailed):
        return problem(422, detail="Some fields are invalid.", errors=e.errors)
    if isinstance(e, Conflict):
        extra: dict[str, Any] = {}
        if e.field:
            extra["field"] = e.field
        if e.existing_id is not None:
            extra["existing_id"] = e.existing_id
            if e.field in ("ani", "test_ani"):
                extra["existing"] = url_for("api.device_detail", id=e.existing_id)
        return problem(409, detail=e.message, **extra)
    if isinstance(e, NotFound):
        return problem(404, detail=str(e))
    if isinstance(e, Forbidden):
        return problem(403, detail=str(e))
    raise e  # pragma: no cover - only registered for the classes above


def register(bp: Blueprint) -> None:
    """Registry errors raised by the blueprint's views become problems."""
    for cls in (ValidationFailed, Conflict, NotFound, Forbidden):
        bp.register_error_handler(cls, registry_problem)

    @bp.errorhandler(IntegrityError)
    def _integrity_problem(e: IntegrityError) -> Response:
        # a concurrent change won the race between the use case's checks and the flush
        log.warning("integrity error on %s %s: %s", request.method, request.path, e.orig)
        return problem(409, detail="The change conflicts with the current state of the registry; retry.")


def http_problem(e: HTTPException) -> Any:
    """An HTTP error under /api/ as a problem; on other paths Flask's own page (``e`` unchanged).

    Public so that an app-wide handler for one status code (the web app's 403/404 pages, which
    Flask prefers over this class handler) can hand API paths back here.
    """
    if not request.path.startswith(API_PREFIX) or e.code is None:
        return e
    # Flask has already logged an unhandled exception; its text stays out of the response
    detail = "The server could not complete the request." if e.code >= 500 else e.description or ""
    resp = problem(e.code, detail=detail)
    for name, value in e.get_headers():
        if name.lower() != "content-type":
            resp.headers[name] = value  # Allow on 405, WWW-Authenticate on 401, ...
    return resp


def init_app(app: Flask) -> None:
    """HTTP errors under /api/ (404, 405, 400, 500...) become problems; other paths keep Flask's pages."""
    app.register_error_handler(HTTPException, http_problem)
