"""The case workflow (案件办理): the body of a step, a case, its record and duplicates, and
the work queue (its filters and its page). The steps, states and outcomes are
fieldapp.workflow's; what each step needs is said once here (`NEEDS`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, ClassVar, Final, Literal

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    PlainValidator,
    RootModel,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from fieldapp import bounds
from fieldapp.contract.account import Role
from fieldapp.contract.base import (
    AnswerModel,
    BodyModel,
    QueryModel,
    Text,
    check_text,
    error_answer,
)
from fieldapp.contract.reports import Report
from fieldapp.deadlines import STEPS, Light
from fieldapp.domain import Severity
from fieldapp.workflow import (
    ESCALATION_LEVELS,
    OPEN_STATES,
    REQUIRES_OUTCOME,
    REQUIRES_REASON,
    TRANSITIONS,
    Action,
    Outcome,
    Relation,
    Satisfaction,
    State,
)

#: Far beyond any real queue; keeps the row offset within what PostgreSQL accepts.
MAX_PAGE: Final = 100_000
MAX_QUERY_CHARS: Final = 100
#: The open states in workflow order (the document's enum).
OPEN: Final = tuple(s.value for s in State if s in OPEN_STATES)


def _open_state(value: str) -> str:
    if value not in OPEN:
        raise ValueError(_("An open state."))
    return value


def _words(value: str | None) -> str | None:
    """Runs of blanks as one space; blank is no search."""
    return " ".join(value.split()) or None if value else None


def _view(value: str) -> str:
    if value not in VIEWS:
        raise ValueError(_("One of: mine, overdue."))
    return value


VIEWS: Final = ("mine", "overdue")
#: A plain str for callers (the triage pages pass their own view), checked like a Literal.
View = Annotated[
    str, AfterValidator(_view), WithJsonSchema({"type": "string", "enum": list(VIEWS)})
]

OpenState = Annotated[
    str, AfterValidator(_open_state), WithJsonSchema({"type": "string", "enum": list(OPEN)})
]


class QueueQuery(QueryModel):
    """Which open cases, in what order, which page."""

    error_summary: ClassVar[Any] = lazy_gettext("Check the filters.")

    view: View = Field(default="mine", description="Which list (列表).")
    status: OpenState | None = Field(default=None, description="Only cases in this open state.")
    severity: Severity | None = Field(default=None, description="Only this severity (预警等级).")
    category: Annotated[Text, Field(max_length=50)] | None = Field(
        default=None, description="Only this category code (see /categories)."
    )
    q: Annotated[
        Annotated[Text, Field(max_length=MAX_QUERY_CHARS)] | None, AfterValidator(_words)
    ] = Field(
        default=None,
        description="Text search (搜索): cases whose case number, title, address or "
        "description contains it (case-insensitive; % and _ are plain characters).",
        examples=["东港-2026-000123"],
    )
    sort: Literal["urgency", "severity", "newest"] = Field(
        default="urgency",
        description="Order (排序): most urgent first, severity first, or newest first.",
    )
    page: int = Field(default=1, ge=1, le=MAX_PAGE, description="Page number, from 1 (页码).")
    per_page: int = Field(default=50, ge=1, le=200, description="Items per page (每页条数).")


# --- the steps (POST /cases/{report_id}/actions/{action}) ------------------------------------
#
# One body model for every step, its fields the union of what the steps read, and which of
# them a step needs checked by the model from the action in the path (validation context
# `action`), so every missing or wrong field is named at once. Why not one model per action
# (a discriminated union): the action is in the path, not in the body, so OpenAPI could only
# say `oneOf` without a discriminator (clients and Schemathesis could not tell which applies),
# and the fields mean the same in every step that reads them (`reason` is a reason wherever
# it is needed). The table below says which step needs what; the steps themselves come
# from fieldapp.workflow.

MAX_REASON_CHARS: Final = 2000
MAX_DB_ID: Final = 2_147_483_647

#: A text is required for the steps that need a reason (workflow.REQUIRES_REASON) and for
#: those whose text is the step itself: a progress note, the closing summary, the order.
NEEDS_TEXT: Final = REQUIRES_REASON | {Action.PROGRESS, Action.REQUEST_CLOSING, Action.SUPERVISE}
#: What else a step needs in its body besides `version` (and `reason`, NEEDS_TEXT).
NEEDS: Final[dict[str, frozenset[Action]]] = {
    "reason": frozenset(NEEDS_TEXT),
    "outcome": frozenset(REQUIRES_OUTCOME),
    "department": frozenset({Action.ASSIGN, Action.REASSIGN}),
    "into": frozenset({Action.MERGE}),
    "days": frozenset({Action.REQUEST_EXTENSION}),
    "due_at": frozenset({Action.SUPERVISE}),
    "satisfaction": frozenset({Action.FOLLOW_UP}),
}


def _needed(field: str, value: Any, info: ValidationInfo, message: str) -> Any:
    """`value`, or ValueError(`message`) when it is absent (or blank) and the step in the
    validation context needs it."""
    action = (info.context or {}).get("action")
    if (value is None or value == "") and action in NEEDS[field]:
        raise ValueError(message)
    return value


def _department_ref(value: Any) -> str | int:
    """A department by code (text) or id (a whole number); which one is checked by the
    service against the case's county and the city."""
    if isinstance(value, str):
        text = check_text(value).strip()
        if 0 < len(text) <= 50:
            return text
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(_("Required: a department."))


