"""REST API under /api/v1 (flask-openapi3: pydantic models generate the OpenAPI 3.1 document).

Errors are RFC 9457 ``application/problem+json``. May import flask, webcore and registry use cases.
"""

from __future__ import annotations

from typing import Any

from flask_openapi3 import OpenAPI

from registry.api import problems
from registry.api.problems import problem, validation_problem
from registry.api.schemas import ValidationProblem
from registry.api.views import build_blueprint

__all__ = ["SECURITY_SCHEMES", "init_app", "problem", "validation_problem"]

SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "anigate API token (ag_...)"}
}


def init_app(app: OpenAPI) -> None:
    settings = app.extensions["anigate"].settings
    # the schema flask-openapi3 adds for request-validation errors: ours is a problem document
    app.validation_error_model = ValidationProblem
    app.register_api(build_blueprint(settings.api_page_size, settings.api_max_page_size))
    problems.init_app(app)

    @app.get("/api/v1/openapi.json", doc_ui=False)
    def openapi_document() -> Any:
        """The OpenAPI 3.1 document of this API (public: it holds no data)."""
        return app.api_doc
