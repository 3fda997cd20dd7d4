"""What a person reads for a case's stored codes: its state, the workflow's actions (and the
other entries of a case's record), severity, outcome and the follow-up's satisfaction.
Defined once for the triage pages, the services' messages, the dashboards and the exports.
Lazy: each is translated where it is shown, in the reader's language (an export's under its
own, with force_locale in the worker)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from flask import Flask
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from fieldapp.domain import SEVERITIES, SEVERITY_COLOURS
from fieldapp.workflow import Action, State

STATE_LABELS: Final[dict[str, LazyString]] = {
    State.REPORTED.value: _l("Awaiting acceptance"),
    State.ACCEPTED.value: _l("Accepted"),
    State.REJECTED.value: _l("Rejected"),
    State.MERGED.value: _l("Merged"),
    State.ASSIGNED.value: _l("Assigned"),
    State.SIGNED_FOR.value: _l("Signed for"),
    State.IN_PROGRESS.value: _l("In progress"),
    State.CLOSING_REQUESTED.value: _l("Awaiting review"),
    State.CLOSED.value: _l("Closed"),
}
SEVERITY_LABELS: Final[dict[str, LazyString]] = {
    "red": _l("Red"),
    "orange": _l("Orange"),
    "yellow": _l("Yellow"),
}
SEVERITY_CHOICES: Final = LazyString(lambda: one_of(SEVERITY_LABELS, SEVERITIES))
"""A field's message when a severity is not one of the codes (in the API's order)."""
SEVERITY_ZH: Final[dict[str, str]] = {"red": "红色", "orange": "橙色", "yellow": "黄色"}
"""A level as the colour word of a Chinese sentence (新红色预警, 红色预警逾期): text that is
stored and sent in Chinese whatever the reader's language (the inbox's notices, the automatic
escalation's reason), so not a lazy label; the short badge words are SEVERITY_LABELS'."""
OUTCOME_LABELS: Final[dict[str, LazyString]] = {
    "resolved": _l("Resolved"),
    "stabilised": _l("Stabilised"),
    "escalated": _l("Escalated"),
}
SATISFACTION_LABELS: Final[dict[str, LazyString]] = {
    "satisfied": _l("Satisfied"),
    "basically_satisfied": _l("Basically satisfied"),
    "dissatisfied": _l("Dissatisfied"),
}
ACTION_LABELS: Final[dict[str, LazyString]] = {
    Action.ACCEPT.value: _l("Accept"),
    Action.REJECT.value: _l("Do not accept"),
    Action.MERGE.value: _l("Merge as duplicate"),
    Action.RESOLVE_ON_SITE.value: _l("Resolve on site"),
    Action.ASSIGN.value: _l("Assign to a department"),
    Action.SIGN_FOR.value: _l("Sign for"),
    Action.RETURN.value: _l("Return (wrong department)"),
    Action.PROGRESS.value: _l("Record progress"),
    Action.REQUEST_EXTENSION.value: _l("Request an extension"),
    Action.APPROVE_EXTENSION.value: _l("Approve the extension"),
    Action.DENY_EXTENSION.value: _l("Deny the extension"),
    Action.REQUEST_CLOSING.value: _l("Request closing"),
    Action.APPROVE_CLOSING.value: _l("Approve closing"),
    Action.SEND_BACK.value: _l("Send back for more work"),
    Action.ESCALATE.value: _l("Escalate one level"),
    Action.SUPERVISE.value: _l("Supervision order"),
    Action.FOLLOW_UP.value: _l("Follow-up visit"),
    Action.UNMERGE.value: _l("Undo the merge"),
    Action.REASSIGN.value: _l("Reassign to another department"),
    # Entries of a case's record that are not transitions of this case.
    "merged_in": _l("A duplicate was merged in"),
    "unmerged_out": _l("A merged duplicate was taken out again"),
    "key_case": _l("Made a key backlog case"),
    "key_case_cleared": _l("No longer a key backlog case"),
}
"""A step's button and its name in the case's record and in messages."""


def action_label(action: str) -> str:
    """The action's label in the reader's language (the code itself if unknown)."""
    return str(ACTION_LABELS.get(action, action))


def state_label(state: str) -> str:
    """The state's label in the reader's language (the code itself if unknown)."""
    return str(STATE_LABELS.get(state, state))


LIGHT_LABELS: Final[dict[str, LazyString]] = {
    "green": _l("On time"),
    "yellow": _l("Due soon"),
    "red": _l("Overdue"),
}
"""A case's warning light (fieldapp.deadlines.Light)."""
OWNER_LEVEL_LABELS: Final[dict[str, LazyString]] = {
    "township": _l("Township"),
    "county": _l("County"),
    "city": _l("City"),
}
"""The level that owns a case (workflow.ESCALATION_LEVELS)."""
AREA_LEVEL_LABELS: Final[dict[str, LazyString]] = {
    "city": _l("City"),
    "county": _l("County-level units"),
    "township": _l("Townships"),
    "village": _l("Villages and communities"),
    "cell": _l("Grid cells"),
}
"""The areas of a level, as a dashboard's list of the areas below names them."""

#: Account roles (the roster file's Chinese words are fieldapp.roster_file.ROLE_WORDS).
ROLE_LABELS: Final[dict[str, LazyString]] = {
    "officer": _l("Grid officer"),
    "coordinator": _l("Petition coordinator"),
    "county": _l("County staff"),
    "city": _l("City staff"),
    "department": _l("Department staff"),
    "admin": _l("Administrator"),
}


def one_of(table: Mapping[str, Any], codes: Iterable[str]) -> str:
    """A field's message when a value is not one of `codes`: "One of: red, orange, yellow." —
    each code (what the API takes) with its label from `table` where the reader's language
    names it otherwise: "可选值：red（红）, orange（橙）, yellow（黄）。"."""

    def item(code: str) -> str:
        name = str(table.get(code, code))
        if name.casefold() == code.replace("_", " ").casefold():
            return code
        return gettext("%(code)s (%(label)s)", code=code, label=name)

    return gettext("One of: %(values)s.", values=", ".join(item(code) for code in codes))


def label(table: Mapping[str, Any], key: str | None) -> str:
    """`key`'s label from `table` in the reader's language: the code itself if unknown, ""
    for None (a column with no value)."""
    if key is None:
        return ""
    return str(table.get(key, key))


def init_app(app: Flask) -> None:
    """The label look-ups, the severity order and colours for every page's templates, so no
    template or stylesheet spells out a severity list, colour or label table of its own."""
    app.jinja_env.globals.update(
        severities=SEVERITIES,
        severity_colours=SEVERITY_COLOURS,
        state_label=lambda key: label(STATE_LABELS, key),
        action_label=lambda key: label(ACTION_LABELS, key),
        severity_label=lambda key: label(SEVERITY_LABELS, key),
        outcome_label=lambda key: label(OUTCOME_LABELS, key),
        satisfaction_label=lambda key: label(SATISFACTION_LABELS, key),
        light_label=lambda key: label(LIGHT_LABELS, key),
        level_label=lambda key: label(OWNER_LEVEL_LABELS, key),
    )
