"""Early dispute reports (矛盾纠纷早报告) as the officer's phone sends them: the intake body
`POST /reports`, and the list's filters. The checks that need the database (is the category
active, which cell is the point in) stay in `fieldapp/services/reports.py`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Annotated, Any, ClassVar, Final, Literal

import pydantic_core
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from fieldapp import bounds
from fieldapp.contract.base import (
    AnswerModel,
    BodyModel,
    ErrorDoc,
    Named,
    QueryModel,
    Text,
    check_text,
    error_answer,
)
from fieldapp.domain import SEVERITIES, Severity
from fieldapp.workflow import State
from grid.crs import CRS_NAMES

# A phone's clock may run a little fast; more than this ahead is a wrong clock or a typo.
FUTURE_SKEW: Final = dt.timedelta(minutes=5)
MAX_AGE: Final = dt.timedelta(days=366)
MAX_PARTIES: Final = 20
# Blank is allowed (it is read as absent) and so are surrounding blanks (trimmed): the
# patterns say so, so that the document and the validation agree on every input.
ID_NUMBER: Final = r"^\s*(\d{17}[\dXx]|\d{15})?\s*$"
PHONE: Final = r"^\s*(\+?[\d\- ]{5,20})?\s*$"
#: At least one character that is not blank (blanks are trimmed).
NOT_BLANK: Final = r"\S"

#: `wgs84` GPS and Tianditu (天地图, CGCS2000); `gcj02` AMap and Tencent (高德/腾讯, 火星坐标);
#: `bd09` Baidu (百度). The names are grid.crs's.
Crs = Literal["wgs84", "gcj02", "bd09"]
assert Crs.__args__ == CRS_NAMES  # type: ignore[attr-defined]  # one list, checked here


def _blank_is_none(value: str | None) -> str | None:
    return value or None


#: Text as people type it, trimmed, refusing NUL and lone surrogates; limits per field.
def text(low: int, high: int) -> Any:
    return Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=low, max_length=high, pattern=NOT_BLANK
        ),
        AfterValidator(check_text),
    ]


def optional_text(high: int | None, pattern: str | None = None) -> Any:
    """Optional text: absent, null or blank is None."""
    return Annotated[
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=high, pattern=pattern),
            AfterValidator(check_text),
        ]
        | None,
        AfterValidator(_blank_is_none),
    ]


def _occurred_at(value: Any, info: ValidationInfo) -> dt.datetime:
    """An ISO date and time in the window (a bare time is China time), as UTC; not in the
    future beyond the clock skew, not more than a year ago."""
    if not isinstance(value, str):
        raise ValueError(
            _("Required: a date and time, e.g. %(example)s.", example="2026-11-25T09:30:00+08:00")
        )
    # The shared parser: window, offset bounds, a bare time is China time; UTC after.
    parsed = bounds.parse_instant(value, required=True)
    assert parsed is not None
    now = (info.context or {}).get("now")
    if now is not None:
        if parsed > now + FUTURE_SKEW:
            raise ValueError(_("This time is in the future. Check the phone's clock."))
        if parsed < now - MAX_AGE:
            raise ValueError(_("More than a year ago; early reports are for recent events."))
    return parsed


Instant = Annotated[
    dt.datetime,
    PlainValidator(_occurred_at),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class PartyInput(BodyModel):
    """A party to the dispute (当事人). Personal data: give only what is needed."""

    name: text(1, 50) = Field(description="Name (姓名).")  # type: ignore[valid-type]
    id_number: optional_text(None, ID_NUMBER) = Field(  # type: ignore[valid-type]
        default=None,
        description="Resident ID number (身份证号), 18 characters (the last may be X) or the "
        "old 15 digits.",
    )
    phone: optional_text(None, PHONE) = Field(  # type: ignore[valid-type]
        default=None, description="Phone number (联系电话)."
    )
    role: optional_text(30) = Field(  # type: ignore[valid-type]
        default=None, description="Role in the dispute, e.g. 当事人, 申请人, 被申请人."
    )

    @field_validator("id_number")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value


#: Who reads which message: by field (nested: `parties[0].name` matches `parties[*].name`).
_MESSAGES: Final[dict[str, Any]] = {
    "id": lazy_gettext(
        "Required: a UUID made on the phone, e.g. %(example)s.",
        example="9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23",
    ),
    "crs": lazy_gettext("One of: wgs84, gcj02, bd09."),
    "accuracy_m": lazy_gettext("A distance in metres between 0 and 100,000."),
    "severity": lazy_gettext("One of: red, orange, yellow."),
    "people_involved": lazy_gettext("A whole number of people, 1 or more."),
    "parties": lazy_gettext("A list of parties."),
    "parties[*].name": lazy_gettext("Required, at most 50 characters."),
    "parties[*].id_number": lazy_gettext("An 18-digit resident ID number (the last may be X)."),
    "parties[*].phone": lazy_gettext("A phone number of digits."),
    "parties[*].role": lazy_gettext("At most 30 characters."),
}

EXAMPLE: Final[dict[str, Any]] = {
    "id": "9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23",
    "lon": 119.532139,
    "lat": 35.416633,
    "crs": "gcj02",
    "accuracy_m": 8.5,
    "occurred_at": "2026-11-25T09:30:00+08:00",
    "category": "neighbours",
    "severity": "orange",
    "people_involved": 3,
    "title": "邻里因排水沟堵塞争执",
    "description": "两户因排水沟堵塞发生口角，已初步劝解，约定明日由社区协调疏通。",
    "address": "海曲社区3号楼东侧",
    "parties": [
        {
            "name": "张三",
            "id_number": "371102199001011234",
            "phone": "13812345678",
            "role": "当事人",
        },
        {"name": "李四"},
    ],
}


class ReportInput(BodyModel):
    """A report as the officer's phone sends it (上报内容). Every wrong field is named in one
    400 answer; unknown fields are refused."""

    error_code: ClassVar[str] = "invalid_report"
    field_messages: ClassVar[dict[str, Any]] = _MESSAGES
    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "gcj02": ("A position from AMap (GCJ-02), with two parties", EXAMPLE),
    }

    id: uuid.UUID = Field(
        description="Made by the phone when the report is drafted; the idempotency key "
        "(resend with the same id after a lost answer)."
    )
    lon: float = Field(ge=-180, le=180, description="Longitude (经度) in `crs`.")
    lat: float = Field(ge=-90, le=90, description="Latitude (纬度) in `crs`.")
    crs: Crs = Field(default="wgs84", description="Coordinate system (坐标系).")
    accuracy_m: float | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="The position's accuracy in metres (定位精度), as the phone reports it.",
    )
    occurred_at: Instant = Field(
        description="When it happened (发生时间): not in the future (5 minutes of clock skew "
        "allowed), not more than a year ago. A time without offset is read as China "
        "Standard Time."
    )
    category: text(1, 50) = Field(  # type: ignore[valid-type]
        description="A category code from /categories (纠纷类别).", examples=["neighbours"]
    )
    severity: Severity = Field(
        description="Warning colour (预警等级): `red` 红色 — report immediately, escalates; "
        "`orange` 橙色 — handled the same day; `yellow` 黄色 — resolved on site."
    )
    people_involved: int = Field(
        ge=1,
        le=100_000,
        description="Number of people involved (涉及人数); from the configured threshold "
        "(default 5) the report is a potential group incident (群体性).",
    )
    title: text(1, 100) = Field(  # type: ignore[valid-type]
        description="Short title (标题); surrounding spaces are trimmed."
    )
    description: text(1, 2000) = Field(  # type: ignore[valid-type]
        description="What happened (简要情况)."
    )
    address: optional_text(200) = Field(  # type: ignore[valid-type]
        default=None, description="Address as people say it (地址)."
    )
    parties: list[PartyInput] = Field(
        default_factory=list,
        max_length=MAX_PARTIES,
        description="Parties to the dispute (当事人), at most 20.",
    )

    @field_validator("parties", mode="before")
    @classmethod
    def _null_is_none(cls, value: Any) -> Any:
        return [] if value is None else value


assert tuple(Severity.__args__) == SEVERITIES  # type: ignore[attr-defined]


def body_hash(body: Any) -> str:
    """The same report sent twice hashes the same whatever the key order (stored with the
    report; a repeat with another hash is a 409). The same digest as before #18: the sorted
    JSON of the body as sent."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def raw_body_hash(raw: bytes) -> str:
    """`body_hash` of a raw JSON body (already validated by `ReportInput`)."""
    return body_hash(pydantic_core.from_json(raw))


