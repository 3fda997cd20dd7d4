"""What can be exported: a registry of *table sources*. A source is columns plus a row
iterator (plus, optionally, a row count for the progress bar), scoped to the viewer exactly as
the API's lists are. The writers (`fieldapp.export_writers`) turn any source into xlsx, CSV or
GeoJSON; the export service (`fieldapp.services.exports`) runs them in a worker.

Plugging in another table — e.g. the KPI table of `fieldapp.services.kpis` once it exists —
is a few lines::

    register(TableSource(
        kind="kpis",
        formats=("xlsx", "csv"),
        title=lambda p: _("%(city)s KPIs", city=p.city_name),
        columns=lambda p: [Column("code", _("Area code")), Column("rate", _("On time"), "percent")],
        rows=lambda s, viewer, p: ((r.code, r.on_time_rate) for r in kpis.table(s, ...)),
    ))

(`register` replaces the source of the same kind, so the later, richer KPI table takes over
from the per-area counts registered here.)

Parties' personal data (names, ID numbers, phones) are never exported, nor are the free-text
descriptions that often repeat them; see ReportParty."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Final

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, DateTime, and_, false, func, select, true
from sqlalchemy.orm import Session, aliased

from fieldapp import bounds, kpi
from fieldapp.domain import CHINA_TZ
from fieldapp.export_writers import Column
from fieldapp.labels import OUTCOME_LABELS, SATISFACTION_LABELS, SEVERITY_LABELS, STATE_LABELS
from fieldapp.models import Area, Category, Cell, Department, Report, User
from fieldapp.services import rollups, scope, stats
from fieldapp.services.errors import Forbidden
from fieldapp.stats import Period, china_day, day_start, parse_period, range_period
from grid import queries

LEVELS = ("city", "county", "township", "village", "cell")
#: Roles that may export area tables (counts per area); everyone may export the cases they see.
AREA_TABLE_ROLES = frozenset({"coordinator", "county", "city", "admin"})
#: Rows fetched per round trip from the server-side cursor.
YIELD_PER = 2000


@dataclass(frozen=True)
class ExportParams:
    """A validated export request (see `fieldapp.services.exports.parse_request`)."""

    kind: str
    format: str
    language: str = "zh"
    level: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    area: str | None = None
    category: str | None = None
    severity: str | None = None
    status: str | None = None
    """A case state, or "open" (any state before 办结: `OPEN_STATUS`)."""
    overdue: bool = False
    """Only open cases past their deadline when the file is written."""
    key: bool = False
    """Only key backlog cases (重点积案)."""
    city_name: str = ""
    """The name of what the export covers: the filtered area's, else the city's (`named`)."""
    unit_name: str = ""
    """The reporting unit (填报单位) line: the filtered area, else the requester's unit."""
    filter_text: str = ""
    """The filters in words for the title, e.g. （已办结）; empty without filters."""

    def as_json(self) -> dict[str, Any]:
        filters = {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "area": self.area,
            "category": self.category,
            "severity": self.severity,
            "status": self.status,
            "overdue": True if self.overdue else None,
            "key": True if self.key else None,
        }
        return {
            "language": self.language,
            "level": self.level,
            "filters": {k: v for k, v in filters.items() if v is not None},
        }

    @classmethod
    def from_json(cls, kind: str, fmt: str, data: dict[str, Any]) -> ExportParams:
        filters = data.get("filters") or {}
        return cls(
            kind=kind,
            format=fmt,
            language=data.get("language") or "zh",
            level=data.get("level"),
            # Checked when the job was asked for; the same parser reads them back.
            date_from=bounds.parse_day(filters.get("from")),
            date_to=bounds.parse_day(filters.get("to")),
            area=filters.get("area"),
            category=filters.get("category"),
            severity=filters.get("severity"),
            status=filters.get("status"),
            overdue=bool(filters.get("overdue")),
            key=bool(filters.get("key")),
        )


Rows = Iterable[Sequence[Any]]


