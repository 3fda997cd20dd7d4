"""OpenAPI paths of the map layers (/layers/…, fieldapp/blueprints/layers.py), merged into
the document by `fieldapp.openapi`. GeoJSON bodies are described as FeatureCollections; the
feature properties are listed in each description."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
_UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
_INTERNAL = {"$ref": "#/components/responses/InternalError"}
_ERROR = {"$ref": "#/components/schemas/Error"}

_FEATURES: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": {"type": "object"}},
    },
}
_EXAMPLE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "371102001",
            "properties": {"code": "371102001", "name": "日照街道", "count": 42, "class": 3},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[119.5, 35.4], [119.51, 35.4], [119.51, 35.41], [119.5, 35.4]]],
            },
        }
    ],
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _filters() -> list[dict[str, Any]]:
    return [
        _query(
            "from",
            "First day (China time) of the window, YYYY-MM-DD.",
            {"type": "string", "format": "date"},
        ),
        _query("to", "Last day of the window.", {"type": "string", "format": "date"}),
        _query("category", "Only this category code.", {"type": "string"}),
    ]


def _error(description: str, code: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            JSON: {"schema": _ERROR, "example": {"error": {"code": code, "message": description}}}
        },
    }


def _geojson(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": _FEATURES, "example": _EXAMPLE}},
    }


def _common() -> dict[str, Any]:
    return {
        "400": _error("A filter is wrong.", "invalid_parameters"),
        "401": _UNAUTHORIZED,
        "403": _error("The map layers are for city and county staff.", "forbidden"),
        "500": _INTERNAL,
    }


def layer_paths() -> dict[str, Any]:
    classes = _query(
        "classes", "How classes are cut.", {"type": "string", "enum": ["jenks", "quantile"]}
    )
    metric = _query(
        "metric",
        "count, or rate per 10,000 residents.",
        {"type": "string", "enum": ["count", "rate"]},
    )
    return {
        "/layers/choropleth": {
            "get": {
                "tags": ["maps"],
                "operationId": "choroplethLayer",
                "summary": "Areas of a level with report counts, rates and classes (分级设色)",
                "description": "Properties: code, name, count, rate (per 10,000 residents; "
                "null without population), class. Merged duplicates are not counted. County "
                "staff see their county only. Accepts the web session or a bearer token.",
                "parameters": [
                    _query(
                        "level",
                        "The level.",
                        {"type": "string", "enum": ["county", "township", "village", "cell"]},
                    ),
                    metric,
                    classes,
                    *_filters(),
                ],
                "responses": {"200": _geojson("The areas."), **_common()},
            }
        },
        "/layers/reports": {
            "get": {
                "tags": ["maps"],
                "operationId": "reportPointsLayer",
                "summary": "Visible reports of the window as points (上报点位), newest first",
                "description": "Properties: id, title, category name, severity, status, "
                "reported_at. Capped; `truncated` says when more exist.",
                "parameters": [
                    *_filters(),
                    _query("bbox", "min lon, min lat, max lon, max lat.", {"type": "string"}),
                ],
                "responses": {"200": _geojson("The points."), **_common()},
            }
        },
        "/layers/report-cells": {
            "get": {
                "tags": ["maps"],
                "operationId": "reportCellsLayer",
                "summary": "EVERY visible report of the window counted per grid cell (按网格汇总)",
                "description": "No cap: one row per cell with reports, columns code, name, "
                "lon, lat (a point inside the cell), count, red, orange, yellow; `total` is "
                "their sum and equals the choropleth's total for the same filters. Merged "
                "duplicates are not counted; county staff see their county only.",
                "parameters": _filters(),
                "responses": {
                    "200": {
                        "description": "The counts.",
                        "content": {
                            JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["columns", "rows", "total"],
                                    "properties": {
                                        "columns": {"type": "array", "items": {"type": "string"}},
                                        "rows": {"type": "array", "items": {"type": "array"}},
                                        "total": {"type": "integer"},
                                    },
                                },
                                "example": {
                                    "columns": [
                                        "code",
                                        "name",
                                        "lon",
                                        "lat",
                                        "count",
                                        "red",
                                        "orange",
                                        "yellow",
                                    ],
                                    "rows": [
                                        [
                                            "371102001003001",
                                            "望海社区第1网格",
                                            119.52,
                                            35.41,
                                            12,
                                            1,
                                            4,
                                            7,
                                        ]
                                    ],
                                    "total": 12,
                                },
                            }
                        },
                    },
                    **_common(),
                },
            }
        },
        "/layers/township/{code}/cells": {
            "get": {
                "tags": ["maps"],
                "operationId": "townshipCellsLayer",
                "summary": "One township's grid cells with counts (drill-down 下钻)",
                "parameters": [
                    {
                        "name": "code",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "The township's code.",
                    },
                    metric,
                    classes,
                    *_filters(),
                ],
                "responses": {
                    "200": _geojson("The cells."),
                    "404": _error("No such township.", "not_found"),
                    **_common(),
                },
            }
        },
        "/layers/cells/{z}/{x}/{y}.mvt": {
            "get": {
                "tags": ["maps"],
                "operationId": "cellTile",
                "summary": "Grid cells as a Mapbox vector tile (layer `cells`: code, name, "
                "count), from PostGIS ST_AsMVT; 204 when empty",
                "parameters": [
                    *(
                        {
                            "name": n,
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0},
                        }
                        for n in ("z", "x", "y")
                    ),
                    _query(
                        "display_crs",
                        "gcj02 shifts the cells onto GCJ-02 base tiles.",
                        {"type": "string", "enum": ["wgs84", "gcj02"]},
                    ),
                    *_filters(),
                ],
                "responses": {
                    "200": {
                        "description": "The tile.",
                        "content": {
                            "application/vnd.mapbox-vector-tile": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    "204": {"description": "No cell in this tile."},
                    "404": _error("No such tile.", "not_found"),
                    **_common(),
                },
            }
        },
    }
