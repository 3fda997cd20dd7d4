"""The contract of the statistics (`fieldapp.blueprints.stats_api`): live roll-ups, the KPI
assessment table (考评), key backlog cases (重点积案) and their campaign view. Each query,
body and answer is declared once here; validation, the error answer and the OpenAPI document
are generated from these models. Written for the dashboard builders: every answer has a
worked example.

The checks that need the database or the caller (an unknown category, `within` outside the
caller's area, a level above `within`, too many numbers for a chart) stay in
`fieldapp.services.stats`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Final, Literal

from flask_babel import gettext as _
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from fieldapp import bounds
from fieldapp.contract.base import AnswerModel, BodyModel, QueryModel, check_text
from fieldapp.domain import Severity
from fieldapp.kpi import KPIS, describe
from fieldapp.stats import Period, parse_period, range_period, split_list
from fieldapp.workflow import State

#: fieldapp.stats.LEVELS as a type (a unit test holds them equal), and the others likewise.
Level = Literal["city", "county", "township", "village", "cell"]
KpiLevel = Literal["county", "township"]
Breakdown = Literal["category", "severity", "status", "period"]
Bucket = Literal["day", "week", "month"]
STATES: Final = tuple(s.value for s in State)
#: Days a from/to window (map layers, roll-ups, KPIs) may span at most: ten years of reports
#: is already more than anyone reads.
MAX_WINDOW_DAYS: Final = 3660
#: Area and cell codes are at most 15 digits; anything longer names nothing.
MAX_CODE_LENGTH: Final = 32

#: Said of every statistics read (the operations' descriptions).
READERS: Final = (
    " Accepts the bearer token or the web session cookie (dashboards in the browser). "
    "Coordinators see their township, county staff their county, city staff everything; "
    "officers and department handlers get 403."
)


def error(kind: str, message: str) -> ValueError:
    """A validator's refusal: `message` is what the client reads for the field (already in
    the request's language); `kind` names the check for whoever reads the code."""
    del kind
    return ValueError(message)


def _day(raw: Any) -> date | None:
    """A query or body date through the one parser of the date window (fieldapp.bounds)."""
    if isinstance(raw, date):
        return raw
    if raw is None:
        return None
    if isinstance(raw, str) and not raw.strip():
        # Given but blank: the document says a date (our own pages leave it out instead).
        raise error("date_format", _("A date like %(example)s.", example="2026-11-25"))
    try:
        return bounds.parse_day(raw)
    except ValueError as exc:
        raise error("date_format", str(exc)) from None


def _after_from(value: date | None, info: ValidationInfo) -> date | None:
    """`to` is not before `from` and at most MAX_WINDOW_DAYS after it."""
    first = info.data.get("date_from")
    if value is not None and first is not None:
        if value < first:
            raise error("date_order", _("The end date is before the start date."))
        if (value - first).days > MAX_WINDOW_DAYS:
            raise error("date_span", _("At most ten years at a time."))
    return value


_DATE_SCHEMA: Final = WithJsonSchema({"type": "string", "format": "date"})
_OPTIONAL_DATE_SCHEMA: Final = WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}
)
#: A date in the window (fieldapp.bounds), or absent.
Day = Annotated[date | None, BeforeValidator(_day), _OPTIONAL_DATE_SCHEMA]
#: The last day of a from/to window: in order, at most MAX_WINDOW_DAYS after `from`.
DayTo = Annotated[
    date | None, BeforeValidator(_day), AfterValidator(_after_from), _OPTIONAL_DATE_SCHEMA
]


# --- shared query pieces ---------------------------------------------------------------------


class DateWindow(QueryModel):
    """from/to: China-time days, both included, either may be absent; in order and at most
    MAX_WINDOW_DAYS apart."""

    date_from: Day = Field(
        None,
        alias="from",
        description="First day (China time), YYYY-MM-DD.",
        examples=["2026-10-01"],
    )
    date_to: DayTo = Field(
        None, alias="to", description="Last day (China time), included.", examples=["2026-10-31"]
    )


