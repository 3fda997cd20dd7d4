"""OpenAPI paths and schemas of the case workflow (受理 → 交办 → 办理 → 审查 → 办结 → 回访),
merged into the document by `fieldapp.openapi.build_openapi`. Kept apart from the reports'
part so each stays readable; the same two tests check both."""

from __future__ import annotations

from typing import Any

JSON = "application/json"

ACTIONS = {
    "accept": ("受理", "owner", "reported → accepted; starts the handling clock (15 days)"),
    "reject": ("不予受理", "owner", "reported → rejected; `reason` required"),
    "merge": ("合并", "owner", "reported/accepted → merged into `into` (an open case you own)"),
    "resolve_on_site": ("自办自结", "owner", "reported/accepted → closed; `outcome` required"),
    "assign": (
        "交办",
        "owner",
        "accepted → assigned to `department` (code or id); optional `due_at`",
    ),
    "sign_for": ("签收", "department", "assigned → signed_for"),
    "return": ("退办", "department", "assigned → accepted (wrong department); `reason`"),
    "progress": ("办理进展", "department", "signed_for → in_progress, or a note; `reason`"),
    "request_extension": (
        "申请延期",
        "department",
        "`days` (within the 30-day total) and `reason`",
    ),
    "approve_extension": ("批准延期", "owner", "moves the due time by the requested days"),
    "deny_extension": ("驳回延期", "owner", "`reason` required"),
    "request_closing": ("申请办结", "department", "→ closing_requested; `reason` (summary)"),
    "approve_closing": ("审核办结", "owner", "closing_requested → closed; `outcome`"),
    "send_back": ("退回重办", "owner", "closing_requested → in_progress; `reason`"),
    "escalate": (
        "上交",
        "owner",
        "ownership moves up one level (township → county → city); `reason`",
    ),
    "supervise": (
        "督办",
        "supervisor (city staff)",
        "a supervision order with `due_at` and `reason`; state unchanged",
    ),
    "follow_up": ("回访", "owner or reporter", "closed: `satisfaction`"),
}

ACTION_TABLE = "\n".join(
    f"| `{name}` | {zh} | {who} | {effect} |" for name, (zh, who, effect) in ACTIONS.items()
)


def _error_ref() -> dict[str, Any]:
    return {"$ref": "#/components/schemas/Error"}


def _error(description: str, code: str = "invalid_action") -> dict[str, Any]:
    example = {"error": {"code": code, "message": description}}
    return {
        "description": description,
        "content": {JSON: {"schema": _error_ref(), "example": example}},
    }


def _case_id() -> dict[str, Any]:
    return {"$ref": "#/components/parameters/ReportId"}


def _ok(description: str, schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema, "example": example}}}


def case_example() -> dict[str, Any]:
    from fieldapp.openapi import REPORT_EXAMPLE  # late: openapi imports this module

    return {
        **REPORT_EXAMPLE,
        "status": "assigned",
        "owner_level": "township",
        "department_id": 12,
        "step": "handling",
        "due_at": "2026-12-10T09:30:00+08:00",
        "light": "green",
        "seconds_left": 1_209_600,
        "accepted_on_time": True,
        "closed_at": None,
        "closed_on_time": None,
        "outcome": None,
        "satisfaction": None,
        "merged_into": None,
        "extension_days_requested": None,
        "allowed_actions": ["escalate"],
    }


EVENT_EXAMPLE = {
    "id": 1,
    "at": "2026-11-25T10:05:00+08:00",
    "action": "accept",
    "from": "reported",
    "to": "accepted",
    "reason": None,
    "data": {},
    "actor": {"id": 4587, "display_name": "日照街道信访专干", "role": "coordinator"},
}


