"""Reference data that needs no token: locating a point in the grid (网格定位) and the
area boundaries of one level (区划边界)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final, Literal

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from pydantic import BeforeValidator, Field, RootModel, WithJsonSchema

from fieldapp.contract.base import AnswerModel, ErrorDoc, Named, QueryModel, error_answer
from fieldapp.contract.reports import Crs, CrsName

#: grid.LEVELS, the levels an area has (checked equal in tests/unit/test_openapi.py).
AreaLevel = Literal["city", "county", "township", "village", "cell"]
AreaLevelName = Annotated[
    AreaLevel,
    Named(
        "AreaLevel",
        "`city` 市; `county` county-level unit 区/县/功能区; `township` 乡镇/街道; "
        "`village` village or community 村/社区; `cell` grid cell 网格.",
    ),
]


class LocateQuery(QueryModel):
    """A point, longitude first."""

    error_summary: ClassVar[Any] = lazy_gettext("Check the coordinates.")

    lon: float = Field(
        ge=-180, le=180, description="Longitude in degrees (经度).", examples=[119.52671]
    )
    lat: float = Field(
        ge=-90, le=90, description="Latitude in degrees (纬度).", examples=[35.41692]
    )
    crs: Crs = Field(default="wgs84", description="The coordinate system of lon/lat (坐标系).")


def _bbox(value: Any) -> Any:
    """`minlon,minlat,maxlon,maxlat` in order; ValueError with the message otherwise."""
    if not isinstance(value, str):
        return value
    try:
        parts = tuple(float(v) for v in value.split(","))
        if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
            raise ValueError
        if not all(abs(v) <= 180 for v in parts):
            raise ValueError
    except ValueError:
        raise ValueError(_("Four numbers: min lon, min lat, max lon, max lat.")) from None
    return parts


#: The pattern says what `_bbox` takes: four decimal numbers, comma-separated.
_NUMBER = r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*"
Bbox = Annotated[
    tuple[float, float, float, float],
    BeforeValidator(_bbox),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$",
            "examples": ["119.45,35.35,119.60,35.45"],
        }
    ),
]


class AreaLayerQuery(QueryModel):
    """Which areas to draw."""

    level: AreaLevel = Field(default="township", description="Which level of area (层级).")
    bbox: Bbox | None = Field(
        default=None,
        description="Bounding box `minlon,minlat,maxlon,maxlat` in WGS-84 degrees; only the "
        "areas whose bounding box meets it. The minimum may not exceed the maximum.",
    )


class Category(AnswerModel):
    """A dispute category (纠纷类别)."""

    code: str = Field(description="Stable code.", examples=["neighbours"])
    name: str = Field(description="Label in the request's language.", examples=["邻里纠纷"])


class CategoryList(AnswerModel):
    """The active categories in display order."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "zh": (
            "In Chinese (the default)",
            {
                "categories": [
                    {"code": "marriage_family", "name": "婚姻家庭"},
                    {"code": "neighbours", "name": "邻里纠纷"},
                    {"code": "housing_land", "name": "房屋宅基地"},
                    {"code": "other", "name": "其他"},
                ]
            },
        ),
        "en": (
            "In English (?lang=en)",
            {
                "categories": [
                    {"code": "marriage_family", "name": "Marriage and family"},
                    {"code": "neighbours", "name": "Neighbours"},
                    {"code": "housing_land", "name": "Housing and homestead land"},
                    {"code": "other", "name": "Other"},
                ]
            },
        ),
    }

    categories: list[Category]


# --- locating a point ------------------------------------------------------------------------


class LevelledAreaRef(AnswerModel):
    """An area reference with its level."""

    id: int
    code: str = Field(examples=["371102001"])
    name: str = Field(examples=["日照街道"])
    level: AreaLevelName


class PointInput(AnswerModel):
    """The point as sent, before conversion to WGS-84."""

    lon: float
    lat: float
    crs: CrsName


class LocationChain(AnswerModel):
    """A grid cell and its chain of areas up to the city."""

    cell: LevelledAreaRef = Field(description="Grid cell (网格).")
    village: LevelledAreaRef = Field(description="Village or community (村/社区).")
    township: LevelledAreaRef = Field(description="Township (乡镇/街道).")
    county: LevelledAreaRef = Field(description="County-level unit (区/县).")
    city: LevelledAreaRef = Field(description="City (市).")


class NearestCell(LocationChain):
    """The grid cell nearest to a point outside the grid."""

    distance_m: float = Field(ge=0, description="Distance to the cell in metres.")


_INPUT = "The point as sent; only when `crs` was not wgs84."


class LocateFound(LocationChain):
    """The point lies in a grid cell."""

    found: Literal[True]
    lon: float = Field(description="WGS-84 longitude.")
    lat: float = Field(description="WGS-84 latitude.")
    input: PointInput | None = Field(default=None, description=_INPUT)