ReportInput.examples["minimal"] = (
    "Only the required fields (GPS position, WGS-84)",
    {
        "id": "0e7c3f52-8a14-4d9b-b6a1-7f3e2c9d5b80",
        "lon": 119.52671,
        "lat": 35.41692,
        "occurred_at": "2026-11-25T08:10:00+08:00",
        "category": "wages_labour",
        "severity": "red",
        "people_involved": 12,
        "title": "工地二十余名工人聚集讨薪",
        "description": "某建筑工地约二十名工人聚集讨要拖欠工资，情绪激动。",
    },
)

#: The answers of `POST /reports` besides 2xx, with their examples.
INTAKE_ERRORS: Final[dict[int, ErrorDoc]] = {
    400: (
        "The body is not JSON, or fields need correcting: `fields` names each one.",
        {
            "invalid_json": (
                "The body is not JSON",
                error_answer(
                    "invalid_json", "The body must be JSON (Content-Type: application/json)."
                ),
            ),
            "invalid_report": (
                "Several bad fields at once",
                error_answer(
                    "invalid_report",
                    "Some fields need correcting.",
                    {
                        "severity": "One of: red, orange, yellow.",
                        "title": "Too long: at most 100 characters.",
                        "occurred_at": "This time is in the future. Check the phone's clock.",
                        "parties[0].id_number": "An 18-digit resident ID number (the last "
                        "may be X).",
                    },
                ),
            ),
        },
    ),
    403: (
        "The caller is not a grid officer.",
        {
            "not_officer": (
                "Staff cannot file reports",
                error_answer("forbidden", "Only grid officers file reports."),
            )
        },
    ),
    409: (
        "A different report (another body, or another officer's) was already filed with "
        "this id. Make a new id.",
        {
            "conflict": (
                "Same id, different body",
                error_answer(
                    "conflict",
                    "A different report was already sent with this id. Send it with a new id.",
                ),
            )
        },
    ),
    422: (
        "The position is outside the city's grid (不在本市网格范围内); nothing was written. "
        "Usually a wrong coordinate system or swapped longitude and latitude.",
        {
            "outside_city": (
                "Outside the city",
                error_answer(
                    "outside_city",
                    "This position is outside the city (12.4 km from the nearest grid cell). "
                    "Check the location and that the coordinate system is right.",
                    {"lon": "Outside the city.", "lat": "Outside the city."},
                ),
            )
        },
    ),
    503: (
        "The grid boundaries were re-imported while the report was being written, more than "
        "once; nothing was written. Send the same request again.",
        {
            "try_again": (
                "Boundaries being updated",
                error_answer(
                    "try_again", "The grid boundaries are being updated. Send the report again."
                ),
            )
        },
    ),
}


