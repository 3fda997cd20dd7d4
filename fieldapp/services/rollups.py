"""The SQL of the statistics (roll-ups, KPI counts, key backlog cases): the data layer under
`fieldapp.services.stats`. Plain functions taking a session and returning plain data.

Everything reads the live `reports` table (no nightly batch): a report is counted the moment
its transaction commits. Counts use the chain written onto each report at intake (cell,
village, township, county), so no spatial join is needed and a later boundary re-import does
not move old reports between areas. The city level is the sum of its counties.

Speed: a window of days over the whole city is answered from the covering index
`ix_reports_reported_stats` (reported_at, including the chain, category, severity and status;
migration 0005) as an index-only scan; windows within one township or county use the older
(township_id, reported_at) and (county_id, reported_at) indexes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from fieldapp import kpi
from fieldapp.domain import CHINA_TZ
from fieldapp.models import Area, Cell, Checkin, CheckinMonth, OfficerCell, Report, User
from fieldapp.services import scope
from fieldapp.stats import LEVELS, MERGED, Period, day_start, level_index, whole_months
from grid import queries

_REPORT_COLUMN: dict[str, Any] = {
    "cell": Report.cell_id,
    "village": Report.village_id,
    "township": Report.township_id,
    "county": Report.county_id,
}
_CELL_COLUMN: dict[str, Any] = queries.CELL_COLUMN_OF_LEVEL


@dataclass(frozen=True)
class AreaInfo:
    """An area or a cell: what a statistics row shows about it."""

    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    parent_code: str | None
    population: int | None
    chain: dict[str, int] = field(default_factory=dict, compare=False)
    """Ids of itself and its ancestors by level (for scope checks)."""


@dataclass(frozen=True)
class RollupFilters:
    """What a roll-up counts: reports filed from `date_from` to `date_to` (China-time days,
    both included; None = open), of these categories / severities / statuses (empty = all).
    With no status asked for, merged duplicates are left out."""

    date_from: date | None = None
    date_to: date | None = None
    categories: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()


# --- areas -----------------------------------------------------------------------------------


def find_area(session: Session, code: str) -> AreaInfo | None:
    """The area or cell with this code, with its chain of ancestors."""
    parent = aliased(Area)
    row = session.execute(
        select(
            Area.id, Area.code, Area.name, Area.level, Area.parent_id, parent.code, Area.population
        )
        .outerjoin(parent, parent.id == Area.parent_id)
        .where(Area.code == code)
    ).first()
    if row is not None:
        chain = {row[3]: row[0]}
        parent_id = row[4]
        while parent_id is not None:  # at most three steps up
            up = session.execute(
                select(Area.id, Area.level, Area.parent_id).where(Area.id == parent_id)
            ).one()
            chain[up[1]] = up[0]
            parent_id = up[2]
        return AreaInfo(row[0], row[1], row[2], row[3], row[4], row[5], row[6], chain)
    village = aliased(Area)
    cell = session.execute(
        select(
            Cell.id,
            Cell.code,
            Cell.name,
            Cell.village_id,
            village.code,
            Cell.population,
            Cell.township_id,
            Cell.county_id,
            Cell.city_id,
        )
        .join(village, village.id == Cell.village_id)
        .where(Cell.code == code)
    ).first()
    if cell is None:
        return None
    chain = {
        "cell": cell[0],
        "village": cell[3],
        "township": cell[6],
        "county": cell[7],
        "city": cell[8],
    }
    return AreaInfo(cell[0], cell[1], cell[2], "cell", cell[3], cell[4], cell[5], chain)


def find_area_by_id(session: Session, area_id: int) -> AreaInfo | None:
    code = session.execute(select(Area.code).where(Area.id == area_id)).scalar_one_or_none()
    return find_area(session, code) if code is not None else None


def areas_below(session: Session, level: str, within: AreaInfo | None) -> list[AreaInfo]:
    """Every area (or cell) of `level` at or under `within` (None: everywhere), by code —
    including those that have no report, so a quiet area shows as 0, not as missing."""
    if level == "cell":
        village = aliased(Area)
        stmt: Any = select(
            Cell.id, Cell.code, Cell.name, Cell.village_id, village.code, Cell.population
        ).join(village, village.id == Cell.village_id)
        if within is not None:
            stmt = stmt.where(_CELL_COLUMN[within.level] == within.id)
        rows = session.execute(stmt.order_by(Cell.code)).all()
        return [AreaInfo(r[0], r[1], r[2], "cell", r[3], r[4], r[5]) for r in rows]
    parent = aliased(Area)
    stmt = (
        select(
            Area.id, Area.code, Area.name, Area.level, Area.parent_id, parent.code, Area.population
        )
        .outerjoin(parent, parent.id == Area.parent_id)
        .where(Area.level == level)
    )
    if within is not None:
        # Walk up from the level to the level of `within`, one parent join per step.
        depth = level_index(level) - level_index(within.level)
        current: Any = Area
        for _step in range(depth):
            up = aliased(Area)
            stmt = stmt.join(up, up.id == current.parent_id)
            current = up
        stmt = stmt.where(current.id == within.id)
    rows = session.execute(stmt.order_by(Area.code)).all()
    return [AreaInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


def county_parents(session: Session) -> dict[int, int | None]:
    """County id → its city's id (to add counties up to the city)."""
    rows = session.execute(select(Area.id, Area.parent_id).where(Area.level == "county"))
    return {int(r[0]): r[1] for r in rows}


