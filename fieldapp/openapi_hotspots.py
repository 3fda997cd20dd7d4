"""OpenAPI 3.1 path items of the hotspot endpoints (`fieldapp.blueprints.hotspots_api`), kept
apart so `fieldapp.openapi._paths()` can take them in with `**hotspot_paths()`; the shared
components they refer to (`Error`, the `Unauthorized` and `InternalError` responses) are
those of `fieldapp.openapi`."""

from __future__ import annotations

from typing import Any

JSON = "application/json"

_ERROR = {"$ref": "#/components/schemas/Error"}
_UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
_INTERNAL = {"$ref": "#/components/responses/InternalError"}

_AREA: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "Where it is: the centre cell for a one-cell hotspot, else the centre "
    "cell's township (乡镇/街道).",
    "required": ["code", "name", "level"],
    "properties": {
        "code": {"type": "string"},
        "name": {"type": "string"},
        "level": {"type": "string", "enum": ["cell", "township"]},
    },
}

ALERT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A hotspot alert (热点预警): one per hotspot, updated while it is re-detected.",
    "required": [
        "id",
        "area",
        "method",
        "statistic",
        "p_value",
        "pattern",
        "period",
        "categories",
        "recurrence_interval_days",
        "observed",
        "expected",
        "status",
        "cells",
        "geometry",
    ],
    "properties": {
        "id": {"type": "integer"},
        "area": _AREA,
        "method": {
            "type": "string",
            "enum": ["scan", "gi_star", "emerging", "ebp"],
            "description": "scan: prospective space-time permutation scan (时空扫描); gi_star: "
            "Getis–Ord Gi* over the last 28 days; emerging: emerging hot spot class over 52 "
            "weeks.",
        },
        "statistic": {
            "type": "number",
            "description": "scan: log likelihood ratio; gi_star and emerging: the largest Gi* z.",
        },
        "p_value": {"type": ["number", "null"]},
        "pattern": {
            "type": ["string", "null"],
            "description": "Emerging class, e.g. `new hot spot`, `persistent hot spot`.",
        },
        "period": {
            "type": "object",
            "required": ["from", "to"],
            "properties": {
                "from": {"type": "string", "format": "date"},
                "to": {"type": "string", "format": "date"},
            },
        },
        "categories": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Categories analysed; empty = all.",
        },
        "recurrence_interval_days": {
            "type": ["number", "null"],
            "description": "scan only: days between false alarms this strong, city-wide "
            "(>= 365; with K category sets 1/(K·p)), capped at what the replicas support "
            "(100 × (replicas + 1) for a Gumbel p).",
        },
        "observed": {"type": ["number", "null"]},
        "expected": {"type": ["number", "null"]},
        "status": {"type": "string", "enum": ["new", "acknowledged", "supervised", "expired"]},
        "first_detected_at": {"type": "string", "format": "date-time"},
        "last_detected_at": {"type": "string", "format": "date-time"},
        "cells": {"type": "array", "items": {"type": "string"}, "description": "Cell codes."},
        "geometry": {
            "type": ["object", "null"],
            "description": "GeoJSON (WGS-84) of the union of its cells.",
        },
        "township": {
            "type": ["object", "null"],
            "description": "The centre cell's township: code, name.",
        },
        "relative_risk": {
            "type": ["number", "null"],
            "description": "observed / expected, one decimal.",
        },
        "display": {
            "type": "object",
            "description": "The figures in the request's language as the map and the alert "
            "list show them: cells_text, relative_risk, unusual (e.g. 超过百年一遇), pattern.",
        },
    },
}

_EXAMPLE_ALERT: dict[str, Any] = {
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
}

_ALERT_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The alert's id.",
    "schema": {"type": "integer"},
}


def _error(description: str, code: str = "invalid_parameters") -> dict[str, Any]:
    example = {"error": {"code": code, "message": description}}
    return {"description": description, "content": {JSON: {"schema": _ERROR, "example": example}}}