def _day(value: Any) -> Any:
    """A query day through `fieldapp.bounds` (the window, the message)."""
    return bounds.parse_day(value) if isinstance(value, str) else value


#: A day in a query string, inside `fieldapp.bounds`' window.
QueryDay = Annotated[
    dt.date,
    BeforeValidator(_day),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-11-25"]}),
]


class ReportListQuery(QueryModel):
    """Filters and page of the report list."""

    error_summary: ClassVar[Any] = lazy_gettext("Check the filters.")

    status: Annotated[Text, Field(max_length=50)] | None = Field(
        default=None, description="Only reports in this workflow state (状态), e.g. `reported`."
    )
    category: Annotated[Text, Field(max_length=50)] | None = Field(
        default=None, description="Only this category code (see /categories)."
    )
    severity: Severity | None = Field(default=None, description="Only this severity (预警等级).")
    date_from: QueryDay | None = Field(
        default=None,
        alias="from",
        description="Reported on or after this day (China Standard Time).",
    )
    date_to: QueryDay | None = Field(
        default=None,
        alias="to",
        description="Reported on or before this day (China Standard Time).",
    )
    page: int = Field(default=1, ge=1, le=100_000, description="Page number, from 1 (页码).")
    per_page: int = Field(default=20, ge=1, le=100, description="Items per page (每页条数).")


