"""The contract of the exports (`fieldapp.blueprints.exports`, /exports…): the request, the
job and its list. Declared once here; validation, the error answer and the OpenAPI document
come from these models. The exports page's form builds the same request body and is held to
the same model (`fieldapp.services.exports.parse_request`).

Some checks need the caller or the database (which levels lie below the caller's area, whether
a category or area code exists). They are field validators reading the validation context
(`ExportContext`), so one answer still names every wrong field at once; without a context
(the document, unit tests) they let everything pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Final, Literal

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    ValidationInfo,
    WithJsonSchema,
)

from fieldapp.contract.base import AnswerModel, BodyModel, check_text
from fieldapp.contract.stats import Day, error
from fieldapp.domain import Severity
from fieldapp.stats import KPI_LEVELS, LEVELS
from fieldapp.workflow import State

Kind = Literal["cases", "kpis", "assessment", "areas_geojson"]
Format = Literal["xlsx", "csv", "geojson"]
Language = Literal["zh", "en"]
ExportLevel = Literal["city", "county", "township", "village", "cell"]
JobStatus = Literal["queued", "running", "done", "failed", "expired"]
#: The file formats of each kind (`fieldapp.services.export_sources.SOURCES`; a unit test
#: holds them equal).
FORMATS_BY_KIND: Final[dict[str, tuple[str, ...]]] = {
    "cases": ("xlsx", "csv"),
    "kpis": ("xlsx", "csv"),
    "assessment": ("xlsx", "csv"),
    "areas_geojson": ("geojson",),
}
#: A filter is one code or name (an area code is 15 digits, a category key a word); more is
#: no filter, and a long one is refused before it reaches a query or the job.
MAX_FILTER_LENGTH: Final = 64
OPEN_STATUS: Final = "open"


@dataclass(frozen=True)
class ExportContext:
    """What the checks beyond the shape need: the caller's level and two lookups."""

    viewer_level: str
    category_exists: Callable[[str], bool]
    area_exists: Callable[[str], bool]


def _context(info: ValidationInfo) -> ExportContext | None:
    found = info.context.get("export") if isinstance(info.context, dict) else None
    return found if isinstance(found, ExportContext) else None


def _known_category(value: str | None, info: ValidationInfo) -> str | None:
    context = _context(info)
    if value and context is not None and not context.category_exists(value):
        raise error("unknown_category", _("Unknown category (see GET /api/v1/categories)."))
    return value


def _known_area(value: str | None, info: ValidationInfo) -> str | None:
    context = _context(info)
    if value and context is not None and not context.area_exists(value):
        raise error("unknown_area", _("Unknown area or grid cell code."))
    return value


def _not_before_from(value: date | None, info: ValidationInfo) -> date | None:
    first = info.data.get("date_from")
    if value is not None and first is not None and value < first:
        raise error("date_order", _("Must not be before “from”."))
    return value


Text = Annotated[
    str | None,
    AfterValidator(lambda v: check_text(v.strip()) if isinstance(v, str) else v),
]
STATUS_FILTERS: Final = (*(s.value for s in State), OPEN_STATUS)


def _status(value: str | None) -> str | None:
    if value is not None and value not in STATUS_FILTERS:
        raise error("literal_error", _("One of: %(names)s.", names=", ".join(STATUS_FILTERS)))
    return value


StatusFilter = Annotated[
    str,
    AfterValidator(_status),
    WithJsonSchema({"type": "string", "enum": list(STATUS_FILTERS)}),
]


