"""The city, county and township dashboards (/dashboard): which area and period a request is
about, the breadcrumb up the hierarchy, which levels have KPIs, and the one figure the JSON
API does not give (open cases past their deadline, counted by the case list's own query so
that the figure equals the list it links to). Everything else on the dashboard is fetched by
the page from /api/v1/rollups, /kpis and /campaign."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldapp import bounds
from fieldapp.models import Area, Cell, User
from fieldapp.services import case_list, stats
from fieldapp.services.errors import Forbidden, InvalidInput
from fieldapp.services.rollups import AreaInfo
from fieldapp.stats import LEVELS, Period, month_period, parse_period, range_period

DASHBOARD_ROLES: Final = stats.STATS_ROLES
#: The longest custom range (the roll-up API's own limit).
MAX_RANGE_DAYS: Final = 3660


@dataclass(frozen=True)
class Crumb:
    code: str
    name: str
    level: str
    linked: bool
    """Whether the reader may open the dashboard of this area (not above their own)."""


@dataclass(frozen=True)
class DashboardArea:
    code: str
    name: str
    level: str
    breadcrumb: list[Crumb]
    child_level: str | None
    headline_kpi_level: str | None
    """The /kpis level whose rows add up to this area (None: no KPIs below a township)."""
    table_kpi_level: str | None
    """The /kpis level of the child areas' ranking (None: roll-up counts only)."""
    campaign: bool


def check_reader(user: User) -> None:
    if user.role not in DASHBOARD_ROLES:
        raise Forbidden(_("The dashboards are for coordinators, county and city staff."))


def _city(session: Session) -> AreaInfo:
    from fieldapp.services import rollups

    code = session.execute(
        select(Area.code).where(Area.level == "city").order_by(Area.code).limit(1)
    ).scalar_one_or_none()
    found = rollups.find_area(session, code) if code is not None else None
    if found is None:
        raise InvalidInput(_("No boundaries are loaded yet."), {}, code="no_areas")
    return found


def resolve_area(session: Session, user: User, code: str | None) -> DashboardArea:
    """The area to show: `code` if given (it must be the reader's own area or lie in it:
    Forbidden otherwise; an unknown code is InvalidInput), else the reader's own area."""
    check_reader(user)
    area = stats.resolve_within(session, user, code) or _city(session)
    own_level = None
    if user.role not in ("city", "admin") and user.area_id is not None:
        own = session.get(Area, user.area_id)
        own_level = own.level if own is not None else None
    crumbs = _breadcrumb(session, area, own_level)
    index = LEVELS.index(area.level)
    child = LEVELS[index + 1] if index + 1 < len(LEVELS) else None
    if area.level == "city":
        headline, table = "county", "county"
    elif area.level == "county":
        headline, table = "county", "township"
    elif area.level == "township":
        headline, table = "township", None
    else:
        headline, table = None, None
    return DashboardArea(
        code=area.code,
        name=area.name,
        level=area.level,
        breadcrumb=crumbs,
        child_level=child,
        headline_kpi_level=headline,
        table_kpi_level=table,
        campaign=area.level in ("city", "county", "township"),
    )


def _breadcrumb(session: Session, area: AreaInfo, own_level: str | None) -> list[Crumb]:
    ids = [area.chain[level] for level in LEVELS if level in area.chain and level != "cell"]
    names = {
        row.id: (row.code, row.name, row.level)
        for row in session.execute(
            select(Area.id, Area.code, Area.name, Area.level).where(Area.id.in_(ids))
        )
    }
    if area.level == "cell":
        cell = session.execute(select(Cell.code, Cell.name).where(Cell.id == area.id)).one()
        names[-1] = (cell[0], cell[1], "cell")
        ids.append(-1)
    lowest_allowed = LEVELS.index(own_level) if own_level else 0
    out = []
    for area_id in ids:
        code, name, level = names[area_id]
        out.append(Crumb(code, name, level, LEVELS.index(level) >= lowest_allowed))
    return out