# --- roll-ups -------------------------------------------------------------------------------


def _within_reports(within: AreaInfo | None) -> ColumnElement[bool]:
    if within is None:
        return true()
    if within.level == "city":
        return Report.county_id.in_(
            select(Area.id).where(Area.level == "county", Area.parent_id == within.id)
        )
    clause: ColumnElement[bool] = _REPORT_COLUMN[within.level] == within.id
    return clause


def reports_within(within: AreaInfo | None) -> ColumnElement[bool]:
    """The WHERE clause "reported in `within`" the roll-ups count with (for the case lists
    that must show exactly the reports behind a count)."""
    return _within_reports(within)


def _bucket_expr(bucket: str) -> Any:
    # The China-time calendar day (or its week's Monday / month's 1st) of reported_at.
    local = func.timezone(CHINA_TZ.key, Report.reported_at)
    return cast(func.date_trunc(bucket, local), Date)


def count_reports(
    session: Session,
    user: User,
    level: str,
    within: AreaInfo | None,
    filters: RollupFilters,
    by: str | None,
    bucket: str = "day",
) -> dict[int, dict[str, int]]:
    """Report counts per area id of `level` and breakdown key (`by`: category, severity,
    status or period; None: the key "total"), only reports `user` may see. Areas without
    reports are absent (the caller adds the zeros). The city level is counted per county
    here and added up by the caller."""
    group_level = "county" if level == "city" else level
    area_col = _REPORT_COLUMN[group_level]
    if by is None:
        key: Any = literal("total")
    elif by == "period":
        key = _bucket_expr(bucket)
    else:
        key = {"category": Report.category, "severity": Report.severity, "status": Report.status}[
            by
        ]
    stmt = (
        select(area_col, key, func.count())
        .where(_within_reports(within), scope.report_filter(user))
        .group_by(area_col, key)
    )
    if filters.statuses:
        stmt = stmt.where(Report.status.in_(filters.statuses))
    else:
        stmt = stmt.where(Report.status != MERGED)
    if filters.date_from is not None:
        stmt = stmt.where(Report.reported_at >= day_start(filters.date_from))
    if filters.date_to is not None:
        stmt = stmt.where(Report.reported_at < day_start(filters.date_to + timedelta(days=1)))
    if filters.categories:
        stmt = stmt.where(Report.category.in_(filters.categories))
    if filters.severities:
        stmt = stmt.where(Report.severity.in_(filters.severities))
    out: dict[int, dict[str, int]] = {}
    rows: Any = session.execute(stmt)
    for area_id, k, n in rows:
        label = k.isoformat() if isinstance(k, date) else str(k)
        out.setdefault(int(area_id), {})[label] = int(n)
    return out


# --- KPI counts -------------------------------------------------------------------------------


