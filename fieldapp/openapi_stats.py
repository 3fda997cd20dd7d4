"""OpenAPI paths and schemas of the statistics (`fieldapp.blueprints.stats_api`): live
roll-ups, the KPI assessment table (考评), key backlog cases (重点积案) and the campaign view,
merged into the document by `fieldapp.openapi`. Written for the dashboard builders: every
answer's shape is a schema here, with a worked example."""

from __future__ import annotations

from typing import Any

from fieldapp.kpi import KPIS, describe
from fieldapp.stats import BREAKDOWNS, BUCKETS, LEVELS, SEVERITIES
from fieldapp.workflow import State

JSON = "application/json"
_ERROR = {"$ref": "#/components/schemas/Error"}
_UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
_INTERNAL = {"$ref": "#/components/responses/InternalError"}
_KEYS = [k.key for k in KPIS]
_READS = (
    " Accepts the bearer token or the web session cookie (dashboards in the browser). "
    "Coordinators see their township, county staff their county, city staff everything; "
    "officers and department handlers get 403."
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _error(description: str, code: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": description}
    if fields:
        body["fields"] = fields
    return {
        "description": description,
        "content": {JSON: {"schema": _ERROR, "example": {"error": body}}},
    }


def _ok(description: str, schema: str, example: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": _ref(schema), "example": example}},
    }


_FORBIDDEN = _error(
    "Statistics are for coordinators, county and city staff; or `within` is outside your area.",
    "forbidden",
)
_WITHIN = _query(
    "within",
    "Code of an area (or cell) the answer is limited to; default: your own area (the "
    "whole city for city staff). Must lie inside your area.",
    {"type": "string", "examples": ["371102"]},
)
_CASE_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The case (report) id.",
    "schema": {"type": "string", "format": "uuid"},
}

AREA_EXAMPLE = {"code": "371102", "name": "东港区", "level": "county"}
ROLLUP_EXAMPLE: dict[str, Any] = {
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


def _kpi_block(values: list[tuple[float | None, int | None, int | None]]) -> dict[str, Any]:
    return {
        key: {"value": v, "numerator": n, "denominator": d}
        for key, (v, n, d) in zip(_KEYS, values, strict=True)
    }


KPI_ROW_EXAMPLE: dict[str, Any] = {
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
KPI_TABLE_EXAMPLE: dict[str, Any] = {
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
KEY_CASE_EXAMPLE = {
    "id": "3f1c2a55-2b7e-4d6a-9c1e-5a7b8c9d0e1f",
    "is_key_case": True,
    "leader": "王某某（副区长）",
    "target_date": "2026-12-31",
    "status": "in_progress",
}
_SUMMARY_EXAMPLE = {
    "assigned": 4,
    "resolved": 1,
    "resolved_rate": 0.25,
    "closed": 1,
    "open": 3,
    "overdue": 1,
}
CAMPAIGN_EXAMPLE: dict[str, Any] = {
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

_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_AREA_CODE_NAME = {
    "type": "object",
    "required": ["code", "name"],
    "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
}


def stats_schemas() -> dict[str, Any]:
    """Component schemas to add to `fieldapp.openapi._schemas()`."""
    kpi_value = {
        "type": "object",
        "required": ["value", "numerator", "denominator"],
        "properties": {
            "value": {
                **_NULLABLE_NUMBER,
                "description": "numerator / denominator (× 10,000 for reports_per_10k), to 4 "
                "decimals; null when the denominator is 0 (no data).",
            },
            "numerator": _NULLABLE_INT,
            "denominator": {**_NULLABLE_INT, "description": "null only for an unknown population."},
        },
    }
    kpi_set = {
        "type": "object",
        "description": "Every KPI of `fieldapp.kpi` by key (see the `kpis` definitions).",
        "required": _KEYS,
        "properties": {key: _ref("KpiValue") for key in _KEYS},
        "additionalProperties": False,
    }
    summary_props = {
        "assigned": {"type": "integer", "description": "Key cases (N assigned)."},
        "resolved": {"type": "integer", "description": "Closed with outcome resolved (化解)."},
        "resolved_rate": {**_NULLABLE_NUMBER, "description": "resolved / assigned (M%)."},
        "closed": {"type": "integer"},
        "open": {"type": "integer"},
        "overdue": {
            "type": "integer",
            "description": "Still open after their target date (China-time days).",
        },
    }
    period = {
        "type": "object",
        "required": ["label", "kind", "from", "to"],
        "properties": {
            "label": {"type": "string", "examples": ["2026-10", "2026-Q3", "2026"]},
            "kind": {"type": "string", "enum": ["month", "quarter", "year", "range"]},
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date", "description": "Last day, included."},
        },
    }
    return {
        "StatsArea": {
            "type": ["object", "null"],
            "description": "The area the answer is limited to (null: everything).",
            "required": ["code", "name", "level"],
            "properties": {
                "code": {"type": "string"},
                "name": {"type": "string"},
                "level": {"type": "string", "enum": list(LEVELS)},
            },
        },
        "Rollup": {
            "type": "object",
            "description": "Report counts per area of `level`, every area under `within` "
            "included (0 when quiet), ordered by code. `keys` are the breakdown columns in "
            "display order (all categories / severities / states / period buckets, zeros "
            "included); each row's `counts` has exactly these keys. `total` counts every "
            "report of the row that matches the filters. Merged duplicates are not counted "
            "unless `status` asks for `merged`.",
            "required": ["level", "within", "by", "bucket", "filters", "keys", "rows", "totals"],
            "properties": {
                "level": {"type": "string", "enum": list(LEVELS)},
                "within": _ref("StatsArea"),
                "by": {"type": ["string", "null"], "enum": [*BREAKDOWNS, None]},
                "bucket": {"type": ["string", "null"], "enum": [*BUCKETS, None]},
                "filters": {
                    "type": "object",
                    "required": ["from", "to", "category", "severity", "status"],
                    "properties": {
                        "from": {"type": ["string", "null"], "format": "date"},
                        "to": {"type": ["string", "null"], "format": "date"},
                        "category": {"type": "array", "items": {"type": "string"}},
                        "severity": {"type": "array", "items": {"type": "string"}},
                        "status": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "keys": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Category codes, severities, states, or ISO dates of "
                    "bucket starts (weeks start on Monday).",
                },
                "rows": {"type": "array", "items": _ref("RollupRow")},
                "totals": {
                    "type": "object",
                    "required": ["total", "counts"],
                    "properties": {
                        "total": {"type": "integer"},
                        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                    },
                },
            },
        },
        "RollupRow": {
            "type": "object",
            "required": ["code", "name", "level", "parent_code", "population", "total", "counts"],
            "properties": {
                "code": {"type": "string"},
                "name": {"type": "string"},
                "level": {"type": "string", "enum": list(LEVELS)},
                "parent_code": {"type": ["string", "null"]},
                "population": _NULLABLE_INT,
                "total": {"type": "integer", "minimum": 0},
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
        "KpiValue": kpi_value,
        "KpiSet": kpi_set,
        "KpiDefinition": {
            "type": "object",
            "description": "How a KPI is computed (fieldapp/kpi.py, docs/kpis.md).",
            "required": [
                "key",
                "name",
                "numerator",
                "denominator",
                "weight",
                "higher_is_better",
                "scale",
            ],
            "properties": {
                "key": {"type": "string", "enum": _KEYS},
                "name": {"type": "string", "description": "Chinese name, e.g. 及时受理率."},
                "numerator": {"type": "string"},
                "denominator": {"type": "string"},
                "weight": {"type": "number", "description": "Share of the score; 0 = not scored."},
                "higher_is_better": {"type": "boolean"},
                "scale": {"type": "number"},
            },
        },
        "StatsPeriod": period,
        "KpiRow": {
            "type": "object",
            "required": [
                "code",
                "name",
                "level",
                "parent_code",
                "population",
                "kpis",
                "score",
                "rank",
                "previous",
                "delta",
            ],
            "properties": {
                "code": {"type": "string"},
                "name": {"type": "string"},
                "level": {"type": "string", "enum": ["township", "county"]},
                "parent_code": {"type": ["string", "null"]},
                "population": _NULLABLE_INT,
                "kpis": _ref("KpiSet"),
                "score": {
                    **_NULLABLE_NUMBER,
                    "description": "Composite score 0–100 (weights in `kpis`), 2 decimals.",
                },
                "rank": {
                    **_NULLABLE_INT,
                    "description": "1 = best within this table; ties share a rank.",
                },
                "previous": {
                    "type": "object",
                    "required": ["kpis", "score", "rank"],
                    "properties": {
                        "kpis": _ref("KpiSet"),
                        "score": _NULLABLE_NUMBER,
                        "rank": _NULLABLE_INT,
                    },
                },
                "delta": {
                    "type": "object",
                    "required": ["kpis", "score", "rank_change"],
                    "properties": {
                        "kpis": {
                            "type": "object",
                            "required": _KEYS,
                            "properties": {key: _NULLABLE_NUMBER for key in _KEYS},
                        },
                        "score": _NULLABLE_NUMBER,
                        "rank_change": {
                            **_NULLABLE_INT,
                            "description": "Places moved up (positive) or down (negative).",
                        },
                    },
                },
            },
        },
        "KpiTable": {
            "type": "object",
            "description": "The assessment table (考评): rows ordered by rank (no score last).",
            "required": ["level", "within", "period", "previous_period", "as_of", "kpis", "rows"],
            "properties": {
                "level": {"type": "string", "enum": ["township", "county"]},
                "within": _ref("StatsArea"),
                "period": _ref("StatsPeriod"),
                "previous_period": _ref("StatsPeriod"),
                "as_of": {"type": "string", "format": "date-time"},
                "kpis": {"type": "array", "items": _ref("KpiDefinition")},
                "rows": {"type": "array", "items": _ref("KpiRow")},
            },
        },
        "KeyCaseInput": {
            "type": "object",
            "required": ["leader", "target_date"],
            "properties": {
                "leader": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 50,
                    "description": "包案领导: name and post.",
                },
                "target_date": {
                    "type": "string",
                    "format": "date",
                    "description": "Target date (China time); not in the past.",
                },
            },
        },
        "KeyCase": {
            "type": "object",
            "required": ["id", "is_key_case", "leader", "target_date", "status"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "is_key_case": {"type": "boolean"},
                "leader": {"type": ["string", "null"]},
                "target_date": {"type": ["string", "null"], "format": "date"},
                "status": _ref("CaseState"),
            },
        },
        "CampaignSummary": {
            "type": "object",
            "required": list(summary_props),
            "properties": summary_props,
        },
        "Campaign": {
            "type": "object",
            "description": "Key backlog cases (重点积案): summary, per county (for the city) "
            "or township (for a county or township), zeros included, and the cases by target "
            "date.",
            "required": ["within", "as_of", "summary", "areas", "cases"],
            "properties": {
                "within": _ref("StatsArea"),
                "as_of": {"type": "string", "format": "date"},
                "summary": _ref("CampaignSummary"),
                "areas": {
                    "type": "array",
                    "items": {
                        "allOf": [
                            _ref("CampaignSummary"),
                            {
                                "type": "object",
                                "required": ["code", "name", "level"],
                                "properties": {
                                    "code": {"type": "string"},
                                    "name": {"type": "string"},
                                    "level": {"type": "string", "enum": ["county", "township"]},
                                },
                            },
                        ]
                    },
                },
                "cases": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": [
                            "id",
                            "title",
                            "status",
                            "outcome",
                            "severity",
                            "category",
                            "leader",
                            "target_date",
                            "resolved",
                            "overdue",
                            "days_overdue",
                            "reported_at",
                            "closed_at",
                            "township",
                            "county",
                        ],
                        "properties": {
                            "id": {"type": "string", "format": "uuid"},
                            "title": {"type": "string"},
                            "status": _ref("CaseState"),
                            "outcome": {"type": ["string", "null"]},
                            "severity": {"type": "string", "enum": list(SEVERITIES)},
                            "category": {"type": "string"},
                            "leader": {"type": ["string", "null"]},
                            "target_date": {"type": ["string", "null"], "format": "date"},
                            "resolved": {"type": "boolean"},
                            "overdue": {"type": "boolean"},
                            "days_overdue": {"type": "integer", "minimum": 0},
                            "reported_at": {"type": "string", "format": "date-time"},
                            "closed_at": {"type": ["string", "null"], "format": "date-time"},
                            "township": _AREA_CODE_NAME,
                            "county": _AREA_CODE_NAME,
                        },
                    },
                },
            },
        },
    }


def stats_paths() -> dict[str, Any]:
    invalid = _error("A parameter is wrong.", "invalid_parameters", {"level": "One of: …"})
    reads = {"400": invalid, "401": _UNAUTHORIZED, "403": _FORBIDDEN, "500": _INTERNAL}
    csv = "Comma-separated list."
    writes = {
        "400": _error("Check the fields.", "invalid_parameters", {"target_date": "A date …"}),
        "401": _UNAUTHORIZED,
        "403": _error("Not the case's coordinator, county staff or city staff.", "forbidden"),
        "404": _error("No such report (or not yours to see).", "not_found"),
        "409": _error("A merged or rejected report cannot be a key case.", "conflict"),
        "500": _INTERNAL,
    }
    return {
        "/rollups": {
            "get": {
                "tags": ["statistics"],
                "operationId": "rollups",
                "summary": "Live report counts per area (分级统计), by category, severity, "
                "status or period",
                "description": "Counts straight from the reports table (fresh after every "
                "write). Dates are China-time days, both ends included." + _READS,
                "parameters": [
                    _query(
                        "level",
                        "Areas to count per (default township).",
                        {"type": "string", "enum": list(LEVELS)},
                    ),
                    _WITHIN,
                    _query(
                        "from",
                        "First day (reported_at, China time).",
                        {"type": "string", "format": "date"},
                    ),
                    _query("to", "Last day, included.", {"type": "string", "format": "date"}),
                    _query("category", "Category codes. " + csv, {"type": "string"}),
                    _query("severity", "red, orange, yellow. " + csv, {"type": "string"}),
                    _query(
                        "status",
                        "Case states (" + ", ".join(s.value for s in State) + "). " + csv,
                        {"type": "string"},
                    ),
                    _query(
                        "by",
                        "Breakdown; none: totals only. period needs from and to.",
                        {"type": "string", "enum": list(BREAKDOWNS)},
                    ),
                    _query(
                        "bucket",
                        "Period bucket (default day; weeks start Monday).",
                        {"type": "string", "enum": list(BUCKETS)},
                    ),
                ],
                "responses": {"200": _ok("The counts.", "Rollup", ROLLUP_EXAMPLE), **reads},
            }
        },
        "/kpis": {
            "get": {
                "tags": ["statistics"],
                "operationId": "kpis",
                "summary": "KPI assessment table (考评排名) of townships or counties for a "
                "period, with the previous period and the changes",
                "description": "Definitions: docs/kpis.md and the `kpis` list in the answer. "
                "Give `period` (month 2026-10, quarter 2026-Q3, year 2026) or `from` and `to` "
                "(a custom range; the previous period is the same number of days before)." + _READS,
                "parameters": [
                    _query(
                        "level",
                        "township (default) or county.",
                        {"type": "string", "enum": ["township", "county"]},
                    ),
                    _query("period", "2026-10, 2026-Q3 or 2026.", {"type": "string"}),
                    _query(
                        "from", "Custom range: first day.", {"type": "string", "format": "date"}
                    ),
                    _query("to", "Custom range: last day.", {"type": "string", "format": "date"}),
                    _WITHIN,
                ],
                "responses": {"200": _ok("The table.", "KpiTable", KPI_TABLE_EXAMPLE), **reads},
            }
        },
        "/campaign": {
            "get": {
                "tags": ["statistics"],
                "operationId": "keyCaseCampaign",
                "summary": "Key backlog case campaign (重点积案): N assigned, M% resolved, "
                "overdue, the cases",
                "description": "Resolved = closed with outcome resolved (化解); overdue = still "
                "open after its target date." + _READS,
                "parameters": [_WITHIN],
                "responses": {"200": _ok("The campaign.", "Campaign", CAMPAIGN_EXAMPLE), **reads},
            }
        },
        "/cases/{id}/key": {
            "parameters": [_CASE_ID],
            "put": {
                "tags": ["statistics"],
                "operationId": "setKeyCase",
                "summary": "Make a case a key backlog case (重点积案), or change its leader "
                "(包案领导) and target date",
                "description": "For the coordinators of its township, the staff of its county "
                "and city staff. Recorded as a case event (`key_case`) and in the audit log; "
                "the case's status and version do not change. Bearer token only.",
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": _ref("KeyCaseInput"),
                            "example": {"leader": "王某某（副区长）", "target_date": "2026-12-31"},
                        }
                    },
                },
                "responses": {"200": _ok("The key case.", "KeyCase", KEY_CASE_EXAMPLE), **writes},
            },
            "delete": {
                "tags": ["statistics"],
                "operationId": "clearKeyCase",
                "summary": "Take a case off the key backlog list",
                "description": "Same people as setting it; recorded as `key_case_cleared`.",
                "responses": {
                    "200": _ok(
                        "The case, no longer key.",
                        "KeyCase",
                        {
                            **KEY_CASE_EXAMPLE,
                            "is_key_case": False,
                            "leader": None,
                            "target_date": None,
                        },
                    ),
                    **writes,
                },
            },
        },
    }
