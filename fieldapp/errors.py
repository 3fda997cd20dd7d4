"""One JSON error shape for the whole API:
`{"error": {"code": "…", "message": "…", "fields": {"field": "message"}}}`."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
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
    """PostgreSQL text cannot hold the NUL character (U+0000): a query parameter or form
    field carrying one is refused here with a message, instead of failing later in the
    database as a 500. No person types it; a broken client or a fuzzer sends it. (A JSON body
    is checked where it is parsed, by `HostileJSONProvider`.)"""
    # A JSON request has no form: only its query string can carry one, and a look at the raw
    # bytes spares decoding it on the intake path.
    if request.is_json:
        raw = request.query_string
        if b"\x00" not in raw and b"%00" not in raw:
            return
    if _has_nul(dict(request.args.lists())) or _has_nul(dict(request.form.lists())):
        raise ApiError(400, "invalid_text", _nul_message())


def _nul_message() -> str:
    return _("The request contains a NUL character (U+0000), which no field accepts.")


#: Deeper than any body of this API (a report with parties is 3 levels); a client that nests
#: 100,000 levels is refused before anything recurses over its body.
MAX_JSON_DEPTH = 20
#: The largest whole number every JSON reader (JavaScript included) holds exactly; no field of
#: this API takes a larger one, and each field's own parser bounds it further.
MAX_JSON_INTEGER = 2**53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refused(code: str, message: str, path: str) -> ApiError:
    return ApiError(400, code, message, {path: message} if path else None)


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise _refused("invalid_text", _nul_message(), path)
    # Only text outside ASCII can hold one; most bodies are searched not at all.
    if not text.isascii() and _SURROGATE.search(text):
        message = _("The request contains a lone surrogate (\\ud800-\\udfff), which is not text.")
        raise _refused("invalid_text", message, path)


def check_json_value(value: Any) -> None:
    """Refuse (ApiError 400, naming the field as `parties[0].name`) what is valid JSON but no
    field can take: nesting deeper than MAX_JSON_DEPTH, NUL or a lone surrogate in any string
    or key, a whole number beyond MAX_JSON_INTEGER, NaN, Infinity or a float that overflowed
    to infinity (1e400). Iterative, so a deep body cannot exhaust the stack here either."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_JSON_INTEGER:
                message = _(
                    "A number in the body is too large: at most %(limit)d.",
                    limit=MAX_JSON_INTEGER,
                )
                raise _refused("invalid_json", message, path)
        elif isinstance(item, float):
            if not math.isfinite(item):
                message = _(
                    "%(value)s is not a number JSON allows; send a finite number.",
                    value="NaN" if math.isnan(item) else "Infinity",
                )
                raise _refused("invalid_json", message, path)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ApiError(400, "invalid_json", _too_deep())
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key, path)
                    stack.append((child, depth + 1, f"{path}.{key}" if path else key))
            else:
                stack.extend((child, depth + 1, f"{path}[{i}]") for i, child in enumerate(item))


def _too_deep() -> str:
    return _("The body is nested too deeply: at most %(n)d levels.", n=MAX_JSON_DEPTH)


class HostileJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, reading request bodies strictly: the one place every JSON body
    of the app is parsed (`request.get_json`), so the checks of `check_json_value` hold for
    every endpoint, and a body nested too deeply for the parser is a 400, not a
    RecursionError. Malformed JSON still raises ValueError, which the views answer."""

    _decoder = json.JSONDecoder()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if isinstance(s, bytes):
            s = s.decode(json.detect_encoding(s), "surrogatepass")
        try:
            value = self._decoder.decode(s) if not kwargs else json.loads(s, **kwargs)
        except RecursionError:
            raise ApiError(400, "invalid_json", _too_deep()) from None
        check_json_value(value)
        return value


def register_error_handlers(app: Flask) -> None:
    app.json = HostileJSONProvider(app)
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
            return _http_error_page(err)
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
    if _wants_json():
        message = _("Something went wrong on the server; the request changed nothing. Try again.")
        return jsonify(error_body("internal_error", message)), 500
    return _error_page(500), 500


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
    return _error_page(503), 503, headers


def _page_text(status: int) -> tuple[str, str]:
    """An error page's heading and the sentence under it, in the request's language. The
    sentence says what to do next and never restates the heading (the Chinese 503 page once
    read 服务暂时不可用 as its heading and again at the start of its only sentence); an API
    message stands alone, so a page does not reuse it."""
    if status == 400:
        return _("Request not understood"), _(
            "Reload the page and send the form again; a page left open for long has to be "
            "reloaded first."
        )
    if status == 401:
        return _("Sign-in needed"), _("Sign in, then open this page again.")
    if status == 403:
        return _("Not allowed"), _(
            "Your account cannot open this page. Ask an administrator if you need it."
        )
    if status == 404:
        return _("Page not found"), _("Check the address, or start again from the home page.")
    if status == 405:
        return _("Not possible here"), _(
            "This address does not take that kind of request. Go back and use the page's own "
            "buttons."
        )
    if status == 413:
        return _("Upload too large"), _("Send a smaller file, or fewer photos at once.")
    if status == 503:
        return _("Briefly unavailable"), _("Nothing was saved. Try again in a few seconds.")
    if status >= 500:
        return _("Server error"), _(
            "Nothing was changed. Try again; if it keeps happening, tell an administrator."
        )
    return _("Not possible"), _("Go back and try again from the page you came from.")


def _http_error_page(err: HTTPException) -> ResponseReturnValue:
    """A page (not the API) that ended in an HTTP error: the one error page, in the page's
    language, instead of Werkzeug's English one; its headers (Allow, WWW-Authenticate,
    Retry-After) kept."""
    status = err.code
    if status is None or status < 400 or err.response is not None:
        return err  # a redirect, or an answer made by the view itself
    if status >= 500 and status != 503:
        return internal_error_response()  # one 500 page, whatever raised it
    headers = [(k, v) for k, v in err.get_headers() if k.lower() != "content-type"]
    return _error_page(status), status, headers


def _error_page(status: int) -> str:
    from flask import render_template

    title, message = _page_text(status)
    try:
        return render_template("error.html", title=title, message=message, status=status)
    except Exception:  # a page about an error must not fail in turn
        return message