def _period_case(periods: Sequence[Period], then: Callable[[int], Any]) -> ColumnElement[Any]:
    """`then(i)` for a report of period i, for reports within [first start, last end) (the
    caller's WHERE). Evaluated for every report: when the periods follow each other without a
    gap (a period and the previous one), one comparison per period boundary instead of two
    per period, else NULL outside every period."""
    latest_first = sorted(range(len(periods)), key=lambda i: periods[i].start, reverse=True)
    contiguous = all(
        periods[later].start == periods[earlier].end
        for later, earlier in zip(latest_first, latest_first[1:], strict=False)
    )
    if not contiguous:
        return case(
            *(
                (
                    and_(
                        Report.reported_at >= day_start(p.start),
                        Report.reported_at < day_start(p.end),
                    ),
                    then(index),
                )
                for index, p in enumerate(periods)
            ),
            else_=None,
        )
    *newer, oldest = latest_first
    if not newer:
        return then(oldest)
    return case(
        *((Report.reported_at >= day_start(periods[i].start), then(i)) for i in newer),
        else_=then(oldest),
    )


def kpi_counts(
    session: Session,
    user: User,
    level: str,
    within: AreaInfo | None,
    periods: Sequence[Period],
    now: datetime,
) -> list[dict[int, dict[str, int]]]:
    """For each period (in order), area id of `level` (township or county) → the report
    counts named in `fieldapp.kpi` (see its rules), over the reports `user` may see.

    One index-only scan over all periods (the covering index holds every column read here),
    grouped by period, area, stored KPI code (`reports.kpi_code`: the part of the rules that
    does not depend on now), "due_at has passed" and "repeat at its place in this period"
    (`reports.prev_place_at` within the period), added up into the counts by
    `kpi.add_coded_counts`. A few thousand groups come back."""
    area_col = _REPORT_COLUMN[level]
    first = min(p.start for p in periods)
    last = max(p.end for p in periods)
    which = _period_case(periods, literal)
    # A repeat: the previous report at its place (cell, category) is in the same period.
    # prev_place_at is earlier than the report, so "at or after the period's start" is enough.
    repeat = _period_case(periods, lambda i: Report.prev_place_at >= day_start(periods[i].start))
    keys = (which, area_col, Report.kpi_code, Report.due_at < now, func.coalesce(repeat, False))
    stmt = (
        select(*keys, func.count())
        .where(
            Report.reported_at >= day_start(first),
            Report.reported_at < day_start(last),
            Report.status != MERGED,
            _within_reports(within),
            scope.report_filter(user),
        )
        .group_by(*keys)
    )
    out: list[dict[int, dict[str, int]]] = [{} for _ in periods]
    rows: Any = session.execute(stmt)
    for index, area_id, code, is_overdue, is_repeat, n in rows:
        if index is None:
            continue
        counts = out[int(index)].setdefault(int(area_id), {})
        kpi.add_coded_counts(counts, int(code), is_overdue, int(n))
        counts["repeats"] = counts.get("repeats", 0) + (int(n) if is_repeat else 0)
    return out


def checkin_counts(
    session: Session,
    level: str,
    within: AreaInfo | None,
    windows: Sequence[tuple[date, date]],
) -> tuple[dict[int, int], list[dict[int, int]]]:
    """Officers per area of `level` (active officers attached to a cell of the area, each
    once) and, for each window [first, end) of days, their check-ins per area.

    One query: check-ins are first counted per officer — the calendar months wholly inside a
    window from the per-month totals (`checkin_months`), only the days at its edges from the
    check-ins themselves (`stats.whole_months`) — then the ~5,000 officers' counts are added
    up per area."""
    area_col = _CELL_COLUMN[level]
    officers = (
        select(area_col.label("area_id"), OfficerCell.user_id.label("user_id"))
        .join(OfficerCell, OfficerCell.cell_id == Cell.id)
        .join(User, User.id == OfficerCell.user_id)
        .where(User.role == "officer", User.active)
        .distinct()
    )
    if within is not None:
        officers = officers.where(_CELL_COLUMN[within.level] == within.id)
    oa = officers.subquery()
    split = [whole_months(first, end) for first, end in windows]
    live = [index for index, (first, end) in enumerate(windows) if end > first]
    per_officer = _checkins_per_officer(split) if live else None
    if per_officer is not None:
        stmt: Any = select(
            oa.c.area_id,
            func.count(oa.c.user_id),
            *(
                func.coalesce(func.sum(per_officer.c[f"w{index}"]), 0)
                for index in range(len(windows))
            ),
        ).outerjoin(per_officer, per_officer.c.officer_id == oa.c.user_id)
    else:
        stmt = select(oa.c.area_id, func.count(oa.c.user_id))
    counted: dict[int, int] = {}
    result: list[dict[int, int]] = [{} for _ in windows]
    for row in session.execute(stmt.group_by(oa.c.area_id)):
        area_id = int(row[0])
        counted[area_id] = int(row[1])
        if per_officer is not None:
            for index in live:
                result[index][area_id] = int(row[2 + index])
    return counted, result