Within = Annotated[
    str | None,
    Field(
        None,
        max_length=MAX_CODE_LENGTH,
        description="Code of an area (or cell) the answer is limited to; default: your own area "
        "(the whole city for city staff). Must lie inside your area.",
        examples=["371102"],
    ),
]


# --- /rollups --------------------------------------------------------------------------------


def _needed_for_period(value: date | None, info: ValidationInfo) -> date | None:
    # `by` is declared before the window, so it is in `info.data` when it was valid.
    if value is None and info.data.get("by") == "period":
        raise error("missing", _("Required when breaking down by period."))
    return value


class RollupQuery(QueryModel):
    """GET /rollups. Dates are China-time days, both ends included."""

    level: Level = Field("township", description="Areas to count per (default township).")
    within: Within = None
    category: str | None = Field(
        None, max_length=2000, description="Category codes. Comma-separated list."
    )
    # The items of the lists are checked by `services.stats.validate_filters` (the case list
    # page filters by the same lists).
    severity: str | None = Field(
        None, max_length=200, description="red, orange, yellow. Comma-separated list."
    )
    status: str | None = Field(
        None,
        max_length=2000,
        description="Case states (" + ", ".join(STATES) + "). Comma-separated list.",
    )
    by: Breakdown | None = Field(
        None, description="Breakdown; none: totals only. period needs from and to."
    )
    bucket: Bucket = Field("day", description="Period bucket (default day; weeks start Monday).")
    date_from: Annotated[Day, AfterValidator(_needed_for_period)] = Field(
        None,
        alias="from",
        description="First day (reported_at, China time).",
        examples=["2026-10-01"],
    )
    date_to: Annotated[DayTo, AfterValidator(_needed_for_period)] = Field(
        None,
        alias="to",
        description="Last day, included.",
        examples=["2026-10-31"],
    )

    @model_validator(mode="before")
    @classmethod
    def _window_for_periods(cls, data: Any) -> Any:
        # Absent days are put in as null so that their own validators say they are needed
        # (a default is not validated under its parameter's name).
        if isinstance(data, dict) and data.get("by") == "period":
            return {"from": None, "to": None, **data}
        return data

    @property
    def categories(self) -> tuple[str, ...]:
        return split_list(self.category)

    @property
    def severities(self) -> tuple[str, ...]:
        return split_list(self.severity)

    @property
    def statuses(self) -> tuple[str, ...]:
        return split_list(self.status)


class StatsArea(AnswerModel):
    """The area the answer is limited to (null: everything)."""

    code: str
    name: str
    level: Level


class RollupFilters(AnswerModel):
    date_from: date | None = Field(alias="from")
    date_to: date | None = Field(alias="to")
    category: list[str]
    severity: list[str]
    status: list[str]


class RollupTotals(AnswerModel):
    total: int
    counts: dict[str, int]


class RollupRow(AnswerModel):
    code: str
    name: str
    level: Level
    parent_code: str | None
    population: int | None
    total: int = Field(ge=0)
    counts: dict[str, int]


AREA_EXAMPLE: Final = {"code": "371102", "name": "东港区", "level": "county"}
ROLLUP_EXAMPLE: Final[dict[str, Any]] = {
    "level": "township",
    "within": AREA_EXAMPLE,
    "by": "severity",
    "bucket": None,
    "filters": {
        "from": "2026-10-01",
        "to": "2026-10-31",
        "category": [],
        "severity": [],
        "status": [],
    },
    "keys": ["red", "orange", "yellow"],
    "rows": [
        {
            "code": "371102001",
            "name": "日照街道",
            "level": "township",
            "parent_code": "371102",
            "population": 98000,
            "total": 42,
            "counts": {"red": 3, "orange": 12, "yellow": 27},
        },
        {
            "code": "371102002",
            "name": "石臼街道",
            "level": "township",
            "parent_code": "371102",
            "population": 87000,
            "total": 0,
            "counts": {"red": 0, "orange": 0, "yellow": 0},
        },
    ],
    "totals": {"total": 42, "counts": {"red": 3, "orange": 12, "yellow": 27}},
}


