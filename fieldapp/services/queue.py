"""Work queues: a coordinator's triage queue (their township's open cases), a county's or the
city's own cases after escalation, a department's assigned cases, and the city's overdue list.
Sorted by urgency by default: overdue first (the longest overdue on top), then by time left,
then severity and a possible group incident — a yellow case overdue by a day is more urgent
than a red one with eight days left. Searchable by case number, title, address and
description. Each row also says how many reports its cell had in the last 90 days (context,
not an alarm) and whether an earlier open report may be the same dispute (疑似重复)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from pydantic import ValidationError
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from fieldapp.contract.base import field_errors
from fieldapp.contract.cases import QueueQuery
from fieldapp.deadlines import DeadlinePolicy
from fieldapp.domain import SEVERITIES
from fieldapp.models import Report, User
from fieldapp.services import cases, duplicates, reports
from fieldapp.services.errors import Forbidden, InvalidInput
from fieldapp.workflow import OPEN_STATES

REPEAT_WINDOW = timedelta(days=90)
SEVERITY_RANK = case({s: i for i, s in enumerate(SEVERITIES)}, value=Report.severity, else_=3)


#: The queue's filters are the API's declared query (one declaration for the API and the
#: triage pages).
QueueFilters = QueueQuery


def parse_filters(args: Mapping[str, str]) -> QueueFilters:
    """The filters from a page's query string; InvalidInput naming each bad one."""
    try:
        return QueueQuery.model_validate(dict(args))
    except ValidationError as exc:
        raise InvalidInput(
            _("Check the filters."),
            field_errors(exc, QueueQuery.field_messages),
            code="invalid_parameters",
        ) from None


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % _ and \\ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _search(text: str) -> Any:
    """Rows whose case number, title, address or description contains the text (bound
    parameters; the case number also matched whatever case it was typed in)."""
    pattern = _like(text)
    return or_(
        Report.case_number.ilike(pattern, escape="\\"),
        Report.title.ilike(pattern, escape="\\"),
        Report.address.ilike(pattern, escape="\\"),
        Report.description.ilike(pattern, escape="\\"),
    )


def order_by(sort: str) -> tuple[Any, ...]:
    """The queue's order. Urgency: due time first (overdue ones have the earliest), cases
    without a clock last; then severity, a possible group incident, and first come."""
    if sort == "severity":
        return (
            SEVERITY_RANK,
            Report.potential_group_incident.desc(),
            Report.due_at.asc().nulls_last(),
            Report.reported_at,
            Report.id,
        )
    if sort == "newest":
        return (Report.reported_at.desc(), Report.id)
    return (
        Report.due_at.asc().nulls_last(),
        SEVERITY_RANK,
        Report.potential_group_incident.desc(),
        Report.reported_at,
        Report.id,
    )


def _owned_by(user: User) -> Any:
    if user.role == "coordinator":
        return (Report.owner_level == "township") & (Report.owner_area_id == user.area_id)
    if user.role == "county":
        return (Report.owner_level == "county") & (Report.owner_area_id == user.area_id)
    if user.role == "city":
        return Report.owner_level == "city"
    if user.role == "department":
        return Report.department_id == user.department_id
    raise Forbidden(_("There is no work queue for this role."))


def queue(
    session: Session, user: User, filters: QueueFilters, *, now: datetime, policy: DeadlinePolicy
) -> dict[str, Any]:
    stmt = select(Report).where(Report.status.in_([s.value for s in OPEN_STATES]))
    if filters.view == "overdue":
        if user.role not in ("city", "county"):
            raise Forbidden(_("The overdue list is for county and city staff."))
        stmt = reports_scope(stmt, user).where(Report.due_at <= now)
    else:
        stmt = reports_scope(stmt, user).where(_owned_by(user))
    if filters.status:
        stmt = stmt.where(Report.status == filters.status)
    if filters.severity:
        stmt = stmt.where(Report.severity == filters.severity)
    if filters.category:
        stmt = stmt.where(Report.category == filters.category)
    if filters.q:
        stmt = stmt.where(_search(filters.q))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    page: list[Report] = list(
        session.execute(
            stmt.order_by(*order_by(filters.sort))
            .limit(filters.per_page)
            .offset((filters.page - 1) * filters.per_page)
        ).scalars()
    )
    repeats = _repeat_counts(session, page, now)
    suspected = duplicates.suspected(session, [r.id for r in page], user)
    items = []
    for report, item in zip(page, reports.reports_json(session, page, user), strict=True):
        item.update(cases.case_fields(report, user, now, policy))
        item["repeat_place_reports"] = repeats.get(report.cell_id, 0)
        item["possible_duplicate"] = report.id in suspected
        items.append(item)
    return {"items": items, "total": int(total), "page": filters.page, "per_page": filters.per_page}


def reports_scope(stmt: Any, user: User) -> Any:
    from fieldapp.services import scope

    return scope.visible_reports(stmt, user)


def _repeat_counts(session: Session, page: list[Report], now: datetime) -> dict[int, int]:
    cells = {r.cell_id for r in page}
    if not cells:
        return {}
    rows = session.execute(
        select(Report.cell_id, func.count())
        .where(
            Report.cell_id.in_(cells),
            Report.reported_at >= now - REPEAT_WINDOW,
            Report.status != "merged",
        )
        .group_by(Report.cell_id)
    ).all()
    return {cell: int(n) for cell, n in rows}
