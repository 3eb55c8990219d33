"""Users and API tokens: hashed passwords (werkzeug scrypt), tokens stored as SHA-256 digests.

An API token is 256 random bits, so a fast digest is enough to store it (as GitHub does); passwords
are low-entropy and get a slow, salted hash. Must not import flask.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from registry.actors import Actor
from registry.changelog import Change, record_changes, snapshot
from registry.choices import ChangeAction, Role, TokenScope
from registry.db import utcnow
from registry.errors import Forbidden, NotFound, ValidationFailed
from registry.models import ApiToken, SecurityCenter, Site, User

TOKEN_PREFIX = "ag_"
MIN_PASSWORD_LENGTH = 10
#: ``last_used_at`` is written at most this often, so that reads do not each cost a write
LAST_USED_RESOLUTION = timedelta(minutes=1)
# a constant hash to compare against when the user does not exist (same time either way)
_DUMMY_HASH = generate_password_hash("not-a-password-" + "x" * 16)


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
    """Change a user's role, sites, center or active flag, and (``password`` not None) the password,
    which ends their open web sessions. Same rules as :func:`create_user`; an admin cannot demote or
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
    return user


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


def create_token(
    session: Session,
    user: User | int,
    name: str,
    scopes: Iterable[str] = (TokenScope.REGISTRY_READ,),
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its secret; the secret is returned once and never stored."""
    user_obj = session.get(User, user) if isinstance(user, int) else user
    if user_obj is None:
        raise NotFound("user", user)
    scopes = list(dict.fromkeys(str(s) for s in scopes))
    bad = [s for s in scopes if s not in TokenScope.values()]
    if bad:
        raise ValidationFailed({"scopes": f"unknown scope {bad[0]!r} ({', '.join(TokenScope.values())})"})
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user_obj,
        name=name or "token",
        prefix=secret[:10],
        digest=hash_token(secret),
        scopes=scopes,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, secret


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


def authenticate_token(session: Session, secret: str, now: datetime | None = None) -> Actor | None:
    """The actor behind a bearer token, or None when it is unknown, revoked, expired or disabled."""
    if not secret.startswith(TOKEN_PREFIX):
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
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return actor_for_user(token.user, "api", token.scopes)