class Rollup(AnswerModel):
    """Report counts per area of `level`, every area under `within` included (0 when quiet),
    ordered by code. `keys` are the breakdown columns in display order (all categories /
    severities / states / period buckets, zeros included); each row's `counts` has exactly
    these keys. `total` counts every report of the row that matches the filters. Merged
    duplicates are not counted unless `status` asks for `merged`."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "severity": ("Townships of a county by severity", ROLLUP_EXAMPLE)
    }

    level: Level
    within: StatsArea | None
    by: Breakdown | None
    bucket: Bucket | None
    filters: RollupFilters
    keys: list[str] = Field(
        description="Category codes, severities, states, or ISO dates of bucket starts "
        "(weeks start on Monday)."
    )
    rows: list[RollupRow]
    totals: RollupTotals


# --- /kpis -----------------------------------------------------------------------------------


def _period(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_period(value)
        except ValueError:
            raise error(
                "period_format", _("A month, quarter or year: 2026-10, 2026-Q3 or 2026.")
            ) from None
    return value


def _period_or_range(value: str | None, info: ValidationInfo) -> str | None:
    # A day that failed its own check is missing from `info.data`: that day's message is
    # enough, "required" here would be wrong.
    given = ("date_from" not in info.data or info.data["date_from"] is not None) and (
        "date_to" not in info.data or info.data["date_to"] is not None
    )
    if value is None and not given:
        raise error(
            "missing",
            _("Required: a month, quarter or year (2026-10, 2026-Q3, 2026), or from and to."),
        )
    return value


class KpiQuery(QueryModel):
    """GET /kpis: `period`, or `from` and `to` (a custom range; the previous period is the
    same number of days before)."""

    level: KpiLevel = Field("township", description="township (default) or county.")
    date_from: Day = Field(
        None, alias="from", description="Custom range: first day.", examples=["2026-10-01"]
    )
    date_to: DayTo = Field(
        None, alias="to", description="Custom range: last day.", examples=["2026-10-31"]
    )
    period: Annotated[str | None, AfterValidator(_period), AfterValidator(_period_or_range)] = (
        Field(
            None,
            max_length=16,
            description="2026-10, 2026-Q3 or 2026.",
            examples=["2026-10"],
        )
    )
    within: Within = None

    @model_validator(mode="before")
    @classmethod
    def _period_checked(cls, data: Any) -> Any:
        # An absent period is put in as null so that its validator runs (see RollupQuery).
        if isinstance(data, dict):
            return {"period": None, **data}
        return data

    def as_period(self) -> Period:
        """The period asked for (valid once the model is)."""
        if self.period is not None:
            return parse_period(self.period)
        assert self.date_from is not None and self.date_to is not None
        return range_period(self.date_from, self.date_to)


KpiKey = Literal[
    "acceptance_on_time",
    "closed_on_time",
    "resolution",
    "satisfaction",
    "checkin_compliance",
    "repeat_place",
    "reports_per_10k",
]
KPI_KEYS: Final = tuple(k.key for k in KPIS)


class KpiValue(AnswerModel):
    value: float | None = Field(
        description="numerator / denominator (× 10,000 for reports_per_10k), to 4 decimals; "
        "null when the denominator is 0 (no data)."
    )
    numerator: int | None
    denominator: int | None = Field(description="null only for an unknown population.")


class KpiDefinition(AnswerModel):
    """How a KPI is computed (fieldapp/kpi.py, docs/kpis.md)."""

    key: KpiKey
    name: str = Field(description="Chinese name, e.g. 及时受理率.")
    numerator: str
    denominator: str
    weight: float = Field(description="Share of the score; 0 = not scored.")
    higher_is_better: bool
    scale: float


class StatsPeriod(AnswerModel):
    label: str = Field(examples=["2026-10", "2026-Q3", "2026"])
    kind: Literal["month", "quarter", "year", "range"]
    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to", description="Last day, included.")


class KpiPrevious(AnswerModel):
    kpis: dict[KpiKey, KpiValue]
    score: float | None
    rank: int | None


class KpiDelta(AnswerModel):
    kpis: dict[KpiKey, float | None]
    score: float | None
    rank_change: int | None = Field(description="Places moved up (positive) or down (negative).")


class KpiRow(AnswerModel):
    code: str
    name: str
    level: KpiLevel
    parent_code: str | None
    population: int | None
    kpis: dict[KpiKey, KpiValue] = Field(
        description="Every KPI of `fieldapp.kpi` by key (see the `kpis` definitions)."
    )
    score: float | None = Field(
        description="Composite score 0–100 (weights in `kpis`), 2 decimals."
    )
    rank: int | None = Field(description="1 = best within this table; ties share a rank.")
    previous: KpiPrevious
    delta: KpiDelta


def _kpi_block(values: list[tuple[float | None, int | None, int | None]]) -> dict[str, Any]:
    return {
        key: {"value": v, "numerator": n, "denominator": d}
        for key, (v, n, d) in zip(KPI_KEYS, values, strict=True)
    }


KPI_ROW_EXAMPLE: Final[dict[str, Any]] = {
    "code": "371102001",
    "name": "日照街道",
    "level": "township",
    "parent_code": "371102",
    "population": 98000,
    "kpis": _kpi_block(
        [
            (0.95, 38, 40),
            (0.9, 27, 30),
            (0.8, 24, 30),
            (0.9, 18, 20),
            (0.9839, 3660, 3720),
            (0.0476, 2, 42),
            (4.2857, 42, 98000),
        ]
    ),
    "score": 90.12,
    "rank": 1,
    "previous": {
        "kpis": _kpi_block(
            [
                (0.9, 36, 40),
                (0.8, 24, 30),
                (0.75, 24, 32),
                (None, 0, 0),
                (0.95, 3420, 3600),
                (0.1, 4, 40),
                (4.0816, 40, 98000),
            ]
        ),
        "score": 84.5,
        "rank": 3,
    },
    "delta": {
        "kpis": {
            "acceptance_on_time": 0.05,
            "closed_on_time": 0.1,
            "resolution": 0.05,
            "satisfaction": None,
            "checkin_compliance": 0.0339,
            "repeat_place": -0.0524,
            "reports_per_10k": 0.2041,
        },
        "score": 5.62,
        "rank_change": 2,
    },
}
KPI_TABLE_EXAMPLE: Final[dict[str, Any]] = {
    "level": "township",
    "within": AREA_EXAMPLE,
    "period": {"label": "2026-10", "kind": "month", "from": "2026-10-01", "to": "2026-10-31"},
    "previous_period": {
        "label": "2026-09",
        "kind": "month",
        "from": "2026-09-01",
        "to": "2026-09-30",
    },
    "as_of": "2026-11-26T09:30:00+00:00",
    "kpis": describe(),
    "rows": [KPI_ROW_EXAMPLE],
}


class KpiTable(AnswerModel):
    """The assessment table (考评): rows ordered by rank (no score last)."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "month": ("October's table", KPI_TABLE_EXAMPLE)
    }

    level: KpiLevel
    within: StatsArea | None
    period: StatsPeriod
    previous_period: StatsPeriod
    as_of: datetime
    kpis: list[KpiDefinition]
    rows: list[KpiRow]


