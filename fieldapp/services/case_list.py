"""The cases behind a figure: the scoped case list the dashboards link to (/cases).

It takes the filters of the roll-ups (area, China-time days, category, severity, status) plus
"overdue", "key case", outcome and satisfaction, and builds its WHERE clause from the same
pieces as `fieldapp.services.rollups` (scope, the area clause, merged duplicates left out
unless a status is asked for, the day boundaries), so the total of a list equals the figure
that linked to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from fieldapp import bounds
from fieldapp.labels import OUTCOME_LABELS, SATISFACTION_LABELS, one_of
from fieldapp.models import Cell, Report, User
from fieldapp.services import reports, rollups, scope, stats
from fieldapp.services.errors import InvalidInput
from fieldapp.services.rollups import AreaInfo, RollupFilters
from fieldapp.stats import MERGED, day_start, split_list
from fieldapp.workflow import OPEN_STATES

OPEN_STATUS_VALUES: Final = tuple(sorted(s.value for s in OPEN_STATES))
OUTCOMES: Final = ("resolved", "stabilised", "escalated")
SATISFACTIONS: Final = ("satisfied", "basically_satisfied", "dissatisfied")
MAX_PER_PAGE: Final = 100
#: Most grid cells one list may name (`cells=`): a hotspot alert has at most 50.
MAX_CELLS: Final = 200
MAX_PAGE: Final = 100_000
_ONE_DAY: Final = timedelta(days=1)


@dataclass(frozen=True)
class CaseFilters:
    """Which cases: reported in `within` (an area or cell code; None = the reader's own area)
    from `date_from` to `date_to` (China-time days, both included), of these categories,
    severities, statuses, outcomes and satisfaction ratings (empty = any); `overdue`: open
    with the deadline in force passed; `key`: key backlog cases (重点积案) only."""

    within: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    categories: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    satisfactions: tuple[str, ...] = ()
    overdue: bool = False
    key: bool = False
    page: int = 1
    per_page: int = 50
    cells: tuple[str, ...] = ()
    """Grid cell codes (empty = any): the cases behind a hotspot alert or a map bubble."""

    def rollup_filters(self) -> RollupFilters:
        return RollupFilters(
            date_from=self.date_from,
            date_to=self.date_to,
            categories=self.categories,
            severities=self.severities,
            statuses=self.statuses,
        )


def _flag(raw: str | None, name: str, errors: dict[str, str]) -> bool:
    if raw in (None, "", "0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    errors[name] = _("1 or 0.")
    return False


def parse_case_filters(args: Mapping[str, str]) -> CaseFilters:
    """The case list's query parameters; every problem at once (InvalidInput, 400)."""
    errors: dict[str, str] = {}

    def day(name: str) -> date | None:
        try:
            return bounds.parse_day(args.get(name))
        except ValueError as exc:
            errors[name] = str(exc)
            return None

    def integer(name: str, default: int, high: int) -> int:
        raw = args.get(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            errors[name] = _("A whole number.")
            return default
        if not 1 <= value <= high:
            errors[name] = _("Between %(low)d and %(high)d.", low=1, high=high)
            return default
        return value

    within = (args.get("within") or "").strip() or None
    if within is not None and len(within) > 32:
        errors["within"] = _("No area or cell has this code.")
        within = None
    first, last = day("from"), day("to")
    if first and last and last < first:
        errors["to"] = _("The end date is before the start date.")
    outcomes = split_list(args.get("outcome"))
    if set(outcomes) - set(OUTCOMES):
        errors["outcome"] = one_of(OUTCOME_LABELS, OUTCOMES)
    satisfactions = split_list(args.get("satisfaction"))
    if set(satisfactions) - set(SATISFACTIONS):
        errors["satisfaction"] = one_of(SATISFACTION_LABELS, SATISFACTIONS)
    cells = split_list(args.get("cells"))
    if len(cells) > MAX_CELLS:
        errors["cells"] = _("At most %(n)d grid cells.", n=MAX_CELLS)
        cells = ()
    elif any(len(c) > 32 or not c.isalnum() for c in cells):
        errors["cells"] = _("Grid cell codes separated by commas.")
        cells = ()
    filters = CaseFilters(
        within=within,
        cells=cells,
        date_from=first,
        date_to=last,
        categories=split_list(args.get("category")),
        severities=split_list(args.get("severity")),
        statuses=split_list(args.get("status")),
        outcomes=outcomes,
        satisfactions=satisfactions,
        overdue=_flag(args.get("overdue"), "overdue", errors),
        key=_flag(args.get("key"), "key", errors),
        page=integer("page", 1, MAX_PAGE),
        per_page=integer("per_page", 50, MAX_PER_PAGE),
    )
    if errors:
        raise InvalidInput(_("Check the filters."), errors, code="invalid_parameters")
    return filters


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """Open, with the deadline of the step in force (acceptance or handling) passed — the
    same rule as the overdue queue (`fieldapp.services.queue`)."""
    return and_(Report.status.in_(OPEN_STATUS_VALUES), Report.due_at <= now)


def _where(
    user: User, within: AreaInfo | None, filters: CaseFilters, now: datetime
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [
        scope.report_filter(user),
        rollups.reports_within(within),
    ]
    if filters.statuses:
        clauses.append(Report.status.in_(filters.statuses))
    elif not filters.key:
        # As the roll-ups count; the key-case campaign counts every key case, so its list
        # keeps a key case that was merged later.
        clauses.append(Report.status != MERGED)
    if filters.date_from is not None:
        clauses.append(Report.reported_at >= day_start(filters.date_from))
    if filters.date_to is not None:
        clauses.append(Report.reported_at < day_start(filters.date_to) + _ONE_DAY)
    if filters.categories:
        clauses.append(Report.category.in_(filters.categories))
    if filters.severities:
        clauses.append(Report.severity.in_(filters.severities))
    if filters.outcomes:
        clauses.append(Report.outcome.in_(filters.outcomes))
    if filters.satisfactions:
        clauses.append(Report.satisfaction.in_(filters.satisfactions))
    if filters.overdue:
        clauses.append(overdue_clause(now))
    if filters.key:
        clauses.append(Report.is_key_case.is_(True))
    if filters.cells:
        clauses.append(Report.cell_id.in_(select(Cell.id).where(Cell.code.in_(filters.cells))))
    return clauses


def _checked(session: Session, user: User, filters: CaseFilters) -> AreaInfo | None:
    """Scope and filter checks shared with the statistics: 403 outside the reader's area,
    400 for an unknown area, category, severity or status."""
    within = stats.resolve_within(session, user, filters.within)
    stats.validate_filters(session, filters.rollup_filters())
    if filters.cells:
        known = set(
            session.execute(select(Cell.code).where(Cell.code.in_(filters.cells))).scalars()
        )
        unknown = [c for c in filters.cells if c not in known]
        if unknown:
            raise InvalidInput(
                _("Check the filters."),
                {"cells": _("No grid cell has the code %(code)s.", code=unknown[0])},
                code="invalid_parameters",
            )
    return within


def count_cases(session: Session, user: User, filters: CaseFilters, *, now: datetime) -> int:
    """How many cases the list with these filters holds."""
    within = _checked(session, user, filters)
    stmt = select(func.count()).select_from(Report).where(*_where(user, within, filters, now))
    return int(session.execute(stmt).scalar_one())


def list_cases(
    session: Session, user: User, filters: CaseFilters, *, now: datetime
) -> dict[str, Any]:
    """One page of the cases, newest first, with the total and the area they are about."""
    within = _checked(session, user, filters)
    where = _where(user, within, filters, now)
    total = int(
        session.execute(select(func.count()).select_from(Report).where(*where)).scalar_one()
    )
    page_rows: list[Report] = list(
        session.execute(
            select(Report)
            .where(*where)
            .order_by(Report.reported_at.desc(), Report.id)
            .limit(filters.per_page)
            .offset((filters.page - 1) * filters.per_page)
        ).scalars()
    )
    items = reports.reports_json(session, page_rows, user)
    for report, item in zip(page_rows, items, strict=True):
        item["due_at"] = report.due_at.isoformat() if report.due_at else None
        due = report.due_at
        item["overdue"] = report.status in OPEN_STATUS_VALUES and due is not None and due <= now
        item["is_key_case"] = report.is_key_case
        item["outcome"] = report.outcome
    pages = max(1, -(-total // filters.per_page))
    return {
        "within": None
        if within is None
        else {"code": within.code, "name": within.name, "level": within.level},
        "items": items,
        "total": total,
        "page": filters.page,
        "per_page": filters.per_page,
        "pages": pages,
    }
