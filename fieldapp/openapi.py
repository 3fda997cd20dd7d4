"""The OpenAPI 3.1 description of the JSON API, served at `/api/v1/openapi.json`.

Written by hand rather than generated: the views parse their bodies themselves (no schema
library), so there is nothing to generate from, and a hand-written contract says what the
phones may rely on. Two tests keep it honest: `tests/unit/test_openapi.py` validates the
document (OpenAPI 3.1 schema, every `$ref`, every example against its schema) and
`tests/integration/test_openapi_routes.py` checks that its paths and the Flask rules under
`/api/v1/` are the same set.

Descriptions are in English with the Chinese term the users know, e.g. "零报告".
"""

from __future__ import annotations

import copy
from typing import Any

from fieldapp.openapi_field import field_paths, field_schemas

JSON = "application/json"

Schema = dict[str, Any]


# --- small builders (they only remove repetition; the content below is written by hand) ----


def _ref(name: str, **siblings: Any) -> Schema:
    """A reference to a component schema; OpenAPI 3.1 allows siblings such as description."""
    return {"$ref": f"#/components/schemas/{name}", **siblings}


def _nullable_ref(name: str, description: str) -> Schema:
    # JSON Schema 2020-12 has no `nullable`; a reference that may be null is a oneOf.
    return {"oneOf": [_ref(name), {"type": "null"}], "description": description}


def _json_body(schema: Schema, examples: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON media type; `examples` maps a name to (summary, value)."""
    media: dict[str, Any] = {"schema": schema}
    if examples:
        media["examples"] = {
            name: {"summary": summary, "value": value}
            for name, (summary, value) in examples.items()
        }
    return {JSON: media}


def _error(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    """An example body in the API's one error shape (fieldapp/errors.py)."""
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _error_response(description: str, examples: dict[str, Any]) -> dict[str, Any]:
    """A response with an Error body; `examples` maps a name to (summary, body)."""
    return {"description": description, "content": _json_body(_ref("Error"), examples)}


def _responses_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _param_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


# --- examples shared by several operations -------------------------------------------------

REPORT_ID = "9b2f0c1e-5d3a-4c7e-8f41-2a6b9d0e1f23"
PHOTO_ID = "5f0d7a0e-2b8c-4e47-9a53-0c6e1b2d3f4a"
# Shaped like a real token (43 URL-safe characters) but plainly not one.
TOKEN = "EXAMPLE-ONLY-not-a-real-token-0123456789abc"

PHOTO_EXAMPLE: dict[str, Any] = {
    "id": PHOTO_ID,
    "url": f"/api/v1/reports/{REPORT_ID}/photos/{PHOTO_ID}",
    "thumbnail_url": f"/api/v1/reports/{REPORT_ID}/photos/{PHOTO_ID}/thumbnail",
    "content_type": "image/jpeg",
    "width": 4032,
    "height": 3024,
    "exif_lon": 119.52668,
    "exif_lat": 35.41689,
    "exif_taken_at": "2026-11-25T01:35:12+00:00",
}

REPORT_EXAMPLE: dict[str, Any] = {
    "id": REPORT_ID,
    "case_number": "东港-2026-000123",
    "status": "reported",
    "title": "邻里因排水沟堵塞争执",
    "description": "两户因排水沟堵塞发生口角，已初步劝解，约定明日由社区协调疏通。",
    "address": "海曲社区3号楼东侧",
    "category": "neighbours",
    "category_name": "邻里纠纷",
    "severity": "orange",
    "people_involved": 3,
    "potential_group_incident": False,
    "occurred_at": "2026-11-25T01:30:00+00:00",
    "reported_at": "2026-11-25T01:42:17.503211+00:00",
    "lon": 119.52671,
    "lat": 35.41692,
    "input": {"lon": 119.532139, "lat": 35.416633, "crs": "gcj02"},
    "accuracy_m": 8.5,
    "cell": {"id": 10412, "code": "371102001003002", "name": "海曲社区第2网格（示例）"},
    "village": {"id": 1203, "code": "371102001003", "name": "海曲社区（示例）"},
    "township": {"id": 58, "code": "371102001", "name": "日照街道"},
    "county": {"id": 2, "code": "371102", "name": "东港区"},
    "officer": {"id": 311, "display_name": "网格员0311（示例）"},
    "outside_own_cells": False,
    "distance_to_own_cells_m": 0.0,
    "version": 1,
    "parties": [
        {
            "name": "张三",
            "id_number": "371102199001011234",
            "phone": "13812345678",
            "role": "当事人",
        },
        {"name": "李四", "id_number": None, "phone": None, "role": None},
    ],
    "photos": [PHOTO_EXAMPLE],
}

# The same report as city staff see it: parties' personal data masked.
REPORT_MASKED_EXAMPLE: dict[str, Any] = {
    **REPORT_EXAMPLE,
    "parties": [
        {
            "name": "张*",
            "id_number": "371102********1234",
            "phone": "138****5678",
            "role": "当事人",
        },
        {"name": "李*", "id_number": None, "phone": None, "role": None},
    ],
}

CHAIN_EXAMPLE: dict[str, Any] = {
    "cell": {
        "id": 10412,
        "code": "371102001003002",
        "name": "海曲社区第2网格（示例）",
        "level": "cell",
    },
    "village": {"id": 1203, "code": "371102001003", "name": "海曲社区（示例）", "level": "village"},
    "township": {"id": 58, "code": "371102001", "name": "日照街道", "level": "township"},
    "county": {"id": 2, "code": "371102", "name": "东港区", "level": "county"},
    "city": {"id": 1, "code": "371100", "name": "日照市", "level": "city"},
}

UNAUTHORIZED_EXAMPLES: dict[str, Any] = {
    "no_token": (
        "No Authorization header",
        _error(
            "unauthorized",
            "Sign in first: POST /api/v1/auth/token, then send “Authorization: Bearer <token>”.",
        ),
    ),
    "bad_token": (
        "Unknown, expired or revoked token",
        _error("unauthorized", "The token is unknown, expired or revoked. Sign in again."),
    ),
}

INVALID_JSON_EXAMPLE = (
    "The body is not JSON",
    _error("invalid_json", "The body must be JSON (Content-Type: application/json)."),
)

REPORT_NOT_FOUND_EXAMPLE = (
    "No such report, or not visible to the caller",
    _error("not_found", "No such report."),
)

# --- the case workflow (fieldapp/workflow.py, fieldapp/services/cases.py) ------------------

# Every action: Chinese term, who may take it (the relations of fieldapp/workflow.py), the
# moves it makes (state → new state; None: the state stays) and what the body must carry.
# tests/unit/test_openapi.py checks the moves and relations against workflow.TRANSITIONS.
_OPEN = ("reported", "accepted", "assigned", "signed_for", "in_progress", "closing_requested")
CASE_ACTIONS: dict[str, tuple[str, tuple[str, ...], dict[str, str | None], str]] = {
    "accept": (
        "受理",
        ("owner",),
        {"reported": "accepted"},
        "Starts the handling clock (15 days by default); sets `accepted_on_time`.",
    ),
    "reject": ("不予受理", ("owner",), {"reported": "rejected"}, "`reason` required; final."),
    "merge": (
        "合并重复报告",
        ("owner",),
        {"reported": "merged", "accepted": "merged"},
        "`into`: the case to keep — its id or its `case_number` — another open case the "
        "caller owns. This case is the duplicate: `merged_into` is set; the other case's "
        "record gets a `merged_in` event. Undone by `unmerge`.",
    ),
    "resolve_on_site": (
        "自办自结",
        ("owner",),
        {"reported": "closed", "accepted": "closed"},
        "`outcome` required.",
    ),
    "assign": (
        "交办责任部门",
        ("owner",),
        {"accepted": "assigned"},
        "`department` required: code or id of a department of the case's county or of the "
        "city. Optional `due_at` (in the future) replaces the due time. Notifies the "
        "department's handlers.",
    ),
    "sign_for": ("签收", ("department",), {"assigned": "signed_for"}, "Nothing more."),
    "return": (
        "退办（非本部门职责）",
        ("department",),
        {"assigned": "accepted"},
        "`reason` required (e.g. wrong department); the assignment ends.",
    ),
    "progress": (
        "报告办理进展",
        ("department",),
        {"signed_for": "in_progress", "in_progress": None},
        "`reason` required: the progress note.",
    ),
    "request_extension": (
        "申请延期",
        ("department",),
        {"signed_for": None, "in_progress": None},
        "`days` (1 to 30 minus the days already granted) and `reason` required; 409 while "
        "another request waits.",
    ),
    "approve_extension": (
        "批准延期",
        ("owner",),
        {"signed_for": None, "in_progress": None},
        "Moves `due_at` by the requested days; 409 when none waits.",
    ),
    "deny_extension": (
        "驳回延期",
        ("owner",),
        {"signed_for": None, "in_progress": None},
        "`reason` required; 409 when no request waits.",
    ),
    "request_closing": (
        "申请办结",
        ("department",),
        {"signed_for": "closing_requested", "in_progress": "closing_requested"},
        "`reason` required: the summary of what was done.",
    ),
    "approve_closing": (
        "审核办结",
        ("owner",),
        {"closing_requested": "closed"},
        "`outcome` required; sets `closed_on_time`.",
    ),
    "send_back": (
        "退回重办",
        ("owner",),
        {"closing_requested": "in_progress"},
        "`reason` required.",
    ),
    "escalate": (
        "上交上级",
        ("owner",),
        {
            "reported": "reported",
            "accepted": "accepted",
            "assigned": "accepted",
            "signed_for": "accepted",
            "in_progress": "accepted",
        },
        "`reason` required. Ownership moves up one level (township → county → city), the "
        "assignment ends and a new clock starts; 409 at city level.",
    ),
    "supervise": (
        "督办",
        ("supervisor",),
        dict.fromkeys(_OPEN),
        "`due_at` (in the future) and `reason` required: a supervision order.",
    ),
    "follow_up": (
        "回访",
        ("owner", "reporter"),
        {"closed": None},
        "`satisfaction` required; may be repeated, the last rating counts.",
    ),
    "unmerge": (
        "撤销合并",
        ("owner",),
        {"merged": None},
        "Undoes a merge: the case goes back to the state, clock and due time it had before "
        "the merge (not unchanged: the table cannot say which); `merged_into` is cleared. "
        "Both cases' records keep the merge and show the undo (`unmerged_out` on the kept "
        "case).",
    ),
    "reassign": (
        "改派其他部门",
        ("owner",),
        {"assigned": "assigned", "signed_for": "assigned", "in_progress": "assigned"},
        "`department` (another one than now) and `reason` required. The new department must "
        "sign for it; the handling clock runs on. Notifies the new department's handlers.",
    ),
}


def _moves(moves: dict[str, str | None]) -> str:
    """`a, b → c; d (unchanged)` for the action table."""
    by_target: dict[str | None, list[str]] = {}
    for source, target in moves.items():
        by_target.setdefault(target, []).append(source)
    return "; ".join(
        f"{', '.join(sources)} → {target}" if target else f"{', '.join(sources)} (unchanged)"
        for target, sources in by_target.items()
    )


CASE_ACTION_TABLE = "\n".join(
    [
        "| action | 中文 | who | state | body and effect |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| `{name}` | {zh} | {' or '.join(who)} | {_moves(moves)} | {effect} |"
            for name, (zh, who, moves, effect) in CASE_ACTIONS.items()
        ),
    ]
)