def paths() -> dict[str, Any]:
    common = {
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "500": {"$ref": "#/components/responses/InternalError"},
    }
    not_found = {"404": {"$ref": "#/components/responses/ReportNotFound"}}
    return {
        "/cases/{id}/actions/{action}": {
            "post": {
                "tags": ["cases"],
                "operationId": "caseAction",
                "summary": "Take a workflow step on a case (办理操作)",
                "description": "Every step goes through one service that checks the caller's "
                "role and area, the transition table, and the `version` the caller saw "
                "(optimistic concurrency: a stale version is a 409). Each step writes an "
                "append-only event.\n\n| action | 中文 | who | effect |\n| --- | --- | --- | --- "
                "|\n" + ACTION_TABLE,
                "parameters": [
                    _case_id(),
                    {
                        "name": "action",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": list(ACTIONS)},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {"$ref": "#/components/schemas/CaseAction"},
                            "example": {"version": 2, "department": "371102-D03"},
                        }
                    },
                },
                "responses": {
                    "200": _ok(
                        "The case after the step.",
                        {"$ref": "#/components/schemas/Case"},
                        case_example(),
                    ),
                    "400": _error("A field is missing or wrong (code `invalid_action`)."),
                    "403": _error(
                        "The case is visible but this step is not the caller's.", "forbidden"
                    ),
                    "404": _error(
                        "No such case in the caller's scope, or an unknown action.", "not_found"
                    ),
                    "409": _error(
                        "Not possible in the case's state (the message lists what is), or "
                        "the case changed since the caller's `version`.",
                        "conflict",
                    ),
                    **common,
                },
            }
        },
        "/cases/{id}": {
            "get": {
                "tags": ["cases"],
                "operationId": "getCase",
                "summary": "A case with its deadline and light (案件详情)",
                "parameters": [_case_id()],
                "responses": {
                    "200": _ok("The case.", {"$ref": "#/components/schemas/Case"}, case_example()),
                    **not_found,
                    **common,
                },
            }
        },
        "/cases/{id}/events": {
            "get": {
                "tags": ["cases"],
                "operationId": "caseEvents",
                "summary": "The case's record, oldest first (办理记录)",
                "parameters": [_case_id()],
                "responses": {
                    "200": _ok(
                        "Events.",
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {
                                "events": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/CaseEvent"},
                                }
                            },
                        },
                        {"events": [EVENT_EXAMPLE]},
                    ),
                    **not_found,
                    **common,
                },
            }
        },
        "/cases/{id}/duplicates": {
            "get": {
                "tags": ["cases"],
                "operationId": "caseDuplicates",
                "summary": "Possible duplicates (疑似重复): earlier open reports of the same "
                "category within 300 m and 7 days, by text similarity",
                "parameters": [_case_id()],
                "responses": {
                    "200": _ok(
                        "Candidates, most similar first.",
                        {
                            "type": "object",
                            "required": ["candidates"],
                            "properties": {
                                "candidates": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/DuplicateCandidate"},
                                }
                            },
                        },
                        {
                            "candidates": [
                                {
                                    "id": "3f1c2a55-2b7e-4d6a-9c1e-5a7b8c9d0e1f",
                                    "title": "工地欠薪 工人讨薪",
                                    "distance_m": 42.5,
                                    "score": 0.62,
                                    "status": "accepted",
                                    "severity": "red",
                                    "reported_at": "2026-11-24T16:20:00+08:00",
                                }
                            ]
                        },
                    ),
                    **not_found,
                    **common,
                },
            }
        },
        "/queue": {
            "get": {
                "tags": ["cases"],
                "operationId": "workQueue",
                "summary": "The caller's work queue by priority (待办队列), or the overdue list",
                "description": "Coordinators: their township's open cases; county and city "
                "staff: cases escalated to them; department handlers: cases assigned to "
                "them. `view=overdue` (county and city staff): every overdue case in their "
                "area. Sorted by severity, possible group incident, time left.",
                "parameters": [
                    {
                        "name": "view",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["mine", "overdue"]},
                    },
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "severity",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["red", "orange", "yellow"]},
                    },
                    {"name": "category", "in": "query", "schema": {"type": "string"}},
                    {"$ref": "#/components/parameters/Page"},
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                    },
                ],
                "responses": {
                    "200": _ok(
                        "One page of cases.",
                        {
                            "type": "object",
                            "required": ["items", "total", "page", "per_page"],
                            "properties": {
                                "items": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Case"},
                                },
                                "total": {"type": "integer"},
                                "page": {"type": "integer"},
                                "per_page": {"type": "integer"},
                            },
                        },
                        {"items": [case_example()], "total": 1, "page": 1, "per_page": 50},
                    ),
                    "400": _error("A filter is wrong.", "invalid_parameters"),
                    "403": _error("This role has no queue (e.g. officers).", "forbidden"),
                    **common,
                },
            }
        },
        "/notifications": {
            "get": {
                "tags": ["cases"],
                "operationId": "inbox",
                "summary": "The caller's in-app inbox, newest first (消息)",
                "responses": {
                    "200": _ok(
                        "Notifications.",
                        {
                            "type": "object",
                            "required": ["notifications"],
                            "properties": {
                                "notifications": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Notification"},
                                }
                            },
                        },
                        {
                            "notifications": [
                                {
                                    "id": 7,
                                    "kind": "case.assign",
                                    "text": "新交办：宅基地边界争执",
                                    "subject_id": "3f1c2a55:3",
                                    "created_at": "2026-11-25T10:06:00+08:00",
                                    "read_at": None,
                                }
                            ]
                        },
                    ),
                    **common,
                },
            }
        },
    }


