"""The contract of the map layers (`fieldapp.blueprints.layers`, /layers/…): counts per area
(choropleth), report points, every report counted per cell, a township's cells and cells as
vector tiles. Declared once here; validation, the error answer and the OpenAPI document come
from these models. GeoJSON is described as far as a client reads it (feature properties
typed, geometries as GeoJSON objects)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final, Literal

from flask_babel import gettext as _
from pydantic import AfterValidator, Field

from fieldapp.contract.base import AnswerModel, QueryModel
from fieldapp.contract.stats import Day, DayTo, error
from fieldapp.domain import Severity

MapLevel = Literal["county", "township", "village", "cell"]
Metric = Literal["count", "rate"]
ClassMethod = Literal["jenks", "quantile"]
DisplayCrs = Literal["wgs84", "gcj02"]
#: Category codes are short; a longer one names nothing.
MAX_CATEGORY_LENGTH: Final = 32


# --- GeoJSON ---------------------------------------------------------------------------------


class GeoJsonGeometry(AnswerModel):
    """A GeoJSON geometry (RFC 7946), WGS-84 longitude/latitude."""

    type: Literal[
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    ]
    coordinates: list[Any] | None = None


class Feature(AnswerModel):
    """A GeoJSON feature; each layer declares its `properties`."""

    type: Literal["Feature"]
    id: str | int | None = None
    geometry: GeoJsonGeometry | None


class FeatureCollection(AnswerModel):
    """A GeoJSON feature collection; each layer declares its `features`."""

    type: Literal["FeatureCollection"]


# --- queries ---------------------------------------------------------------------------------


class LayerQuery(QueryModel):
    """The report window every layer is filtered by."""

    date_from: Day = Field(
        None,
        alias="from",
        description="First day (China time) of the window, YYYY-MM-DD.",
        examples=["2026-10-01"],
    )
    date_to: DayTo = Field(
        None, alias="to", description="Last day of the window, included.", examples=["2026-10-31"]
    )
    category: str | None = Field(
        None,
        max_length=MAX_CATEGORY_LENGTH,
        description="Only this category code.",
        examples=["marriage_family"],
    )


class ClassedQuery(LayerQuery):
    metric: Metric = Field("count", description="count, or rate per 10,000 residents.")
    classes: ClassMethod = Field("jenks", description="How classes are cut.")


class ChoroplethQuery(ClassedQuery):
    """GET /layers/choropleth."""

    level: MapLevel = Field("township", description="The level.")


def _bbox(value: str | None) -> str | None:
    if value is not None and parse_bbox(value) is None:
        raise error("bbox", _("Four numbers: min lon, min lat, max lon, max lat."))
    return value


def parse_bbox(raw: str) -> tuple[float, float, float, float] | None:
    """`min lon,min lat,max lon,max lat` as numbers in order, None when it is not one."""
    try:
        parts = [float(v) for v in raw.split(",")]
    except ValueError:
        return None
    if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
        return None
    if not all(-180 <= v <= 180 for v in parts) or abs(parts[1]) > 90 or abs(parts[3]) > 90:
        return None
    return (parts[0], parts[1], parts[2], parts[3])


class ReportPointsQuery(LayerQuery):
    """GET /layers/reports."""

    bbox: Annotated[str | None, AfterValidator(_bbox)] = Field(
        None,
        max_length=200,
        description="min lon, min lat, max lon, max lat.",
        examples=["119.45,35.35,119.60,35.45"],
    )

    def box(self) -> tuple[float, float, float, float] | None:
        return parse_bbox(self.bbox) if self.bbox else None


class TownshipCellsQuery(ClassedQuery):
    """GET /layers/township/{code}/cells."""


class TileQuery(LayerQuery):
    """GET /layers/cells/{z}/{x}/{y}.mvt."""

    display_crs: DisplayCrs = Field(
        "wgs84", description="gcj02 shifts the cells onto GCJ-02 base tiles."
    )


# --- answers ---------------------------------------------------------------------------------


class ChoroplethProperties(AnswerModel):
    code: str
    name: str
    population: int | None
    count: int = Field(ge=0)
    rate: float | None = Field(description="Per 10,000 residents; null without population.")
    class_: int | None = Field(alias="class", description="0 = none, 1–5; null = no rate.")


class ChoroplethFeature(Feature):
    id: str
    properties: ChoroplethProperties


class MapClasses(AnswerModel):
    """The classes of the legend."""

    method: ClassMethod | Literal["distinct"] = Field(
        description="The method asked for, or `distinct` when there were no more distinct "
        "values than classes (each value its own class)."
    )
    k: int
    breaks: list[float]
    ranges: list[list[float]]


class TownshipRef(AnswerModel):
    code: str
    name: str


_POLYGON: Final = {
    "type": "Polygon",
    "coordinates": [[[119.5, 35.4], [119.51, 35.4], [119.51, 35.41], [119.5, 35.4]]],
}
CHOROPLETH_EXAMPLE: Final[dict[str, Any]] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "371102001",
            "properties": {
                "code": "371102001",
                "name": "日照街道",
                "population": 98000,
                "count": 42,
                "rate": 4.29,
                "class": 3,
            },
            "geometry": _POLYGON,
        }
    ],
    "metric": "count",
    "classes": {"method": "jenks", "k": 5, "breaks": [2, 8, 20, 42], "ranges": [[1, 2]]},
    "total": 42,
    "level": "township",
}


class Choropleth(FeatureCollection):
    """Areas with counts, rates and classes; `total` is the sum of the counts. Merged
    duplicates are not counted."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "townships": ("A township with its count and class", CHOROPLETH_EXAMPLE)
    }

    features: list[ChoroplethFeature]
    metric: Metric
    classes: MapClasses
    total: int = Field(ge=0)
    level: MapLevel
    township: TownshipRef | None = Field(None, description="The drill-down's township.")