@dataclass(frozen=True)
class TableSource:
    """Columns and rows of one kind of export. `rows` must stream (a server-side cursor or
    a generator), never build the whole table; `count` (optional) feeds the progress bar."""

    kind: str
    formats: tuple[str, ...]
    title: Callable[[ExportParams], str]
    columns: Callable[[ExportParams], list[Column]]
    rows: Callable[[Session, User, ExportParams], Rows]
    count: Callable[[Session, User, ExportParams], int] | None = None
    check: Callable[[User, ExportParams], None] = field(default=lambda _u, _p: None)
    """Raises Forbidden when the viewer may not export this kind (checked at request time)."""


SOURCES: dict[str, TableSource] = {}


def register(source: TableSource) -> TableSource:
    """Add (or replace) the source of `source.kind`."""
    SOURCES[source.kind] = source
    return source


# --- labels (fieldapp.labels; lazy: evaluated under the export's language) ------------------


def _resolved(labels: dict[str, Any]) -> dict[str | None, str | None]:
    """The labels as plain strings, once per export rather than once per row."""
    out: dict[str | None, str | None] = {k: str(v) for k, v in labels.items()}
    out[None] = None
    return out


def _china_time(column: Any) -> Any:
    """A timestamptz as naive China time, converted by PostgreSQL: cheaper than a zoneinfo
    conversion per value in Python, and what the writers expect."""
    return func.timezone(CHINA_TZ.key, column, type_=DateTime())


# --- scope ----------------------------------------------------------------------------------


def scope_area_id(viewer: User) -> int | None:
    """The area an area table is limited to: the coordinator's township, the county staff's
    county; None (the whole city) for city staff and admins."""
    if viewer.role in ("coordinator", "county"):
        return viewer.area_id
    return None


def _check_area_table(viewer: User, params: ExportParams) -> None:
    if viewer.role not in AREA_TABLE_ROLES:
        raise Forbidden(_("Only coordinators, county and city staff export area tables."))


def viewer_level(viewer: User) -> str:
    return {"coordinator": "township", "county": "county"}.get(viewer.role, "city")


def report_conditions(session: Session, viewer: User, params: ExportParams) -> list[Any]:
    """WHERE clauses of an export over reports: the viewer's scope (the same clause as the
    list endpoint, `scope.report_filter`), merged duplicates left out, and the filters."""
    clauses: list[ColumnElement[bool]] = [scope.report_filter(viewer)]
    if params.date_from:
        clauses.append(Report.reported_at >= day_start(params.date_from))
    if params.date_to:
        clauses.append(Report.reported_at < day_start(params.date_to + timedelta(days=1)))
    if params.category:
        clauses.append(Report.category == params.category)
    if params.severity:
        clauses.append(Report.severity == params.severity)
    if params.status == OPEN_STATUS:
        clauses.append(Report.status.in_(kpi.OPEN_STATES))
    elif params.status:
        clauses.append(Report.status == params.status)
    else:
        # Merged duplicates are not cases of their own: left out as the roll-ups, KPIs and
        # the case list behind the dashboards leave them out (ask for status=merged to see them).
        clauses.append(Report.status != "merged")
    if params.area:
        clauses.append(_area_clause(session, params.area))
    if params.overdue:
        # The rule of the overdue list and the dashboards (case_list.overdue_clause), as of
        # when the file is written.
        clauses.append(
            and_(Report.status.in_(kpi.OPEN_STATES), Report.due_at <= datetime.now(CHINA_TZ))
        )
    if params.key:
        clauses.append(Report.is_key_case.is_(True))
    return clauses


#: The status filter value meaning "any open state" (the dashboards' 办理中 list).
OPEN_STATUS: Final = "open"


