"""OpenAPI parts of the officer's own reports and check-ins (fieldapp.blueprints.field's
API): GET /reports/{id}/progress and GET /checkins. Merged into fieldapp.openapi."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
_ERROR = {"$ref": "#/components/schemas/Error"}
_UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
_REPORT_ID = "9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23"
_TIME = {"type": "string", "format": "date-time"}


def _error(description: str, code: str, message: str, **fields: str) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {
        "description": description,
        "content": {JSON: {"schema": _ERROR, "example": {"error": body}}},
    }


_PROGRESS_EXAMPLE: dict[str, Any] = {
    "id": _REPORT_ID,
    "title": "宅基地边界争执",
    "status": "assigned",
    "status_label": "已交办",
    "reported_at": "2026-11-25T09:12:00+08:00",
    "handled_by": {"area": "石臼街道", "township": "石臼街道", "department": "东港区司法局"},
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
}


def field_paths() -> dict[str, Any]:
    """The path items; `/checkins` only has its GET here (its POST is in fieldapp.openapi)."""
    return {
        "/reports/{id}/progress": {
            "parameters": [{"$ref": "#/components/parameters/ReportId"}],
            "get": {
                "tags": ["reports"],
                "operationId": "getOwnReportProgress",
                "summary": "The officer's own report: status, handler, timeline (我的上报进展)",
                "description": "For the grid officer who filed the report: its state, who "
                "handles it (township, department) and what happened, oldest first, as far as "
                "the reporter may see: accepted, rejected with the reason, merged into which "
                "case, assigned to which department, closed with which outcome. Internal "
                "steps (progress notes, extensions, supervision) are left out. Times in China "
                "time. Anyone else's report, or an unknown id, is 404.",
                "responses": {
                    "200": {
                        "description": "The report's progress.",
                        "content": {
                            JSON: {
                                "schema": {"$ref": "#/components/schemas/OwnReportProgress"},
                                "example": _PROGRESS_EXAMPLE,
                            }
                        },
                    },
                    "401": _UNAUTHORIZED,
                    "403": _error(
                        "Not a grid officer.",
                        "forbidden",
                        "只有网格员有自己的上报。",
                    ),
                    "404": _error(
                        "No report of the caller's with this id.",
                        "not_found",
                        "没有这条您的上报。",
                    ),
                },
            },
        },
    }


def field_schemas() -> dict[str, Any]:
    step = {
        "type": "object",
        "required": ["at", "action", "status", "label", "detail"],
        "properties": {
            "at": _TIME,
            "action": {"type": "string", "description": "`report` or the workflow action."},
            "status": {"$ref": "#/components/schemas/CaseState"},
            "label": {"type": "string", "description": "The state it led to, in words."},
            "detail": {
                "type": ["string", "null"],
                "description": "The rejection's reason, the case merged into, the department "
                "assigned, or the outcome.",
            },
            "merged_into": {"type": ["string", "null"], "format": "uuid"},
        },
    }
    return {
        "OwnReportProgress": {
            "type": "object",
            "required": [
                "id",
                "title",
                "status",
                "status_label",
                "reported_at",
                "handled_by",
                "outcome",
                "outcome_label",
                "merged_into",
                "timeline",
            ],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "title": {"type": "string"},
                "status": {"$ref": "#/components/schemas/CaseState"},
                "status_label": {"type": "string"},
                "reported_at": _TIME,
                "handled_by": {
                    "type": "object",
                    "properties": {
                        "area": {"type": ["string", "null"]},
                        "township": {"type": ["string", "null"]},
                        "department": {"type": ["string", "null"]},
                    },
                },
                "outcome": {"type": ["string", "null"]},
                "outcome_label": {"type": ["string", "null"]},
                "merged_into": {
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string", "format": "uuid"},
                                "title": {"type": ["string", "null"]},
                            },
                        },
                    ]
                },
                "timeline": {"type": "array", "items": step},
            },
        }
    }
