"""REST API under /api/v1 (flask-openapi3: pydantic models generate the OpenAPI 3.1 document).

Errors are RFC 9457 ``application/problem+json``. May import flask, webcore and registry use cases.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, json

SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "anigate API token (ag_...)"}
}


def problem(status: int, title: str, detail: str = "", **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def validation_problem(e: Any) -> Response:
    """pydantic's ValidationError as a 422 problem with one message per field."""
    errors = {}
    for err in e.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        errors.setdefault(loc, err.get("msg", "invalid"))
    return problem(422, "Invalid input", "Some fields are invalid.", errors=errors)


def init_app(app: Flask) -> None:
    @app.get("/api/v1/openapi.json")
    def openapi_document() -> Any:
        return app.api_doc  # type: ignore[attr-defined]