CASE_ID = "3f1c2a55-2b7e-4d6a-9c1e-5a7b8c9d0e1f"

# The report above as a case: accepted, assigned to a department, the handling clock running.
CASE_EXAMPLE: dict[str, Any] = {
    **REPORT_EXAMPLE,
    "status": "assigned",
    "version": 3,
    "owner_level": "township",
    "department_id": 12,
    "step": "handling",
    "due_at": "2026-12-10T01:55:00+00:00",
    "light": "green",
    "seconds_left": 1209600,
    "accepted_on_time": True,
    "closed_at": None,
    "closed_on_time": None,
    "outcome": None,
    "satisfaction": None,
    "merged_into": None,
    "extension_days_requested": None,
    "allowed_actions": ["escalate"],
}

CASE_CLOSED_EXAMPLE: dict[str, Any] = {
    **CASE_EXAMPLE,
    "status": "closed",
    "version": 8,
    "step": None,
    "due_at": None,
    "light": None,
    "seconds_left": None,
    "closed_at": "2026-12-04T07:12:40+00:00",
    "closed_on_time": True,
    "outcome": "resolved",
    "satisfaction": "satisfied",
    "allowed_actions": ["follow_up"],
}

COORDINATOR_ACTOR = {"id": 42, "display_name": "日照街道信访专干", "role": "coordinator"}

CASE_EVENTS_EXAMPLE: list[dict[str, Any]] = [
    {
        "id": 101,
        "at": "2026-11-25T01:55:00+00:00",
        "action": "accept",
        "from": "reported",
        "to": "accepted",
        "reason": None,
        "data": {},
        "actor": COORDINATOR_ACTOR,
    },
    {
        "id": 102,
        "at": "2026-11-25T02:10:00+00:00",
        "action": "assign",
        "from": "accepted",
        "to": "assigned",
        "reason": None,
        "data": {"department": "371102-D03"},
        "actor": COORDINATOR_ACTOR,
    },
]

DESCRIPTION = """\
The JSON API of the Rizhao grid platform (日照市网格化矛盾纠纷早报告平台): grid officers
(网格员) file early dispute reports (矛盾纠纷早报告) from their phones, check in daily
(零报告), and staff read the reports of their area.

**Signing in.** `POST /auth/token` with a username and password gives a bearer token for one
device (valid 30 days). Send it as `Authorization: Bearer <token>` on every other call;
`DELETE /auth/token` signs the device out. Failed sign-ins are limited (429 with
`Retry-After`): five per username from one address within 15 minutes, 30 per address over all
usernames; a username guessed at from many addresses is slowed to one attempt a minute from
addresses it never signed in from, never locked for its owner. The reference data
(`/categories`, `/locate`, `/layers/areas`) needs no token.

**Errors.** Every error has one shape:
`{"error": {"code": "…", "message": "…", "fields": {"field": "message"}}}`. `code` is stable
and meant for programs; `message` is for a person, in the request's language; `fields`
(only when input was wrong) names every field that needs correcting, all at once.

**Language (语言).** Chinese by default; `?lang=en` switches to English (and is remembered in a
`lang` cookie). `Accept-Language` is deliberately not followed.

**Coordinates (坐标).** Longitude before latitude, in degrees. Positions are stored in WGS-84;
a phone that took its position from AMap or Tencent (GCJ-02, 火星坐标) or Baidu (BD-09)
says so with `crs`, and the server converts and keeps the original.

**Idempotent intake (幂等).** The phone makes each report's `id` (a UUID) and may resend it
after a lost answer: the same id and body answer 200 with the stored report; the same id
with a different body is a 409. Photos are idempotent on their bytes, check-ins on the day.

**Scope (数据范围).** Reads are narrowed by role and area: officers see their own reports,
coordinators (信访专干) their township's, county staff their county's, city staff
everything. A report outside the caller's scope answers 404, as if it did not exist.
Parties' personal data (ID numbers, phones) is masked in lists, and in a single report for
roles that do not handle the case; each unmasked display is written to the audit log.
Department handlers (责任部门) see the cases assigned to their department.

**Cases (案件办理).** Every report is also a case, with the same id, taken through the closed
loop 发现 → 受理 → 交办 → 办理 → 审查 → 办结 → 回访 by `POST /cases/{id}/actions/{action}`.
Each step sends the `version` the caller saw (乐观锁): a stale one is a 409 and changes
nothing. `GET /cases/{id}` adds the deadline and its warning light (绿灯/黄灯/红灯) to the
report, and `allowed_actions` says which steps the caller may take now.
"""


