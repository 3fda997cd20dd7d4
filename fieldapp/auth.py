"""Who is calling. The API takes bearer tokens only (no cookies, so no CSRF to forge); web
pages use the signed session cookie with CSRF-protected forms (Flask-WTF)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Request, Response, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFProtect

from fieldapp.db import db
from fieldapp.errors import ApiError
from fieldapp.models import ApiToken, User
from fieldapp.services import accounts, websessions

csrf = CSRFProtect()


class TrackedSession(SecureCookieSession):
    """The cookie's contents, remembering what they were when the request came in and
    whether a view cleared them (a sign-in starts with ``session.clear()``)."""

    opened_sid: str | None = None
    cleared = False

    def clear(self) -> None:
        self.cleared = True
        super().clear()


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except that a request without the cookie (every API
    call: they carry bearer tokens) gets its empty session without building the cookie's
    signer first (3 % of a report's CPU in a py-spy profile of the intake benchmark).

    The cookie names a server-side session (fieldapp.services.websessions) by the random
    token under "sid": a sign-in (a view putting "user_id" into a session it cleared)
    gets its record here, and a sign-out (the "sid" gone or replaced) ends it here, so the
    sign-in and sign-out views need not know about the records."""

    session_class = TrackedSession

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        opened = super().open_session(app, request)
        if isinstance(opened, TrackedSession):
            opened.opened_sid = opened.get("sid")
        return opened

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if isinstance(session, TrackedSession):
            if not (session or session.modified or session.accessed or session.opened_sid):
                return  # untouched and empty (every bearer-token call): nothing to save or end
            _sync_web_session(session)
        super().save_session(app, session, response)


def _sync_web_session(cookie: TrackedSession) -> None:
    """Start or end the server-side record the cookie names (see CookieSessionInterface)."""
    sid, user_id = cookie.get("sid"), cookie.get("user_id")
    changed = False
    if cookie.opened_sid and cookie.opened_sid != sid:
        websessions.end(db.session, cookie.opened_sid, "logout")
        changed = True
    # Only a sign-in gets a record: it clears the session first (against session fixation);
    # a cookie from before server-side sessions holds a user_id but no sid and gets none.
    if isinstance(user_id, int) and not sid and cookie.cleared:
        cookie["sid"] = websessions.start(
            db.session,
            user_id,
            remote_addr=remote_addr(),
            user_agent=request.headers.get("User-Agent"),
        )
        changed = True
    if changed:
        db.session.commit()


def start_web_session(user: User) -> None:
    """Sign `user` in on this browser: a fresh cookie naming a fresh server-side session (the
    old one, if any, ends when the response is saved). For views that sign someone in again,
    e.g. after their own password change."""
    session.clear()
    session["user_id"] = user.id


def session_lifetimes() -> websessions.Lifetimes:
    config = current_app.config
    return websessions.Lifetimes(
        idle=timedelta(hours=float(config.get("WEB_SESSION_IDLE_HOURS", 12))),
        absolute=timedelta(days=float(config.get("WEB_SESSION_MAX_DAYS", 7))),
    )


F = TypeVar("F", bound=Callable[..., Any])


def now() -> datetime:
    return datetime.now(UTC)


def remote_addr() -> str | None:
    return request.remote_addr


def api_user() -> User:
    """The user of the bearer token, or a 401 that says what to do."""
    known: User | None = g.get("api_user")
    if known is not None:
        return known
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _sign_in_first()
    found = accounts.user_for_token(db.session, token.strip(), now())
    if found is None:
        raise ApiError(
            401, "unauthorized", _("The token is unknown, expired or revoked. Sign in again.")
        )
    g.api_user, g.api_token_id = found.user, found.token_id
    if found.touch:
        accounts.touch_token(db.engine, found.token_id)
    if found.user.must_change_password:
        raise ApiError(
            403,
            "password_change_required",
            _(
                "Your password was set by an administrator and must be changed before use: "
                "sign in on the web and change it at /account."
            ),
        )
    return found.user


def _sign_in_first() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        _("Sign in first: POST /api/v1/auth/token, then send “Authorization: Bearer <token>”."),
    )


def reader() -> User:
    """The caller of an API read the browser also makes (the map, dashboards, exports page):
    the bearer token's user when there is an Authorization header, a bad token refused
    outright (never a fallback to the cookie, so a client cannot silently act as someone
    else); else the web session's user; else 401. Reads change nothing, so the cookie needs
    no CSRF token."""
    if request.headers.get("Authorization"):
        return api_user()
    user = web_user()
    if user is None:
        raise _sign_in_first()
    return user


def reader_first() -> dict[str, Any]:
    """For `Contract.route(context=...)` of reads that also take the web session: the caller
    (`reader`) is checked before the request is parsed, so a request from nobody is a 401
    whatever it holds. Nothing to add to the validation context."""
    reader()
    return {}


def api_token() -> ApiToken:
    api_user()
    return accounts.token_row(db.session, g.api_token_id)


def web_user() -> User | None:
    """The user of this browser's live session, or None. The cookie alone is not enough: its
    server-side record must be open and within the idle and absolute lifetimes
    (fieldapp.services.websessions); a cookie that fails is emptied."""
    if "web_user" not in g:
        g.web_user = None
        g.web_session_id = None
        user_id, sid = session.get("user_id"), session.get("sid")
        if user_id:
            loaded = (
                websessions.load(db.session, sid, now(), session_lifetimes())
                if isinstance(sid, str)
                else None
            )
            if loaded is None or loaded.user.id != user_id:
                session.pop("user_id", None)
                session.pop("sid", None)
                if isinstance(session, TrackedSession):
                    # Already ended or lapsed: nothing to end (and nothing to commit) when
                    # the emptied cookie is saved.
                    session.opened_sid = None
            else:
                g.web_user, g.web_session_id = loaded.user, loaded.session_id
                if loaded.touch:
                    websessions.touch(db.engine, loaded.session_id)
    user: User | None = g.web_user
    return user


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if web_user() is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
