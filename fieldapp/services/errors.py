"""Domain exceptions raised by services; the blueprints translate them into HTTP answers."""

from __future__ import annotations


class DomainError(Exception):
    """Base class. `code` is stable (for the API), `message` is for a person."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class InvalidInput(DomainError):
    status = 400
    code = "invalid_input"

    def __init__(self, message: str, fields: dict[str, str], code: str | None = None) -> None:
        super().__init__(message, fields)
        if code:
            self.code = code


class NotFound(DomainError):
    """Also what a caller gets for something outside their scope: we do not reveal that it
    exists."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class OutsideCity(DomainError):
    status = 422
    code = "outside_city"


class TryAgain(DomainError):
    """Nothing is wrong with the request, but it met a moment of change (boundaries being
    re-imported): the same request again will do."""

    status = 503
    code = "try_again"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Gone(DomainError):
    """Something that existed and is no more (an expired export)."""

    status = 410
    code = "expired"