def _due(value: Any, info: ValidationInfo) -> dt.datetime:
    """An ISO date and time through the one parser (fieldapp.bounds: window, offsets, China
    time when bare), after the request's clock."""
    if not isinstance(value, str):
        raise ValueError(_("A date and time, e.g. %(example)s.", example=TIME_EXAMPLE))
    parsed = bounds.parse_instant(value, required=True)
    assert parsed is not None
    now = (info.context or {}).get("now")
    if now is not None and parsed <= now:
        raise ValueError(_("Must be in the future."))
    return parsed


TIME_EXAMPLE: Final = "2026-12-10T18:00:00+08:00"
DepartmentRef = Annotated[
    str | int,
    PlainValidator(_department_ref),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "minLength": 1, "maxLength": 50, "examples": ["371102-D03"]},
                {"type": "integer"},
            ]
        }
    ),
]
FutureInstant = Annotated[
    dt.datetime,
    PlainValidator(_due),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [TIME_EXAMPLE]}),
]
CASE_ID: Final = "3f1c2a55-2b7e-4d6a-9c1e-5a7b8c9d0e1f"


class CaseAction(BodyModel):
    """The body of a step (办理操作). `version` is always required; which other fields a step
    needs is in the action table of the operation. A field the step does not use is ignored
    (but must still be well-formed)."""

    error_code: ClassVar[str] = "invalid_action"
    error_summary: ClassVar[Any] = lazy_gettext("Check the fields.")
    field_messages: ClassVar[dict[str, Any]] = {
        "version": lazy_gettext("Required: the case's current version number."),
        "reason": lazy_gettext("Text of at most 2,000 characters."),
        "into": lazy_gettext("The case number (or id) of the case to keep."),
        "outcome": lazy_gettext("One of: resolved, stabilised, escalated."),
        "satisfaction": lazy_gettext("One of: satisfied, basically_satisfied, dissatisfied."),
    }
    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "accept": ("受理 (accept)", {"version": 1}),
        "assign": (
            "交办 to a department by code, with a due time",
            {"version": 2, "department": "371102-D03", "due_at": TIME_EXAMPLE},
        ),
        "request_extension": (
            "申请延期 by 10 days",
            {"version": 5, "days": 10, "reason": "需等待鉴定结果"},
        ),
        "approve_closing": ("审核办结 with the outcome", {"version": 7, "outcome": "resolved"}),
        "merge": ("合并 into an earlier case", {"version": 1, "into": CASE_ID}),
        "follow_up": ("回访", {"version": 8, "satisfaction": "satisfied"}),
    }

    version: int = Field(
        ge=1,
        le=MAX_DB_ID,
        description="The case's `version` as the caller saw it (乐观锁): if the case changed "
        "since, the answer is 409 and nothing changes.",
    )
    reason: Annotated[Text, Field(max_length=MAX_REASON_CHARS)] | None = Field(
        default=None,
        validate_default=True,
        description="Reason, note or summary (理由/说明), trimmed. Required by "
        + ", ".join(a.value for a in Action if a in NEEDS_TEXT)
        + "; kept in the event for every step.",
    )
    department: DepartmentRef | None = Field(
        default=None,
        validate_default=True,
        description="assign and reassign: the department (责任部门) by code or by id; one of "
        "the case's county or of the city.",
    )
    due_at: FutureInstant | None = Field(
        default=None,
        validate_default=True,
        description="assign (optional): the due time of the handling step, instead of the "
        "policy's; supervise (required): when the supervision order must be done. In the "
        "future; without offset read as China Standard Time.",
    )
    into: Annotated[Text, Field(max_length=100)] | None = Field(
        default=None,
        validate_default=True,
        description="merge: the case to keep (this one is the duplicate), by id or by case "
        "number (东港-2026-000118); open, owned by the caller, not this case.",
    )
    days: int | None = Field(
        default=None,
        ge=1,
        validate_default=True,
        description="request_extension: days asked for (延期天数); the days granted over the "
        "case's life total at most the policy's maximum (30 by default).",
    )
    outcome: Outcome | None = Field(
        default=None,
        validate_default=True,
        description="resolve_on_site and approve_closing (required): how it was closed "
        "(办结结果): `resolved` 化解; `stabilised` 稳控; `escalated` 上交.",
    )
    satisfaction: Satisfaction | None = Field(
        default=None,
        validate_default=True,
        description="follow_up (required): the rating (回访满意度): `satisfied` 满意; "
        "`basically_satisfied` 基本满意; `dissatisfied` 不满意.",
    )

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _needed("reason", value or None, info, _("Required for this step."))

    @field_validator("department")
    @classmethod
    def _department(cls, value: Any, info: ValidationInfo) -> Any:
        return _needed("department", value, info, _("Required: a department."))

    @field_validator("due_at")
    @classmethod
    def _due_at(cls, value: Any, info: ValidationInfo) -> Any:
        return _needed("due_at", value, info, _("Required: when it must be done."))

    @field_validator("into")
    @classmethod
    def _into(cls, value: Any, info: ValidationInfo) -> Any:
        return _needed(
            "into", value or None, info, _("The case number (or id) of the case to keep.")
        )

    @field_validator("days")
    @classmethod
    def _days(cls, value: Any, info: ValidationInfo) -> Any:
        return _needed("days", value, info, _("Required."))

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, value: Any, info: ValidationInfo) -> Any:
        return _needed("outcome", value, info, _("One of: resolved, stabilised, escalated."))

    @field_validator("satisfaction")
    @classmethod
    def _satisfaction(cls, value: Any, info: ValidationInfo) -> Any:
        return _needed(
            "satisfaction",
            value,
            info,
            _("One of: satisfied, basically_satisfied, dissatisfied."),
        )


