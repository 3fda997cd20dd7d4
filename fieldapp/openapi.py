"""The operations of the JSON API not declared yet (#18): the case workflow's, written by
hand. `fieldapp.contract.document` merges `hand_written()` (these paths and the components
only they use) into the generated document; this module goes once they are declared.

Descriptions are in English with the Chinese term the users know, e.g. "零报告".
"""

from __future__ import annotations

from typing import Any

from fieldapp.contract.reports import REPORT_EXAMPLE, REPORT_ID

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

# --- paths -----------------------------------------------------------------------------------


def hand_written() -> dict[str, Any]:
    """The paths not declared yet and the components only they use."""
    return {
        "paths": {
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
        },
        "components": {
            "parameters": _parameters(),
            "responses": _shared_responses(),
            "schemas": {**_case_schemas(), "Case": _case()},
        },
    }


def _case() -> Schema:
    """The report's fields (those of the generated Report model, which itself refuses other
    fields) and the case fields: a case is a report in the workflow."""
    from pydantic.json_schema import models_json_schema

    from fieldapp.contract.base import Schemas
    from fieldapp.contract.document import REF
    from fieldapp.contract.reports import Report

    _keys, defs = models_json_schema(
        [(Report, "serialization")], ref_template=REF, schema_generator=Schemas
    )
    report = defs["$defs"]["Report"]
    return {
        "description": "A case (案件): the report, as the caller may see it, with its case fields.",
        "allOf": [
            {"type": "object", "required": report["required"], "properties": report["properties"]},
            _ref("CaseFields"),
        ],
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


def _parameters() -> dict[str, Any]:
    return {
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
        "ReportNotFound": _error_response(
            "No such report, or it is outside the caller's scope (the API does not reveal which).",
            {"not_found": REPORT_NOT_FOUND_EXAMPLE},
        ),
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
