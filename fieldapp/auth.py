"""Who is calling. The API takes bearer tokens only (no cookies, so no CSRF to forge); web
pages use the signed session cookie with CSRF-protected forms (Flask-WTF)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Request, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFProtect

from fieldapp.db import db
from fieldapp.errors import ApiError
from fieldapp.models import ApiToken, User
from fieldapp.services import accounts

csrf = CSRFProtect()


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except that a request without the cookie (every API
    call: they carry bearer tokens) gets its empty session without building the cookie's
    signer first (3 % of a report's CPU in a py-spy profile of the intake benchmark)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


F = TypeVar("F", bound=Callable[..., Any])


def now() -> datetime:
    return datetime.now(UTC)


def remote_addr() -> str | None:
    return request.remote_addr


def api_user() -> User:
    """The user of the bearer token, or a 401 that says what to do."""
    if "api_user" in g:
        user: User = g.api_user
        return user
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthorized",
            _("Sign in first: POST /api/v1/auth/token, then send “Authorization: Bearer <token>”."),
        )
    found = accounts.user_for_token(db.session, token.strip(), now())
    if found is None:
        raise ApiError(
            401, "unauthorized", _("The token is unknown, expired or revoked. Sign in again.")
        )
    g.api_user, g.api_token_id = found
    return found[0]


def api_token() -> ApiToken:
    api_user()
    return accounts.token_row(db.session, g.api_token_id)


def web_user() -> User | None:
    if "web_user" not in g:
        user_id = session.get("user_id")
        g.web_user = db.session.get(User, user_id) if user_id else None
        if g.web_user is not None and not g.web_user.active:
            g.web_user = None
    user: User | None = g.web_user
    return user


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if web_user() is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
