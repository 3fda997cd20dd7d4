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
from fieldapp.contract.base import BodyModel, ErrorDoc, QueryModel, Text, check_text, error_answer
from fieldapp.domain import SEVERITIES, Severity
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
