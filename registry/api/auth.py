"""Bearer-token authentication of the REST API: who the actor is, and whether the token may read/write.

Runs before request validation, so a request without a usable token gets 401 (and a read-only token
403) whatever its body. Role and site scoping stay in the registry use cases. Authentication only
reads: the token's ``last_used_at`` is stamped after, in its own best-effort transaction, so a read
never waits on (or fails for) a write lock. May import flask.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from registry.accounts import check_token, record_token_use
from registry.actors import Actor
from registry.api.problems import insufficient_scope, unauthorized
from registry.choices import TokenScope
from registry.errors import Forbidden
from webcore.context import db, request_id, services

#: methods that only read; everything else needs the blueprint's write scope
READ_METHODS = frozenset({"GET", "HEAD"})
#: methods whose request body the API reads
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: the largest request body the JSON API reads (the web app's CSV upload has its own, larger limit)
MAX_BODY_BYTES = 1024 * 1024
_TOO_LARGE = f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB."


def bearer_secret() -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1), else None."""
    scheme, _, secret = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def authenticate(
    write_scope: TokenScope = TokenScope.REGISTRY_WRITE, read_scope: TokenScope = TokenScope.REGISTRY_READ
) -> Response | None:
    """``before_request`` hook: sets ``g.actor`` or answers 401/403 as a problem.

    Reads need ``read_scope`` (``registry:read`` by default); other methods ``write_scope``
    (``registry:write`` by default)."""
    if request.method == "OPTIONS":  # answered by Flask with the Allow header; reveals nothing
        return None
    secret = bearer_secret()
    if secret is None:
        return unauthorized("An `Authorization: Bearer <token>` header is required.")
    use = check_token(db(), secret)
    if use is None:
        return unauthorized("The token is unknown, revoked or expired.", invalid_token=True)
    if use.stamp_due:  # its own short transaction: kept even when the request fails later
        record_token_use(services().engine, use.token_id)
    actor = use.actor
    scope = read_scope if request.method in READ_METHODS else write_scope
    try:
        actor.require_scope(scope)
    except Forbidden as exc:
        return insufficient_scope(str(exc), scope.value)
    g.actor = actor.with_source("api", request_id())
    return None


def current_actor() -> Actor:
    """The authenticated actor of this request (set by :func:`authenticate`)."""
    return g.actor  # type: ignore[no-any-return]


def require_json() -> None:
    """``before_request`` hook after :func:`authenticate`: a body must be at most
    :data:`MAX_BODY_BYTES` (413), JSON (415) that parses (400).

    An empty body is left to request validation, which answers 422 naming the missing fields.
    """
    # one byte over the limit is read, so that a chunked body (no Content-Length) cut at the limit
    # is told apart from one that fits; a longer Content-Length is refused before reading
    request.max_content_length = MAX_BODY_BYTES + 1
    if request.method not in BODY_METHODS:
        return
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise RequestEntityTooLarge(_TOO_LARGE) from None
    if len(body) > MAX_BODY_BYTES:
        raise RequestEntityTooLarge(_TOO_LARGE)
    if not body:
        return
    try:
        request.get_json()  # raises UnsupportedMediaType or BadRequest, answered as problems
    except RecursionError:
        # the json module's C parser recurses once per nesting level, up to the interpreter's limit
        raise BadRequest("The JSON body is nested too deeply.") from None


def init_blueprint(
    bp: Blueprint,
    write_scope: TokenScope = TokenScope.REGISTRY_WRITE,
    read_scope: TokenScope = TokenScope.REGISTRY_READ,
) -> None:
    bp.before_request(lambda: authenticate(write_scope, read_scope))
    bp.before_request(require_json)
