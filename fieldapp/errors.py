"""One JSON error shape for the whole API:
`{"error": {"code": "…", "message": "…", "fields": {"field": "message"}}}`."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from fieldapp import health
from fieldapp.services.errors import DomainError, RateLimited


class ApiError(Exception):
    """A client error with a message a person can act on."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def refuse_nul_characters() -> None:
    """PostgreSQL text cannot hold the NUL character (U+0000): a query parameter, form field
    or JSON string carrying one is refused here with a message, instead of failing later in
    the database as a 500. No person types it; a broken client or a fuzzer sends it."""
    # Every API call passes here: for a JSON body (read and cached as get_json would), look
    # at the raw bytes first — NUL itself, or JSON's and a URL's escapes of it — and decode
    # only a request that has one of them somewhere. Forms and uploads are parsed as before.
    if request.is_json:
        raw = request.query_string + request.get_data(cache=True)
        if b"\x00" not in raw and b"\\u0000" not in raw and b"%00" not in raw:
            return
    found = (
        _has_nul(dict(request.args.lists()))
        or _has_nul(dict(request.form.lists()))
        or (request.is_json and _has_nul(request.get_json(silent=True)))
    )
    if found:
        raise ApiError(
            400,
            "invalid_text",
            _("The request contains a NUL character (U+0000), which no field accepts."),
        )


def register_error_handlers(app: Flask) -> None:
    app.before_request(refuse_nul_characters)

    @app.errorhandler(ApiError)
    def api_error(err: ApiError) -> ResponseReturnValue:
        return jsonify(error_body(err.code, err.message, err.fields)), err.status

    @app.errorhandler(DomainError)
    def domain_error(err: DomainError) -> ResponseReturnValue:
        from fieldapp.db import db

        db.session.rollback()  # nothing half-written
        response = jsonify(error_body(err.code, err.message, err.fields))
        if isinstance(err, RateLimited):
            response.headers["Retry-After"] = str(err.retry_after_s)
        return response, err.status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> ResponseReturnValue:
        if not _wants_json():
            return err
        code = (err.name or "error").lower().replace(" ", "_")
        messages = {
            404: _("Nothing here. Check the address (see /api/v1/openapi.json)."),
            405: _("This method is not allowed here."),
            413: _("The request is too large."),
        }
        if (err.code or 500) >= 500 and err.code != 503:
            return internal_error_response()  # one 500 body, whatever raised it
        message = messages.get(err.code or 0, err.description or err.name)
        return jsonify(error_body(code, message)), err.code or 500

    @app.errorhandler(sa_exc.SQLAlchemyError)
    def database_error(err: sa_exc.SQLAlchemyError) -> ResponseReturnValue:
        if not health.is_database_unavailable(err):
            return unexpected(err)
        _discard_session()
        app.logger.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.path,
            getattr(err, "orig", None) or err,
        )
        return unavailable_response()

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> ResponseReturnValue:
        _discard_session()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return internal_error_response()


def _discard_session() -> None:
    """Roll back the request's session, if it has one, without touching the database when it
    has none: with the database away, opening a session to roll it back raised again, and
    Flask answered with its own second 500 body."""
    from flask import g

    session = g.get("db_session")
    if session is None:
        return
    try:
        session.rollback()
    except Exception:  # the connection is gone: the server rolled the transaction back
        current_app.logger.debug("rollback after an error failed", exc_info=True)


def internal_error_response() -> ResponseReturnValue:
    """The one answer to an unexpected error: the API's error shape for the API, a page for
    pages, in the request's language (fieldapp.i18n)."""
    message = _("Something went wrong on the server; the request changed nothing. Try again.")
    if _wants_json():
        return jsonify(error_body("internal_error", message)), 500
    return _error_page(_("Server error"), message), 500


def unavailable_response() -> ResponseReturnValue:
    """503 with Retry-After while the database cannot be reached: the phones keep the report
    and retry; a page says to try again shortly. Nothing was written."""
    headers = {"Retry-After": str(health.RETRY_AFTER_SECONDS)}
    message = _(
        "The service is briefly unavailable (database unreachable); nothing was saved. "
        "Try again in a few seconds."
    )
    if _wants_json():
        return jsonify(error_body("unavailable", message)), 503, headers
    return _error_page(_("Briefly unavailable"), message), 503, headers


def _error_page(title: str, message: str) -> str:
    from flask import render_template

    try:
        return render_template("error.html", title=title, message=message)
    except Exception:  # a page about an error must not fail in turn
        return message