# --- answers ---------------------------------------------------------------------------------

#: The hand-written Report schema until it is declared as a model (then `Case` derives from
#: it and checks the report's part of the answer too).
REPORT: Final = "Report"


def _one_of(values: tuple[str, ...], description: str) -> Any:
    """A str that must be one of `values`, documented as their enum."""

    def check(value: str) -> str:
        if value not in values:
            raise ValueError(_("Not a valid value here."))
        return value

    return Annotated[
        str,
        AfterValidator(check),
        WithJsonSchema({"type": "string", "enum": list(values), "description": description}),
    ]


STATE_DOC: Final = (
    "Workflow state (办理状态). Open: `reported` 待受理, `accepted` 已受理, `assigned` 已交办, "
    "`signed_for` 已签收, `in_progress` 办理中, `closing_requested` 待审核 (申请办结, waiting for "
    "review). Final: `rejected` 不予受理, `merged` 已合并 (a duplicate), `closed` 已办结."
)
ACTION_DOC: Final = (
    "A workflow step (办理操作); see the table of `POST /cases/{report_id}/actions/{action}`."
)


class CaseState(RootModel[_one_of(tuple(State), STATE_DOC)]):  # type: ignore[misc]
    """A workflow state (fieldapp.workflow.State)."""


class CaseActionName(RootModel[_one_of(tuple(Action), ACTION_DOC)]):  # type: ignore[misc]
    """A workflow step (fieldapp.workflow.Action)."""


