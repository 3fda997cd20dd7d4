"""The case workflow (案件办理): the work queue's filters. (The step bodies of
`POST /cases/{id}/actions/{action}` are still read by `fieldapp/services/cases.py`.)"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final, Literal

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from pydantic import AfterValidator, Field, WithJsonSchema

from fieldapp.contract.base import QueryModel, Text
from fieldapp.domain import Severity
from fieldapp.workflow import OPEN_STATES, State

#: Far beyond any real queue; keeps the row offset within what PostgreSQL accepts.
MAX_PAGE: Final = 100_000
MAX_QUERY_CHARS: Final = 100
#: The open states in workflow order (the document's enum).
OPEN: Final = tuple(s.value for s in State if s in OPEN_STATES)


def _open_state(value: str) -> str:
    if value not in OPEN:
        raise ValueError(_("An open state."))
    return value


def _words(value: str | None) -> str | None:
    """Runs of blanks as one space; blank is no search."""
    return " ".join(value.split()) or None if value else None


def _view(value: str) -> str:
    if value not in VIEWS:
        raise ValueError(_("One of: mine, overdue."))
    return value


VIEWS: Final = ("mine", "overdue")
#: A plain str for callers (the triage pages pass their own view), checked like a Literal.
View = Annotated[
    str, AfterValidator(_view), WithJsonSchema({"type": "string", "enum": list(VIEWS)})
]

OpenState = Annotated[
    str, AfterValidator(_open_state), WithJsonSchema({"type": "string", "enum": list(OPEN)})
]


class QueueQuery(QueryModel):
    """Which open cases, in what order, which page."""

    error_summary: ClassVar[Any] = lazy_gettext("Check the filters.")

    view: View = Field(default="mine", description="Which list (列表).")
    status: OpenState | None = Field(default=None, description="Only cases in this open state.")
    severity: Severity | None = Field(default=None, description="Only this severity (预警等级).")
    category: Annotated[Text, Field(max_length=50)] | None = Field(
        default=None, description="Only this category code (see /categories)."
    )
    q: Annotated[
        Annotated[Text, Field(max_length=MAX_QUERY_CHARS)] | None, AfterValidator(_words)
    ] = Field(
        default=None,
        description="Text search (搜索): cases whose case number, title, address or "
        "description contains it (case-insensitive; % and _ are plain characters).",
        examples=["东港-2026-000123"],
    )
    sort: Literal["urgency", "severity", "newest"] = Field(
        default="urgency",
        description="Order (排序): most urgent first, severity first, or newest first.",
    )
    page: int = Field(default=1, ge=1, le=MAX_PAGE, description="Page number, from 1 (页码).")
    per_page: int = Field(default=50, ge=1, le=200, description="Items per page (每页条数).")