class LocateNotFound(AnswerModel):
    """The point lies outside the city's grid."""

    found: Literal[False]
    lon: float = Field(description="WGS-84 longitude.")
    lat: float = Field(description="WGS-84 latitude.")
    message: str = Field(description="What to check, for the user, in the request's language.")
    nearest: NearestCell | None = Field(default=None, description="When there is one.")
    input: PointInput | None = Field(default=None, description=_INPUT)


def _level(ref: dict[str, Any], level: str) -> dict[str, Any]:
    return {**ref, "level": level}


CHAIN_EXAMPLE: dict[str, Any] = {
    "cell": _level(
        {"id": 10412, "code": "371102001003002", "name": "海曲社区第2网格（示例）"}, "cell"
    ),
    "village": _level({"id": 1203, "code": "371102001003", "name": "海曲社区（示例）"}, "village"),
    "township": _level({"id": 58, "code": "371102001", "name": "日照街道"}, "township"),
    "county": _level({"id": 2, "code": "371102", "name": "东港区"}, "county"),
    "city": _level({"id": 1, "code": "371100", "name": "日照市"}, "city"),
}


class LocateAnswer(RootModel[LocateFound | LocateNotFound]):
    """The answer of /locate (定位结果): tell the two cases by `found`."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "found": (
            "Inside the grid (WGS-84 input)",
            {"found": True, "lon": 119.52671, "lat": 35.41692, **CHAIN_EXAMPLE},
        ),
        "found_gcj02": (
            "Inside the grid, position from AMap (GCJ-02)",
            {
                "found": True,
                "lon": 119.52671,
                "lat": 35.41692,
                **CHAIN_EXAMPLE,
                "input": {"lon": 119.532139, "lat": 35.416633, "crs": "gcj02"},
            },
        ),
        "outside": (
            "Outside the city, with the nearest cell",
            {
                "found": False,
                "lon": 119.3,
                "lat": 35.31,
                "message": "This point is outside the city's grid. Check the position (is it "
                "WGS-84, and longitude before latitude?).",
                "nearest": {**CHAIN_EXAMPLE, "distance_m": 4213.7},
            },
        ),
    }


LOCATE_ERRORS: Final[dict[int, ErrorDoc]] = {
    400: (
        "A coordinate is missing, not a number or out of range, or `crs` is unknown.",
        {
            "bad_coordinates": (
                "Latitude missing, longitude out of range",
                error_answer(
                    "invalid_parameters",
                    "Check the coordinates.",
                    {"lon": "At most 180.", "lat": "Required."},
                ),
            ),
            "bad_crs": (
                "Unknown coordinate system",
                error_answer(
                    "invalid_parameters",
                    "Check the coordinates.",
                    {"crs": "One of: 'wgs84', 'gcj02' or 'bd09'."},
                ),
            ),
        },
    )
}


# --- area boundaries -------------------------------------------------------------------------


class AreaProperties(AnswerModel):
    """What a map shows of an area."""

    code: str
    name: str
    level: AreaLevelName
    parent_code: str | None = Field(description="Code of the area above; empty for the city.")
    population: Annotated[int, Field(ge=0)] | None = None


class AreaGeometry(AnswerModel):
    """A GeoJSON polygon or multipolygon (WGS-84)."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class AreaFeature(AnswerModel):
    """One area as a GeoJSON Feature (WGS-84)."""

    type: Literal["Feature"]
    id: str = Field(description="The area code.")
    bbox: list[float] = Field(
        min_length=4,
        max_length=4,
        description="[min lon, min lat, max lon, max lat] of the unsimplified area.",
    )
    properties: AreaProperties
    geometry: AreaGeometry


class AreaFeatureCollection(AnswerModel):
    """A GeoJSON FeatureCollection of areas."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "townships": (
            "One township (coordinates shortened)",
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": "371102001",
                        "bbox": [119.498, 35.392, 119.561, 35.441],
                        "properties": {
                            "code": "371102001",
                            "name": "日照街道",
                            "level": "township",
                            "parent_code": "371102",
                            "population": 86000,
                        },
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [
                                    [119.498, 35.392],
                                    [119.561, 35.392],
                                    [119.561, 35.441],
                                    [119.498, 35.441],
                                    [119.498, 35.392],
                                ]
                            ],
                        },
                    }
                ],
            },
        )
    }

    type: Literal["FeatureCollection"]
    features: list[AreaFeature]


AREA_LAYER_ERRORS: Final[dict[int, ErrorDoc]] = {
    400: (
        "Unknown level or malformed bbox.",
        {
            "bad_level": (
                "Unknown level",
                error_answer(
                    "invalid_parameters",
                    "Check the parameters.",
                    {"level": "One of: 'city', 'county', 'township', 'village' or 'cell'."},
                ),
            ),
            "bad_bbox": (
                "Three numbers instead of four",
                error_answer(
                    "invalid_parameters",
                    "Check the parameters.",
                    {"bbox": "Four numbers: min lon, min lat, max lon, max lat."},
                ),
            ),
        },
    )
}