OwnerLevel = _one_of(
    ESCALATION_LEVELS,
    "Which level owns the case (责任层级): township on intake, raised by escalation (上交).",
)
ClockStep = _one_of(
    STEPS,
    "Whose clock runs: `acceptance` (受理时限: red 2 h, orange 24 h, yellow 3 days by default) "
    "or `handling` (办理时限: 15 days); null once finished.",
)


class CaseFields(AnswerModel):
    """What a case adds to its report (案件字段)."""

    owner_level: OwnerLevel  # type: ignore[valid-type]
    department_id: int | None = Field(description="The department it is assigned to (交办).")
    step: ClockStep | None  # type: ignore[valid-type]
    due_at: dt.datetime | None = Field(
        description="When the running step is due (办理期限); null when finished."
    )
    light: Annotated[
        Light | None,
        WithJsonSchema(
            {
                "type": ["string", "null"],
                "enum": [*(light.value for light in Light), None],
                "description": "Warning light (预警灯), from the clock: green; yellow from 2/3 "
                "of the allowed time; red when overdue. Null for a finished case.",
            }
        ),
    ]
    seconds_left: int | None = Field(
        description="Seconds until `due_at`; negative when overdue, null without a due time."
    )
    accepted_on_time: bool | None = Field(
        description="Accepted within the acceptance time (按时受理); null until accepted."
    )
    closed_at: dt.datetime | None = Field(description="When it was closed, rejected or merged.")
    closed_on_time: bool | None = Field(
        description="Closed (办结) by the due time; null unless closed."
    )
    outcome: Outcome | None = Field(description="How it was closed; null until closed.")
    satisfaction: Satisfaction | None = Field(
        description="The last follow-up rating (回访); null until then."
    )
    merged_into: uuid.UUID | None = Field(
        description="The case this one was merged into (合并), if any."
    )
    extension_days_requested: int | None = Field(
        ge=1,
        description="Days of an extension request waiting for the owner (延期待审批); null "
        "when none waits.",
    )
    allowed_actions: list[CaseActionName] = Field(
        description="The steps the caller may take now, in table order."
    )


