"""Users and API tokens: hashed passwords (werkzeug scrypt), tokens stored as SHA-256 digests.

An API token is 256 random bits, so a fast digest is enough to store it (as GitHub does); passwords
are low-entropy and get a slow, salted hash. Which scopes a role may hold is decided here, at
creation and again at every use. Must not import flask.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from registry.actors import Actor
from registry.changelog import Change, record_changes, snapshot
from registry.choices import ChangeAction, Role, TokenScope
from registry.db import as_id, utcnow
from registry.errors import Forbidden, NotFound, ValidationFailed
from registry.logins import best_effort_update, end_user_sessions
from registry.models import ApiToken, SecurityCenter, Site, User

TOKEN_PREFIX = "ag_"
MIN_PASSWORD_LENGTH = 10
#: ``last_used_at`` is written at most this often, so that reads do not each cost a write
LAST_USED_RESOLUTION = timedelta(minutes=1)
# a constant hash to compare against when the user does not exist (same time either way)
_DUMMY_HASH = generate_password_hash("not-a-password-" + "x" * 16)

_READ, _WRITE, _ROUTE, _ALARMS_READ, _ALARMS_WRITE = (
    TokenScope.REGISTRY_READ.value,
    TokenScope.REGISTRY_WRITE.value,
    TokenScope.CALLS_ROUTE.value,
    TokenScope.ALARMS_READ.value,
    TokenScope.ALARMS_WRITE.value,
)
#: the scopes a token of each role may carry. ``calls:route`` reads every site's device facts and
#: writes call records into every site's history, so it belongs to admins and integration (PBX)
#: accounts only; an integration account holds nothing else. The alarm scopes go with the people
#: who see alarms (what each role may do with them is the alarm service's rule). A token is cut to
#: these at each use, so a token made before a role change, or written into the table by hand, gets
#: no more.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset({_READ, _WRITE, _ROUTE, _ALARMS_READ, _ALARMS_WRITE}),
    Role.FACILITY_MANAGER: frozenset({_READ, _WRITE, _ALARMS_READ, _ALARMS_WRITE}),
    Role.OPERATOR: frozenset({_READ, _WRITE, _ALARMS_READ, _ALARMS_WRITE}),
    Role.INTEGRATION: frozenset({_ROUTE}),
}


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _resolve_sites(session: Session, sites: Iterable[int | str], errors: dict[str, str]) -> list[Site]:
    found = []
    for ref in sites:
        # a form posts ids as text; PostgreSQL will not compare an integer column with text
        cond = Site.id == int(ref) if str(ref).isdigit() else Site.slug == ref
        site = session.scalars(select(Site).where(cond)).first()
        if site is None:
            errors["sites"] = f"no site {ref!r}"
        else:
            found.append(site)
    return found


def _resolve_center(
    session: Session, center: int | str | None, errors: dict[str, str]
) -> SecurityCenter | None:
    if center is None or center == "":
        return None
    cond = SecurityCenter.id == int(center) if str(center).isdigit() else SecurityCenter.name == center
    found = session.scalars(select(SecurityCenter).where(cond)).first()
    if found is None:
        errors["center"] = f"no security center {center!r}"
    return found


def _check_role(
    role: Role | str, sites: list[Site], center: SecurityCenter | None, errors: dict[str, str]
) -> Role | None:
    """The role, and what it needs: an operator a center, a facility manager at least one site."""
    if role not in Role.values():
        errors["role"] = f"{role!r} is not one of: {', '.join(Role.values())}"
        return None
    role = Role(role)
    if role == Role.OPERATOR and center is None and "center" not in errors:
        errors["center"] = "an operator belongs to a security center"
    if role == Role.FACILITY_MANAGER and not sites and "sites" not in errors:
        errors["sites"] = "a facility manager is assigned at least one site"
    if role == Role.INTEGRATION:
        # it routes calls for every site through calls:route tokens; sites or a center would
        # suggest a scope it does not have
        if sites:
            errors["sites"] = "an integration account has no sites"
        if center is not None:
            errors["center"] = "an integration account has no center"
    return role


def _check_password(password: str, errors: dict[str, str]) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"at least {MIN_PASSWORD_LENGTH} characters"


def user_snapshot(user: User) -> dict[str, Any]:
    """A user as the change log keeps it: columns (never the password hash) and site slugs."""
    return {**snapshot(user), "sites": sorted(s.slug for s in user.sites)}


def _require_user_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("only an administrator may manage users")


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role | str,
    sites: Iterable[int | str] = (),
    center: int | str | None = None,
    *,
    actor: Actor | None = None,
) -> User:
    """A new user. With an ``actor`` (the web pages), only an admin may, and the change log says who."""
    if actor is not None:
        _require_user_admin(actor)
    errors: dict[str, str] = {}
    username = username.strip()
    if not username:
        errors["username"] = "required"
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = f"{username!r} is taken"
    _check_password(password, errors)
    site_objs = _resolve_sites(session, sites, errors)
    center_obj = _resolve_center(session, center, errors)
    checked_role = _check_role(role, site_objs, center_obj, errors)
    if errors or checked_role is None:
        raise ValidationFailed(errors)
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        role=checked_role,
        sites=site_objs,
        center=center_obj,
        is_active=True,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    if actor is not None:
        after = user_snapshot(user)
        record_changes(
            session, actor, [Change(ChangeAction.CREATE, "user", user.id, user.username, None, after)]
        )
    return user


class _Keep(enum.Enum):
    KEEP = "keep"


#: a field of :func:`update_user` left as it is
KEEP = _Keep.KEEP


def _get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


def update_user(
    session: Session,
    actor: Actor,
    user_id: int,
    *,
    role: Role | str | _Keep = KEEP,
    sites: Iterable[int | str] | _Keep = KEEP,
    center: int | str | _Keep | None = KEEP,
    is_active: bool | _Keep = KEEP,
    password: str | None = None,
) -> User:
    """Change a user's role, sites, center or active flag, and (``password`` not None) the password.
    A password reset or a deactivation ends the user's web sessions and revokes their API tokens
    (each revocation change-logged). Same rules as :func:`create_user`; an admin cannot demote or
    deactivate themselves (nobody else might be left to undo it)."""
    _require_user_admin(actor)
    user = _get_user(session, user_id)
    before = user_snapshot(user)
    errors: dict[str, str] = {}
    new_sites = list(user.sites) if isinstance(sites, _Keep) else _resolve_sites(session, sites, errors)
    new_center = user.center if isinstance(center, _Keep) else _resolve_center(session, center, errors)
    new_role = _check_role(user.role if isinstance(role, _Keep) else role, new_sites, new_center, errors)
    active = user.is_active if isinstance(is_active, _Keep) else bool(is_active)
    if password is not None:
        _check_password(password, errors)
    if actor.user_id == user.id:
        if new_role is not None and new_role != user.role:
            errors["role"] = "you cannot change your own role"
        if not active:
            errors["is_active"] = "you cannot deactivate yourself"
    if errors or new_role is None:
        raise ValidationFailed(errors)
    deactivated = user.is_active and not active
    user.role = new_role
    user.sites = new_sites
    user.center = new_center
    user.is_active = active
    if password is not None:
        user.password_hash = generate_password_hash(password)
    session.flush()
    after = user_snapshot(user)
    if password is not None:
        after["password"] = "changed"  # that it changed, never what to
    change = Change(ChangeAction.UPDATE, "user", user.id, user.username, before, after)
    record_changes(session, actor, [change])
    if password is not None or deactivated:
        end_user_access(session, actor, user)
    return user


def end_user_access(session: Session, actor: Actor, user: User, now: datetime | None = None) -> int:
    """Revoke every live token of ``user`` (change-logged) and end their web sessions; returns the
    number of tokens revoked."""
    now = now or utcnow()
    end_user_sessions(session, user.id, now)
    live = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    changes = []
    for token in live:
        before = token_snapshot(token)
        token.revoked_at = now
        changes.append(_token_change(ChangeAction.UPDATE, token, before))
    session.flush()
    record_changes(session, actor, changes)
    return len(live)


def unlock_user(session: Session, actor: Actor, user_id: int) -> User:
    """Lift a lock-out: the failed-login count starts again and the user may log in at once."""
    _require_user_admin(actor)
    user = _get_user(session, user_id)
    before = user_snapshot(user)
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    record_changes(
        session,
        actor,
        [Change(ChangeAction.UPDATE, "user", user.id, user.username, before, user_snapshot(user))],
    )
    return user


def verify_password(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.is_active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


@dataclass(frozen=True)
class LoginResult:
    """The user when the password was right and the account open; else why not (no leak of which)."""

    user: User | None
    #: set when the account is locked (now, or by this failure)
    locked_until: datetime | None = None


def login(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime | None = None,
    max_failures: int = 5,
    lockout: timedelta = timedelta(minutes=15),
) -> LoginResult:
    """Check a password with lock-out: ``max_failures`` wrong passwords in a row lock the account
    for ``lockout`` (even the right password is refused meanwhile). A good login resets the count.
    The caller commits (the failure count must be kept even though the login failed).

    Unknown and inactive users cost the same hash as real ones, so timing tells nothing.
    """
    now = now or utcnow()
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.is_active:
        check_password_hash(_DUMMY_HASH, password)
        return LoginResult(None)
    if user.locked_until is not None and user.locked_until > now:
        check_password_hash(_DUMMY_HASH, password)
        return LoginResult(None, user.locked_until)
    if check_password_hash(user.password_hash, password):
        user.failed_logins = 0
        user.locked_until = None
        return LoginResult(user)
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= max_failures:
        user.failed_logins = 0
        user.locked_until = now + lockout
        return LoginResult(None, user.locked_until)
    return LoginResult(None)


# --- API tokens -------------------------------------------------------------------------------------

#: ``--expires 30d``: a count of hours, days or weeks
_DURATION = re.compile(r"^(\d{1,6})\s*([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
#: the latest expiry a token may have (every backend stores it)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_expiry(value: str | None, now: datetime | None = None) -> datetime | None:
    """When a token ends: blank is never; ``12h``, ``30d``, ``2w`` from now; ``2027-01-01`` (the start
    of that day, UTC) or an ISO 8601 date-time with its UTC offset. Raises ValidationFailed."""
    text = (value or "").strip()
    if not text:
        return None
    now = now or utcnow()
    duration = _DURATION.match(text.lower())
    try:
        if duration:
            at = now + timedelta(**{_UNITS[duration.group(2)]: int(duration.group(1))})
        elif len(text) == 10:
            day = date.fromisoformat(text)
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            at = datetime.fromisoformat(text)
            if at.tzinfo is None:
                raise ValidationFailed(
                    {"expires": "a date-time needs its UTC offset, e.g. 2027-01-01T00:00+00:00"}
                )
    except OverflowError:
        raise ValidationFailed({"expires": "the expiry is too far away"}) from None
    except ValueError:
        raise ValidationFailed(
            {"expires": f"{text!r} is neither a duration (12h, 30d, 2w) nor a date (2027-01-01)"}
        ) from None
    at = at.astimezone(UTC)
    if at <= now:
        raise ValidationFailed({"expires": "the expiry is in the past"})
    if at >= _LATEST:
        raise ValidationFailed({"expires": "the expiry is too far away"})
    return at


def scope_refusal(user: User, scope: str) -> str | None:
    """Why ``user`` may not hold a token with ``scope``, or None when they may."""
    if scope not in TokenScope.values():
        return f"unknown scope {scope!r} ({', '.join(TokenScope.values())})"
    if scope in ROLE_SCOPES[user.role]:
        return None
    if scope == _ROUTE:
        return (
            f"{_ROUTE!r} is for PBX integration accounts made by an administrator: only a user with "
            f"role admin or integration may hold it, and {user.username} is {user.role.label.lower()}"
        )
    return f"an integration account's tokens carry only {_ROUTE!r}, not {scope!r}"


def token_snapshot(token: ApiToken) -> dict[str, Any]:
    """A token as the change log keeps it: never the secret or its digest."""
    return {
        "user": token.user.username,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": list(token.scopes),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def _token_change(action: ChangeAction, token: ApiToken, before: dict[str, Any] | None) -> Change:
    label = f"{token.user.username}: {token.name} ({token.prefix}…)"
    return Change(action, "api_token", token.id, label, before, token_snapshot(token))


def _may_manage_tokens_of(actor: Actor, user_id: int) -> bool:
    return actor.is_admin or actor.user_id == user_id


def create_token(
    session: Session,
    user: User | int,
    name: str,
    scopes: Iterable[str] = (TokenScope.REGISTRY_READ,),
    expires_at: datetime | None = None,
    *,
    actor: Actor | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its secret; the secret is returned once and never stored.

    Its scopes must be ones the owner's role may hold (:data:`ROLE_SCOPES`). With an ``actor`` (CLI,
    pages) only the owner or an admin may, and the change log says who; without one nothing is logged.
    """
    user_obj = session.get(User, user) if isinstance(user, int) else user
    if user_obj is None or (actor is not None and not _may_manage_tokens_of(actor, user_obj.id)):
        raise NotFound("user", user if isinstance(user, int) else user.id)
    errors: dict[str, str] = {}
    name = (name or "").strip() or "token"
    if len(name) > 120:
        errors["name"] = "at most 120 characters"
    scopes = list(dict.fromkeys(str(s) for s in scopes))
    if not scopes:
        errors["scopes"] = "choose at least one scope"
    refusal = next((r for r in (scope_refusal(user_obj, s) for s in scopes) if r), None)
    if refusal:
        errors["scopes"] = refusal
    if not user_obj.is_active:
        errors["user"] = f"{user_obj.username} is inactive"
    if expires_at is not None and expires_at <= utcnow():
        errors["expires"] = "the expiry is in the past"
    if errors:
        raise ValidationFailed(errors)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user_obj,
        name=name,
        prefix=secret[:10],
        digest=hash_token(secret),
        scopes=scopes,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    if actor is not None:
        record_changes(session, actor, [_token_change(ChangeAction.CREATE, token, None)])
    return token, secret