# --- periods ---------------------------------------------------------------------------------


def parse_period_args(args: Mapping[str, str], today: date) -> Period:
    """`period` = a month (2026-11), quarter (2026-Q4) or year (2026); or `from` and `to`
    (China-time days, both included; `period=range` or no period); default: this month."""
    raw = (args.get("period") or "").strip()
    first_raw, last_raw = (args.get("from") or "").strip(), (args.get("to") or "").strip()
    if raw and raw != "range":
        try:
            return parse_period(raw)
        except ValueError:
            raise InvalidInput(
                _("Check the period."),
                {"period": _("A month, quarter or year: 2026-10, 2026-Q3 or 2026.")},
                code="invalid_parameters",
            ) from None
    if not first_raw and not last_raw:
        if raw == "range":
            raise InvalidInput(
                _("Check the period."),
                {"from": _("Choose the first and the last day.")},
                code="invalid_parameters",
            )
        return month_period(today.year, today.month)
    fields: dict[str, str] = {}
    days: dict[str, date] = {}
    for name, value in (("from", first_raw), ("to", last_raw)):
        try:
            parsed = bounds.parse_day(value)
        except ValueError as exc:
            fields[name] = str(exc)
        else:
            if parsed is None:
                fields[name] = _("A date like %(example)s.", example="2026-11-25")
            else:
                days[name] = parsed
    if not fields:
        if days["to"] < days["from"]:
            fields["to"] = _("The end date is before the start date.")
        elif (days["to"] - days["from"]).days > MAX_RANGE_DAYS:
            fields["from"] = _("At most ten years at a time.")
    if fields:
        raise InvalidInput(_("Check the period."), fields, code="invalid_parameters")
    return range_period(days["from"], days["to"])


def bucket_for(period: Period) -> str:
    """Trend buckets: days for a month (or a range up to three months), weeks for a quarter
    (or a range up to two years), months beyond."""
    if period.kind == "month" or (period.kind == "range" and period.days <= 92):
        return "day"
    if period.kind == "quarter" or (period.kind == "range" and period.days <= 731):
        return "week"
    return "month"


def period_options(today: date) -> list[dict[str, str]]:
    """The periods offered in the selector: the last twelve months, the last four quarters,
    this year and the two before."""
    options: list[dict[str, str]] = []
    year, month = today.year, today.month
    for _step in range(12):
        p = month_period(year, month)
        options.append({"value": p.label, "kind": "month"})
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    quarter = (today.month - 1) // 3 + 1
    year = today.year
    for _step in range(4):
        options.append({"value": f"{year}-Q{quarter}", "kind": "quarter"})
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    for back in range(3):
        options.append({"value": str(today.year - back), "kind": "year"})
    return options


def period_json(period: Period) -> dict[str, Any]:
    last = period.end - timedelta(days=1)
    return {
        "kind": period.kind,
        "label": period.label,
        "value": period.label if period.kind != "range" else "range",
        "from": period.start.isoformat(),
        "to": last.isoformat(),
        "bucket": bucket_for(period),
    }


def overdue_count(
    session: Session, user: User, area_code: str, period: Period, *, now: datetime
) -> int:
    """Cases filed in the period in the area, open and past their deadline now."""
    filters = case_list.CaseFilters(
        within=area_code,
        date_from=period.start,
        date_to=period.end - timedelta(days=1),
        overdue=True,
    )
    return case_list.count_cases(session, user, filters, now=now)


def overdue_now_count(session: Session, user: User, area_code: str, *, now: datetime) -> int:
    """Cases in the area, filed at any time, open and past their deadline now: the same set
    as the overdue page (/triage/overdue) for this area, unlike `overdue_count`, which counts
    only the period's reports."""
    filters = case_list.CaseFilters(within=area_code, overdue=True)
    return case_list.count_cases(session, user, filters, now=now)