#: A case as a township coordinator sees it: accepted, assigned, the handling clock running
#: (the report's part is the Report example).
CASE_FIELDS_EXAMPLE: Final[dict[str, Any]] = {
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
CASE_CLOSED_FIELDS: Final[dict[str, Any]] = {
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


class Case(Report, CaseFields):
    """A case (案件): the report, as the caller may see it, with its case fields."""

    # The report's own examples lack the case fields; a case's are given per operation.
    examples: ClassVar[dict[str, tuple[str, Any]]] = {}


class QueueItemFields(AnswerModel):
    """What a work queue adds to each case."""

    repeat_place_reports: int = Field(
        ge=0,
        description="Reports from the same grid cell in the last 90 days, merged ones not "
        "counted (重复发生地), this one included: how busy the place is, not a duplicate "
        "suspicion.",
    )
    possible_duplicate: bool = Field(
        description="An earlier open report of the same category nearby may be the same "
        "dispute (疑似重复; see /cases/{report_id}/duplicates)."
    )


class QueueItem(Case, QueueItemFields):
    """A case in a work queue."""


class WorkQueue(AnswerModel):
    """One page of a work queue (待办队列)."""

    items: list[QueueItem]
    page: int = Field(ge=1)
    per_page: int = Field(ge=1, le=200)
    total: int = Field(ge=0, description="Cases matching the filters, over all pages.")


class EventActor(AnswerModel):
    """Who took a step."""

    id: int
    display_name: str | None
    role: Role | None


class CaseEvent(AnswerModel):
    """One step in a case's record (办理记录)."""

    model_config = ConfigDict(populate_by_name=True)

    id: int
    at: dt.datetime
    action: str = Field(
        description="A CaseActionName, or an entry of the record no one takes as a step: "
        "`merged_in` (a duplicate was merged into this case), `unmerged_out` (that merge "
        "undone).",
        examples=["accept"],
    )
    from_: CaseState = Field(alias="from", description="State before.")
    to: CaseState = Field(description="State after.")
    reason: str | None
    data: dict[str, Any] = Field(
        description="What the step recorded, e.g. `department`, `due_at`, `days`, `outcome`, "
        "`satisfaction`, `into`, `to_level`, `duplicate`, `automatic`."
    )
    actor: EventActor | None = Field(
        description="Who took the step; null for the system (the deadline sweep's automatic "
        "escalation)."
    )
    department_name: str | None = Field(
        description="The name of the department the step named (`data.department`), if any."
    )
    from_department_name: str | None = Field(
        description="The department the case left (退办, 改派), if any."
    )


COORDINATOR_ACTOR: Final = {"id": 42, "display_name": "日照街道信访专干", "role": "coordinator"}


class CaseEventList(AnswerModel):
    """A case's record."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "record": (
            "Accepted, then assigned",
            {
                "events": [
                    {
                        "id": 101,
                        "at": "2026-11-25T01:55:00+00:00",
                        "action": "accept",
                        "from": "reported",
                        "to": "accepted",
                        "reason": None,
                        "data": {},
                        "actor": COORDINATOR_ACTOR,
                        "department_name": None,
                        "from_department_name": None,
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
                        "department_name": "东港区司法局",
                        "from_department_name": None,
                    },
                ]
            },
        )
    }

    events: list[CaseEvent] = Field(description="Oldest first.")


class DuplicateCandidate(AnswerModel):
    """An earlier report that may describe the same dispute (疑似重复)."""

    id: uuid.UUID
    case_number: str = Field(description="案件编号, e.g. 东港-2026-000118.")
    title: str
    distance_m: float = Field(ge=0, description="Metres from this case, to 0.1 m.")
    score: float = Field(
        ge=0, le=1, description="Text similarity of title and description (pg_trgm), to 0.001."
    )
    status: CaseState
    severity: Severity
    reported_at: dt.datetime


class DuplicateCandidateList(AnswerModel):
    """The candidates, most similar first; empty when there are none."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
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
    }

    candidates: list[DuplicateCandidate]


# --- the operation's documentation -----------------------------------------------------------

#: What each step does and needs, for the action table (the moves and who may take it come
#: from workflow.TRANSITIONS; tests/unit/test_contract_cases.py checks every Action is here).
ACTION_EFFECTS: Final[dict[Action, str]] = {
    Action.ACCEPT: "Starts the handling clock (15 days by default); sets `accepted_on_time`.",
    Action.REJECT: "`reason` required; final.",
    Action.MERGE: "`into`: the case to keep — its id or its `case_number` — another open case "
    "the caller owns. This case is the duplicate: `merged_into` is set; the other case's "
    "record gets a `merged_in` event. Undone by `unmerge`.",
    Action.RESOLVE_ON_SITE: "`outcome` required.",
    Action.ASSIGN: "`department` required: code or id of a department of the case's county "
    "or of the city. Optional `due_at` (in the future) replaces the due time. Notifies the "
    "department's handlers.",
    Action.SIGN_FOR: "Nothing more.",
    Action.RETURN: "`reason` required (e.g. wrong department); the assignment ends.",
    Action.PROGRESS: "`reason` required: the progress note.",
    Action.REQUEST_EXTENSION: "`days` (1 to 30 minus the days already granted) and `reason` "
    "required; 409 while another request waits.",
    Action.APPROVE_EXTENSION: "Moves `due_at` by the requested days; 409 when none waits.",
    Action.DENY_EXTENSION: "`reason` required; 409 when no request waits.",
    Action.REQUEST_CLOSING: "`reason` required: the summary of what was done.",
    Action.APPROVE_CLOSING: "`outcome` required; sets `closed_on_time`.",
    Action.SEND_BACK: "`reason` required.",
    Action.ESCALATE: "`reason` required. Ownership moves up one level (township → county → "
    "city), the assignment ends and a new clock starts; 409 at city level.",
    Action.SUPERVISE: "`due_at` (in the future) and `reason` required: a supervision order.",
    Action.FOLLOW_UP: "`satisfaction` required; may be repeated, the last rating counts.",
    Action.UNMERGE: "Undoes a merge: the case goes back to the state, clock and due time it "
    "had before the merge (not unchanged: the table cannot say which); `merged_into` is "
    "cleared. Both cases' records keep the merge and show the undo (`unmerged_out` on the "
    "kept case).",
    Action.REASSIGN: "`department` (another one than now) and `reason` required. The new "
    "department must sign for it; the handling clock runs on. Notifies the new department's "
    "handlers.",
}


def _zh_label(action: Action) -> str:
    """The action's name as the Chinese pages show it (fieldapp.labels through the zh
    catalogue), without an app: the document is written by a command too."""
    from pathlib import Path

    from babel.support import Translations

    from fieldapp.labels import ACTION_LABELS

    catalogue = Translations.load(str(Path(__file__).parent.parent / "translations"), ["zh"])
    msgid = ACTION_LABELS[action.value]._args[0]
    return str(catalogue.gettext(msgid))


def action_table() -> str:
    """The transition table as Markdown: every action of fieldapp.workflow with its Chinese
    name, who may take it, its moves (state → new state) and what its body needs."""
    rows = [
        "| action | 中文 | who | state | body and effect |",
        "| --- | --- | --- | --- | --- |",
    ]
    for action in Action:
        moves: dict[State | None, list[str]] = {}
        who: list[str] = []
        for (state, step), (relations, target) in TRANSITIONS.items():
            if step is action:
                moves.setdefault(target, []).append(state.value)
                who += [r.value for r in Relation if r in relations and r.value not in who]
        states = "; ".join(
            f"{', '.join(sources)} → {target.value}"
            if target
            else f"{', '.join(sources)} (unchanged)"
            for target, sources in moves.items()
        )
        rows.append(
            f"| `{action.value}` | {_zh_label(action)} | {' or '.join(who)} | {states} "
            f"| {ACTION_EFFECTS[action]} |"
        )
    return "\n".join(rows)


CASE_PATH_PARAM: Final = (
    "The case's id: the id of the report it is (a case is a report in the workflow).",
    {"type": "string", "format": "uuid"},
)
ACTION_PATH_PARAM: Final = (
    "The step to take (办理操作); see the table in the operation's description. Any other "
    "name answers 404.",
    {"$ref": "#/components/schemas/CaseActionName"},
)
NOT_FOUND: Final = (
    "No such case, or not visible to the caller.",
    {
        "no_case": (
            "No such case, or not visible to the caller",
            error_answer("not_found", "No such report."),
        )
    },
)
ACTION_ERRORS: Final[dict[int, Any]] = {
    400: (
        "The body is not JSON or not an object, or a field is wrong or missing for the step "
        "(code `invalid_action`, `fields` names each; `version` included).",
        {
            "no_version": (
                "No version",
                error_answer(
                    "invalid_action",
                    "Check the fields.",
                    {"version": "Required: the case's current version number."},
                ),
            ),
            "no_reason": (
                "退办 without a reason",
                error_answer(
                    "invalid_action", "Check the fields.", {"reason": "Required for this step."}
                ),
            ),
            "bad_department": (
                "A department of another county",
                error_answer(
                    "invalid_action",
                    "Check the fields.",
                    {"department": "Not a department of this county or the city."},
                ),
            ),
            "bad_days": (
                "More extension days than are left",
                error_answer(
                    "invalid_action", "Check the fields.", {"days": "Between 1 and 30 days."}
                ),
            ),
            "bad_outcome": (
                "No outcome",
                error_answer(
                    "invalid_action",
                    "Check the fields.",
                    {"outcome": "One of: resolved, stabilised, escalated."},
                ),
            ),
        },
    ),
    403: (
        "The step exists in this state but is not the caller's to take (e.g. a coordinator "
        "signing for a department).",
        {
            "not_yours": (
                "Not the caller's step",
                error_answer("forbidden", "This step is not yours to take on this case."),
            )
        },
    ),
    404: (
        "No such case, not visible to the caller, or no such action.",
        {
            "no_case": NOT_FOUND[1]["no_case"],
            "unknown_action": (
                "An action that does not exist",
                error_answer(
                    "not_found",
                    "Unknown action. Possible actions: " + ", ".join(a.value for a in Action) + ".",
                ),
            ),
        },
    ),
    409: (
        "The step is not possible in the case's state (the message lists what the caller can "
        "do), the case changed since the caller's `version`, or the step conflicts with the "
        "case (an extension request already waiting or none to decide; escalation above the "
        "city).",
        {
            "illegal": (
                "受理 on a case already assigned (?lang=en)",
                error_answer(
                    "conflict",
                    "“Accept” is not possible while the case is “Assigned”. You can: Escalate.",
                ),
            ),
            "stale": (
                "Changed by someone else since it was loaded",
                error_answer(
                    "conflict",
                    "日照街道信访专干 changed this case after you opened it (Assign to a "
                    "department); it is now “Assigned”. What you typed is kept below: check "
                    "the case and send it again if it is still needed.",
                ),
            ),
            "extension_waiting": (
                "A second extension request",
                error_answer("conflict", "An extension request is already waiting for approval."),
            ),
            "city_level": (
                "上交 at city level",
                error_answer("conflict", "The case is already at city level; it cannot go higher."),
            ),
        },
    ),
}
QUEUE_ERRORS: Final[dict[int, Any]] = {
    400: (
        "A filter is malformed; `fields` names each.",
        {
            "bad_filters": (
                "Unknown view, closed state, per_page too large",
                error_answer(
                    "invalid_parameters",
                    "Check the filters.",
                    {
                        "view": "One of: mine, overdue.",
                        "status": "An open state.",
                        "per_page": "At most 200.",
                    },
                ),
            )
        },
    ),
    403: (
        "The caller's role has no queue (officers, administrators), or asked for the overdue "
        "list without being county or city staff.",
        {
            "no_queue": (
                "An officer",
                error_answer("forbidden", "There is no work queue for this role."),
            ),
            "no_overdue": (
                "A coordinator asking for view=overdue",
                error_answer("forbidden", "The overdue list is for county and city staff."),
            ),
        },
    ),
}

#: The description of POST /cases/{report_id}/actions/{action}; the action table follows.
ACTION_DESCRIPTION: Final = """\
Every step goes through one service: it checks how the caller stands to the case, the
transition table and the `version` the caller saw, applies the step, writes an append-only
event (see `/cases/{report_id}/events`) and the audit log, and raises the version by one.
Answers the case after the step.

Who may take a step is a relation to the case, not a bare role: **owner** — the staff who own
the case now: the township's coordinator (信访专干) while it is at township level, the county's
staff after escalation to the county, city staff at city level; **department** — a handler of
the department the case is assigned to; **supervisor** — city staff (督办); **reporter** — the
officer who filed it.

The checks, in order: unknown action → 404; the body → 400 naming every wrong field at once
(not JSON or not an object, `version` missing, a field the step needs missing, any field
malformed); the case not visible → 404; `version` different from the case's → 409 (someone
changed it: reload); the step not possible in the case's state → 409, whose message lists the
steps the caller can take; possible but not the caller's → 403; then what needs the case and
the database (the department, the case to merge into, the extension days left) → 400 with
`fields`. Two people acting at once: the second gets a 409 and nothing is lost.

Open states: reported 待受理, accepted 已受理, assigned 已交办, signed_for 已签收, in_progress
办理中, closing_requested 待审核; final: rejected 不予受理, merged 已合并, closed 已办结. The
transition table:

"""
