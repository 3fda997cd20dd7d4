"""What the Schemathesis-driven API tests share: a generated case's JSON body as test-client
arguments, and the failures inside what `case.validate_response` raised."""

from __future__ import annotations

from typing import Any

from schemathesis.core.failures import Failure, FailureGroup


def has_body(case: Any) -> bool:
    return type(case.body).__name__ != "NotSet"


def json_body(case: Any) -> dict[str, Any]:
    """The case's JSON body as `client.open` arguments (raw bytes kept as sent); {} when it
    has none or another media type."""
    if not has_body(case) or case.media_type != "application/json":
        return {}
    if isinstance(case.body, bytes):
        return {"data": case.body, "content_type": "application/json"}
    return {"json": case.body}


def failures(error: BaseException) -> list[Failure]:
    """Every check failure inside `error` (a FailureGroup nests them)."""
    if isinstance(error, FailureGroup):
        return [f for e in error.exceptions for f in failures(e)]
    return [error] if isinstance(error, Failure) else []