# --- answers ---------------------------------------------------------------------------------

#: The enumerations the answers share, each documented once under its name.
SeverityName = Annotated[
    Severity,
    Named(
        "Severity",
        "Warning colour (预警等级): `red` 红色 — report immediately, escalates; `orange` 橙色 — "
        "handled the same day; `yellow` 黄色 — resolved on site by the officer or village.",
    ),
]
CrsName = Annotated[
    Crs,
    Named(
        "Crs",
        "Coordinate system (坐标系): `wgs84` GPS and Tianditu (天地图, CGCS2000); `gcj02` AMap and "
        "Tencent (高德/腾讯, 火星坐标); `bd09` Baidu (百度).",
    ),
]
#: fieldapp.workflow.State's values, in its order (checked below).
CaseState = Literal[
    "reported",
    "accepted",
    "rejected",
    "merged",
    "assigned",
    "signed_for",
    "in_progress",
    "closing_requested",
    "closed",
]
assert CaseState.__args__ == tuple(s.value for s in State)  # type: ignore[attr-defined]
CaseStateName = Annotated[
    CaseState,
    Named(
        "CaseState",
        "Workflow state (办理状态). Open: `reported` 待受理, `accepted` 已受理, `assigned` 已交办, "
        "`signed_for` 已签收, `in_progress` 办理中, `closing_requested` 待审核 (申请办结, waiting "
        "for review). Final: `rejected` 不予受理, `merged` 已合并 (a duplicate), `closed` 已办结.",
    ),
]

REPORT_ID: Final = "9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23"
PHOTO_ID: Final = "5f0d7a0e-2b8c-4e47-9a53-0c6e1b2d3f4a"
#: How a report or photo id is documented in a path.
REPORT_ID_PARAM: Final = (
    "The report's id, the UUID its phone made.",
    {"type": "string", "format": "uuid", "examples": [REPORT_ID]},
)
PHOTO_ID_PARAM: Final = (
    "The photo's id.",
    {"type": "string", "format": "uuid", "examples": [PHOTO_ID]},
)

PHOTO_EXAMPLE: Final[dict[str, Any]] = {
    "id": PHOTO_ID,
    "url": f"/api/v1/reports/{REPORT_ID}/photos/{PHOTO_ID}",
    "thumbnail_url": f"/api/v1/reports/{REPORT_ID}/photos/{PHOTO_ID}/thumbnail",
    "content_type": "image/jpeg",
    "width": 4032,
    "height": 3024,
    "exif_lon": 119.52668,
    "exif_lat": 35.41689,
    "exif_taken_at": "2026-11-25T01:35:12+00:00",
}

REPORT_EXAMPLE: Final[dict[str, Any]] = {
    "id": REPORT_ID,
    "case_number": "东港-2026-000123",
    "status": "reported",
    "title": "邻里因排水沟堵塞争执",
    "description": "两户因排水沟堵塞发生口角，已初步劝解，约定明日由社区协调疏通。",
    "address": "海曲社区3号楼东侧",
    "category": "neighbours",
    "category_name": "邻里纠纷",
    "severity": "orange",
    "people_involved": 3,
    "potential_group_incident": False,
    "occurred_at": "2026-11-25T01:30:00+00:00",
    "reported_at": "2026-11-25T01:42:17.503211+00:00",
    "lon": 119.52671,
    "lat": 35.41692,
    "input": {"lon": 119.532139, "lat": 35.416633, "crs": "gcj02"},
    "accuracy_m": 8.5,
    "cell": {"id": 10412, "code": "371102001003002", "name": "海曲社区第2网格（示例）"},
    "village": {"id": 1203, "code": "371102001003", "name": "海曲社区（示例）"},
    "township": {"id": 58, "code": "371102001", "name": "日照街道"},
    "county": {"id": 2, "code": "371102", "name": "东港区"},
    "officer": {"id": 311, "display_name": "网格员0311（示例）"},
    "outside_own_cells": False,
    "distance_to_own_cells_m": 0.0,
    "version": 1,
    "parties": [
        {
            "name": "张三",
            "id_number": "371102199001011234",
            "phone": "13812345678",
            "role": "当事人",
        },
        {"name": "李四", "id_number": None, "phone": None, "role": None},
    ],
    "photos": [PHOTO_EXAMPLE],
}