def hotspot_paths() -> dict[str, Any]:
    """The path items, keyed like `fieldapp.openapi._paths()`."""
    alert_ref = {"$ref": "#/components/schemas/HotspotAlert"}
    return {
        "/hotspots": {
            "get": {
                "tags": ["hotspots"],
                "operationId": "listHotspots",
                "summary": "Current hotspot alerts (热点预警), scoped: city staff all, county "
                "staff their county's",
                "description": "Also accepts the web session cookie (the map page). Other "
                "roles get 403.",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "description": "Default: the active ones (new, acknowledged, "
                        "supervised); or one status, or `all`.",
                        "schema": {
                            "type": "string",
                            "enum": ["new", "acknowledged", "supervised", "expired", "all"],
                        },
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The alerts.",
                        "content": {
                            JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["alerts"],
                                    "properties": {"alerts": {"type": "array", "items": alert_ref}},
                                },
                                "examples": {
                                    "one": {
                                        "summary": "One scan alert",
                                        "value": {"alerts": [_EXAMPLE_ALERT]},
                                    }
                                },
                            }
                        },
                    },
                    "400": _error("Unknown status."),
                    "401": _UNAUTHORIZED,
                    "403": _error("Not city or county staff."),
                    "500": _INTERNAL,
                },
            }
        },
        "/hotspots/analysis/{kind}": {
            "get": {
                "tags": ["hotspots"],
                "operationId": "hotspotAnalysis",
                "summary": "A map analysis (not alerts): Gi* confidence classes or emerging "
                "hot spot patterns per cell (热点分析)",
                "description": "GeoJSON of the cells with a class: `class` +3/+2/+1 hot at "
                "99/95/90 %, −1/−2/−3 cold (gi_star), or the emerging pattern code ±1 … ±8 "
                "(emerging); `classes` counts the cells per class; `p_values` says whether "
                "permutation p-values were used (sparse counts). Same readers as /hotspots.",
                "parameters": [
                    {
                        "name": "kind",
                        "in": "path",
                        "required": True,
                        "description": "The analysis.",
                        "schema": {"type": "string", "enum": ["gi_star", "emerging"]},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The cells with a class.",
                        "content": {
                            JSON: {
                                "schema": {"type": "object"},
                                "example": {
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
                                            "properties": {
                                                "code": "371102001003001",
                                                "class": 3,
                                                "z": 4.21,
                                                "county_id": 2,
                                            },
                                            "geometry": {
                                                "type": "Polygon",
                                                "coordinates": [
                                                    [
                                                        [119.52, 35.41],
                                                        [119.53, 35.41],
                                                        [119.53, 35.42],
                                                        [119.52, 35.41],
                                                    ]
                                                ],
                                            },
                                        }
                                    ],
                                },
                            }
                        },
                    },
                    "401": _UNAUTHORIZED,
                    "403": _error("Not city or county staff."),
                    "404": _error("No such map analysis.", "not_found"),
                    "500": _INTERNAL,
                },
            }
        },
        "/hotspots/{id}/acknowledge": {
            "parameters": [_ALERT_ID],
            "post": {
                "tags": ["hotspots"],
                "operationId": "acknowledgeHotspot",
                "summary": "Acknowledge a new alert (已知悉); bearer token only",
                "responses": {
                    "200": {
                        "description": "The alert.",
                        "content": {
                            JSON: {
                                "schema": alert_ref,
                                "example": {**_EXAMPLE_ALERT, "status": "acknowledged"},
                            }
                        },
                    },
                    "401": _UNAUTHORIZED,
                    "403": _error("Not city or county staff."),
                    "404": _error("No such alert in the caller's scope."),
                    "409": _error("Already supervised or expired."),
                    "500": _INTERNAL,
                },
            },
        },
        "/hotspots/{id}/supervise": {
            "parameters": [_ALERT_ID],
            "post": {
                "tags": ["hotspots"],
                "operationId": "superviseHotspot",
                "summary": "督办 every open case behind the alert (city staff; bearer only)",
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["due_at", "reason"],
                                "properties": {
                                    "due_at": {"type": "string", "format": "date-time"},
                                    "reason": {"type": "string", "maxLength": 2000},
                                },
                            },
                            "examples": {
                                "order": {
                                    "summary": "Resolve within a week",
                                    "value": {
                                        "due_at": "2026-12-02T18:00:00+08:00",
                                        "reason": "邻里纠纷集中，限期化解",
                                    },
                                }
                            },
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The alert, the number of orders and the cases.",
                        "content": {
                            JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["alert", "orders", "cases"],
                                    "properties": {
                                        "alert": alert_ref,
                                        "orders": {"type": "integer"},
                                        "cases": {
                                            "type": "array",
                                            "items": {"type": "string", "format": "uuid"},
                                        },
                                    },
                                },
                                "example": {
                                    "alert": {**_EXAMPLE_ALERT, "status": "supervised"},
                                    "orders": 1,
                                    "cases": ["9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23"],
                                },
                            }
                        },
                    },
                    "400": _error("Missing or invalid due_at or reason."),
                    "401": _UNAUTHORIZED,
                    "403": _error("Not city staff."),
                    "404": _error("No such alert."),
                    "409": _error("Already supervised or expired, or no open cases behind it."),
                    "500": _INTERNAL,
                },
            },
        },
        "/hotspots/recompute": {
            "post": {
                "tags": ["hotspots"],
                "operationId": "recomputeHotspots",
                "summary": "Queue a recomputation now (city staff; it also runs daily at 06:00)",
                "responses": {
                    "202": {
                        "description": "Queued through the outbox.",
                        "content": {
                            JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["queued", "outbox_id"],
                                    "properties": {
                                        "queued": {"type": "boolean"},
                                        "outbox_id": {"type": "integer"},
                                    },
                                },
                                "example": {"queued": True, "outbox_id": 1042},
                            }
                        },
                    },
                    "401": _UNAUTHORIZED,
                    "403": _error("Not city staff."),
                    "500": _INTERNAL,
                },
            }
        },
    }


def hotspot_schemas() -> dict[str, Any]:
    """Component schemas to add to `fieldapp.openapi._schemas()`."""
    return {"HotspotAlert": ALERT_SCHEMA}
