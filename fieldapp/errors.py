"""One JSON error shape for the whole API:
`{"error": {"code": "…", "message": "…", "fields": {"field": "message"}}}`."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

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


def register_error_handlers(app: Flask) -> None:
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
        message = messages.get(err.code or 0, err.description or err.name)
        return jsonify(error_body(code, message)), err.code or 500

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> ResponseReturnValue:
        from fieldapp.db import db

        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        message = _("Something went wrong on the server; the request changed nothing. Try again.")
        if _wants_json():
            return jsonify(error_body("internal_error", message)), 500
        return message, 500