#: The same report as city staff see it: parties' personal data masked.
REPORT_MASKED_EXAMPLE: Final[dict[str, Any]] = {
    **REPORT_EXAMPLE,
    "parties": [
        {
            "name": "张*",
            "id_number": "371102********1234",
            "phone": "138****5678",
            "role": "当事人",
        },
        {"name": "李*", "id_number": None, "phone": None, "role": None},
    ],
}


class AreaRef(AnswerModel):
    """A reference to an area or grid cell (区划引用): internal id, code and name."""

    id: int
    code: str = Field(examples=["371102001"])
    name: str = Field(examples=["日照街道"])


class InputPosition(AnswerModel):
    """A position as the client sent it, before conversion to WGS-84."""

    lon: float
    lat: float
    crs: CrsName


class Officer(AnswerModel):
    """The officer who filed the report (上报网格员)."""

    id: int
    display_name: str


class Party(AnswerModel):
    """A party (stored encrypted). In lists, and for roles that do not handle the case
    (county and city staff), the name, ID number and phone are masked: 张*,
    371102********1234, 138****5678; each unmasked display is audited."""

    name: str
    id_number: str | None
    phone: str | None
    role: str | None


class Photo(AnswerModel):
    """A photo of a report (现场照片)."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {}

    id: uuid.UUID
    url: str = Field(
        json_schema_extra={"format": "uri-reference"},
        description="The image bytes (bearer token needed).",
    )
    thumbnail_url: str | None = Field(
        json_schema_extra={"format": "uri-reference"},
        description="The thumbnail; null until the worker has made it.",
    )
    content_type: Literal["image/jpeg", "image/png", "image/webp"]
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    exif_lon: float | None = Field(description="Position recorded by the camera, if any.")
    exif_lat: float | None
    exif_taken_at: dt.datetime | None = Field(description="When the camera took it, if recorded.")


class Report(AnswerModel):
    """An early dispute report as stored (矛盾纠纷早报告), located in the grid."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "officer": ("As the filing officer sees it", REPORT_EXAMPLE),
        "city": ("As city staff see it (parties masked)", REPORT_MASKED_EXAMPLE),
    }

    id: uuid.UUID
    case_number: str = Field(
        description="The case number people say on the phone (案件编号): the county-level "
        "unit's short name, the year received (China time) and a sequence per unit and year, "
        "e.g. 东港-2026-000123. Given by the server at intake; the id stays the API's key.",
        examples=["东港-2026-000123"],
    )
    status: CaseStateName = Field(description="Workflow state (办理状态): `reported` on intake.")
    title: str
    description: str
    address: str | None
    category: str = Field(description="Category code.")
    category_name: str = Field(description="Category label in the request's language.")
    severity: SeverityName
    people_involved: int = Field(ge=1)
    potential_group_incident: bool = Field(
        description="Potential group incident (群体性): people_involved reached the "
        "configured threshold (default 5)."
    )
    occurred_at: dt.datetime
    reported_at: dt.datetime = Field(description="When the server received it (上报时间).")
    lon: float = Field(description="WGS-84 longitude.")
    lat: float = Field(description="WGS-84 latitude.")
    input: InputPosition
    accuracy_m: float | None
    cell: AreaRef = Field(description="Grid cell (网格) the point lies in.")
    village: AreaRef = Field(description="Village or community (村/社区).")
    township: AreaRef = Field(description="Township (乡镇/街道).")
    county: AreaRef = Field(description="County-level unit (区/县).")
    officer: Officer
    outside_own_cells: bool = Field(
        description="The point is outside the cells the officer is responsible for "
        "(跨网格上报); accepted, and flagged for the coordinator."
    )
    distance_to_own_cells_m: Annotated[float, Field(ge=0)] | None = Field(
        description="Metres from the officer's own cells; 0 inside them, null when the "
        "officer has no cells."
    )
    version: int = Field(ge=1, description="Increases with every change (乐观锁版本号).")
    parties: list[Party]
    photos: list[Photo]


