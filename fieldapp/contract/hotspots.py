"""The contract of the hotspot alerts (`fieldapp.blueprints.hotspots_api`, /hotspots…): the
alert list, the map analyses, acknowledging, 督办 and a recomputation. Declared once here;
validation, the error answer and the OpenAPI document come from these models.

The checks that need the alert or the clock (an alert outside the caller's scope, `due_at`
not in the future, no open cases behind it) stay in `fieldapp.services.hotspots`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema

from fieldapp import bounds
from fieldapp.contract.base import AnswerModel, BodyModel, QueryModel, check_text
from fieldapp.contract.layers import Feature, FeatureCollection, GeoJsonGeometry
from fieldapp.contract.stats import AreaCodeName, error

Method = Literal["scan", "gi_star", "emerging", "ebp"]
AlertStatus = Literal["new", "acknowledged", "supervised", "expired"]
Analysis = Literal["gi_star", "emerging"]


class HotspotListQuery(QueryModel):
    """GET /hotspots."""

    status: Literal["new", "acknowledged", "supervised", "expired", "all"] | None = Field(
        None,
        description="Default: the active ones (new, acknowledged, supervised); or one status, "
        "or `all`.",
    )


class HotspotArea(AnswerModel):
    """Where it is: the centre cell for a one-cell hotspot, else the centre cell's township
    (乡镇/街道)."""

    code: str
    name: str
    level: Literal["cell", "township"]


class DayRange(AnswerModel):
    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to")


EXAMPLE_ALERT: Final[dict[str, Any]] = {
    "id": 17,
    "area": {"code": "371102001", "name": "日照街道", "level": "township"},
    "method": "scan",
    "statistic": 24.8,
    "p_value": 0.0011,
    "pattern": None,
    "period": {"from": "2026-11-21", "to": "2026-11-24"},
    "categories": [],
    "recurrence_interval_days": 909.1,
    "observed": 31,
    "expected": 6.2,
    "status": "new",
    "first_detected_at": "2026-11-25T06:00:41+08:00",
    "last_detected_at": "2026-11-25T06:00:41+08:00",
    "cells": ["371102001003001", "371102001003002"],
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[119.52, 35.41], [119.53, 35.41], [119.53, 35.42], [119.52, 35.41]]],
    },
    "township": {"code": "371102001", "name": "日照街道"},
    "relative_risk": 5.0,
    "display": {
        "cells_text": "日照街道的 2 个网格",
        "relative_risk": "预期的 5.0 倍",
        "unusual": "罕见程度超过一年一遇",
        "pattern": None,
    },
}


class AlertDisplay(AnswerModel):
    """The figures in the request's language as the map and the alert list show them."""

    cells_text: str | None = None
    relative_risk: str | None = None
    unusual: str | None = Field(None, description="How unusual, e.g. 超过百年一遇.")
    pattern: str | None = None


class HotspotAlert(AnswerModel):
    """A hotspot alert (热点预警): one per hotspot, updated while it is re-detected."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {"scan": ("A scan alert", EXAMPLE_ALERT)}

    id: int
    area: HotspotArea | None
    method: Method = Field(
        description="scan: prospective space-time permutation scan (时空扫描); gi_star: "
        "Getis–Ord Gi* over the last 28 days; emerging: emerging hot spot class over 52 weeks."
    )
    statistic: float = Field(
        description="scan: log likelihood ratio; gi_star and emerging: the largest Gi* z."
    )
    p_value: float | None
    pattern: str | None = Field(
        description="Emerging class, e.g. `new hot spot`, `persistent hot spot`."
    )
    period: DayRange
    categories: list[str] = Field(description="Categories analysed; empty = all.")
    recurrence_interval_days: float | None = Field(
        description="scan only: days between false alarms this strong, city-wide (>= 365; "
        "with K category sets 1/(K·p)), capped at what the replicas support (100 × (replicas "
        "+ 1) for a Gumbel p)."
    )
    observed: float | None
    expected: float | None
    status: AlertStatus
    first_detected_at: datetime | None = None
    last_detected_at: datetime | None = None
    cells: list[str] = Field(description="Cell codes.")
    geometry: GeoJsonGeometry | None = Field(
        description="GeoJSON (WGS-84) of the union of its cells."
    )
    township: AreaCodeName | None = Field(None, description="The centre cell's township.")
    relative_risk: float | None = Field(None, description="observed / expected, one decimal.")
    display: AlertDisplay | None = None


class HotspotList(AnswerModel):
    """The alerts, newest detection first."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "example": ("Example", {"alerts": [EXAMPLE_ALERT]})
    }

    alerts: list[HotspotAlert]


