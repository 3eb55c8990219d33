"""REST endpoints under /api/v1: list, get, create, update, delete for every registry resource.

Each view authenticates (``auth``), calls one registry use case or query with the request session,
commits when it succeeded and serialises with ``schemas``. No ``session.add``, no SQL here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from flask import Response, jsonify, url_for
from flask_openapi3 import APIBlueprint, Tag
from flask_openapi3.models import OPENAPI3_REF_TEMPLATE, Schema
from pydantic import BaseModel
from sqlalchemy import Select

from registry import models
from registry.actors import Actor
from registry.api import auth, problems
from registry.api import schemas as s
from registry.queries import device_by_ani, device_query, paginate, visible
from registry.services import RESOURCES, create_object, delete_object, get_object, update_object
from webcore.context import commit, db, services

SECURITY = [{"bearerAuth": []}]


@dataclass(frozen=True)
class Collection:
    """One registry resource as the API shows it."""

    object_type: str  # key of registry.services.RESOURCES; "device"
    path: str  # URL segment, plural; "devices"
    model: type[models.Base]
    out: type[BaseModel]
    create: type[BaseModel]
    update: type[BaseModel]


COLLECTIONS = (
    Collection("center", "centers", models.SecurityCenter, s.Center, s.CenterCreate, s.CenterUpdate),
    Collection("schedule", "schedules", models.Schedule, s.Schedule, s.ScheduleCreate, s.ScheduleUpdate),
    Collection("site", "sites", models.Site, s.Site, s.SiteCreate, s.SiteUpdate),
    Collection("location", "locations", models.Location, s.Location, s.LocationCreate, s.LocationUpdate),
    Collection("trunk", "trunks", models.Trunk, s.Trunk, s.TrunkCreate, s.TrunkUpdate),
    Collection("device", "devices", models.Device, s.Device, s.DeviceCreate, s.DeviceUpdate),
    Collection("dnis_rule", "dnis-rules", models.DnisRule, s.DnisRule, s.DnisRuleCreate, s.DnisRuleUpdate),
    Collection(
        "number_list_entry",
        "number-lists",
        models.NumberListEntry,
        s.NumberListEntry,
        s.NumberListEntryCreate,
        s.NumberListEntryUpdate,
    ),
    Collection(
        "flood_rule", "flood-rules", models.FloodRule, s.FloodRule, s.FloodRuleCreate, s.FloodRuleUpdate
    ),
)


# --- OpenAPI response objects ----------------------------------------------------------------------


class Spec:
    """Builds response objects and keeps the component schemas they reference."""

    def __init__(self, bp: APIBlueprint):
        self.components: dict[str, Any] = bp.components_schemas

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template=OPENAPI3_REF_TEMPLATE, mode="serialization")
        for name, definition in schema.pop("$defs", {}).items():
            self.components[name] = Schema(**definition)
        self.components[model.__name__] = Schema(**schema)
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def json(self, model: type[BaseModel], description: str, **extra: Any) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"application/json": {"schema": self.ref(model)}},
            **extra,
        }

    def problem(self, description: str, model: type[s.Problem] = s.Problem, **extra: Any) -> dict[str, Any]:
        content = {problems.PROBLEM_JSON: {"schema": self.ref(model)}}
        return {"description": description, "content": content, **extra}

    def errors(self, *codes: int) -> dict[int, dict[str, Any]]:
        known = {
            400: self.problem("The body is not valid JSON, or is nested too deeply"),
            401: self.problem(
                "No token, or an unknown, revoked or expired one",
                headers={
                    "WWW-Authenticate": {
                        "description": "Bearer challenge (RFC 6750)",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                },
            ),
            403: self.problem("The token lacks the scope, or the role may not do this"),
            404: self.problem("No such object, or one outside the caller's sites"),
            409: self.problem(
                "Conflicts with an existing object (duplicate ANI, still in use)", s.ConflictProblem
            ),
            413: self.problem("The body is larger than 1 MiB"),
            415: self.problem("The body is not `application/json`"),
            422: self.problem("Invalid input; `errors` names each field", s.ValidationProblem),
        }
        return {code: known[code] for code in codes}


# --- the views -------------------------------------------------------------------------------------


def _actor() -> Actor:
    return auth.current_actor()


def _region() -> str:
    return services().settings.default_region


def _dump(model: type[BaseModel], obj: Any) -> dict[str, Any]:
    return model.model_validate(obj).model_dump(mode="json")


def _page(out: type[BaseModel], stmt: Select[Any], page: int, per_page: int) -> Response:
    result = paginate(db(), stmt, page, per_page)
    return jsonify(
        items=[_dump(out, obj) for obj in result.items],
        total=result.total,
        page=result.page,
        per_page=result.per_page,
    )


def _with_annotations(func: Callable[..., Any], name: str, **annotations: Any) -> Callable[..., Any]:
    """flask-openapi3 reads a view's ``path``/``query``/``body`` models from its annotations."""
    func.__name__ = func.__qualname__ = name
    func.__annotations__ = {**annotations, "return": Response}
    return func


