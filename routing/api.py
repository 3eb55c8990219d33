"""REST API for call history: ``GET /api/v1/calls`` (filters, newest first) and ``/calls/<id>``.

Same bearer tokens, scopes and problem+json errors as the registry API. May import flask.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from registry.api import auth, problems
from registry.api import schemas as s
from registry.api.views import SECURITY, Spec
from registry.db import MAX_ID
from registry.numbers import InvalidNumber, normalise_ani
from registry.queries import paginate
from routing.queries import call_query, get_call
from webcore.context import db, services

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _instant(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2026-11-26T03:00:00+01:00")
    return dt


#: an ISO 8601 date-time with offset; a bare number is refused (pydantic would read it as epoch)
Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"}), AfterValidator(_instant)]


class Call(BaseModel):
    """An answered call: who called, how the number was learnt, where it was sent and why."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    call_id: str
    received_at: datetime
    source: str
    transport: str
    trunk_id: int | None
    trunk_name: str
    ani: str | None = Field(description="network-asserted number, E.164")
    ani_source: str | None = Field(description="pai-tel, pai-sip, pci, rpid or from")
    presented_number: str | None
    display_name: str | None
    privacy: str
    identity_verified: bool
    attestation: str | None
    dnis: str
    device_id: int | None
    site_id: int | None
    center_id: int | None
    status: int = Field(description="SIP answer, 302 for a redirect")
    targets: list[str] = Field(description="Contact URIs in the order offered")
    reason: str = Field(description="why each target was chosen")
    anomalies: list[dict[str, Any]]
    latency_us: int = Field(description="receive to journaled answer, microseconds")


class CallPath(BaseModel):
    id: Id


@cache
def call_filter(page_size: int, max_page_size: int) -> type[BaseModel]:
    return create_model(
        "CallFilter",
        __base__=s.list_query(page_size, max_page_size),
        device=(Id | None, Field(None, description="device id")),
        site=(Id | None, Field(None, description="site id")),
        center=(Id | None, Field(None, description="security center id")),
        ani=(str | None, Field(None, max_length=200, description="calling number, any written form")),
        since=(Instant | None, Field(None, description="received at or after (ISO 8601 with offset)")),
        until=(Instant | None, Field(None, description="received before (ISO 8601 with offset)")),
    )


@cache
def build_blueprint(page_size: int, max_page_size: int) -> APIBlueprint:
    bp = APIBlueprint("calls_api", __name__, url_prefix="/api/v1", doc_ui=True)
    auth.init_blueprint(bp)
    problems.register(bp)
    spec = Spec(bp)
    tags = [Tag(name="calls", description="Call history")]
    query_model = call_filter(page_size, max_page_size)

    def list_calls(query: Any) -> Response:
        ani = None
        if query.ani:
            try:
                ani = normalise_ani(query.ani, services().settings.default_region)
            except InvalidNumber:
                ani = "-"  # matches nothing
        stmt = call_query(
            auth.current_actor(),
            device=query.device,
            site=query.site,
            center=query.center,
            ani=ani,
            since=query.since,
            until=query.until,
        )
        page = paginate(db(), stmt, query.page, query.per_page)
        return jsonify(
            items=[Call.model_validate(c).model_dump(mode="json") for c in page.items],
            total=page.total,
            page=page.page,
            per_page=page.per_page,
        )

    list_calls.__annotations__ = {"query": query_model, "return": Response}
    bp.get(
        "/calls",
        summary="List calls",
        operation_id="list_calls",
        tags=tags,
        security=SECURITY,
        responses={200: spec.json(s.page_model(Call), "Calls, newest first"), **spec.errors(401, 403, 422)},
    )(list_calls)

    def call_detail(path: CallPath) -> Response:
        return jsonify(
            Call.model_validate(get_call(db(), auth.current_actor(), path.id)).model_dump(mode="json")
        )

    bp.get(
        "/calls/<int:id>",
        summary="Get a call",
        operation_id="get_call",
        tags=tags,
        security=SECURITY,
        responses={200: spec.json(Call, "The call"), **spec.errors(401, 403, 404, 422)},
    )(call_detail)
    return bp
