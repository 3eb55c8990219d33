"""REST API for call history: ``GET /api/v1/calls`` (filters, newest first) and ``/calls/<id>``.

Same bearer tokens, scopes and problem+json errors as the registry API. May import flask.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from functools import cache
from typing import Annotated, Any

from flask import Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from registry.api import auth, problems
from registry.api import schemas as s
from registry.api.views import SECURITY, Spec
from registry.choices import TokenScope
from registry.db import MAX_ID
from registry.errors import ValidationFailed
from registry.numbers import InvalidNumber, normalise_ani
from registry.queries import paginate
from routing.queries import CallTableHistory, call_query, get_call
from routing.recorder import adopt_calls
from routing.redirect import call_record, route_request, trunk_view
from routing.service import fresh_snapshot, record_call
from routing.snapshot import SnapshotHolder, SnapshotOptions
from sip.message import Request, SipError, parse_message
from sip.responses import format_q
from webcore.context import commit, db, services

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
    priority: str = Field(description="emergency, urgent, normal or non-urgent (RFC 3261 Priority)")
    line: str = Field(description="kind of the dialled line (emergency, intercom, test; '' without a rule)")
    language: str | None
    test_call: bool = Field(description="an EN 81-28 periodic test call")
    targets: list[str] = Field(description="Contact URIs in the order offered")
    reason: str = Field(description="why each target was chosen")
    anomalies: list[dict[str, Any]]
    latency_us: int = Field(description="receive to journaled answer, microseconds")


class CallPath(BaseModel):
    id: Id


_NO_CRLF = r"^[^\r\n\x00]*$"


class RouteRequest(BaseModel):
    """A call to route, as a PBX or contact-center platform sees it. Give the trunk it came on
    (``trunk`` name or id, or ``source_ip``) and either the SIP headers as received or the numbers."""

    model_config = ConfigDict(extra="forbid")

    trunk: Annotated[str, Field(min_length=1, max_length=120, pattern=_NO_CRLF)] | None = None
    source_ip: Annotated[str, Field(max_length=64, pattern=_NO_CRLF)] | None = None
    ani: Annotated[str, Field(max_length=200, pattern=_NO_CRLF)] | None = Field(
        None, description="network-asserted number, any written form (sent as P-Asserted-Identity)"
    )
    caller_id: Annotated[str, Field(max_length=200, pattern=_NO_CRLF)] | None = Field(
        None, description="presented number (From user part)"
    )
    display_name: Annotated[str, Field(max_length=120, pattern=r'^[^\r\n\x00"\\]*$')] | None = None
    dnis: Annotated[str, Field(max_length=64, pattern=r"^[0-9A-Za-z+*#._-]*$")] | None = Field(
        None, description="dialled number"
    )
    call_id: Annotated[str, Field(max_length=200, pattern=r"^[!-~]+$")] | None = None
    sip_headers: dict[
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9!%*_+`'~.-]+$")],
        Annotated[str, Field(max_length=2000, pattern=_NO_CRLF)],
    ] = Field(
        default_factory=dict,
        description="SIP headers as received (P-Asserted-Identity, "
        "P-Charge-Info, Remote-Party-ID, Privacy, Identity, Diversion, From ...)",
    )


class RouteTarget(BaseModel):
    center_id: int | None = Field(description="None: a maintenance contact or the test receiver")
    center: str
    uri: str
    q: float


class RouteDecision(BaseModel):
    """The same decision the SIP redirect makes, as JSON."""

    status: int = Field(
        description="302 when there are targets, 480 when no center (or test receiver) is reachable, "
        "603 for a blocklisted caller on an intercom line"
    )
    contact: str = Field(description="the Contact header the SIP redirect sends")
    targets: list[RouteTarget]
    priority: str
    line: str
    test_call: bool
    language: str | None
    device_id: int | None
    site_id: int | None
    ani: str | None
    ani_source: str | None
    identity_verified: bool
    anomalies: list[dict[str, Any]]
    reason: str
    call: int = Field(description="id of the call record (GET /api/v1/calls/<id>)")


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
    auth.init_blueprint(bp, write_scope=TokenScope.CALLS_ROUTE)
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
        "/calls/<id:id>",
        summary="Get a call",
        operation_id="get_call",
        tags=tags,
        security=SECURITY,
        responses={200: spec.json(Call, "The call"), **spec.errors(401, 403, 404, 422)},
    )(call_detail)

    def route_call(body: RouteRequest) -> Response:
        return _route(body)

    bp.post(
        "/calls/route",
        summary="Route a call",
        operation_id="route_call",
        tags=tags,
        security=SECURITY,
        description="Decides like the SIP redirect (same identity rules for "
        "the trunk, same routing) and records the call.",
        responses={200: spec.json(RouteDecision, "The decision"), **spec.errors(400, 401, 403, 415, 422)},
    )(route_call)
    return bp


def _route(body: RouteRequest) -> Response:
    settings = services().settings
    app_ext = current_app.extensions
    holder = app_ext.setdefault("anigate_snapshot", SnapshotHolder())
    session = db()
    fresh_snapshot(session, holder, SnapshotOptions.from_settings(settings))
    snap = holder.current
    trunk = None
    if body.trunk:
        trunk = next(
            (t for t in snap.trunks.values() if t.name == body.trunk or str(t.id) == body.trunk), None
        )
        if trunk is None:
            raise ValidationFailed({"trunk": f"no trunk {body.trunk!r}"})
    elif body.source_ip:
        trunk = snap.trunk_for(body.source_ip)
        if trunk is None:
            raise ValidationFailed({"source_ip": f"{body.source_ip} belongs to no trunk"})
    else:
        raise ValidationFailed({"trunk": "give the trunk (name or id) or the source_ip"})
    try:
        req = _synthetic_invite(body)
    except SipError as exc:
        raise ValidationFailed({"sip_headers": exc.reason}) from exc
    now = time.time()
    who, decision = route_request(snap, req, trunk, trunk_view(trunk), now, history=CallTableHistory(session))
    record = call_record(
        uuid.uuid4().hex, req, now, f"http:{request.remote_addr or ''}"[:64], "HTTP", trunk, who, decision
    )
    record["latency_us"] = 0
    call_id = record_call(session, record, services().call_observers)
    if decision.adopt_site_id is not None:
        adopt_calls(session, [record], settings.max_pending_devices)
    commit()
    contacts = decision.contacts()
    return jsonify(
        RouteDecision(
            status=decision.status,
            contact=", ".join(f"<{uri}>;q={format_q(q)}" for uri, q in contacts),
            targets=[
                RouteTarget(center_id=t.center_id, center=t.center_name, uri=t.uri, q=q)
                for t, (_uri, q) in zip(decision.targets, contacts, strict=True)
            ],
            priority=decision.priority.value,
            line=record["line"],
            test_call=decision.test_call,
            language=decision.language,
            device_id=record["device_id"],
            site_id=record["site_id"],
            ani=who.ani,
            ani_source=who.ani_source,
            identity_verified=who.verified_identity,
            anomalies=record["anomalies"],
            reason=decision.reason,
            call=call_id,
        ).model_dump(mode="json")
    )


def _synthetic_invite(body: RouteRequest) -> Request:
    """The call as an INVITE, so that the SIP identity rules read it exactly as on the wire."""
    headers = {k.lower(): (k, v) for k, v in body.sip_headers.items()}
    dnis = body.dnis or "anigate"
    lines = [
        f"INVITE sip:{dnis}@route.invalid SIP/2.0",
        f"Via: SIP/2.0/TCP route.invalid;branch=z9hG4bK{uuid.uuid4().hex}",
    ]
    if "from" not in headers and "f" not in headers:
        user = body.caller_id or "anonymous"
        host = "route.invalid" if body.caller_id else "anonymous.invalid"
        name = f'"{body.display_name}" ' if body.display_name else ""
        lines.append(f"From: {name}<sip:{user.replace(' ', '')}@{host}>;tag=route")
    lines += [
        f"To: <sip:{dnis}@route.invalid>",
        f"Call-ID: {body.call_id or uuid.uuid4().hex}",
        "CSeq: 1 INVITE",
        "Max-Forwards: 70",
    ]
    if body.ani and "p-asserted-identity" not in headers:
        lines.append(f"P-Asserted-Identity: <sip:{body.ani.replace(' ', '')}@route.invalid;user=phone>")
    for skip in ("via", "v", "to", "t", "call-id", "i", "cseq", "content-length", "l", "max-forwards"):
        headers.pop(skip, None)
    lines += [f"{name}: {value}" for name, value in headers.values()]
    msg = parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())
    if not isinstance(msg, Request):  # pragma: no cover - the start line above is a request
        raise SipError(400, "not a request")
    return msg
