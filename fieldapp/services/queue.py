"""Work queues: a coordinator's triage queue (their township's open cases), a county's or the
city's own cases after escalation, a department's assigned cases, and the city's overdue list.
Sorted by priority: severity, a possible group incident, time left, and repeat place (how many
reports the same cell had in the last 90 days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from fieldapp.deadlines import DeadlinePolicy
from fieldapp.models import Report, User
from fieldapp.services import cases, reports
from fieldapp.services.errors import Forbidden, InvalidInput
from fieldapp.workflow import OPEN_STATES

REPEAT_WINDOW = timedelta(days=90)
SEVERITY_RANK = case({"red": 0, "orange": 1, "yellow": 2}, value=Report.severity, else_=3)


@dataclass(frozen=True)
class QueueFilters:
    view: str = "mine"  # mine | overdue
    status: str | None = None
    severity: str | None = None
    category: str | None = None
    page: int = 1
    per_page: int = 50


#: Far beyond any real queue; keeps the row offset within what PostgreSQL accepts.
MAX_PAGE = 100_000


def parse_filters(args: dict[str, str]) -> QueueFilters:
    errors: dict[str, str] = {}
    view = args.get("view", "mine")
    if view not in ("mine", "overdue"):
        errors["view"] = _("One of: mine, overdue.")
    status = args.get("status") or None
    if status and status not in {s.value for s in OPEN_STATES}:
        errors["status"] = _("An open state.")
    severity = args.get("severity") or None
    if severity and severity not in ("red", "orange", "yellow"):
        errors["severity"] = _("One of: red, orange, yellow.")
    try:
        page = int(args.get("page", 1))
        per_page = int(args.get("per_page", 50))
        if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= 200:
            raise ValueError
    except ValueError:
        errors["page"] = _("page from 1 to 100,000 and per_page from 1 to 200.")
        page, per_page = 1, 50
    if errors:
        raise InvalidInput(_("Check the filters."), errors, code="invalid_parameters")
    return QueueFilters(view, status, severity, args.get("category") or None, page, per_page)


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
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    page: list[Report] = list(
        session.execute(
            stmt.order_by(
                SEVERITY_RANK,
                Report.potential_group_incident.desc(),
                Report.due_at.asc().nulls_last(),
                Report.reported_at,
            )
            .limit(filters.per_page)
            .offset((filters.page - 1) * filters.per_page)
        ).scalars()
    )
    repeats = _repeat_counts(session, page, now)
    items = []
    for report, item in zip(page, reports.reports_json(session, page, user), strict=True):
        item.update(cases.case_fields(report, user, now, policy))
        item["repeat_place_reports"] = repeats.get(report.cell_id, 0)
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