def schemas() -> dict[str, Any]:
    text = {"type": "string"}
    nullable_text = {"type": ["string", "null"]}
    nullable_time = {"type": ["string", "null"], "format": "date-time"}
    return {
        "CaseAction": {
            "type": "object",
            "required": ["version"],
            "properties": {
                "version": {"type": "integer", "description": "The case version you saw."},
                "reason": {"type": "string", "maxLength": 2000},
                "department": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "due_at": {"type": "string", "format": "date-time"},
                "into": {"type": "string", "format": "uuid"},
                "days": {"type": "integer", "minimum": 1, "maximum": 30},
                "outcome": {"type": "string", "enum": ["resolved", "stabilised", "escalated"]},
                "satisfaction": {
                    "type": "string",
                    "enum": ["satisfied", "basically_satisfied", "dissatisfied"],
                },
            },
        },
        "Case": {
            "description": "A report with its case fields.",
            "allOf": [
                {"$ref": "#/components/schemas/Report"},
                {
                    "type": "object",
                    "properties": {
                        "owner_level": {"type": "string", "enum": ["township", "county", "city"]},
                        "department_id": {"type": ["integer", "null"]},
                        "step": {
                            "type": ["string", "null"],
                            "enum": ["acceptance", "handling", None],
                        },
                        "due_at": nullable_time,
                        "light": {
                            "type": ["string", "null"],
                            "enum": ["green", "yellow", "red", None],
                        },
                        "seconds_left": {"type": ["integer", "null"]},
                        "accepted_on_time": {"type": ["boolean", "null"]},
                        "closed_at": nullable_time,
                        "closed_on_time": {"type": ["boolean", "null"]},
                        "outcome": nullable_text,
                        "satisfaction": nullable_text,
                        "merged_into": {"type": ["string", "null"], "format": "uuid"},
                        "extension_days_requested": {"type": ["integer", "null"]},
                        "allowed_actions": {"type": "array", "items": text},
                        "repeat_place_reports": {
                            "type": "integer",
                            "description": "In queues only.",
                        },
                    },
                },
            ],
        },
        "CaseEvent": {
            "type": "object",
            "required": ["id", "at", "action", "from", "to"],
            "properties": {
                "id": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "action": text,
                "from": text,
                "to": text,
                "reason": nullable_text,
                "data": {"type": "object"},
                "actor": {
                    "type": ["object", "null"],
                    "description": "null for the system (the deadline sweep).",
                    "properties": {"id": {"type": "integer"}, "display_name": text, "role": text},
                },
            },
        },
        "DuplicateCandidate": {
            "type": "object",
            "required": ["id", "title", "distance_m", "score"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "title": text,
                "distance_m": {"type": "number"},
                "score": {"type": "number", "description": "pg_trgm similarity, 0–1."},
                "status": text,
                "severity": text,
                "reported_at": {"type": "string", "format": "date-time"},
            },
        },
        "Notification": {
            "type": "object",
            "required": ["id", "kind", "text", "created_at"],
            "properties": {
                "id": {"type": "integer"},
                "kind": text,
                "text": text,
                "subject_id": text,
                "created_at": {"type": "string", "format": "date-time"},
                "read_at": nullable_time,
            },
        },
    }