def named(session: Session, owner: User, params: ExportParams) -> ExportParams:
    """`params` with the names its title and 填报单位 line show, in the current language:
    a 东港区 + 已办结 export is 东港区矛盾纠纷案件清单（已办结）, 填报单位：东港区, not the whole
    city's title (and so not the whole city's file name either)."""
    city = session.execute(
        select(Area.name).where(Area.level == "city").order_by(Area.code).limit(1)
    ).scalar_one_or_none()
    scope_name, unit = None, None
    if params.area:
        chain = _area_chain(session, params.area)
        if chain:
            scope_name = chain[-1]
            unit = "".join(chain)
    if unit is None:
        unit = _unit_of(session, owner)
    return replace(
        params,
        city_name=scope_name or city or "",
        unit_name=unit or city or owner.display_name,
        filter_text=filter_text(session, params),
    )


def _area_chain(session: Session, code: str) -> list[str]:
    """The names from the county down to the area or cell of `code` (the city left out:
    everything is in it); [] for the city itself or an unknown code."""
    names: list[str] = []
    area: Area | None = session.execute(select(Area).where(Area.code == code)).scalar_one_or_none()
    if area is None:
        cell = session.execute(select(Cell).where(Cell.code == code)).scalar_one_or_none()
        if cell is None:
            return []
        names.append(cell.name)
        area = session.get(Area, cell.village_id)
    while area is not None and area.level != "city":
        names.insert(0, area.name)
        area = session.get(Area, area.parent_id) if area.parent_id else None
    return names


def _unit_of(session: Session, owner: User) -> str | None:
    """The requester's own unit: their department, else their area below the city."""
    if owner.department_id is not None:
        return session.execute(
            select(Department.name).where(Department.id == owner.department_id)
        ).scalar_one_or_none()
    if owner.area_id is not None:
        code = session.execute(select(Area.code).where(Area.id == owner.area_id)).scalar_one()
        return "".join(_area_chain(session, code)) or None
    return None


def filter_text(session: Session, params: ExportParams) -> str:
    """The case filters in words, in full-width brackets: （已办结）, （红色、已超期）; ""
    without any. Dates are on the sheet's period line, the area in the title itself."""
    parts: list[str] = []
    if params.category:
        column = Category.name_en if params.language == "en" else Category.name_zh
        name = session.execute(
            select(column).where(Category.code == params.category)
        ).scalar_one_or_none()
        parts.append(name or params.category)
    if params.severity:
        parts.append(str(SEVERITY_LABELS.get(params.severity, params.severity)))
    if params.status == OPEN_STATUS:
        parts.append(_("Open"))
    elif params.status:
        parts.append(str(STATE_LABELS.get(params.status, params.status)))
    if params.overdue:
        parts.append(_("Overdue"))
    if params.key:
        parts.append(_("Key backlog cases"))
    if not parts:
        return ""
    if params.language == "en":
        return " (" + ", ".join(parts) + ")"
    return "（" + "、".join(parts) + "）"


def _area_clause(session: Session, code: str) -> ColumnElement[bool]:
    area = session.execute(select(Area.id, Area.level).where(Area.code == code)).first()
    if area is not None:
        column = {
            "county": Report.county_id,
            "township": Report.township_id,
            "village": Report.village_id,
        }.get(area.level)
        return true() if column is None else column == area.id  # the city: everything
    cell_id = session.execute(select(Cell.id).where(Cell.code == code)).scalar_one_or_none()
    # Validated at request time; an area removed since then matches nothing.
    return Report.cell_id == cell_id if cell_id is not None else Report.cell_id == -1


# --- the case list --------------------------------------------------------------------------


