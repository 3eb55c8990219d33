"""Users and API tokens: hashed passwords (werkzeug scrypt), tokens stored as SHA-256 digests.

An API token is 256 random bits, so a fast digest is enough to store it (as GitHub does); passwords
are low-entropy and get a slow, salted hash. Must not import flask.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from registry.actors import Actor
from registry.choices import Role, TokenScope
from registry.db import utcnow
from registry.errors import NotFound, ValidationFailed
from registry.models import ApiToken, SecurityCenter, Site, User

TOKEN_PREFIX = "ag_"
MIN_PASSWORD_LENGTH = 10
#: ``last_used_at`` is written at most this often, so that reads do not each cost a write
LAST_USED_RESOLUTION = timedelta(minutes=1)
# a constant hash to compare against when the user does not exist (same time either way)
_DUMMY_HASH = generate_password_hash("not-a-password-" + "x" * 16)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role | str,
    sites: Iterable[int | str] = (),
    center: int | str | None = None,
) -> User:
    errors: dict[str, str] = {}
    username = username.strip()
    role = Role(role) if role in Role.values() else role
    if not username:
        errors["username"] = "required"
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = f"{username!r} is taken"
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"at least {MIN_PASSWORD_LENGTH} characters"
    if not isinstance(role, Role):
        errors["role"] = f"{role!r} is not one of: {', '.join(Role.values())}"
    site_objs = []
    for ref in sites:
        col = Site.id if isinstance(ref, int) or str(ref).isdigit() else Site.slug
        site = session.scalars(select(Site).where(col == ref)).first()
        if site is None:
            errors["sites"] = f"no site {ref!r}"
        else:
            site_objs.append(site)
    center_obj = None
    if center is not None:
        col = SecurityCenter.id if isinstance(center, int) or str(center).isdigit() else SecurityCenter.name
        center_obj = session.scalars(select(SecurityCenter).where(col == center)).first()
        if center_obj is None:
            errors["center"] = f"no security center {center!r}"
    if role == Role.OPERATOR and center_obj is None and "center" not in errors:
        errors["center"] = "an operator belongs to a security center"
    if role == Role.FACILITY_MANAGER and not site_objs and "sites" not in errors:
        errors["sites"] = "a facility manager is assigned at least one site"
    if errors:
        raise ValidationFailed(errors)
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        role=role,
        sites=site_objs,
        center=center_obj,
    )
    session.add(user)
    session.flush()
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