def _checkins_per_officer(
    split: Sequence[tuple[list[date], list[tuple[date, date]]]],
) -> Any:
    """officer_id, w0, w1, …: check-in days per officer in each window, given as (whole
    months, edge day ranges); the per-month totals and the edge days added up."""
    parts = []
    all_months = sorted({m for months, _rest in split for m in months})
    if all_months:
        parts.append(
            select(
                CheckinMonth.officer_id.label("officer_id"),
                *(
                    func.coalesce(
                        func.sum(CheckinMonth.days).filter(CheckinMonth.month.in_(months)), 0
                    ).label(f"w{index}")
                    if months
                    else literal(0).label(f"w{index}")
                    for index, (months, _rest) in enumerate(split)
                ),
            )
            .where(CheckinMonth.month.in_(all_months))
            .group_by(CheckinMonth.officer_id)
        )

    def days_in(ranges: Sequence[tuple[date, date]]) -> ColumnElement[bool]:
        return or_(*(and_(Checkin.day >= a, Checkin.day < b) for a, b in ranges))

    all_rest = [r for _months, rest in split for r in rest]
    if all_rest:
        parts.append(
            select(
                Checkin.officer_id.label("officer_id"),
                *(
                    func.count().filter(days_in(rest)).label(f"w{index}")
                    if rest
                    else literal(0).label(f"w{index}")
                    for index, (_months, rest) in enumerate(split)
                ),
            )
            .where(days_in(all_rest))
            .group_by(Checkin.officer_id)
        )
    if not parts:
        return None
    both = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    return (
        select(
            both.c.officer_id,
            *(func.sum(both.c[f"w{index}"]).label(f"w{index}") for index in range(len(split))),
        )
        .group_by(both.c.officer_id)
        .subquery()
    )


# --- key backlog cases (重点积案) ------------------------------------------------------------


@dataclass(frozen=True)
class KeyCaseRow:
    id: str
    title: str
    status: str
    outcome: str | None
    severity: str
    category: str
    leader: str | None
    target_date: date | None
    reported_at: datetime
    closed_at: datetime | None
    township_id: int
    county_id: int
    township_code: str
    township_name: str
    county_code: str
    county_name: str


def key_cases(session: Session, user: User, within: AreaInfo | None) -> list[KeyCaseRow]:
    """The key backlog cases `user` may see under `within`, by target date (none last)."""
    township, county = aliased(Area), aliased(Area)
    stmt = (
        select(
            Report.id,
            Report.title,
            Report.status,
            Report.outcome,
            Report.severity,
            Report.category,
            Report.key_leader,
            Report.key_target_date,
            Report.reported_at,
            Report.closed_at,
            Report.township_id,
            Report.county_id,
            township.code,
            township.name,
            county.code,
            county.name,
        )
        .join(township, township.id == Report.township_id)
        .join(county, county.id == Report.county_id)
        .where(Report.is_key_case, _within_reports(within), scope.report_filter(user))
        .order_by(Report.key_target_date.asc().nulls_last(), Report.reported_at)
    )
    rows: Any = session.execute(stmt)
    return [KeyCaseRow(str(r[0]), *r[1:]) for r in rows]


def levels_below(level: str) -> tuple[str, ...]:
    return LEVELS[level_index(level) :]