class PointProperties(AnswerModel):
    id: str = Field(json_schema_extra={"format": "uuid"})
    title: str
    category: str
    category_name: str
    severity: Severity
    status: str
    # Minutes only (2026-11-25T09:30+08:00): not RFC 3339's date-time, so plain text here.
    reported_at: str = Field(description="China time to the minute, ISO 8601.")


class PointFeature(Feature):
    properties: PointProperties


POINTS_EXAMPLE: Final[dict[str, Any]] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {
                "id": "9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23",
                "title": "邻里噪音纠纷",
                "category": "neighbourhood",
                "category_name": "邻里纠纷",
                "severity": "yellow",
                "status": "reported",
                "reported_at": "2026-11-25T09:30+08:00",
            },
            "geometry": {"type": "Point", "coordinates": [119.52, 35.41]},
        }
    ],
    "truncated": False,
    "limit": 5000,
}


class ReportPoints(FeatureCollection):
    """The newest visible reports of the window, newest first; `truncated` says when more
    exist than `limit`."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {"one": ("One report", POINTS_EXAMPLE)}

    features: list[PointFeature]
    truncated: bool
    limit: int


REPORT_CELLS_EXAMPLE: Final[dict[str, Any]] = {
    "columns": ["code", "name", "lon", "lat", "count", "red", "orange", "yellow"],
    "rows": [["371102001003001", "望海社区第1网格", 119.52, 35.41, 12, 1, 4, 7]],
    "total": 12,
}


class ReportCells(AnswerModel):
    """One row per cell with reports, columns code, name, lon, lat (a point inside the
    cell), count, red, orange, yellow; `total` is their sum and equals the choropleth's
    total for the same filters."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "one": ("One cell with twelve reports", REPORT_CELLS_EXAMPLE)
    }

    columns: list[str]
    rows: list[list[str | float | int]]
    total: int = Field(ge=0)