class ExportFilters(BodyModel):
    """What the export holds; every filter optional."""

    date_from: Day = Field(
        None, alias="from", description="First day reported (China time).", examples=["2026-11-01"]
    )
    date_to: Annotated[Day, AfterValidator(_not_before_from)] = Field(
        None,
        alias="to",
        description="Last day reported (China time), included.",
        examples=["2026-11-30"],
    )
    area: Annotated[Text, AfterValidator(_known_area)] = Field(
        None,
        max_length=MAX_FILTER_LENGTH,
        description="Code of a county, township, village or grid cell.",
        examples=["371102001"],
    )
    category: Annotated[Text, AfterValidator(_known_category)] = Field(
        None, max_length=MAX_FILTER_LENGTH, description="A category code."
    )
    severity: Severity | None = None
    status: StatusFilter | None = Field(
        None, description="A case state, or `open`: every state before 办结."
    )
    overdue: StrictBool = Field(
        False,
        description="Only open cases past their deadline when the file is written (已超期).",
    )
    key: StrictBool = Field(False, description="Only key backlog cases (重点积案).")


def _format_of_kind(value: str, info: ValidationInfo) -> str:
    kind = info.data.get("kind")
    allowed = FORMATS_BY_KIND.get(kind) if isinstance(kind, str) else None
    if allowed is not None and value not in allowed:
        raise error("literal_error", _("One of: %(names)s.", names=", ".join(allowed)))
    return value


def _level_of_kind(value: str | None, info: ValidationInfo) -> str | None:
    """The level a kind may take for this caller (default township); none for `cases`."""
    kind = info.data.get("kind")
    context = _context(info)
    viewer = context.viewer_level if context is not None else "city"
    if kind == "assessment":
        # The assessment ranks townships or counties (fieldapp.kpi); county staff rank only
        # townships, coordinators have nothing below them to rank.
        allowed = tuple(lv for lv in KPI_LEVELS if LEVELS.index(lv) > LEVELS.index(viewer))
        if (value or "township") not in allowed:
            raise error(
                "level",
                _(
                    "One of: %(names)s (the levels ranked below your area).",
                    names=", ".join(allowed) or "—",
                ),
            )
        return value or "township"
    if kind in ("kpis", "areas_geojson"):
        allowed = LEVELS[LEVELS.index(viewer) :]
        if (value or "township") not in allowed:
            raise error(
                "level",
                _(
                    "One of: %(names)s (your area and the levels below it).",
                    names=", ".join(allowed),
                ),
            )
        return value or "township"
    if value is not None and kind is not None:
        raise error("level", _("Only for the kinds kpis, assessment and areas_geojson."))
    return value


EXPORT_REQUEST_EXAMPLES: Final[dict[str, dict[str, Any]]] = {
    "cases": {
        "summary": "A township's cases in November, as xlsx",
        "value": {
            "kind": "cases",
            "format": "xlsx",
            "filters": {"from": "2026-11-01", "to": "2026-11-30", "area": "371102001"},
        },
    },
    "kpis": {
        "summary": "Figures per village, red cases, CSV",
        "value": {
            "kind": "kpis",
            "format": "csv",
            "level": "village",
            "filters": {"severity": "red"},
        },
    },
    "geojson": {
        "summary": "Townships with their figures as GeoJSON",
        "value": {
            "kind": "areas_geojson",
            "format": "geojson",
            "level": "township",
            "language": "en",
        },
    },
}


#: The filters' names as the body and the page's form spell them.
FILTER_FIELDS: Final = tuple(f.alias or n for n, f in ExportFilters.model_fields.items())


class ExportRequest(BodyModel):
    """What to export. `cases`: the case list (矛盾纠纷案件清单) the caller may see, as xlsx
    or csv. `kpis`: report figures per area of `level` within the caller's area (分区域统计表),
    as xlsx or csv. `assessment`: the KPI assessment table (考评表) of GET /api/v1/kpis —
    townships or counties ranked, with the previous period — for filters.from–to (default:
    this month; from alone: its month), as xlsx or csv. `areas_geojson`: the same figures as
    `kpis` on the areas' boundaries, as GeoJSON. Parties' personal data are never exported."""

    error_summary: ClassVar[Any] = lazy_gettext("Check the export request.")

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        name: (e["summary"], e["value"]) for name, e in EXPORT_REQUEST_EXAMPLES.items()
    }

    kind: Kind
    format: Annotated[Format, AfterValidator(_format_of_kind)] = Field(
        description="xlsx or csv for `cases`, `kpis` and `assessment`; geojson for `areas_geojson`."
    )
    language: Language = Field(
        "zh", description="Language of the title, headers and labels in the file."
    )
    level: Annotated[ExportLevel | None, AfterValidator(_level_of_kind)] = Field(
        None,
        validate_default=True,
        description="For `kpis` and `areas_geojson` (default township): the caller's own level "
        "or one below it. For `assessment` (default township): county or township, below the "
        "caller's own level.",
    )
    filters: ExportFilters | None = Field(None, description="What the export holds; none: all.")


