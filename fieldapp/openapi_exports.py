"""OpenAPI 3.1 path items and schemas of the exports (`fieldapp.blueprints.exports`), merged
into the document by `fieldapp.openapi` like the hotspot and layer modules."""

from __future__ import annotations

from typing import Any

JSON = "application/json"

_ERROR = {"$ref": "#/components/schemas/Error"}
_UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
_INTERNAL = {"$ref": "#/components/responses/InternalError"}
_JOB = {"$ref": "#/components/schemas/ExportJob"}

JOB_ID = "6c1d9f0a-3e2b-4b8a-9f57-1d2e3c4b5a69"

_TIME = {"type": ["string", "null"], "format": "date-time"}

EXPORT_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "What to export. `cases`: the case list (矛盾纠纷案件清单) the caller may "
    "see, as xlsx or csv. `kpis`: report figures per area of `level` within the caller's "
    "area (分区域统计表), as xlsx or csv. `assessment`: the KPI assessment table (考评表) of "
    "GET /api/v1/kpis — townships or counties ranked, with the previous period — for "
    "filters.from–to (default: this month; from alone: its month), as xlsx or csv. "
    "`areas_geojson`: the same figures as `kpis` on the areas' "
    "boundaries, as GeoJSON. Parties' personal data are never exported.",
    "required": ["kind", "format"],
    "additionalProperties": False,
    "properties": {
        "kind": {"type": "string", "enum": ["cases", "kpis", "assessment", "areas_geojson"]},
        "format": {
            "type": "string",
            "enum": ["xlsx", "csv", "geojson"],
            "description": "xlsx or csv for `cases`, `kpis` and `assessment`; geojson for "
            "`areas_geojson`.",
        },
        "language": {
            "type": "string",
            "enum": ["zh", "en"],
            "default": "zh",
            "description": "Language of the title, headers and labels in the file.",
        },
        "level": {
            "type": "string",
            "enum": ["city", "county", "township", "village", "cell"],
            "description": "For `kpis` and `areas_geojson` (default township): the caller's "
            "own level or one below it. For `assessment` (default township): county or "
            "township, below the caller's own level.",
        },
        "filters": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "from": {
                    "type": "string",
                    "format": "date",
                    "description": "First day reported (China time).",
                },
                "to": {
                    "type": "string",
                    "format": "date",
                    "description": "Last day reported (China time), included.",
                },
                "area": {
                    "type": "string",
                    "description": "Code of a county, township, village or grid cell.",
                },
                "category": {"type": "string", "description": "A category code."},
                "severity": {"type": "string", "enum": ["red", "orange", "yellow"]},
                "status": {
                    "description": "A case state, or `open`: every state before 办结.",
                    "anyOf": [
                        {"$ref": "#/components/schemas/CaseState"},
                        {"type": "string", "enum": ["open"]},
                    ],
                },
                "overdue": {
                    "type": "boolean",
                    "description": "Only open cases past their deadline when the file is "
                    "written (已超期).",
                },
                "key": {"type": "boolean", "description": "Only key backlog cases (重点积案)."},
            },
        },
    },
}

EXPORT_JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An export job (导出任务). `download_url` is set while the file can be "
    "downloaded (status `done`, until `expires_at`).",
    "required": [
        "id",
        "kind",
        "format",
        "status",
        "params",
        "filters",
        "title",
        "progress",
        "file",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "expires_at",
        "status_url",
        "download_url",
    ],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "kind": {"type": "string", "enum": ["cases", "kpis", "assessment", "areas_geojson"]},
        "format": {"type": "string", "enum": ["xlsx", "csv", "geojson"]},
        "status": {
            "type": "string",
            "enum": ["queued", "running", "done", "failed", "expired"],
        },
        "params": {
            "type": "object",
            "description": "The request as validated: language, level and filters.",
        },
        "filters": {
            "type": "object",
            "description": "What the export holds: the filters of the request (`params.filters`"
            "; {} for none).",
        },
        "title": {
            "type": "string",
            "description": "The file's title in the reader's language, naming its area and "
            "filters, e.g. 东港区矛盾纠纷案件清单（已办结）.",
        },
        "progress": {
            "type": "object",
            "required": ["rows_done", "rows_total", "percent"],
            "properties": {
                "rows_done": {"type": "integer", "minimum": 0},
                "rows_total": {"type": ["integer", "null"], "minimum": 0},
                "percent": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
            },
        },
        "file": {
            "type": "object",
            "required": ["name", "size"],
            "properties": {
                "name": {"type": ["string", "null"]},
                "size": {"type": ["integer", "null"], "description": "Bytes."},
            },
        },
        "error": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": _TIME,
        "finished_at": _TIME,
        "expires_at": _TIME,
        "status_url": {"type": "string"},
        "download_url": {"type": ["string", "null"]},
    },
}

_QUEUED: dict[str, Any] = {
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
_RUNNING: dict[str, Any] = {
    **_QUEUED,
    "status": "running",
    "progress": {"rows_done": 120000, "rows_total": 480000, "percent": 25.0},
    "started_at": "2026-11-26T10:30:01+08:00",
}
_DONE: dict[str, Any] = {
    **_QUEUED,
    "status": "done",
    "progress": {"rows_done": 480000, "rows_total": 480000, "percent": 100.0},
    "file": {"name": "日照市矛盾纠纷案件清单_20261126-1030.xlsx", "size": 31457280},
    "started_at": "2026-11-26T10:30:01+08:00",
    "finished_at": "2026-11-26T10:31:12+08:00",
    "expires_at": "2026-11-27T10:31:12+08:00",
    "download_url": f"/api/v1/exports/{JOB_ID}/download",
}

_JOB_ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The export's id.",
    "schema": {"type": "string", "format": "uuid"},
    "example": JOB_ID,
}