class ReportList(AnswerModel):
    """One page of reports (分页列表)."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "page": (
            "First page, as city staff see it (parties masked)",
            {"items": [REPORT_MASKED_EXAMPLE], "page": 1, "per_page": 20, "total": 1},
        )
    }

    items: list[Report]
    page: int = Field(ge=1)
    per_page: int = Field(ge=1, le=100)
    total: int = Field(ge=0, description="Reports matching the filters, over all pages.")


class HandledBy(AnswerModel):
    """Who handles the report now, by name."""

    area: str | None = Field(description="The area that owns the case (责任层级).")
    township: str | None
    department: str | None = Field(description="The department it is assigned to, if any.")


class MergedInto(AnswerModel):
    """The case a duplicate was merged into: its number and state. That case may have been
    filed by someone else, so its title is given only to a caller who may read that case
    (an officer: one they filed themselves); its description never."""

    id: uuid.UUID
    case_number: str = Field(
        description="The kept case's number (案件编号), e.g. 东港-2026-000123."
    )
    status: CaseStateName = Field(description="The kept case's state now.")
    status_label: str = Field(description="That state, in words.")
    title: str | None = Field(
        description="The kept case's title, only if the caller may read that case (they filed "
        "it); otherwise null."
    )


class ProgressStep(AnswerModel):
    """One step of the report's timeline, as the reporter may see it."""

    at: dt.datetime
    action: str = Field(description="`report` or the workflow action.")
    status: CaseStateName
    label: str = Field(description="The state it led to, in words.")
    detail: str | None = Field(
        description="The rejection's reason, the case merged into (by its number and state, "
        "never its title), the department assigned, or the outcome."
    )
    merged_into: str | None = Field(default=None, description="A merge: the id of the case kept.")