# --- /campaign -------------------------------------------------------------------------------


class CampaignQuery(QueryModel):
    """GET /campaign."""

    within: Within = None


class CampaignSummary(AnswerModel):
    assigned: int = Field(description="Key cases (N assigned).")
    resolved: int = Field(description="Closed with outcome resolved (化解).")
    resolved_rate: float | None = Field(description="resolved / assigned (M%).")
    closed: int
    open: int
    overdue: int = Field(description="Still open after their target date (China-time days).")


class CampaignArea(CampaignSummary):
    code: str
    name: str
    level: Literal["county", "township"]


class AreaCodeName(AnswerModel):
    code: str
    name: str


class CampaignCase(AnswerModel):
    id: str = Field(json_schema_extra={"format": "uuid"})
    title: str
    status: State
    outcome: str | None
    severity: Severity
    category: str
    leader: str | None
    target_date: date | None
    resolved: bool
    overdue: bool
    days_overdue: int = Field(ge=0)
    reported_at: datetime
    closed_at: datetime | None
    township: AreaCodeName
    county: AreaCodeName


_SUMMARY_EXAMPLE: Final = {
    "assigned": 4,
    "resolved": 1,
    "resolved_rate": 0.25,
    "closed": 1,
    "open": 3,
    "overdue": 1,
}
CAMPAIGN_EXAMPLE: Final[dict[str, Any]] = {
    "within": AREA_EXAMPLE,
    "as_of": "2026-11-26",
    "summary": _SUMMARY_EXAMPLE,
    "areas": [{"code": "371102001", "name": "日照街道", "level": "township", **_SUMMARY_EXAMPLE}],
    "cases": [
        {
            "id": "3f1c2a55-2b7e-4d6a-9c1e-5a7b8c9d0e1f",
            "title": "征地补偿纠纷",
            "status": "in_progress",
            "outcome": None,
            "severity": "orange",
            "category": "expropriation",
            "leader": "王某某（副区长）",
            "target_date": "2026-11-20",
            "resolved": False,
            "overdue": True,
            "days_overdue": 6,
            "reported_at": "2026-08-03T10:12:00+08:00",
            "closed_at": None,
            "township": {"code": "371102001", "name": "日照街道"},
            "county": {"code": "371102", "name": "东港区"},
        }
    ],
}