def token_state(token: ApiToken, now: datetime | None = None) -> str:
    """``active``, ``revoked``, ``expired`` or ``inactive user``."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return "expired"
    return "active" if token.user.is_active else "inactive user"


def list_tokens(session: Session, actor: Actor, user_id: int | None = None) -> Sequence[ApiToken]:
    """The tokens ``actor`` may see, newest first: an admin's all (or one user's), anyone else's own."""
    stmt = select(ApiToken).join(ApiToken.user).order_by(User.username, ApiToken.id.desc())
    if not actor.is_admin:
        stmt = stmt.where(ApiToken.user_id == (actor.user_id or 0))
    elif user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    return session.scalars(stmt).all()


def find_token(session: Session, actor: Actor, ref: int | str) -> ApiToken:
    """A token by id or by the prefix its owner sees (``ag_…``); NotFound when it is not the actor's
    to see (an admin sees all)."""
    text = str(ref).strip()
    cond = ApiToken.prefix == text if text.startswith(TOKEN_PREFIX) else ApiToken.id == (as_id(text) or 0)
    found = session.scalars(select(ApiToken).where(cond).order_by(ApiToken.id)).all()
    found = [t for t in found if _may_manage_tokens_of(actor, t.user_id)]
    if not found:
        raise NotFound("api token", text)
    if len(found) > 1:
        ids = ", ".join(str(t.id) for t in found)
        raise ValidationFailed({"token": f"the prefix {text!r} names several tokens ({ids}); give the id"})
    return found[0]


