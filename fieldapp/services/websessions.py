"""Server-side records of signed-in browsers, so that a web session can really end.

The signed cookie alone cannot be taken back: before this, a cookie kept from before logout,
a password change or a revocation worked until it expired (31 days). Now the cookie carries a
random token whose SHA-256 names a `web_sessions` row; the row is what counts. It ends at
logout, at a password change (every other session of the user), when an admin revokes the
user's devices or deactivates them, and lapses after an idle and an absolute lifetime."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from fieldapp.models import User, WebSession

#: How stale last_seen_at may get before a request moves it on: idle lifetimes are hours, so
#: minute precision is plenty, and most requests then write nothing.
TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class Lifetimes:
    """How long a web session lives: `idle` since its last request, `absolute` since sign-in."""

    idle: timedelta
    absolute: timedelta


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lapsed(
    created_at: datetime, last_seen_at: datetime, now: datetime, life: Lifetimes
) -> str | None:
    """Why a session is over by the clock ("idle" or "expired"), or None while it is alive.
    Pure, for unit tests."""
    if now - created_at >= life.absolute:
        return "expired"
    if now - last_seen_at >= life.idle:
        return "idle"
    return None


def start(
    session: Session,
    user_id: int,
    *,
    remote_addr: str | None,
    user_agent: str | None,
) -> str:
    """Record a new signed-in browser; returns the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            user_id=user_id,
            token_sha256=digest(token),
            remote_addr=(remote_addr or "")[:64] or None,
            user_agent=(user_agent or "")[:200] or None,
        )
    )
    session.flush()
    return token


@dataclass(frozen=True)
class Loaded:
    user: User
    session_id: int
    touch: bool
    """Whether last_seen_at is older than TOUCH_EVERY and should be moved on."""


def load(session: Session, token: str, now: datetime, life: Lifetimes) -> Loaded | None:
    """The active user of a live session token, or None (unknown, ended, lapsed, or the user
    is deactivated). A session found lapsed is ended on the way (in the caller's transaction
    only when the caller commits; the clock check alone already refuses it)."""
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_sha256 == digest(token), WebSession.ended_at.is_(None))
    ).first()
    if row is None:
        return None
    web, user = row
    if not user.active or lapsed(web.created_at, web.last_seen_at, now, life):
        return None
    return Loaded(user, web.id, now - web.last_seen_at >= TOUCH_EVERY)


def touch(engine: Engine, session_id: int) -> None:
    """Move last_seen_at on, in a transaction of its own: a GET page commits nothing, and the
    idle clock must not depend on whether the page wrote."""
    with engine.begin() as connection:
        connection.execute(
            update(WebSession).where(WebSession.id == session_id).values(last_seen_at=func.now())
        )


def end(session: Session, token: str, reason: str) -> None:
    """End the session of `token` (logout)."""
    session.execute(
        update(WebSession)
        .where(WebSession.token_sha256 == digest(token), WebSession.ended_at.is_(None))
        .values(ended_at=func.now(), end_reason=reason)
    )


def end_all(session: Session, user_id: int, reason: str, *, keep_id: int | None = None) -> int:
    """End every open session of a user (but `keep_id`); returns how many were open."""
    stmt = update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
    if keep_id is not None:
        stmt = stmt.where(WebSession.id != keep_id)
    result = session.execute(stmt.values(ended_at=func.now(), end_reason=reason))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def open_sessions(
    session: Session, user_id: int, now: datetime, life: Lifetimes
) -> list[WebSession]:
    """A user's live browser sessions, newest first (the account page lists them)."""
    rows = session.execute(
        select(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .order_by(WebSession.last_seen_at.desc())
    ).scalars()
    return [w for w in rows if lapsed(w.created_at, w.last_seen_at, now, life) is None]