def _error(description: str, code: str, message: str, **fields: str) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {
        "description": description,
        "content": {JSON: {"schema": _ERROR, "example": {"error": body}}},
    }


_NOT_FOUND = _error(
    "No such export, or not the caller's (an export is only ever shown to its requester).",
    "not_found",
    "没有该导出任务。",
)
_READERS = (
    "Also accepts the web session cookie (the exports page polls with it). Only the "
    "requester sees an export; anyone else gets 404."
)


def export_paths() -> dict[str, Any]:
    """The path items, keyed like `fieldapp.openapi._paths()`."""
    return {
        "/exports": {
            "post": {
                "tags": ["exports"],
                "operationId": "requestExport",
                "summary": "Request an export (导出): xlsx/CSV of cases or figures by area, "
                "or GeoJSON of areas",
                "description": "Validated in full first (nothing is written on a 400), then "
                "queued for a worker through the transactional outbox. Poll `status_url` for "
                "progress; download from `download_url` once done. Files expire after "
                "`FIELDAPP_EXPORT_TTL_HOURS` (default 24 h). Scoped like `GET /reports`: a "
                "coordinator's export holds their township only.",
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {"$ref": "#/components/schemas/ExportRequest"},
                            "examples": {
                                "cases": {
                                    "summary": "A township's cases in November, as xlsx",
                                    "value": {
                                        "kind": "cases",
                                        "format": "xlsx",
                                        "filters": {
                                            "from": "2026-11-01",
                                            "to": "2026-11-30",
                                            "area": "371102001",
                                        },
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
                            },
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "Queued. `Location` is the status URL.",
                        "headers": {
                            "Location": {
                                "description": "The status URL.",
                                "schema": {"type": "string"},
                            }
                        },
                        "content": {JSON: {"schema": _JOB, "example": _QUEUED}},
                    },
                    "400": _error(
                        "A bad field: each is named with what to send instead.",
                        "invalid_parameters",
                        "请检查导出请求。",
                        **{"filters.from": "日期格式如 2026-11-25。"},
                    ),
                    "401": _UNAUTHORIZED,
                    "403": _error(
                        "This kind is not for the caller's role (area tables: coordinators, "
                        "county and city staff).",
                        "forbidden",
                        "只有信访专干、县区和市级工作人员可以导出区域统计表。",
                    ),
                    "409": _error(
                        "Too many unfinished exports (FIELDAPP_EXPORT_MAX_ACTIVE).",
                        "conflict",
                        "您已有 3 个导出任务正在进行，请等待其中一个完成。",
                    ),
                    "500": _INTERNAL,
                },
            },
            "get": {
                "tags": ["exports"],
                "operationId": "listExports",
                "summary": "The caller's exports, newest first (the last 50)",
                "description": _READERS,
                "responses": {
                    "200": {
                        "description": "The exports.",
                        "content": {
                            JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["exports"],
                                    "properties": {"exports": {"type": "array", "items": _JOB}},
                                },
                                "example": {"exports": [_RUNNING, _DONE]},
                            }
                        },
                    },
                    "401": _UNAUTHORIZED,
                    "500": _INTERNAL,
                },
            },
        },
        "/exports/{id}": {
            "parameters": [_JOB_ID_PARAM],
            "get": {
                "tags": ["exports"],
                "operationId": "getExport",
                "summary": "An export's status and progress (rows done of rows total)",
                "description": _READERS,
                "responses": {
                    "200": {
                        "description": "The export.",
                        "content": {
                            JSON: {
                                "schema": _JOB,
                                "examples": {
                                    "running": {"summary": "A quarter done", "value": _RUNNING},
                                    "done": {"summary": "Ready to download", "value": _DONE},
                                },
                            }
                        },
                    },
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "500": _INTERNAL,
                },
            },
        },
        "/exports/{id}/download": {
            "parameters": [_JOB_ID_PARAM],
            "get": {
                "tags": ["exports"],
                "operationId": "downloadExport",
                "summary": "The finished file, as an attachment with its Chinese name",
                "description": _READERS + " `Content-Disposition` carries the name as "
                "RFC 5987 `filename*=UTF-8''…` with an ASCII `filename=` fallback. xlsx: "
                "title, 填报单位 and period lines, frozen header row, 序号 and 合计. CSV: UTF-8 "
                "with a byte order mark (so Excel reads the Chinese). Times in China time, "
                "written 2026-11-26 09:30.",
                "responses": {
                    "200": {
                        "description": "The file.",
                        "headers": {
                            "Content-Disposition": {
                                "description": "attachment with the file name.",
                                "schema": {"type": "string"},
                                "example": "attachment; filename=_20261126-1030.xlsx; "
                                "filename*=UTF-8''%E6%97%A5%E7%85%A7%E5%B8%82_20261126-1030.xlsx",
                            }
                        },
                        "content": {
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                            "text/csv": {"schema": {"type": "string"}},
                            "application/geo+json": {"schema": {"type": "object"}},
                        },
                    },
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                    "409": _error(
                        "Not finished yet, or failed.",
                        "conflict",
                        "导出尚未完成，请在状态为“已完成”后再下载。",
                    ),
                    "410": _error(
                        "Expired: the file was deleted. Request the export again.",
                        "expired",
                        "该导出已过期，文件已删除，请重新导出。",
                    ),
                    "500": _INTERNAL,
                },
            },
        },
    }


def export_schemas() -> dict[str, Any]:
    """Component schemas to add to `fieldapp.openapi._schemas()`."""
    return {"ExportRequest": EXPORT_REQUEST_SCHEMA, "ExportJob": EXPORT_JOB_SCHEMA}