class AnalysisCellProperties(AnswerModel):
    code: str
    class_: int = Field(
        alias="class",
        description="gi_star: +3/+2/+1 hot at 99/95/90 %, −1/−2/−3 cold; emerging: the "
        "pattern code ±1 … ±8.",
    )
    z: float
    county_id: int


class AnalysisCell(Feature):
    id: str
    properties: AnalysisCellProperties


ANALYSIS_EXAMPLE: Final[dict[str, Any]] = {
    "type": "FeatureCollection",
    "kind": "gi_star",
    "period": {"from": "2026-11-08", "to": "2026-12-05"},
    "p_values": "normal",
    "cells": 4586,
    "classes": {"3": 1},
    "features": [
        {
            "type": "Feature",
            "id": "371102001003001",
            "properties": {"code": "371102001003001", "class": 3, "z": 4.21, "county_id": 2},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[119.52, 35.41], [119.53, 35.41], [119.53, 35.42], [119.52, 35.41]]
                ],
            },
        }
    ],
}


class HotspotAnalysis(FeatureCollection):
    """GeoJSON of the cells with a class; `classes` counts the cells per class; `p_values`
    says whether permutation p-values were used (sparse counts)."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "gi_star": ("One hot cell at 99 %", ANALYSIS_EXAMPLE)
    }

    kind: Analysis
    period: DayRange
    p_values: str = Field(examples=["normal", "permutation"])
    cells: int = Field(description="Cells analysed.")
    classes: dict[str, int]
    features: list[AnalysisCell]


def _instant(raw: Any) -> datetime:
    """`due_at` through the one parser of instants (fieldapp.bounds): the window, offsets,
    China time when bare."""
    try:
        value = bounds.parse_instant(raw, required=True)
    except ValueError as exc:
        raise error("datetime_format", str(exc)) from None
    assert value is not None
    return value


SUPERVISE_EXAMPLE: Final[dict[str, Any]] = {
    "due_at": "2026-12-02T18:00:00+08:00",
    "reason": "邻里纠纷集中，限期化解",
}


class SuperviseInput(BodyModel):
    """POST /hotspots/{id}/supervise."""

    error_code: ClassVar[str] = "invalid_action"

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "order": ("Resolve within a week", SUPERVISE_EXAMPLE)
    }

    due_at: Annotated[
        datetime,
        BeforeValidator(_instant),
        WithJsonSchema({"type": "string", "format": "date-time"}),
    ] = Field(
        description="When the cases must be handled; in the future. Without an offset: China time."
    )
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(check_text)
    ] = Field(
        max_length=2000, description="Why (the 督办 note).", examples=["邻里纠纷集中，限期化解"]
    )


class SuperviseResult(AnswerModel):
    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "one": (
            "One case supervised",
            {
                "alert": {**EXAMPLE_ALERT, "status": "supervised"},
                "orders": 1,
                "cases": ["9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23"],
            },
        )
    }

    alert: HotspotAlert
    orders: int
    cases: list[Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]]


class Recompute(AnswerModel):
    """Queued through the outbox."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "example": ("Example", {"queued": True, "outbox_id": 1042})
    }

    queued: bool
    outbox_id: int