class OwnReportProgress(AnswerModel):
    """The officer's own report: where it stands, who handles it, what happened (我的上报进展)."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "assigned": (
            "Accepted and assigned to a department",
            {
                "id": REPORT_ID,
                "title": "宅基地边界争执",
                "status": "assigned",
                "status_label": "已交办",
                "reported_at": "2026-11-25T09:12:00+08:00",
                "handled_by": {
                    "area": "石臼街道",
                    "township": "石臼街道",
                    "department": "东港区司法局",
                },
                "outcome": None,
                "outcome_label": None,
                "merged_into": None,
                "timeline": [
                    {
                        "at": "2026-11-25T09:12:00+08:00",
                        "action": "report",
                        "status": "reported",
                        "label": "已上报",
                        "detail": None,
                    },
                    {
                        "at": "2026-11-25T10:03:00+08:00",
                        "action": "accept",
                        "status": "accepted",
                        "label": "已受理",
                        "detail": None,
                    },
                    {
                        "at": "2026-11-25T10:05:00+08:00",
                        "action": "assign",
                        "status": "assigned",
                        "label": "已交办",
                        "detail": "东港区司法局",
                    },
                ],
            },
        ),
        "merged": (
            "Merged into another officer's case: its number and state, not its title",
            {
                "id": REPORT_ID,
                "title": "宅基地边界争执",
                "status": "merged",
                "status_label": "已合并",
                "reported_at": "2026-11-25T09:12:00+08:00",
                "handled_by": {"area": "石臼街道", "township": "石臼街道", "department": None},
                "outcome": None,
                "outcome_label": None,
                "merged_into": {
                    "id": "3f1c2a55-2b7e-4d6a-9c1e-5a7b8c9d0e1f",
                    "case_number": "东港-2026-000123",
                    "status": "accepted",
                    "status_label": "已受理",
                    "title": None,
                },
                "timeline": [
                    {
                        "at": "2026-11-25T09:12:00+08:00",
                        "action": "report",
                        "status": "reported",
                        "label": "已上报",
                        "detail": None,
                    },
                    {
                        "at": "2026-11-25T09:40:00+08:00",
                        "action": "merge",
                        "status": "merged",
                        "label": "已合并",
                        "detail": "已并入案件东港-2026-000123（同一纠纷），该案件现为“已受理”。",
                        "merged_into": "3f1c2a55-2b7e-4d6a-9c1e-5a7b8c9d0e1f",
                    },
                ],
            },
        ),
    }

    id: uuid.UUID
    title: str
    status: CaseStateName
    status_label: str
    reported_at: dt.datetime
    handled_by: HandledBy
    outcome: str | None
    outcome_label: str | None
    merged_into: MergedInto | None
    timeline: list[ProgressStep] = Field(description="Oldest first; times in China time.")


_NO_REPORT: Final[tuple[str, Any]] = (
    "No such report, or not visible to the caller",
    error_answer("not_found", "No such report."),
)
#: A report that does not exist or is outside the caller's scope (the same answer).
REPORT_NOT_FOUND: Final[ErrorDoc] = (
    "No such report, or it is outside the caller's scope (the API does not reveal which).",
    {"not_found": _NO_REPORT},
)


# --- photos ----------------------------------------------------------------------------------

#: `POST /reports/{id}/photos` takes the photo as a multipart field (read from its bytes).
PHOTO_UPLOAD: Final[dict[str, Any]] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["photo"],
                "properties": {
                    "photo": {
                        "type": "string",
                        "format": "binary",
                        "description": "The photo (照片): JPEG, PNG or WebP, at most 10 MiB by "
                        "default (configurable).",
                    }
                },
            },
            "encoding": {"photo": {"contentType": "image/jpeg, image/png, image/webp"}},
        }
    },
}


def _refused(code: str, message: str) -> dict[str, Any]:
    return error_answer(code, message, {"photo": message})


PHOTO_ERRORS: Final[dict[int, ErrorDoc]] = {
    400: (
        "No `photo` field, or the file is not an acceptable photo. `code` says why: "
        "`invalid_photo` (no field), `empty`, `not_an_image`, `unsupported_type` (e.g. HEIC), "
        "`corrupt`, `too_large`, `too_many_pixels`, `too_many_photos`.",
        {
            "missing": (
                "No photo field",
                error_answer(
                    "invalid_photo",
                    "Send the photo as multipart field “photo”.",
                    {"photo": "Required."},
                ),
            ),
            "not_an_image": (
                "A PDF sent as a photo",
                _refused("not_an_image", "This file is not a photo (JPEG, PNG or WebP)."),
            ),
            "too_large": (
                "Larger than the photo limit",
                _refused("too_large", "The photo is too large. Send a smaller photo."),
            ),
            "too_many_photos": (
                "The report already has 12 photos",
                _refused("too_many_photos", "At most 12 photos per report."),
            ),
        },
    ),
    403: (
        "The caller may see the report but did not file it.",
        {
            "not_filer": (
                "Another user's report",
                error_answer(
                    "forbidden", "Only the officer who filed the report adds photos to it."
                ),
            )
        },
    ),
    413: (
        "The whole request is larger than the server accepts (16 MiB by default).",
        {
            "too_large": (
                "Request too large",
                error_answer("request_entity_too_large", "The request is too large."),
            )
        },
    ),
}

_NO_PHOTO: Final[tuple[str, Any]] = (
    "No such photo on this report",
    error_answer("not_found", "No such photo."),
)
PHOTO_NOT_FOUND: Final[ErrorDoc] = (
    "No such report or photo, or the report is not visible to the caller.",
    {"no_report": _NO_REPORT, "no_photo": _NO_PHOTO},
)
THUMBNAIL_NOT_FOUND: Final[ErrorDoc] = (
    "No such report or photo, or the thumbnail is not made yet (`not_ready`).",
    {
        "not_ready": (
            "The worker has not made it yet",
            error_answer("not_ready", "The thumbnail is being made; try again shortly."),
        ),
        "no_photo": _NO_PHOTO,
        "no_report": _NO_REPORT,
    },
)