def revoke_token(session: Session, actor: Actor, ref: int | str, now: datetime | None = None) -> ApiToken:
    """End a token at once (by id or prefix); the owner or an admin may. Revoking twice changes nothing."""
    token = find_token(session, actor, ref)
    if token.revoked_at is None:
        before = token_snapshot(token)
        token.revoked_at = now or utcnow()
        session.flush()
        record_changes(session, actor, [_token_change(ChangeAction.UPDATE, token, before)])
    return token


def actor_for_user(
    user: User, source: str, scopes: Iterable[str] | None = None, request_id: str = ""
) -> Actor:
    return Actor(
        name=user.username,
        role=user.role,
        source=source,
        user_id=user.id,
        site_ids=frozenset(s.id for s in user.sites),
        center_id=user.center_id,
        scopes=None if scopes is None else frozenset(scopes),
        request_id=request_id,
    )


@dataclass(frozen=True)
class TokenUse:
    """A usable token: who acts, and whether its ``last_used_at`` is due to be stamped."""

    actor: Actor
    token_id: int
    stamp_due: bool


def check_token(session: Session, secret: str, now: datetime | None = None) -> TokenUse | None:
    """The actor behind a bearer token, or None when it is unknown, revoked, expired or disabled.

    Writes nothing (a read request must not wait on a write lock); the actor's scopes are the token's
    cut to what the owner's role may hold now. Stamp the use with :func:`record_token_use`."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 128:
        return None
    digest = hash_token(secret)
    token = session.scalars(select(ApiToken).where(ApiToken.digest == digest)).first()
    if token is None or not hmac.compare_digest(token.digest, digest):
        return None
    now = now or utcnow()
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if not token.user.is_active:
        return None
    scopes = [s for s in token.scopes if s in ROLE_SCOPES.get(token.user.role, frozenset())]
    due = token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION
    return TokenUse(actor_for_user(token.user, "api", scopes), token.id, due)


def authenticate_token(session: Session, secret: str, now: datetime | None = None) -> Actor | None:
    """:func:`check_token`'s actor."""
    use = check_token(session, secret, now)
    return None if use is None else use.actor


def record_token_use(engine: Engine, token_id: int, now: datetime | None = None) -> bool:
    """Best effort, in its own short transaction: stamp ``last_used_at`` unless it is recent."""
    now = now or utcnow()
    stmt = (
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
    )
    return best_effort_update(engine, stmt)