def _case_columns(params: ExportParams) -> list[Column]:
    return [
        Column("case_number", _("Case number"), width=20),
        Column("title", _("Title"), width=30),
        Column("category", _("Category"), width=12),
        Column("severity", _("Severity"), width=8),
        Column("status", _("Status"), width=10),
        Column("people_involved", _("People involved"), "int", total=True),
        Column("group_incident", _("Potential group incident?"), "bool", width=10),
        Column("county", _("County"), width=14),
        Column("township", _("Township"), width=16),
        Column("village", _("Village or community"), width=18),
        Column("cell", _("Grid cell"), width=18),
        Column("address", _("Address"), width=28),
        Column("reported_at", _("Reported at"), "datetime"),
        Column("accepted_at", _("Accepted at"), "datetime"),
        # Yes/no per case: not the KPI's name (及时受理率 is the rate over many cases).
        Column("accepted_on_time", _("Accepted on time?"), "bool", width=10),
        Column("due_at", _("Due"), "datetime"),
        Column("closed_at", _("Closed at"), "datetime"),
        Column("closed_on_time", _("Closed on time?"), "bool", width=10),
        Column("outcome", _("Outcome"), width=8),
        Column("satisfaction", _("Satisfaction"), width=10),
        Column("department", _("Responsible department"), width=22),
        Column("key_case", _("Key backlog case?"), "bool", width=10),
        Column("key_leader", _("Responsible leader"), width=12),
        Column("key_target_date", _("Target date"), "date"),
        # The API's id, last: for systems that read the file back (people use the number).
        Column("id", _("System id"), width=38),
    ]


def case_select(session: Session, viewer: User, params: ExportParams) -> Any:
    """The case list as one SELECT: the chain and labels joined in, times in China time."""
    county, township, village = aliased(Area), aliased(Area), aliased(Area)
    category_name = Category.name_en if params.language == "en" else Category.name_zh
    return (
        select(
            Report.case_number,
            Report.title,
            category_name,
            Report.severity,
            Report.status,
            Report.people_involved,
            Report.potential_group_incident,
            county.name,
            township.name,
            village.name,
            Cell.name,
            Report.address,
            _china_time(Report.reported_at),
            _china_time(Report.accepted_at),
            Report.accepted_on_time,
            _china_time(Report.due_at),
            _china_time(Report.closed_at),
            Report.closed_on_time,
            Report.outcome,
            Report.satisfaction,
            Department.name,
            Report.is_key_case,
            Report.key_leader,
            Report.key_target_date,
            Report.id,
        )
        .join(Category, Category.code == Report.category)
        .join(county, county.id == Report.county_id)
        .join(township, township.id == Report.township_id)
        .join(village, village.id == Report.village_id)
        .join(Cell, Cell.id == Report.cell_id)
        .outerjoin(Department, Department.id == Report.department_id)
        .where(and_(*report_conditions(session, viewer, params)))
        .order_by(Report.reported_at, Report.id)
    )


def case_rows(session: Session, viewer: User, params: ExportParams) -> Iterator[list[Any]]:
    """The case list, streamed through a server-side cursor (`yield_per`: psycopg fetches
    YIELD_PER rows per round trip; the result is never held whole)."""
    statuses = _resolved(STATE_LABELS)
    severities = _resolved(SEVERITY_LABELS)
    outcomes = _resolved(OUTCOME_LABELS)
    satisfactions = _resolved(SATISFACTION_LABELS)
    result = session.execute(
        case_select(session, viewer, params).execution_options(yield_per=YIELD_PER)
    )
    for r in result:
        row: list[Any] = list(r)
        row[-1] = str(row[-1])
        row[3] = severities.get(row[3], row[3])
        row[4] = statuses.get(row[4], row[4])
        row[18] = outcomes.get(row[18], row[18])
        row[19] = satisfactions.get(row[19], row[19])
        yield row


def case_count(session: Session, viewer: User, params: ExportParams) -> int:
    stmt = select(func.count()).select_from(Report)
    stmt = stmt.where(and_(*report_conditions(session, viewer, params)))
    return int(session.execute(stmt).scalar_one())


register(
    TableSource(
        kind="cases",
        formats=("xlsx", "csv"),
        title=lambda p: _("%(city)s dispute case list", city=p.city_name) + p.filter_text,
        columns=_case_columns,
        rows=case_rows,
        count=case_count,
    )
)


# --- counts per area (the example of a KPI-style table) -----------------------------------