def build_openapi(server_url: str = "/api/v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API as a plain dict, ready for `json.dumps`.

    `server_url` is where the API lives as the client sees it (e.g. with a URL prefix when
    the app is mounted below the site root). A fresh dict each call: callers may change it.
    """
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Rizhao grid platform API (日照网格化矛盾纠纷早报告接口)",
            "version": "1.0.0",
            "summary": "Early dispute reports from grid officers, zero reporting and the grid.",
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": server_url, "description": "This server (本服务器)"}],
        # Bearer token on every operation unless the operation says `security: []`.
        "security": [{"bearerAuth": []}],
        "tags": TAGS,
        "paths": _paths(),
        "components": _components(),
    }
    # The module-level examples are shared between operations; hand out an independent copy.
    return copy.deepcopy(document)


TAGS: list[dict[str, str]] = [
    {"name": "auth", "description": "Sign-in tokens for devices (登录令牌)."},
    {"name": "account", "description": "The signed-in user (当前用户) and their grid cells."},
    {
        "name": "reference",
        "description": "Reference data: dispute categories (纠纷类别), locating a point in "
        "the grid (网格定位) and area boundaries (区划边界). No token needed.",
    },
    {"name": "reports", "description": "Early dispute reports (矛盾纠纷早报告)."},
    {"name": "photos", "description": "Photos attached to a report (现场照片)."},
    {"name": "checkins", "description": "Zero reporting check-in (零报告)."},
    {
        "name": "cases",
        "description": "The case workflow (案件办理): a report becomes a case, taken through "
        "受理 → 交办 → 办理 → 审查 → 办结 → 回访; its record, duplicates and work queues.",
    },
    {"name": "notifications", "description": "The in-app inbox (站内消息)."},
    {
        "name": "hotspots",
        "description": "Hotspot alerts (热点预警): where disputes cluster or grow beyond "
        "what is normal; acknowledge and supervise (督办).",
    },
    {"name": "maps", "description": "Map layers (地图图层) for city and county staff."},
    {
        "name": "exports",
        "description": "Exports (导出): case lists and figures by area as xlsx or CSV, areas "
        "as GeoJSON, made by a worker with visible progress, downloadable until they expire.",
    },
    {
        "name": "statistics",
        "description": "Live roll-ups (分级统计), KPIs and rankings (考评), key backlog cases "
        "(重点积案) and their campaign view.",
    },
    {"name": "docs", "description": "This description and its browsable page (接口文档)."},
]


# --- paths -----------------------------------------------------------------------------------


def _paths() -> dict[str, Any]:
    return {
        "/auth/token": {"post": _issue_token()},
        "/me": {"get": _me()},
        "/locate": {"get": _locate()},
        "/layers/areas": {"get": _area_layer()},
        "/reports": {"get": _list_reports()},
        "/reports/{id}": {
            "parameters": [_param_ref("ReportId")],
            "get": _get_report(),
        },
        "/reports/{id}/photos": {
            "parameters": [_param_ref("ReportId")],
            "post": _add_photo(),
        },
        "/reports/{id}/photos/{photo_id}": {
            "parameters": [_param_ref("ReportId"), _param_ref("PhotoId")],
            "get": _get_photo(),
        },
        "/reports/{id}/photos/{photo_id}/thumbnail": {
            "parameters": [_param_ref("ReportId"), _param_ref("PhotoId")],
            "get": _get_thumbnail(),
        },
        "/cases/{id}": {"parameters": [_param_ref("CaseId")], "get": _get_case()},
        "/cases/{id}/actions/{action}": {
            "parameters": [_param_ref("CaseId"), _param_ref("CaseActionName")],
            "post": _case_action(),
        },
        "/cases/{id}/events": {"parameters": [_param_ref("CaseId")], "get": _case_events()},
        "/cases/{id}/duplicates": {
            "parameters": [_param_ref("CaseId")],
            "get": _case_duplicates(),
        },
        "/queue": {"get": _work_queue()},
        "/openapi.json": {"get": _openapi_document()},
        "/docs": {"get": _docs_page()},
        **field_paths(),
    }


def _issue_token() -> dict[str, Any]:
    return {
        "tags": ["auth"],
        "operationId": "issueToken",
        "summary": "Sign in and get a bearer token (登录)",
        "description": "Checks the username and password and issues a token for one device, "
        "valid for 30 days. Failed attempts are counted per username: after five within 15 "
        "minutes, sign-in is refused (even with the right password) until the window ends.",
        "security": [],
        "responses": {
            "201": {
                "description": "Signed in; the token is shown only this once.",
                "content": _json_body(
                    _ref("TokenResponse"),
                    {
                        "signed_in": (
                            "A new token",
                            {
                                "token": TOKEN,
                                "expires_at": "2026-12-25T01:40:03.118204+00:00",
                                "user": {
                                    "id": 311,
                                    "username": "wgy0311",
                                    "display_name": "网格员0311（示例）",
                                    "role": "officer",
                                },
                            },
                        )
                    },
                ),
            },
            "400": _error_response(
                "The body is not JSON, or the username or password is missing.",
                {
                    "invalid_json": INVALID_JSON_EXAMPLE,
                    "missing": (
                        "No password",
                        _error(
                            "invalid_parameters",
                            "Username and password are required.",
                            {"password": "Required."},
                        ),
                    ),
                },
            ),
            "401": _error_response(
                "Wrong username or password, or the account is disabled.",
                {
                    "wrong": (
                        "Wrong credentials",
                        _error("unauthorized", "Wrong username or password."),
                    )
                },
            ),
            "429": {
                "description": "Too many failed sign-ins (登录失败次数过多) for this username "
                "from this address, from this address over all usernames, or for this username "
                "from unknown addresses while it is being guessed at. `Retry-After` says how "
                "many seconds to wait.",
                "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
                "content": _json_body(
                    _ref("Error"),
                    {
                        "locked": (
                            "Locked for the rest of the window",
                            _error(
                                "rate_limited", "Too many failed sign-ins. Try again in 14 minutes."
                            ),
                        )
                    },
                ),
            },
            "500": _responses_ref("InternalError"),
        },
    }


def _me() -> dict[str, Any]:
    return {
        "tags": ["account"],
        "operationId": "getMe",
        "summary": "The signed-in user, their area and grid cells (当前用户)",
        "description": "An officer (网格员) gets the cells they are responsible for, with "
        "village and township; staff get the area they are responsible for (`area`).",
        "responses": {
            "200": {
                "description": "The user.",
                "content": _json_body(
                    _ref("Me"),
                    {
                        "officer": (
                            "A grid officer with two cells",
                            {
                                "id": 311,
                                "username": "wgy0311",
                                "display_name": "网格员0311（示例）",
                                "role": "officer",
                                "area": None,
                                "cells": [
                                    {
                                        "id": 10411,
                                        "code": "371102001003001",
                                        "name": "海曲社区第1网格（示例）",
                                        "village": {
                                            "code": "371102001003",
                                            "name": "海曲社区（示例）",
                                        },
                                        "township": {"code": "371102001", "name": "日照街道"},
                                    },
                                    {
                                        "id": 10412,
                                        "code": "371102001003002",
                                        "name": "海曲社区第2网格（示例）",
                                        "village": {
                                            "code": "371102001003",
                                            "name": "海曲社区（示例）",
                                        },
                                        "township": {"code": "371102001", "name": "日照街道"},
                                    },
                                ],
                            },
                        ),
                        "coordinator": (
                            "A township coordinator (信访专干)",
                            {
                                "id": 42,
                                "username": "xfzg_rizhao",
                                "display_name": "日照街道信访专干",
                                "role": "coordinator",
                                "area": {
                                    "code": "371102001",
                                    "name": "日照街道",
                                    "level": "township",
                                },
                                "cells": [],
                            },
                        ),
                    },
                ),
            },
            "401": _responses_ref("Unauthorized"),
            "500": _responses_ref("InternalError"),
        },
    }


def _locate() -> dict[str, Any]:
    return {
        "tags": ["reference"],
        "operationId": "locatePoint",
        "summary": "Which grid cell is this point in? (网格定位)",
        "description": "Answers the grid cell (网格) containing the point and its chain: "
        "village or community (村/社区), township (乡镇/街道), county-level unit (区/县) and "
        "city. A point outside the city's grid is not an error: the answer has "
        "`found: false`, a message for the user and, when there is one, the nearest cell with "
        "its distance. `lon`/`lat` in the answer are WGS-84; with `crs` other than wgs84 the "
        "point as sent is repeated in `input`.",
        "security": [],
        "responses": {
            "200": {
                "description": "The cell and its chain, or `found: false`.",
                "content": _json_body(
                    _ref("LocateAnswer"),
                    {
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
                                "message": "This point is outside the city's grid. Check the "
                                "position (is it WGS-84, and longitude before "
                                "latitude?).",
                                "nearest": {**CHAIN_EXAMPLE, "distance_m": 4213.7},
                            },
                        ),
                    },
                ),
            },
            "400": _error_response(
                "A coordinate is missing, not a number or out of range, or `crs` is unknown.",
                {
                    "bad_coordinates": (
                        "Latitude missing, longitude out of range",
                        _error(
                            "invalid_parameters",
                            "Check the coordinates.",
                            {
                                "lon": "Out of range: must lie between -180 and 180.",
                                "lat": "Required: a decimal number of degrees, e.g. 35.41.",
                            },
                        ),
                    ),
                    "bad_crs": (
                        "Unknown coordinate system",
                        _error(
                            "invalid_parameters",
                            "Unknown coordinate system.",
                            {"crs": "One of: wgs84, gcj02, bd09."},
                        ),
                    ),
                },
            ),
            "500": _responses_ref("InternalError"),
        },
    }


def _area_layer() -> dict[str, Any]:
    return {
        "tags": ["reference"],
        "operationId": "getAreaLayer",
        "summary": "Area boundaries of one level as GeoJSON (区划边界图层)",
        "description": "A GeoJSON FeatureCollection (WGS-84) of every area of `level`, "
        "simplified for drawing on a map; with `bbox`, only the areas whose bounding box "
        "meets it. Neighbouring areas share their simplified edges, so the layer has no "
        "gaps or slivers.",
        "security": [],
        "responses": {
            "200": {
                "description": "The areas.",
                "content": _json_body(
                    _ref("AreaFeatureCollection"),
                    {
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
                    },
                ),
            },
            "400": _error_response(
                "Unknown level or malformed bbox.",
                {
                    "bad_level": (
                        "Unknown level",
                        _error(
                            "invalid_parameters",
                            "Unknown level.",
                            {"level": "One of: city, county, township, village, cell."},
                        ),
                    ),
                    "bad_bbox": (
                        "Three numbers instead of four",
                        _error(
                            "invalid_parameters",
                            "Check the bounding box.",
                            {"bbox": "Four numbers: min lon, min lat, max lon, max lat."},
                        ),
                    ),
                },
            ),
            "500": _responses_ref("InternalError"),
        },
    }


def _list_reports() -> dict[str, Any]:
    return {
        "tags": ["reports"],
        "operationId": "listReports",
        "summary": "Reports the caller may see, newest first (上报列表)",
        "description": "Scoped by role and area: an officer sees their own reports, a "
        "coordinator (信访专干) their township's, county staff their county's, city staff all. "
        "Newest `reported_at` first. `from` and `to` are days in China Standard Time, both "
        "inclusive, on `reported_at`. Parties are masked in this list for every role (a single "
        "report, `GET /reports/{id}`, shows them to roles that handle the case).",
        "responses": {
            "200": {
                "description": "One page of reports.",
                "content": _json_body(
                    _ref("ReportList"),
                    {
                        "page": (
                            "First page, as city staff see it (parties masked)",
                            {
                                "items": [REPORT_MASKED_EXAMPLE],
                                "page": 1,
                                "per_page": 20,
                                "total": 1,
                            },
                        )
                    },
                ),
            },
            "400": _error_response(
                "A filter or the pagination is malformed.",
                {
                    "bad_filters": (
                        "per_page too large, unreadable date",
                        _error(
                            "invalid_parameters",
                            "Check the filters.",
                            {"per_page": "Between 1 and 100.", "from": "A date like 2026-11-25."},
                        ),
                    )
                },
            ),
            "401": _responses_ref("Unauthorized"),
            "500": _responses_ref("InternalError"),
        },
    }


def _get_report() -> dict[str, Any]:
    return {
        "tags": ["reports"],
        "operationId": "getReport",
        "summary": "One report (上报详情)",
        "description": "404 when the report does not exist or is outside the caller's scope: "
        "the API does not reveal which.",
        "parameters": [_param_ref("Lang")],
        "responses": {
            "200": {
                "description": "The report.",
                "content": _json_body(
                    _ref("Report"),
                    {
                        "officer": ("As the filing officer sees it", REPORT_EXAMPLE),
                        "city": ("As city staff see it (parties masked)", REPORT_MASKED_EXAMPLE),
                    },
                ),
            },
            "401": _responses_ref("Unauthorized"),
            "404": _responses_ref("ReportNotFound"),
            "500": _responses_ref("InternalError"),
        },
    }


def _add_photo() -> dict[str, Any]:
    return {
        "tags": ["photos"],
        "operationId": "addReportPhoto",
        "summary": "Attach a photo to a report (上传现场照片)",
        "description": "Only the officer who filed the report. The file is checked from its "
        "bytes (JPEG, PNG or WebP; the file name and declared type are ignored); position "
        "and time are read from its EXIF data when present. The same bytes sent again attach "
        "once (200). At most 12 photos per report; the thumbnail is made shortly after by a "
        "worker, so `thumbnail_url` is null at first.",
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["photo"],
                        "properties": {
                            "photo": {
                                "type": "string",
                                "format": "binary",
                                "description": "The photo (照片): JPEG, PNG or WebP, at most "
                                "10 MiB by default (configurable).",
                            }
                        },
                    },
                    "encoding": {"photo": {"contentType": "image/jpeg, image/png, image/webp"}},
                }
            },
        },
        "responses": {
            "201": {
                "description": "Attached.",
                "content": _json_body(
                    _ref("Photo"),
                    {
                        "new": (
                            "Just attached: no thumbnail yet",
                            {**PHOTO_EXAMPLE, "thumbnail_url": None},
                        )
                    },
                ),
            },
            "200": {
                "description": "These bytes were already attached to this report.",
                "content": _json_body(
                    _ref("Photo"), {"again": ("The stored photo", PHOTO_EXAMPLE)}
                ),
            },
            "400": _error_response(
                "No `photo` field, or the file is not an acceptable photo. `code` says why: "
                "`invalid_photo` (no field), `empty`, `not_an_image`, `unsupported_type` "
                "(e.g. HEIC), `corrupt`, `too_large`, `too_many_pixels`, `too_many_photos`.",
                {
                    "missing": (
                        "No photo field",
                        _error(
                            "invalid_photo",
                            "Send the photo as multipart field “photo”.",
                            {"photo": "Required."},
                        ),
                    ),
                    "not_an_image": (
                        "A PDF sent as a photo",
                        _error(
                            "not_an_image",
                            "This file is not a photo (JPEG, PNG or WebP).",
                            {"photo": "This file is not a photo (JPEG, PNG or WebP)."},
                        ),
                    ),
                    "too_large": (
                        "Larger than the photo limit",
                        _error(
                            "too_large",
                            "The photo is too large. Send a smaller photo.",
                            {"photo": "The photo is too large. Send a smaller photo."},
                        ),
                    ),
                    "too_many_photos": (
                        "The report already has 12 photos",
                        _error(
                            "too_many_photos",
                            "At most 12 photos per report.",
                            {"photo": "At most 12 photos per report."},
                        ),
                    ),
                },
            ),
            "401": _responses_ref("Unauthorized"),
            "403": _error_response(
                "The caller may see the report but did not file it.",
                {
                    "not_filer": (
                        "Another user's report",
                        _error(
                            "forbidden", "Only the officer who filed the report adds photos to it."
                        ),
                    )
                },
            ),
            "404": _responses_ref("ReportNotFound"),
            "413": _error_response(
                "The whole request is larger than the server accepts (16 MiB by default).",
                {
                    "too_large": (
                        "Request too large",
                        _error("request_entity_too_large", "The request is too large."),
                    )
                },
            ),
            "500": _responses_ref("InternalError"),
        },
    }


_IMAGE_HEADERS = {
    "Cache-Control": {
        "description": "`private, max-age=86400`: photos are personal data, so shared caches "
        "must not keep them.",
        "schema": {"type": "string"},
    }
}


def _get_photo() -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "tags": ["photos"],
        "operationId": "getReportPhoto",
        "summary": "The photo's bytes as uploaded (照片原图)",
        "description": "For whoever may see the report.",
        "responses": {
            "200": {
                "description": "The image, in the type it was uploaded in.",
                "headers": _IMAGE_HEADERS,
                "content": {"image/jpeg": binary, "image/png": binary, "image/webp": binary},
            },
            "401": _responses_ref("Unauthorized"),
            "404": _error_response(
                "No such report or photo, or the report is not visible to the caller.",
                {
                    "no_report": REPORT_NOT_FOUND_EXAMPLE,
                    "no_photo": (
                        "No such photo on this report",
                        _error("not_found", "No such photo."),
                    ),
                },
            ),
            "500": _responses_ref("InternalError"),
        },
    }


def _get_thumbnail() -> dict[str, Any]:
    return {
        "tags": ["photos"],
        "operationId": "getReportPhotoThumbnail",
        "summary": "A small JPEG of the photo (缩略图)",
        "description": "At most 320 pixels on the long side. Made by a background worker "
        "shortly after the upload; until then the answer is 404 with code `not_ready`: try "
        "again later, or use the photo's `thumbnail_url`, which is set once it exists.",
        "responses": {
            "200": {
                "description": "The thumbnail.",
                "headers": _IMAGE_HEADERS,
                "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
            },
            "401": _responses_ref("Unauthorized"),
            "404": _error_response(
                "No such report or photo, or the thumbnail is not made yet (`not_ready`).",
                {
                    "not_ready": (
                        "The worker has not made it yet",
                        _error("not_ready", "The thumbnail is being made; try again shortly."),
                    ),
                    "no_photo": (
                        "No such photo on this report",
                        _error("not_found", "No such photo."),
                    ),
                    "no_report": REPORT_NOT_FOUND_EXAMPLE,
                },
            ),
            "500": _responses_ref("InternalError"),
        },
    }


def _get_case() -> dict[str, Any]:
    return {
        "tags": ["cases"],
        "operationId": "getCase",
        "summary": "One case: the report with its deadline and light (案件详情)",
        "description": "The report (as `GET /reports/{id}` answers it, same scope and masking) "
        "plus the case fields: who owns it (`owner_level`), the department it is assigned to, "
        "the step whose clock runs, the due time and warning light (green; yellow from 2/3 of "
        "the allowed time; red when overdue — derived from the clock, never stored), how it "
        "was closed, and `allowed_actions`: the steps the caller may take now.",
        "parameters": [_param_ref("Lang")],
        "responses": {
            "200": {
                "description": "The case.",
                "content": _json_body(
                    _ref("Case"),
                    {
                        "assigned": ("Assigned, as its township coordinator sees it", CASE_EXAMPLE),
                        "closed": ("Closed and followed up", CASE_CLOSED_EXAMPLE),
                    },
                ),
            },
            "401": _responses_ref("Unauthorized"),
            "404": _responses_ref("ReportNotFound"),
            "500": _responses_ref("InternalError"),
        },
    }


def _case_action() -> dict[str, Any]:
    return {
        "tags": ["cases"],
        "operationId": "takeCaseAction",
        "summary": "Take a step in the case workflow (办理操作)",
        "description": "Every step goes through one service: it checks how the caller stands "
        "to the case, the transition table and the `version` the caller saw, applies the "
        "step, writes an append-only event (see `/cases/{id}/events`) and the audit log, and "
        "raises the version by one. Answers the case after the step.\n\n"
        "Who may take a step is a relation to the case, not a bare role: **owner** — the "
        "staff who own the case now: the township's coordinator (信访专干) while it is at "
        "township level, the county's staff after escalation to the county, city staff at "
        "city level; **department** — a handler of the department the case is assigned to; "
        "**supervisor** — city staff (督办); **reporter** — the officer who filed it.\n\n"
        "The checks, in order: unknown action → 404; the body not a JSON object → 400; the "
        "case not visible → 404; `version` missing → 400, different from the case's → 409 "
        "(someone changed it: reload); the step not possible in the case's state → 409, "
        "whose message lists the steps the caller can take; possible but not the caller's → "
        "403; then the fields the step needs → 400 with `fields`. Two people acting at once: "
        "the second gets a 409 and nothing is lost.\n\n"
        "Open states: reported 待受理, accepted 已受理, assigned 已交办, signed_for 已签收, "
        "in_progress 办理中, closing_requested 待审核; final: rejected 不予受理, merged 已合并, "
        "closed 已办结. The transition table:\n\n" + CASE_ACTION_TABLE,
        "parameters": [_param_ref("Lang")],
        "requestBody": {
            "required": True,
            "content": _json_body(
                _ref("CaseAction"),
                {
                    "accept": ("受理 (accept)", {"version": 1}),
                    "assign": (
                        "交办 to a department by code, with a due time",
                        {
                            "version": 2,
                            "department": "371102-D03",
                            "due_at": "2026-12-10T18:00:00+08:00",
                        },
                    ),
                    "request_extension": (
                        "申请延期 by 10 days",
                        {"version": 5, "days": 10, "reason": "需等待鉴定结果"},
                    ),
                    "approve_closing": (
                        "审核办结 with the outcome",
                        {"version": 7, "outcome": "resolved"},
                    ),
                    "merge": ("合并 into an earlier case", {"version": 1, "into": CASE_ID}),
                    "follow_up": ("回访", {"version": 8, "satisfaction": "satisfied"}),
                },
            ),
        },
        "responses": {
            "200": {
                "description": "The case after the step (its `version` raised by one).",
                "content": _json_body(_ref("Case"), {"assigned": ("After 交办", CASE_EXAMPLE)}),
            },
            "400": _error_response(
                "The body is not JSON or not an object, `version` is missing, or a field the "
                "step needs is missing or wrong (code `invalid_action`, `fields` names it).",
                {
                    "invalid_json": INVALID_JSON_EXAMPLE,
                    "no_version": (
                        "No version",
                        _error(
                            "invalid_action",
                            "Send the case version you saw, so that changes by others are not "
                            "overwritten.",
                            {"version": "Required: the case's current version number."},
                        ),
                    ),
                    "no_reason": (
                        "退办 without a reason",
                        _error(
                            "invalid_action",
                            "Check the fields.",
                            {"reason": "Required for this step."},
                        ),
                    ),
                    "bad_department": (
                        "A department of another county",
                        _error(
                            "invalid_action",
                            "Check the fields.",
                            {"department": "Not a department of this county or the city."},
                        ),
                    ),
                    "bad_days": (
                        "More extension days than are left",
                        _error(
                            "invalid_action",
                            "Check the fields.",
                            {"days": "Between 1 and 30 days."},
                        ),
                    ),
                    "bad_outcome": (
                        "No outcome",
                        _error(
                            "invalid_action",
                            "Check the fields.",
                            {"outcome": "One of: resolved, stabilised, escalated."},
                        ),
                    ),
                },
            ),
            "401": _responses_ref("Unauthorized"),
            "403": _error_response(
                "The step exists in this state but is not the caller's to take (e.g. a "
                "coordinator signing for a department).",
                {
                    "not_yours": (
                        "Not the caller's step",
                        _error("forbidden", "This step is not yours to take on this case."),
                    )
                },
            ),
            "404": _error_response(
                "No such case, not visible to the caller, or no such action.",
                {
                    "no_case": REPORT_NOT_FOUND_EXAMPLE,
                    "unknown_action": (
                        "An action that does not exist",
                        _error(
                            "not_found",
                            "Unknown action. Possible actions: " + ", ".join(CASE_ACTIONS) + ".",
                        ),
                    ),
                },
            ),
            "409": _error_response(
                "The step is not possible in the case's state (the message lists what the "
                "caller can do), the case changed since the caller's `version`, or the step "
                "conflicts with the case (an extension request already waiting or none to "
                "decide; escalation above the city).",
                {
                    "illegal": (
                        "受理 on a case already assigned (?lang=en)",
                        _error(
                            "conflict",
                            "“accept” is not possible while the case is “assigned”. "
                            "You can: escalate.",
                        ),
                    ),
                    "stale": (
                        "Changed by someone else since it was loaded",
                        _error(
                            "conflict",
                            "This case was changed by 日照街道信访专干 after you opened it. "
                            "Reload it and try again.",
                        ),
                    ),
                    "extension_waiting": (
                        "A second extension request",
                        _error("conflict", "An extension request is already waiting for approval."),
                    ),
                    "city_level": (
                        "上交 at city level",
                        _error(
                            "conflict", "The case is already at city level; it cannot go higher."
                        ),
                    ),
                },
            ),
            "500": _responses_ref("InternalError"),
        },
    }


def _case_events() -> dict[str, Any]:
    return {
        "tags": ["cases"],
        "operationId": "listCaseEvents",
        "summary": "The case's record, oldest first (办理记录)",
        "description": "Every step taken on the case, append-only. Besides the actions of "
        "`/cases/{id}/actions/{action}`, the record holds `merged_in` (another case was "
        "merged into this one; `data.duplicate` is its id) and automatic escalations by the "
        "deadline sweep (`actor` null, `data.automatic` true).",
        "responses": {
            "200": {
                "description": "The events.",
                "content": _json_body(
                    _ref("CaseEventList"),
                    {"record": ("Accepted, then assigned", {"events": CASE_EVENTS_EXAMPLE})},
                ),
            },
            "401": _responses_ref("Unauthorized"),
            "404": _responses_ref("ReportNotFound"),
            "500": _responses_ref("InternalError"),
        },
    }


def _case_duplicates() -> dict[str, Any]:
    return {
        "tags": ["cases"],
        "operationId": "listCaseDuplicates",
        "summary": "Possible duplicates of the case (疑似重复)",
        "description": "Open reports of the same category, reported up to 7 days before this "
        "one and within 300 m of it, that the caller may see, ranked by text similarity of "
        "title and description (pg_trgm), then distance; at most 10. The owner merges a "
        "duplicate with the `merge` action.",
        "responses": {
            "200": {
                "description": "The candidates, most similar first; empty when there are none.",
                "content": _json_body(
                    _ref("DuplicateCandidateList"),
                    {
                        "one": (
                            "One earlier report nearby",
                            {
                                "candidates": [
                                    {
                                        "id": CASE_ID,
                                        "case_number": "东港-2026-000118",
                                        "title": "邻里排水沟堵塞纠纷",
                                        "distance_m": 42.5,
                                        "score": 0.62,
                                        "status": "accepted",
                                        "severity": "orange",
                                        "reported_at": "2026-11-24T08:20:00+00:00",
                                    }
                                ]
                            },
                        )
                    },
                ),
            },
            "401": _responses_ref("Unauthorized"),
            "404": _responses_ref("ReportNotFound"),
            "500": _responses_ref("InternalError"),
        },
    }


def _work_queue() -> dict[str, Any]:
    return {
        "tags": ["cases"],
        "operationId": "getWorkQueue",
        "summary": "The caller's work queue by priority (待办队列), or the overdue list",
        "description": "Open cases only. `view=mine` (default): a coordinator's township cases "
        "still at township level, county staff's cases escalated to their county, city staff's "
        "cases escalated to the city, a department handler's assigned cases. `view=overdue` "
        "(county and city staff only): every open case in their area past its due time. "
        "Sorted by urgency (`sort=urgency`, the default): due time first — overdue ones have "
        "the earliest, so the longest overdue comes first, then the least time left, none "
        "last — then severity (red first), potential group incident and reported time. "
        "`sort=severity` puts severity first; `sort=newest` the latest received. `q` searches "
        "case number, title, address and description. Each item is a case plus "
        "`repeat_place_reports` and `possible_duplicate`.",
        "responses": {
            "200": {
                "description": "One page of the queue.",
                "content": _json_body(
                    _ref("WorkQueue"),
                    {
                        "page": (
                            "A coordinator's queue",
                            {
                                "items": [
                                    {
                                        **CASE_EXAMPLE,
                                        "repeat_place_reports": 3,
                                        "possible_duplicate": False,
                                    }
                                ],
                                "page": 1,
                                "per_page": 50,
                                "total": 1,
                            },
                        )
                    },
                ),
            },
            "400": _error_response(
                "A filter is malformed; `fields` names each (page and per_page both as `page`).",
                {
                    "bad_filters": (
                        "Unknown view, closed state, per_page too large",
                        _error(
                            "invalid_parameters",
                            "Check the filters.",
                            {
                                "view": "One of: mine, overdue.",
                                "status": "An open state.",
                                "page": "page from 1 to 100,000 and per_page from 1 to 200.",
                            },
                        ),
                    )
                },
            ),
            "401": _responses_ref("Unauthorized"),
            "403": _error_response(
                "The caller's role has no queue (officers, administrators), or asked for the "
                "overdue list without being county or city staff.",
                {
                    "no_queue": (
                        "An officer",
                        _error("forbidden", "There is no work queue for this role."),
                    ),
                    "no_overdue": (
                        "A coordinator asking for view=overdue",
                        _error("forbidden", "The overdue list is for county and city staff."),
                    ),
                },
            ),
            "500": _responses_ref("InternalError"),
        },
    }


def _openapi_document() -> dict[str, Any]:
    return {
        "tags": ["docs"],
        "operationId": "getOpenApiDocument",
        "summary": "This OpenAPI 3.1 document (接口描述)",
        "description": "For client generators and the browsable page at /docs.",
        "security": [],
        "responses": {
            "200": {
                "description": "The OpenAPI document.",
                "content": {
                    JSON: {
                        "schema": {
                            "type": "object",
                            "required": ["openapi", "info", "paths"],
                            "properties": {"openapi": {"type": "string", "const": "3.1.0"}},
                        }
                    }
                },
            },
            "500": _responses_ref("InternalError"),
        },
    }


def _docs_page() -> dict[str, Any]:
    return {
        "tags": ["docs"],
        "operationId": "getApiDocsPage",
        "summary": "Browsable API documentation (接口文档)",
        "description": "Swagger UI, served by the app itself (no internet needed), reading "
        "/openapi.json.",
        "security": [],
        "responses": {
            "200": {
                "description": "An HTML page.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
            "500": _responses_ref("InternalError"),
        },
    }


# --- components ------------------------------------------------------------------------------


def _components() -> dict[str, Any]:
    return {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "opaque",
                "description": "A token from `POST /auth/token` (登录令牌), sent as "
                "`Authorization: Bearer <token>`. Valid 30 days; revoked by "
                "`DELETE /auth/token`.",
            }
        },
        "parameters": _parameters(),
        "headers": {
            "RetryAfter": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer", "minimum": 1},
                "example": 840,
            }
        },
        "responses": _shared_responses(),
        "schemas": _schemas(),
    }


def _parameters() -> dict[str, Any]:
    return {
        "ReportId": {
            "name": "id",
            "in": "path",
            "required": True,
            "description": "The report's id, the UUID its phone made.",
            "schema": {"type": "string", "format": "uuid"},
            "example": REPORT_ID,
        },
        "PhotoId": {
            "name": "photo_id",
            "in": "path",
            "required": True,
            "description": "The photo's id.",
            "schema": {"type": "string", "format": "uuid"},
            "example": PHOTO_ID,
        },
        "CaseId": {
            "name": "id",
            "in": "path",
            "required": True,
            "description": "The case's id: the id of the report it is (a case is a report in "
            "the workflow).",
            "schema": {"type": "string", "format": "uuid"},
            "example": REPORT_ID,
        },
        "CaseActionName": {
            "name": "action",
            "in": "path",
            "required": True,
            "description": "The step to take (办理操作); see the table in the operation's "
            "description. Any other name answers 404.",
            "schema": _ref("CaseActionName"),
            "example": "accept",
        },
        "Lang": {
            "name": "lang",
            "in": "query",
            "required": False,
            "description": "Language of names and messages (语言): `zh` (default) or `en`; "
            "any other value is taken as the default. Remembered in a cookie.",
            "schema": {"type": "string", "examples": ["zh", "en"]},
        },
    }


def _shared_responses() -> dict[str, Any]:
    return {
        "Unauthorized": _error_response(
            "No bearer token, or it is unknown, expired or revoked (未登录或登录已失效).",
            UNAUTHORIZED_EXAMPLES,
        ),
        "ReportNotFound": _error_response(
            "No such report, or it is outside the caller's scope (the API does not reveal which).",
            {"not_found": REPORT_NOT_FOUND_EXAMPLE},
        ),
        "InternalError": _error_response(
            "Something went wrong on the server; the request changed nothing and may be retried.",
            {
                "internal": (
                    "Unexpected error",
                    _error(
                        "internal_error",
                        "Something went wrong on the server; the "
                        "request changed nothing. Try again.",
                    ),
                )
            },
        ),
    }


def _schemas() -> dict[str, Schema]:
    return {
        "Role": {
            "type": "string",
            "description": "`officer` grid officer (网格员); `coordinator` township "
            "coordinator (乡镇信访专干); `county` county-level staff (区县); `city` city staff "
            "(市级); `department` handler in a responsible department (责任部门); `admin` "
            "administrator (管理员).",
            "enum": ["officer", "coordinator", "county", "city", "department", "admin"],
        },
        "AreaLevel": {
            "type": "string",
            "description": "`city` 市; `county` county-level unit 区/县/功能区; `township` "
            "乡镇/街道; `village` village or community 村/社区; `cell` grid cell 网格.",
            "enum": ["city", "county", "township", "village", "cell"],
        },
        "CodeName": {
            "type": "object",
            "description": "An area by code and name.",
            "required": ["code", "name"],
            "properties": {
                "code": {"type": "string", "description": "Area code (区划代码)."},
                "name": {"type": "string"},
            },
        },
        "AreaSummary": {
            "type": "object",
            "description": "An area by code, name and level.",
            "required": ["code", "name", "level"],
            "properties": {
                "code": {"type": "string"},
                "name": {"type": "string"},
                "level": _ref("AreaLevel"),
            },
        },
        "AreaRef": {
            "type": "object",
            "description": "A reference to an area or grid cell (区划引用): internal id, code "
            "and name.",
            "required": ["id", "code", "name"],
            "properties": {
                "id": {"type": "integer"},
                "code": {"type": "string", "examples": ["371102001"]},
                "name": {"type": "string", "examples": ["日照街道"]},
            },
        },
        "LevelledAreaRef": {
            "description": "An area reference with its level.",
            "allOf": [
                _ref("AreaRef"),
                {
                    "type": "object",
                    "required": ["level"],
                    "properties": {"level": _ref("AreaLevel")},
                },
            ],
        },
        "OfficerCell": {
            "type": "object",
            "description": "A grid cell an officer is responsible for (责任网格).",
            "required": ["id", "code", "name", "village", "township"],
            "properties": {
                "id": {"type": "integer"},
                "code": {"type": "string"},
                "name": {"type": "string"},
                "village": _ref("CodeName", description="Village or community (村/社区)."),
                "township": _ref("CodeName", description="Township (乡镇/街道)."),
            },
        },
        "Me": {
            "type": "object",
            "required": ["id", "username", "display_name", "role", "area", "cells"],
            "properties": {
                "id": {"type": "integer"},
                "username": {"type": "string"},
                "display_name": {"type": "string"},
                "role": _ref("Role"),
                "area": _nullable_ref(
                    "AreaSummary",
                    "The area a staff member is responsible for; null for officers.",
                ),
                "cells": {
                    "type": "array",
                    "description": "An officer's cells, by code; empty for staff.",
                    "items": _ref("OfficerCell"),
                },
            },
        },
        "Crs": {
            "type": "string",
            "description": "Coordinate system (坐标系): `wgs84` GPS and Tianditu (天地图, "
            "CGCS2000); `gcj02` AMap and Tencent (高德/腾讯, 火星坐标); `bd09` Baidu (百度).",
            "enum": ["wgs84", "gcj02", "bd09"],
        },
        "InputPosition": {
            "type": "object",
            "description": "A position as the client sent it, before conversion to WGS-84.",
            "required": ["lon", "lat", "crs"],
            "properties": {
                "lon": {"type": "number"},
                "lat": {"type": "number"},
                "crs": _ref("Crs"),
            },
        },
        "LocationChain": {
            "type": "object",
            "description": "A grid cell and its chain of areas up to the city.",
            "required": ["cell", "village", "township", "county", "city"],
            "properties": {
                "cell": _ref("LevelledAreaRef", description="Grid cell (网格)."),
                "village": _ref("LevelledAreaRef", description="Village or community (村/社区)."),
                "township": _ref("LevelledAreaRef", description="Township (乡镇/街道)."),
                "county": _ref("LevelledAreaRef", description="County-level unit (区/县)."),
                "city": _ref("LevelledAreaRef", description="City (市)."),
            },
        },
        "LocateFound": {
            "description": "The point lies in a grid cell.",
            "allOf": [
                _ref("LocationChain"),
                {
                    "type": "object",
                    "required": ["found", "lon", "lat"],
                    "properties": {
                        "found": {"const": True},
                        "lon": {"type": "number", "description": "WGS-84 longitude."},
                        "lat": {"type": "number", "description": "WGS-84 latitude."},
                        "input": _ref(
                            "InputPosition",
                            description="The point as sent; only when `crs` was not wgs84.",
                        ),
                    },
                },
            ],
        },
        "NearestCell": {
            "description": "The grid cell nearest to a point outside the grid.",
            "allOf": [
                _ref("LocationChain"),
                {
                    "type": "object",
                    "required": ["distance_m"],
                    "properties": {
                        "distance_m": {
                            "type": "number",
                            "minimum": 0,
                            "description": "Distance to the cell in metres.",
                        }
                    },
                },
            ],
        },
        "LocateNotFound": {
            "type": "object",
            "description": "The point lies outside the city's grid.",
            "required": ["found", "lon", "lat", "message"],
            "properties": {
                "found": {"const": False},
                "lon": {"type": "number", "description": "WGS-84 longitude."},
                "lat": {"type": "number", "description": "WGS-84 latitude."},
                "message": {
                    "type": "string",
                    "description": "What to check, for the user, in the request's language.",
                },
                "nearest": _ref("NearestCell"),
                "input": _ref(
                    "InputPosition",
                    description="The point as sent; only when `crs` was not wgs84.",
                ),
            },
        },
        "LocateAnswer": {
            "description": "The answer of /locate (定位结果): tell the two cases by `found`.",
            "oneOf": [_ref("LocateFound"), _ref("LocateNotFound")],
        },
        "AreaFeature": {
            "type": "object",
            "description": "One area as a GeoJSON Feature (WGS-84).",
            "required": ["type", "id", "properties", "geometry"],
            "properties": {
                "type": {"const": "Feature"},
                "id": {"type": "string", "description": "The area code."},
                "bbox": {
                    "type": "array",
                    "description": "[min lon, min lat, max lon, max lat] of the unsimplified area.",
                    "items": {"type": "number"},
                    "minItems": 4,
                    "maxItems": 4,
                },
                "properties": {
                    "type": "object",
                    "required": ["code", "name", "level", "parent_code"],
                    "properties": {
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "level": _ref("AreaLevel"),
                        "parent_code": {
                            "type": ["string", "null"],
                            "description": "Code of the area above; empty for the city.",
                        },
                        "population": {"type": ["integer", "null"], "minimum": 0},
                    },
                },
                "geometry": {
                    "type": "object",
                    "required": ["type", "coordinates"],
                    "properties": {
                        "type": {"enum": ["Polygon", "MultiPolygon"]},
                        "coordinates": {"type": "array"},
                    },
                },
            },
        },
        "AreaFeatureCollection": {
            "type": "object",
            "description": "A GeoJSON FeatureCollection of areas.",
            "required": ["type", "features"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": _ref("AreaFeature")},
            },
        },
        "Severity": {
            "type": "string",
            "description": "Warning colour (预警等级): `red` 红色 — report immediately, "
            "escalates; `orange` 橙色 — handled the same day; `yellow` 黄色 — resolved on site "
            "by the officer or village.",
            "enum": ["red", "orange", "yellow"],
        },
        "Party": {
            "type": "object",
            "description": "A party (stored encrypted). In lists, and for roles that do not "
            "handle the case (county and city staff), the name, ID number and phone are masked: "
            "张*, 371102********1234, 138****5678; each unmasked display is audited.",
            "required": ["name", "id_number", "phone", "role"],
            "properties": {
                "name": {"type": "string"},
                "id_number": {"type": ["string", "null"]},
                "phone": {"type": ["string", "null"]},
                "role": {"type": ["string", "null"]},
            },
        },
        "Officer": {
            "type": "object",
            "description": "The officer who filed the report (上报网格员).",
            "required": ["id", "display_name"],
            "properties": {"id": {"type": "integer"}, "display_name": {"type": "string"}},
        },
        "Report": {
            "type": "object",
            "description": "An early dispute report as stored (矛盾纠纷早报告), located in the "
            "grid.",
            "required": [
                "id",
                "case_number",
                "status",
                "title",
                "description",
                "address",
                "category",
                "category_name",
                "severity",
                "people_involved",
                "potential_group_incident",
                "occurred_at",
                "reported_at",
                "lon",
                "lat",
                "input",
                "accuracy_m",
                "cell",
                "village",
                "township",
                "county",
                "officer",
                "outside_own_cells",
                "distance_to_own_cells_m",
                "version",
                "parties",
                "photos",
            ],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "case_number": {
                    "type": "string",
                    "description": "The case number people say on the phone (案件编号): the "
                    "county-level unit's short name, the year received (China time) and a "
                    "sequence per unit and year, e.g. 东港-2026-000123. Given by the server at "
                    "intake; the id stays the API's key.",
                    "examples": ["东港-2026-000123"],
                },
                "status": _ref(
                    "CaseState", description="Workflow state (办理状态): `reported` on intake."
                ),
                "title": {"type": "string"},
                "description": {"type": "string"},
                "address": {"type": ["string", "null"]},
                "category": {"type": "string", "description": "Category code."},
                "category_name": {
                    "type": "string",
                    "description": "Category label in the request's language.",
                },
                "severity": _ref("Severity"),
                "people_involved": {"type": "integer", "minimum": 1},
                "potential_group_incident": {
                    "type": "boolean",
                    "description": "Potential group incident (群体性): people_involved reached "
                    "the configured threshold (default 5).",
                },
                "occurred_at": {"type": "string", "format": "date-time"},
                "reported_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When the server received it (上报时间).",
                },
                "lon": {"type": "number", "description": "WGS-84 longitude."},
                "lat": {"type": "number", "description": "WGS-84 latitude."},
                "input": _ref("InputPosition"),
                "accuracy_m": {"type": ["number", "null"]},
                "cell": _ref("AreaRef", description="Grid cell (网格) the point lies in."),
                "village": _ref("AreaRef", description="Village or community (村/社区)."),
                "township": _ref("AreaRef", description="Township (乡镇/街道)."),
                "county": _ref("AreaRef", description="County-level unit (区/县)."),
                "officer": _ref("Officer"),
                "outside_own_cells": {
                    "type": "boolean",
                    "description": "The point is outside the cells the officer is "
                    "responsible for (跨网格上报); accepted, and flagged for the coordinator.",
                },
                "distance_to_own_cells_m": {
                    "type": ["number", "null"],
                    "minimum": 0,
                    "description": "Metres from the officer's own cells; 0 inside them, null "
                    "when the officer has no cells.",
                },
                "version": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Increases with every change (乐观锁版本号).",
                },
                "parties": {"type": "array", "items": _ref("Party")},
                "photos": {"type": "array", "items": _ref("Photo")},
            },
        },
        "ReportList": {
            "type": "object",
            "description": "One page of reports (分页列表).",
            "required": ["items", "page", "per_page", "total"],
            "properties": {
                "items": {"type": "array", "items": _ref("Report")},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
                "total": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Reports matching the filters, over all pages.",
                },
            },
        },
        "Photo": {
            "type": "object",
            "description": "A photo of a report (现场照片).",
            "required": [
                "id",
                "url",
                "thumbnail_url",
                "content_type",
                "width",
                "height",
                "exif_lon",
                "exif_lat",
                "exif_taken_at",
            ],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "url": {
                    "type": "string",
                    "format": "uri-reference",
                    "description": "The image bytes (bearer token needed).",
                },
                "thumbnail_url": {
                    "type": ["string", "null"],
                    "format": "uri-reference",
                    "description": "The thumbnail; null until the worker has made it.",
                },
                "content_type": {
                    "type": "string",
                    "enum": ["image/jpeg", "image/png", "image/webp"],
                },
                "width": {"type": "integer", "minimum": 1},
                "height": {"type": "integer", "minimum": 1},
                "exif_lon": {
                    "type": ["number", "null"],
                    "description": "Position recorded by the camera, if any.",
                },
                "exif_lat": {"type": ["number", "null"]},
                "exif_taken_at": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "When the camera took it, if recorded.",
                },
            },
        },
        **_case_schemas(),
        **field_schemas(),
    }


def _case_schemas() -> dict[str, Schema]:
    nullable_time: Schema = {"type": ["string", "null"], "format": "date-time"}
    return {
        "CaseState": {
            "type": "string",
            "description": "Workflow state (办理状态). Open: `reported` 待受理, `accepted` 已受理, "
            "`assigned` 已交办, `signed_for` 已签收, `in_progress` 办理中, `closing_requested` "
            "待审核 (申请办结, waiting for review). Final: `rejected` 不予受理, `merged` 已合并 "
            "(a duplicate), `closed` 已办结.",
            "enum": [
                "reported",
                "accepted",
                "rejected",
                "merged",
                "assigned",
                "signed_for",
                "in_progress",
                "closing_requested",
                "closed",
            ],
        },
        "CaseActionName": {
            "type": "string",
            "description": "A workflow step (办理操作): "
            + ", ".join(f"`{name}` {zh}" for name, (zh, *_rest) in CASE_ACTIONS.items())
            + ".",
            "enum": list(CASE_ACTIONS),
        },
        "Outcome": {
            "type": "string",
            "description": "How a case was closed (办结结果): `resolved` 化解; `stabilised` 稳控; "
            "`escalated` 上交 (closed at this level by handing it up).",
            "enum": ["resolved", "stabilised", "escalated"],
        },
        "Satisfaction": {
            "type": "string",
            "description": "The follow-up rating (回访满意度): `satisfied` 满意; "
            "`basically_satisfied` 基本满意; `dissatisfied` 不满意.",
            "enum": ["satisfied", "basically_satisfied", "dissatisfied"],
        },
        "CaseAction": {
            "type": "object",
            "description": "The body of a step (办理操作). Only `version` is always required; "
            "which other fields a step needs is in the action table. Fields a step does not use "
            "are ignored.",
            "required": ["version"],
            "properties": {
                "version": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "The case's `version` as the caller saw it (乐观锁): if the "
                    "case changed since, the answer is 409 and nothing changes.",
                },
                "reason": {
                    "type": ["string", "null"],
                    "maxLength": 2000,
                    "description": "Reason, note or summary (理由/说明), trimmed. Required by "
                    "reject, return, progress, request_extension, deny_extension, "
                    "request_closing, send_back, escalate, supervise and reassign; kept in "
                    "the event for every step.",
                },
                "department": {
                    "oneOf": [
                        {"type": "string", "minLength": 1, "examples": ["371102-D03"]},
                        {"type": "integer"},
                    ],
                    "description": "assign and reassign: the department (责任部门) by code "
                    "or by id; one of the case's county or of the city.",
                },
                "due_at": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "assign (optional): the due time of the handling step, "
                    "instead of the policy's; supervise (required): when the supervision "
                    "order must be done. In the future; without offset read as China "
                    "Standard Time.",
                },
                "into": {
                    "type": "string",
                    "description": "merge: the case to keep (this one is the duplicate), by "
                    "id or by case number (东港-2026-000118); open, owned by the caller, not "
                    "this case.",
                },
                "days": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 30,
                    "description": "request_extension: days asked for (延期天数); the days "
                    "granted over the case's life total at most 30.",
                },
                "outcome": _ref(
                    "Outcome", description="resolve_on_site and approve_closing: required."
                ),
                "satisfaction": _ref("Satisfaction", description="follow_up: required."),
            },
        },
        "CaseFields": {
            "type": "object",
            "description": "What a case adds to its report (案件字段).",
            "required": [
                "owner_level",
                "department_id",
                "step",
                "due_at",
                "light",
                "seconds_left",
                "accepted_on_time",
                "closed_at",
                "closed_on_time",
                "outcome",
                "satisfaction",
                "merged_into",
                "extension_days_requested",
                "allowed_actions",
            ],
            "properties": {
                "owner_level": {
                    "type": "string",
                    "enum": ["township", "county", "city"],
                    "description": "Which level owns the case (责任层级): township on intake, "
                    "raised by escalation (上交).",
                },
                "department_id": {
                    "type": ["integer", "null"],
                    "description": "The department it is assigned to (交办), if any.",
                },
                "step": {
                    "type": ["string", "null"],
                    "enum": ["acceptance", "handling", None],
                    "description": "Whose clock runs: `acceptance` (受理时限: red 2 h, orange "
                    "24 h, yellow 3 days by default) or `handling` (办理时限: 15 days); null "
                    "once finished.",
                },
                "due_at": {
                    **nullable_time,
                    "description": "When the running step is due (办理期限); null when finished.",
                },
                "light": {
                    "type": ["string", "null"],
                    "enum": ["green", "yellow", "red", None],
                    "description": "Warning light (预警灯), from the clock: green; yellow from "
                    "2/3 of the allowed time; red when overdue. Null for a finished case.",
                },
                "seconds_left": {
                    "type": ["integer", "null"],
                    "description": "Seconds until `due_at`; negative when overdue, null "
                    "without a due time.",
                },
                "accepted_on_time": {
                    "type": ["boolean", "null"],
                    "description": "Accepted within the acceptance time (按时受理); null "
                    "until accepted.",
                },
                "closed_at": {
                    **nullable_time,
                    "description": "When it was closed, rejected or merged.",
                },
                "closed_on_time": {
                    "type": ["boolean", "null"],
                    "description": "Closed (办结) by the due time; null unless closed.",
                },
                "outcome": _nullable_ref("Outcome", "How it was closed; null until closed."),
                "satisfaction": _nullable_ref(
                    "Satisfaction", "The last follow-up rating (回访); null until then."
                ),
                "merged_into": {
                    "type": ["string", "null"],
                    "format": "uuid",
                    "description": "The case this one was merged into (合并), if any.",
                },
                "extension_days_requested": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "description": "Days of an extension request waiting for the owner "
                    "(延期待审批); null when none waits.",
                },
                "allowed_actions": {
                    "type": "array",
                    "items": _ref("CaseActionName"),
                    "description": "The steps the caller may take now, in table order.",
                },
            },
        },
        "Case": {
            "description": "A case (案件): the report, as the caller may see it, with its case "
            "fields.",
            "allOf": [_ref("Report"), _ref("CaseFields")],
        },
        "QueueItem": {
            "description": "A case in a work queue.",
            "allOf": [
                _ref("Case"),
                {
                    "type": "object",
                    "required": ["repeat_place_reports", "possible_duplicate"],
                    "properties": {
                        "repeat_place_reports": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Reports from the same grid cell in the last 90 "
                            "days, merged ones not counted (重复发生地), this one included: how "
                            "busy the place is, not a duplicate suspicion.",
                        },
                        "possible_duplicate": {
                            "type": "boolean",
                            "description": "An earlier open report of the same category "
                            "nearby may be the same dispute (疑似重复; see "
                            "/cases/{id}/duplicates).",
                        },
                    },
                },
            ],
        },
        "WorkQueue": {
            "type": "object",
            "description": "One page of a work queue (待办队列).",
            "required": ["items", "page", "per_page", "total"],
            "properties": {
                "items": {"type": "array", "items": _ref("QueueItem")},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
                "total": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Cases matching the filters, over all pages.",
                },
            },
        },
        "CaseEvent": {
            "type": "object",
            "description": "One step in a case's record (办理记录).",
            "required": ["id", "at", "action", "from", "to", "reason", "data", "actor"],
            "properties": {
                "id": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "action": {
                    "type": "string",
                    "description": "A CaseActionName, or `merged_in` (a duplicate was merged "
                    "into this case).",
                    "examples": ["accept"],
                },
                "from": _ref("CaseState", description="State before."),
                "to": _ref("CaseState", description="State after."),
                "reason": {"type": ["string", "null"]},
                "data": {
                    "type": "object",
                    "description": "What the step recorded, e.g. `department`, `due_at`, "
                    "`days`, `outcome`, `satisfaction`, `into`, `to_level`, `duplicate`, "
                    "`automatic`.",
                },
                "actor": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["id", "display_name", "role"],
                            "properties": {
                                "id": {"type": "integer"},
                                "display_name": {"type": ["string", "null"]},
                                "role": {"oneOf": [_ref("Role"), {"type": "null"}]},
                            },
                        },
                        {"type": "null"},
                    ],
                    "description": "Who took the step; null for the system (the deadline "
                    "sweep's automatic escalation).",
                },
            },
        },
        "CaseEventList": {
            "type": "object",
            "required": ["events"],
            "properties": {
                "events": {
                    "type": "array",
                    "items": _ref("CaseEvent"),
                    "description": "Oldest first.",
                }
            },
        },
        "DuplicateCandidate": {
            "type": "object",
            "description": "An earlier report that may describe the same dispute (疑似重复).",
            "required": [
                "id",
                "case_number",
                "title",
                "distance_m",
                "score",
                "status",
                "severity",
                "reported_at",
            ],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "case_number": {
                    "type": "string",
                    "description": "案件编号, e.g. 东港-2026-000118.",
                },
                "title": {"type": "string"},
                "distance_m": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Metres from this case, to 0.1 m.",
                },
                "score": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "Text similarity of title and description (pg_trgm), to 0.001.",
                },
                "status": _ref("CaseState"),
                "severity": _ref("Severity"),
                "reported_at": {"type": "string", "format": "date-time"},
            },
        },
        "DuplicateCandidateList": {
            "type": "object",
            "required": ["candidates"],
            "properties": {"candidates": {"type": "array", "items": _ref("DuplicateCandidate")}},
        },
    }
