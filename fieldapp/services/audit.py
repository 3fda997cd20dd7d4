"""The audit log: every write records who did what to which object, from where (the client's
address; behind nginx set FIELDAPP_PROXY_HOPS so it is the client's, not the proxy's), in the
same transaction. The viewer's queries (filters, pages, export rows) are here too."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import has_request_context, request
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldapp.bounds import parse_day
from fieldapp.domain import CHINA_TZ
from fieldapp.models import AuditEvent, User
from fieldapp.services.errors import InvalidInput
from fieldapp.stats import day_start


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: object,
    remote_addr: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add the record to the caller's transaction. `remote_addr` defaults to the address of
    the request being served, if any (so no write made over the web or the API goes without
    its "from where"); work with no request (workers, the CLI) records none."""
    if remote_addr is None:
        remote_addr = _request_addr()
    session.add(
        AuditEvent(
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            remote_addr=remote_addr,
            details=details or {},
        )
    )


def _request_addr() -> str | None:
    """The client address of the request being served (behind a proxy: as PROXY_HOPS lets
    the app read it from X-Forwarded-For), or None outside a request."""
    if not has_request_context():
        return None
    addr: str | None = request.remote_addr
    return addr


# --- reading: the audit log viewer (/admin/audit, issue #17.5) --------------------------------

#: Who may read the audit log; only admins are shown the settings that write it.
READER_ROLES = frozenset({"admin", "city"})
PAGE_SIZE = 50
MAX_PAGE = 10_000
#: A bigger export is refused with a message to narrow the filters (a direct download).
MAX_EXPORT_ROWS = 100_000
_SAFE_TEXT = re.compile(r"^[\w.:\-]{1,64}$")


@dataclass(frozen=True)
class AuditFilters:
    """What the viewer narrows by: the actor's username, the object (type and id), the
    action (exact, or a prefix ending in "." such as "case."), the period as China days
    (both inclusive) and the page."""

    person: str = ""
    object_type: str = ""
    object_id: str = ""
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1

    def query_args(self) -> dict[str, str]:
        """The filters as query parameters (for paging and export links)."""
        out = {
            "person": self.person,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "action": self.action,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
        }
        return {k: v for k, v in out.items() if v}


def parse_filters(args: Mapping[str, Any]) -> AuditFilters:
    """Filters from query parameters; `InvalidInput` names every bad one."""
    fields: dict[str, str] = {}

    def text(key: str) -> str:
        value = args.get(key)
        value = value.strip() if isinstance(value, str) else ""
        if value and not _SAFE_TEXT.match(value):
            fields[key] = _("Letters, digits and . _ : - only, at most 64.")
        return value

    person, object_type = text("person"), text("object_type")
    object_id, action = text("object_id"), text("action")
    days: dict[str, date | None] = {}
    for key in ("from", "to"):
        try:
            days[key] = parse_day(args.get(key) or None)
        except ValueError as err:
            fields[key] = str(err)
            days[key] = None
    if days["from"] and days["to"] and days["from"] > days["to"]:
        fields["to"] = _("The end is before the start.")
    if object_id and not object_type:
        fields["object_type"] = _("Name the kind of object too.")
    raw_page = args.get("page") or "1"
    page = (
        int(raw_page) if isinstance(raw_page, str) and re.fullmatch(r"[0-9]{1,6}", raw_page) else 0
    )
    if not 1 <= page <= MAX_PAGE:
        fields["page"] = _("A page number from 1 to %(n)d.", n=MAX_PAGE)
    if fields:
        raise InvalidInput(_("Check the filters."), fields)
    return AuditFilters(person, object_type, object_id, action, days["from"], days["to"], page)


def _where(stmt: Any, filters: AuditFilters) -> Any:
    if filters.person:
        stmt = stmt.where(User.username == filters.person)
    if filters.object_type:
        stmt = stmt.where(AuditEvent.object_type == filters.object_type)
    if filters.object_id:
        stmt = stmt.where(AuditEvent.object_id == filters.object_id)
    if filters.action:
        if filters.action.endswith("."):
            stmt = stmt.where(AuditEvent.action.startswith(filters.action, autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.date_from:
        stmt = stmt.where(AuditEvent.at >= day_start(filters.date_from))
    if filters.date_to:
        stmt = stmt.where(AuditEvent.at < day_start(filters.date_to + timedelta(days=1)))
    return stmt


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    """China time."""
    username: str
    display_name: str
    action: str
    object_type: str
    object_id: str
    remote_addr: str
    details: dict[str, Any]

    @property
    def details_text(self) -> str:
        """The details as JSON a Chinese reader can read (no \\u escapes)."""
        return _details_text(self.details)


def _details_text(details: dict[str, Any]) -> str:
    return json.dumps(details, ensure_ascii=False, sort_keys=True) if details else ""


def _select() -> Any:
    return select(
        AuditEvent.id,
        AuditEvent.at,
        User.username,
        User.display_name,
        AuditEvent.action,
        AuditEvent.object_type,
        AuditEvent.object_id,
        AuditEvent.remote_addr,
        AuditEvent.details,
    ).outerjoin(User, User.id == AuditEvent.actor_id)


def _row(r: Any) -> AuditRow:
    return AuditRow(
        id=r.id,
        at=r.at.astimezone(CHINA_TZ),
        username=r.username or "",
        display_name=r.display_name or "",
        action=r.action,
        object_type=r.object_type,
        object_id=r.object_id,
        remote_addr=r.remote_addr or "",
        details=r.details or {},
    )


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    page: int
    has_next: bool


def search(session: Session, filters: AuditFilters, page_size: int = PAGE_SIZE) -> AuditPage:
    """One page of matching records, newest first. One row more than the page is read to
    know whether there is a next page (no count over the whole log)."""
    stmt = (
        _where(_select(), filters)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset((filters.page - 1) * page_size)
        .limit(page_size + 1)
    )
    rows = [_row(r) for r in session.execute(stmt)]
    return AuditPage(rows[:page_size], filters.page, len(rows) > page_size)


def count(session: Session, filters: AuditFilters) -> int:
    """How many records match (for the export's limit)."""
    stmt = _where(
        select(func.count())
        .select_from(AuditEvent)
        .outerjoin(User, User.id == AuditEvent.actor_id),
        filters,
    )
    return int(session.execute(stmt).scalar_one())


def export_rows(session: Session, filters: AuditFilters) -> Iterator[tuple[Any, ...]]:
    """Every matching record, newest first, as rows of EXPORT_COLUMNS' keys (times naive
    China time, as the export writers take them), streamed."""
    stmt = _where(_select(), filters).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    for r in session.execute(stmt.execution_options(yield_per=1000)):
        row = _row(r)
        yield (
            row.at.replace(tzinfo=None),
            row.username,
            row.display_name,
            row.action,
            row.object_type,
            row.object_id,
            row.remote_addr,
            row.details_text,
        )


EXPORT_KEYS = (
    "at",
    "username",
    "display_name",
    "action",
    "object_type",
    "object_id",
    "remote_addr",
    "details",
)