# (key, header, condition on reports or None for all)
def _count_specs() -> list[tuple[str, str, ColumnElement[bool] | None]]:
    return [
        ("reports", _("Reports filed"), None),
        ("accepted", _("Cases accepted"), Report.accepted_at.is_not(None)),
        ("accepted_on_time", _("Cases accepted on time"), Report.accepted_on_time.is_(True)),
        ("closed", _("Cases closed"), Report.status == "closed"),
        ("closed_on_time", _("Cases closed on time"), Report.closed_on_time.is_(True)),
        ("resolved", _("Cases resolved"), Report.outcome == "resolved"),
        ("key_cases", _("Key backlog cases"), Report.is_key_case.is_(True)),
    ]


def area_counts(
    session: Session, viewer: User, params: ExportParams
) -> tuple[list[queries.RollupRow], dict[str, dict[int, int]]]:
    """Report counts per area of the level (within the viewer's area), one `rollup` per
    figure: the areas (every one, zero included) and figure → area id → count."""
    level = params.level or "township"
    within = scope_area_id(viewer)
    conditions = report_conditions(session, viewer, params)
    areas: list[queries.RollupRow] = []
    figures: dict[str, dict[int, int]] = {}
    for key, _header, condition in _count_specs():
        source = select(Report.cell_id).where(*conditions)
        if condition is not None:
            source = source.where(condition)
        rows = queries.rollup(session, source, level, within=within)
        areas = areas or rows
        figures[key] = {r.area_id: r.count for r in rows}
    return areas, figures


def _count_columns(params: ExportParams) -> list[Column]:
    return [
        Column("code", _("Area code"), width=18),
        Column("name", _("Area name"), width=20),
        *(Column(key, header, "int", total=True) for key, header, _c in _count_specs()),
        Column("closed_rate", _("Share closed"), "percent"),
        Column("resolved_rate", _("Share of closed cases resolved"), "percent", width=12),
    ]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def count_rows(session: Session, viewer: User, params: ExportParams) -> Iterator[tuple[Any, ...]]:
    areas, figures = area_counts(session, viewer, params)
    keys = [key for key, _h, _c in _count_specs()]
    for area in areas:
        counts = [figures[key].get(area.area_id, 0) for key in keys]
        by_key = dict(zip(keys, counts, strict=True))
        yield (
            area.code,
            area.name,
            *counts,
            _ratio(by_key["closed"], by_key["reports"]),
            _ratio(by_key["resolved"], by_key["closed"]),
        )


def _area_count(session: Session, viewer: User, params: ExportParams) -> int:
    """How many areas the table will have: a rollup of no reports lists exactly them."""
    nothing = select(Report.cell_id).where(false())
    level = params.level or "township"
    return len(queries.rollup(session, nothing, level, within=scope_area_id(viewer)))


register(
    TableSource(
        kind="kpis",
        formats=("xlsx", "csv"),
        title=lambda p: _("%(city)s dispute cases by area", city=p.city_name),
        columns=_count_columns,
        rows=count_rows,
        count=_area_count,
        check=_check_area_table,
    )
)


# --- the assessment table (考评表): the KPI table of fieldapp.services.stats -----------------

# Column headers of the KPIs, by key (fieldapp.kpi.KPIS), in the export's language.
KPI_HEADERS = {
    "acceptance_on_time": _l("On-time acceptance rate"),
    "closed_on_time": _l("On-time closing rate"),
    "resolution": _l("Resolution rate"),
    "satisfaction": _l("Satisfaction rate"),
    "checkin_compliance": _l("Zero-report check-in rate"),
    "repeat_place": _l("Repeat-place rate"),
    "reports_per_10k": _l("Reports per 10,000 residents"),
}


#: The assessment note of an area with no report in the period (kpi.has_data).
NO_DATA_NOTE: Final = _l("No data: no report in this period, not ranked")


def assessment_period(params: ExportParams, now: datetime) -> Period:
    """The export's period: from–to when both are given, else the month of `from` or, without
    it, this month (China time) — the period an assessment is usually made for."""
    if params.date_from and params.date_to:
        return range_period(params.date_from, params.date_to)
    day = params.date_from or china_day(now)
    return parse_period(f"{day.year}-{day.month:02d}")


