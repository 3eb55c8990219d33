"""Server-side web sessions (the cookie names a row; logout, password reset and deactivation end it)
and the best-effort "last seen / last used" stamps that must never fail or slow a request.

Hand-written: Flask-Session's SQL backend needs Flask-SQLAlchemy (not used here) and cannot end all
sessions of one user; a table of digests is all that is needed. Must not import flask.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Engine, Executable, delete, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.models import User, WebSession

log = logging.getLogger(__name__)

#: ``last_seen_at`` (and with it the idle expiry) is written at most this often
SEEN_RESOLUTION = timedelta(minutes=1)
#: how long a best-effort stamp waits for a lock before it gives up
LOCK_WAIT_MS = 100
#: longer secrets are not ours (token_urlsafe(32) is 43 characters)
_MAX_SECRET = 128


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def best_effort_update(engine: Engine, stmt: Executable, lock_wait_ms: int = LOCK_WAIT_MS) -> bool:
    """Run ``stmt`` in its own short transaction, waiting at most ``lock_wait_ms`` for a lock.

    For bookkeeping that a read request should not pay for: False (logged, never raised) when the
    database is locked or unavailable, and the request goes on as if it had worked.
    """
    wait = int(lock_wait_ms)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            previous = 0
            if sqlite:  # the wait is per connection; the pooled connection gets its own back
                previous = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
                conn.exec_driver_sql(f"PRAGMA busy_timeout={wait}")
            try:
                if not sqlite:
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{wait}ms'")
                conn.execute(stmt)
                conn.commit()
            finally:
                if sqlite:
                    conn.rollback()
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={previous}")
    except DBAPIError as exc:
        log.info("skipped a bookkeeping write, the database is busy or unavailable: %s", exc.orig)
        return False
    return True


def start_web_session(session: Session, user: User, lifetime: timedelta, now: datetime | None = None) -> str:
    """A new session for ``user``; returns its secret (for the cookie; only the digest is stored).

    The user's ended sessions are swept at the same time, so the table stays small."""
    now = now or utcnow()
    session.execute(
        delete(WebSession).where(
            WebSession.user_id == user.id,
            or_(WebSession.expires_at <= now, WebSession.revoked_at.is_not(None)),
        )
    )
    secret = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            digest=_digest(secret), user=user, created_at=now, last_seen_at=now, expires_at=now + lifetime
        )
    )
    session.flush()
    return secret


def find_web_session(session: Session, secret: str, now: datetime | None = None) -> WebSession | None:
    """The open session behind a cookie's secret: not ended, not expired, its user active; else None."""
    if not secret or len(secret) > _MAX_SECRET:
        return None
    found = session.scalars(select(WebSession).where(WebSession.digest == _digest(secret))).first()
    now = now or utcnow()
    if found is None or found.revoked_at is not None or found.expires_at <= now:
        return None
    return found if found.user.is_active else None


def seen_due(web_session: WebSession, now: datetime | None = None) -> bool:
    return (now or utcnow()) - web_session.last_seen_at >= SEEN_RESOLUTION


def record_seen(engine: Engine, session_id: int, lifetime: timedelta, now: datetime | None = None) -> bool:
    """Best effort: the session was used now, so it stays open ``lifetime`` from now."""
    now = now or utcnow()
    stmt = (
        update(WebSession)
        .where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
        .values(last_seen_at=now, expires_at=now + lifetime)
    )
    return best_effort_update(engine, stmt)


def end_web_session(session: Session, secret: str, now: datetime | None = None) -> None:
    """Logout: the session behind ``secret`` ends (the caller commits)."""
    session.execute(
        update(WebSession)
        .where(WebSession.digest == _digest(secret), WebSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )


def end_user_sessions(session: Session, user_id: int, now: datetime | None = None) -> int:
    """End every open session of a user (password reset, deactivation); returns how many."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)
