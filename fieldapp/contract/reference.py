"""Reference data that needs no token: locating a point in the grid (网格定位) and the
area boundaries of one level (区划边界)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from pydantic import BeforeValidator, Field, WithJsonSchema

from fieldapp.contract.base import AnswerModel, QueryModel
from fieldapp.contract.reports import Crs

#: grid.LEVELS, the levels an area has (checked equal in tests/unit/test_openapi.py).
AreaLevel = Literal["city", "county", "township", "village", "cell"]


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
