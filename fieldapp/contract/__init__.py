"""The API contract (#18): each request and answer of /api/v1 declared once, as a pydantic
model; validation, the error answer and the OpenAPI document come from it. The pattern is
described in `base` (and in the project's CONTRACT notes); one module per resource."""

from __future__ import annotations

from fieldapp.contract.base import (
    AnswerModel,
    Binary,
    BodyModel,
    Contract,
    Error,
    QueryModel,
    Text,
    parse_body,
    parse_query,
)

__all__ = [
    "AnswerModel",
    "Binary",
    "BodyModel",
    "Contract",
    "Error",
    "QueryModel",
    "Text",
    "parse_body",
    "parse_query",
]