# --- answers ---------------------------------------------------------------------------------


class ExportProgress(AnswerModel):
    rows_done: int = Field(ge=0)
    rows_total: int | None = Field(ge=0)
    percent: float | None = Field(ge=0, le=100)


class ExportFile(AnswerModel):
    name: str | None
    size: int | None = Field(description="Bytes.")


JOB_ID: Final = "6c1d9f0a-3e2b-4b8a-9f57-1d2e3c4b5a69"
QUEUED_EXAMPLE: Final[dict[str, Any]] = {
    "id": JOB_ID,
    "kind": "cases",
    "format": "xlsx",
    "status": "queued",
    "params": {
        "language": "zh",
        "level": None,
        "filters": {"from": "2026-11-01", "to": "2026-11-30", "area": "371102001"},
    },
    "filters": {"from": "2026-11-01", "to": "2026-11-30", "area": "371102001"},
    "title": "石臼街道矛盾纠纷案件清单",
    "progress": {"rows_done": 0, "rows_total": None, "percent": None},
    "file": {"name": None, "size": None},
    "error": None,
    "created_at": "2026-11-26T10:30:00+08:00",
    "started_at": None,
    "finished_at": None,
    "expires_at": None,
    "status_url": f"/api/v1/exports/{JOB_ID}",
    "download_url": None,
}
RUNNING_EXAMPLE: Final[dict[str, Any]] = {
    **QUEUED_EXAMPLE,
    "status": "running",
    "progress": {"rows_done": 120000, "rows_total": 480000, "percent": 25.0},
    "started_at": "2026-11-26T10:30:01+08:00",
}
DONE_EXAMPLE: Final[dict[str, Any]] = {
    **QUEUED_EXAMPLE,
    "status": "done",
    "progress": {"rows_done": 480000, "rows_total": 480000, "percent": 100.0},
    "file": {"name": "日照市矛盾纠纷案件清单_20261126-1030.xlsx", "size": 31457280},
    "started_at": "2026-11-26T10:30:01+08:00",
    "finished_at": "2026-11-26T10:31:12+08:00",
    "expires_at": "2026-11-27T10:31:12+08:00",
    "download_url": f"/api/v1/exports/{JOB_ID}/download",
}


class ExportJob(AnswerModel):
    """An export job (导出任务). `download_url` is set while the file can be downloaded
    (status `done`, until `expires_at`)."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "queued": ("Just requested", QUEUED_EXAMPLE),
        "running": ("A quarter done", RUNNING_EXAMPLE),
        "done": ("Ready to download", DONE_EXAMPLE),
    }

    id: str = Field(json_schema_extra={"format": "uuid"})
    kind: Kind
    format: Format
    status: JobStatus
    params: dict[str, Any] = Field(
        description="The request as validated: language, level and filters."
    )
    filters: dict[str, Any] = Field(
        description="What the export holds: the filters of the request (`params.filters`; {} "
        "for none)."
    )
    title: str = Field(
        description="The file's title in the reader's language, naming its area and filters, "
        "e.g. 东港区矛盾纠纷案件清单（已办结）."
    )
    progress: ExportProgress
    file: ExportFile
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    status_url: str
    download_url: str | None


class ExportList(AnswerModel):
    """The caller's exports, newest first (the last 50)."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "two": ("One running, one done", {"exports": [RUNNING_EXAMPLE, DONE_EXAMPLE]})
    }

    exports: list[ExportJob]