class Campaign(AnswerModel):
    """Key backlog cases (重点积案): summary, per county (for the city) or township (for a
    county or township), zeros included, and the cases by target date."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "county": ("A county's campaign", CAMPAIGN_EXAMPLE)
    }

    within: StatsArea | None
    as_of: date
    summary: CampaignSummary
    areas: list[CampaignArea]
    cases: list[CampaignCase]


# --- /cases/{id}/key -------------------------------------------------------------------------


KEY_CASE_INPUT_EXAMPLE: Final[dict[str, Any]] = {
    "leader": "王某某（副区长）",
    "target_date": "2026-12-31",
}


class KeyCaseInput(BodyModel):
    """PUT /cases/{id}/key: the leader (包案领导) and the target date."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "example": ("Example", KEY_CASE_INPUT_EXAMPLE)
    }

    leader: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
        AfterValidator(check_text),
    ] = Field(description="包案领导: name and post.", examples=["王某某（副区长）"])
    target_date: Annotated[date, BeforeValidator(_day), _DATE_SCHEMA] = Field(
        description="Target date (China time); not in the past.", examples=["2026-12-31"]
    )


KEY_CASE_EXAMPLE: Final[dict[str, Any]] = {
    "id": "3f1c2a55-2b7e-4d6a-9c1e-5a7b8c9d0e1f",
    "is_key_case": True,
    "leader": "王某某（副区长）",
    "target_date": "2026-12-31",
    "status": "in_progress",
}


class KeyCase(AnswerModel):
    """A case's key-case marks."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {"key": ("A key case", KEY_CASE_EXAMPLE)}

    id: str = Field(json_schema_extra={"format": "uuid"})
    is_key_case: bool
    leader: str | None
    target_date: date | None
    status: State