def _register_collection(bp: APIBlueprint, spec: Spec, c: Collection, list_query: type[BaseModel]) -> None:
    tags = [Tag(name=c.path, description=(c.model.__doc__ or "").strip().splitlines()[0])]
    detail = f"/{c.path}/<id:id>"
    page_model = s.page_model(c.out)
    common: dict[str, Any] = {"tags": tags, "security": SECURITY}
    noun, plural = c.object_type.replace("_", " "), RESOURCES[c.object_type].plural

    if c.object_type == "device":

        def select(actor: Actor, query: Any) -> Select[Any]:
            return device_query(
                actor,
                site=query.site,
                kind=query.kind,
                trunk=query.trunk,
                status=query.status,
                location=query.location,
                q=query.q,
            )

    else:

        def select(actor: Actor, query: Any) -> Select[Any]:
            return visible(actor, c.model).order_by(c.model.id)  # type: ignore[attr-defined]

    def list_view(query: Any) -> Response:
        return _page(c.out, select(_actor(), query), query.page, query.per_page)

    def detail_view(path: Any) -> Response:
        return jsonify(_dump(c.out, get_object(db(), _actor(), c.object_type, path.id)))

    def create_view(body: Any) -> Response:
        session = db()
        data = body.model_dump(exclude_unset=True)
        obj = create_object(session, _actor(), c.object_type, data, default_region=_region())
        commit()
        resp = jsonify(_dump(c.out, obj))
        resp.status_code = 201
        resp.headers["Location"] = url_for(f"api.{c.object_type}_detail", id=obj.id)
        return resp

    def update_view(path: Any, body: Any) -> Response:
        session = db()
        data = body.model_dump(exclude_unset=True)
        obj = update_object(session, _actor(), c.object_type, path.id, data, default_region=_region())
        commit()
        return jsonify(_dump(c.out, obj))

    def delete_view(path: Any) -> Response:
        session = db()
        delete_object(session, _actor(), c.object_type, path.id)
        commit()
        return Response(status=204)

    bp.get(
        f"/{c.path}",
        summary=f"List {plural}",
        description=f"The {plural} the caller may see, in id order, one page at a time.",
        operation_id=f"list_{c.path.replace('-', '_')}",
        endpoint=f"{c.object_type}_list",
        responses={200: spec.json(page_model, f"A page of {plural}"), **spec.errors(401, 403, 422)},
        **common,
    )(_with_annotations(list_view, f"{c.object_type}_list", query=list_query))
    bp.get(
        detail,
        summary=f"Get a {noun}",
        operation_id=f"get_{c.object_type}",
        endpoint=f"{c.object_type}_detail",
        responses={200: spec.json(c.out, f"The {noun}"), **spec.errors(401, 403, 404, 422)},
        **common,
    )(_with_annotations(detail_view, f"{c.object_type}_detail", path=s.ObjectPath))
    bp.post(
        f"/{c.path}",
        summary=f"Create a {noun}",
        description="References may be given by id or by natural key (site slug; trunk, schedule or "
        "center name). Every change is written to the change log.",
        operation_id=f"create_{c.object_type}",
        endpoint=f"{c.object_type}_create",
        responses={
            201: spec.json(
                c.out,
                f"The new {noun}",
                headers={
                    "Location": {
                        "description": f"URL of the new {noun}",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                },
            ),
            **spec.errors(400, 401, 403, 409, 413, 415, 422),
        },
        **common,
    )(_with_annotations(create_view, f"{c.object_type}_create", body=c.create))
    bp.patch(
        detail,
        summary=f"Change a {noun}",
        description="Only the fields sent change; `null` clears an optional reference.",
        operation_id=f"update_{c.object_type}",
        endpoint=f"{c.object_type}_update",
        responses={
            200: spec.json(c.out, f"The changed {noun}"),
            **spec.errors(400, 401, 403, 404, 409, 413, 415, 422),
        },
        **common,
    )(_with_annotations(update_view, f"{c.object_type}_update", path=s.ObjectPath, body=c.update))
    bp.delete(
        detail,
        summary=f"Delete a {noun}",
        description="Refused with 409 while other objects still refer to it.",
        operation_id=f"delete_{c.object_type}",
        endpoint=f"{c.object_type}_delete",
        responses={204: {"description": "Deleted"}, **spec.errors(401, 403, 404, 409, 422)},
        **common,
    )(_with_annotations(delete_view, f"{c.object_type}_delete", path=s.ObjectPath))


def _register_by_ani(bp: APIBlueprint, spec: Spec) -> None:
    def by_ani_view(path: Any, query: Any) -> Response:
        device = device_by_ani(db(), _actor(), path.number, query.region or _region())
        return jsonify(_dump(s.Device, device))

    bp.get(
        "/devices/by-ani/<path:number>",
        summary="Find a device by its ANI",
        description="The number may be written in any form: `+49 30 1234567`, `0301234567` (national, "
        "read with `region`), `0049...`, `tel:+49-30-1234567`, `sip:+4930...@host;user=phone`. "
        "URL-encode it in the path.",
        operation_id="get_device_by_ani",
        endpoint="device_by_ani",
        merge_slashes=False,  # "//" inside a number is the number's, not a path to redirect
        tags=[Tag(name="devices")],
        security=SECURITY,
        responses={200: spec.json(s.Device, "The device"), **spec.errors(401, 403, 404, 422)},
    )(_with_annotations(by_ani_view, "device_by_ani", path=s.NumberPath, query=s.ByAniQuery))


@cache  # a blueprint may be registered on several apps (tests build one app per test)
def build_blueprint(page_size: int, max_page_size: int) -> APIBlueprint:
    """The API blueprint; page-size bounds come from the settings and show in the OpenAPI document."""
    bp = APIBlueprint("api", __name__, url_prefix="/api/v1", doc_ui=True)
    auth.init_blueprint(bp)
    problems.register(bp)
    spec = Spec(bp)
    for c in COLLECTIONS:
        query = s.device_filter(page_size, max_page_size) if c.object_type == "device" else None
        _register_collection(bp, spec, c, query or s.list_query(page_size, max_page_size))
    # /devices/by-ani/... and /devices/<id:id> never clash: "by-ani" is not an id
    _register_by_ani(bp, spec)
    return bp