def _assessment_columns(params: ExportParams) -> list[Column]:
    return [
        Column("rank", _("Rank"), "int", width=6),
        Column("code", _("Area code"), width=12),
        Column("name", _("Area name"), width=20),
        Column("reports", _("Reports filed"), "int", total=True),
        *(
            Column(k.key, str(KPI_HEADERS[k.key]), "float" if k.scale != 1 else "percent")
            for k in kpi.KPIS
        ),
        Column("score", _("Composite score"), "float"),
        Column("assessed", _("Assessment note"), width=16),
        Column("previous_rank", _("Rank in the previous period"), "int", width=10),
        Column("rank_change", _("Rank change"), "int", width=8),
        Column("score_change", _("Score change"), "float", width=8),
    ]


def assessment_rows(
    session: Session, viewer: User, params: ExportParams
) -> Iterator[tuple[Any, ...]]:
    """The rows of `stats.kpi_table`, ranked, one per township or county (a few dozen: built
    whole, not streamed)."""
    now = datetime.now(CHINA_TZ)
    table = stats.kpi_table(
        session,
        viewer,
        level=params.level or "township",
        within_code=params.area,
        period=assessment_period(params, now),
        now=now,
    )
    for row in table["rows"]:
        values = row["kpis"]
        yield (
            row["rank"],
            row["code"],
            row["name"],
            values["reports_per_10k"]["numerator"],
            *(values[k.key]["value"] for k in kpi.KPIS),
            row["score"],
            # Unranked because there is nothing to assess: say so rather than leave blanks.
            str(NO_DATA_NOTE) if row["rank"] is None else "",
            row["previous"]["rank"],
            row["delta"]["rank_change"],
            row["delta"]["score"],
        )


def _assessment_count(session: Session, viewer: User, params: ExportParams) -> int:
    """One row per township or county the table ranks."""
    within = stats.resolve_within(session, viewer, params.area)
    return len(rollups.areas_below(session, params.level or "township", within))


def _assessment_title(params: ExportParams) -> str:
    level = _("townships") if (params.level or "township") == "township" else _("counties")
    return _("%(city)s assessment of %(level)s", city=params.city_name, level=level)


register(
    TableSource(
        kind="assessment",
        formats=("xlsx", "csv"),
        title=_assessment_title,
        columns=_assessment_columns,
        rows=assessment_rows,
        count=_assessment_count,
        check=_check_area_table,
    )
)


# --- areas as GeoJSON with their figures ------------------------------------------------------


def _geojson_columns(params: ExportParams) -> list[Column]:
    return [
        Column("code", _("Area code")),
        Column("name", _("Area name")),
        Column("level", _("Level")),
        Column("parent_code", _("Parent area code")),
        Column("population", _("Population"), "int"),
        *(Column(key, header, "int") for key, header, _c in _count_specs()),
        Column("reports_per_10k", _("Reports per 10,000 residents"), "float"),
        Column("geometry", "geometry", "geometry"),
    ]


def geojson_rows(session: Session, viewer: User, params: ExportParams) -> Iterator[tuple[Any, ...]]:
    level = params.level or "township"
    _areas, figures = area_counts(session, viewer, params)
    keys = [key for key, _h, _c in _count_specs()]
    for area_id, code, name, lvl, parent, population, geometry in queries.areas_geojson(
        session, level, within=scope_area_id(viewer)
    ):
        counts = [figures[key].get(area_id, 0) for key in keys]
        rate = round(counts[0] / population * 10_000, 2) if population else None
        yield (code, name, lvl, parent, population, *counts, rate, geometry)


register(
    TableSource(
        kind="areas_geojson",
        formats=("geojson",),
        title=lambda p: _("%(city)s dispute cases by area", city=p.city_name),
        columns=_geojson_columns,
        rows=geojson_rows,
        count=_area_count,
        check=_check_area_table,
    )
)
