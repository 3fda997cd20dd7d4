"""The case operations' contract (#18): the body of a step is checked for what the step needs
(fieldapp.contract.cases.NEEDS, from fieldapp.workflow), every wrong field named at once, and
the document's action table is the transition table. No database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from pydantic import ValidationError

import fieldapp
from fieldapp.contract.base import field_errors
from fieldapp.contract.cases import (
    ACTION_EFFECTS,
    NEEDS,
    Case,
    CaseAction,
    action_table,
)
from fieldapp.contract.reports import REPORT_EXAMPLE
from fieldapp.i18n import init_babel
from fieldapp.workflow import REQUIRES_OUTCOME, REQUIRES_REASON, TRANSITIONS, Action

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
PACKAGE = Path(fieldapp.__file__).parent


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    app = Flask("fieldapp", root_path=str(PACKAGE))
    app.config.update(LANGUAGES=["zh", "en"], BABEL_DEFAULT_LOCALE="zh")
    init_babel(app)
    with app.test_request_context("/?lang=en"):
        yield


def _errors(action: Action, body: dict[str, Any]) -> dict[str, str]:
    try:
        CaseAction.model_validate_json(json.dumps(body), context={"now": NOW, "action": action})
    except ValidationError as exc:
        return field_errors(exc, CaseAction.field_messages)
    return {}


@pytest.mark.parametrize("action", list(Action))
def test_each_step_names_exactly_the_fields_it_needs(action: Action) -> None:
    needed = {field for field, actions in NEEDS.items() if action in actions}
    assert set(_errors(action, {})) == {"version", *needed}
    assert set(_errors(action, {"version": 3})) == needed


def test_the_needs_come_from_the_workflow() -> None:
    assert NEEDS["reason"] >= REQUIRES_REASON
    assert NEEDS["outcome"] == REQUIRES_OUTCOME


def test_a_complete_step_is_typed() -> None:
    body = CaseAction.model_validate_json(
        json.dumps({"version": 2, "department": " 371102-D03 ", "due_at": "2026-12-10T18:00"}),
        context={"now": NOW, "action": Action.ASSIGN},
    )
    assert body.department == "371102-D03"
    # Without an offset: China time, kept as UTC.
    assert body.due_at == datetime(2026, 12, 10, 10, 0, tzinfo=UTC)


def test_every_wrong_field_is_named_at_once_with_its_message() -> None:
    errors = _errors(
        Action.SUPERVISE,
        {
            "version": True,
            "reason": "  ",
            "due_at": "2026-11-24T08:00:00+08:00",
            "department": False,
            "days": 0,
            "outcome": "done",
            "colour": "red",
        },
    )
    assert errors == {
        "version": "Required: the case's current version number.",
        "reason": "Required for this step.",
        "due_at": "Must be in the future.",
        "department": "Required: a department.",
        "days": "At least 1.",
        "outcome": "One of: resolved, stabilised, escalated.",
        "colour": "Unknown field; remove it.",
    }


def test_reason_is_limited_and_nul_refused() -> None:
    assert set(_errors(Action.REJECT, {"version": 1, "reason": "x" * 2001})) == {"reason"}
    assert set(_errors(Action.REJECT, {"version": 1, "reason": "a\x00b"})) == {"reason"}
    assert _errors(Action.REJECT, {"version": 1, "reason": "x" * 2000}) == {}


def test_the_action_table_is_the_transition_table() -> None:
    assert set(ACTION_EFFECTS) == set(Action)
    rows = action_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == [a.value for a in Action]
    for action in Action:
        row = next(r for r in rows if r.startswith(f"| `{action.value}` |"))
        for state, step in TRANSITIONS:
            if step is action:
                assert state.value in row.split("|")[4], (action, state)


def test_a_case_answer_checks_the_case_fields() -> None:
    fields = {
        "owner_level": "township",
        "department_id": None,
        "step": "acceptance",
        "due_at": None,
        "light": "green",
        "seconds_left": None,
        "accepted_on_time": None,
        "closed_at": None,
        "closed_on_time": None,
        "outcome": None,
        "satisfaction": None,
        "merged_into": None,
        "extension_days_requested": None,
        "allowed_actions": ["accept"],
    }
    case = {**REPORT_EXAMPLE, **fields}
    Case.model_validate_json(json.dumps(case))
    with pytest.raises(ValidationError):
        Case.model_validate_json(json.dumps(fields))  # the report's own fields are checked too
    with pytest.raises(ValidationError):
        Case.model_validate_json(json.dumps({**case, "allowed_actions": ["fly"]}))
    with pytest.raises(ValidationError):
        Case.model_validate_json(json.dumps({**case, "owner_level": "province"}))
