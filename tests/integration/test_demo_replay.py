"""The demo history's cases are the app's cases: every kind of generated case history is
replayed through the app's own code — intake (`services.reports.file_report`), each step
(`services.cases.act`, which decides with `workflow.TRANSITIONS`) and the sweep's automatic
escalation (`services.sweep`) — on a twin of the generated report, and the twin must end with
the same case columns and the same record of events as the generator wrote with COPY.

This is the proof that the generator's vectorised replay (`fieldapp.demo.cases._Replay`) and
the app's transitions agree, effect for effect; `tests/unit/test_history_plan.py` checks
every planned path against the state machine without a database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldapp.contract.reports import ReportInput, body_hash
from fieldapp.deadlines import DeadlinePolicy
from fieldapp.demo import history as H
from fieldapp.models import Report, User
from fieldapp.services import cases, reports, sweep
from fieldapp.workflow import OPEN_STATES, Action, State

pytestmark = pytest.mark.usefixtures("small_city_loaded")

NOW = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
END = date(2026, 10, 31)
POLICY = DeadlinePolicy()
# The case columns a step may change (notified_light is the sweep's, at the end of the period).
CASE_COLUMNS = (
    "status",
    "owner_level",
    "owner_area_id",
    "department_id",
    "step",
    "step_started_at",
    "due_at",
    "accepted_at",
    "accepted_on_time",
    "closed_at",
    "closed_on_time",
    "outcome",
    "satisfaction",
    "extension_days_requested",
    "extension_days_granted",
    "merged_into_id",
    "version",
)
# Entries of a case's record that are not its own steps (a duplicate merged into it, the key
# backlog flag of the loader): not replayed, and not compared.
NOT_STEPS = ("merged_in", "key_case")


@pytest.fixture
def loaded(db_session: Session, people: dict[str, dict[str, object]]) -> Session:
    db_session.execute(text("DELETE FROM reports"))
    db_session.execute(text("DELETE FROM checkins"))
    H.load_history(
        db_session,
        reports=1_500,
        days=60,
        seed=7,
        end_date=END,
        now=NOW,
        checkins=False,
        policy=POLICY,
        progress=lambda _line: None,
    )
    return db_session


def _events(session: Session, report_id: uuid.UUID) -> list[Any]:
    return list(
        session.execute(
            text(
                "SELECT at, action, from_status, to_status, actor_id, reason, data "
                "FROM case_events WHERE report_id = :id AND action <> ALL(:skip) "
                "ORDER BY at, id"
            ),
            {"id": report_id, "skip": list(NOT_STEPS)},
        ).all()
    )


def _one_per_path(session: Session) -> list[Report]:
    """One generated report per distinct sequence of steps (the paths the generator takes),
    key backlog cases left out (the loader flags them after the replay)."""
    rows = session.execute(
        text(
            "SELECT r.id, string_agg(e.action, ' ' ORDER BY e.at, e.id) AS path "
            "FROM reports r LEFT JOIN case_events e "
            "  ON e.report_id = r.id AND e.action <> ALL(:skip) "
            "WHERE NOT r.is_key_case GROUP BY r.id ORDER BY r.reported_at, r.id"
        ),
        {"skip": list(NOT_STEPS)},
    ).all()
    chosen: dict[str, uuid.UUID] = {}
    for report_id, path in rows:
        chosen.setdefault(path or "", report_id)
    return [r for r in (session.get(Report, i) for i in chosen.values()) if r is not None]


def _body(original: Report, event: Any, version: int) -> dict[str, Any]:
    action, data = Action(event.action), event.data or {}
    body: dict[str, Any] = {"version": version}
    if event.reason is not None:
        body["reason"] = event.reason
    if action is Action.ASSIGN:
        body["department"] = data["department"]
    elif action is Action.REQUEST_EXTENSION:
        body["days"] = data["days"]
    elif action in (Action.RESOLVE_ON_SITE, Action.APPROVE_CLOSING):
        body["outcome"] = data["outcome"]
    elif action is Action.FOLLOW_UP:
        body["satisfaction"] = data["satisfaction"]
    elif action is Action.MERGE:
        body["into"] = str(original.merged_into_id)
    return body


def _file_twin(session: Session, original: Report) -> uuid.UUID:
    """The same report filed again through intake, at the moment the original was received."""
    officer = session.get(User, original.officer_id)
    assert officer is not None
    twin = uuid.uuid4()
    body = {
        "id": str(twin),
        "lon": original.input_lon,
        "lat": original.input_lat,
        "occurred_at": original.occurred_at.isoformat(),
        "category": original.category,
        "severity": original.severity,
        "people_involved": original.people_involved,
        "title": original.title,
        "description": original.description,
    }
    reports.file_report(
        session,
        officer,
        ReportInput.model_validate_json(json.dumps(body), context={"now": original.reported_at}),
        body_hash=body_hash(body),
        now=original.reported_at,
        policy=POLICY,
    )
    return twin


def test_every_generated_path_is_what_the_app_does(app: Flask, loaded: Session) -> None:
    with app.app_context():
        _replay_every_path(loaded)


def _replay_every_path(session: Session) -> None:
    originals = _one_per_path(session)
    paths = {tuple(e.action for e in _events(session, r.id)) for r in originals}
    # The generator's kinds of case: on-site, rejected, merged, returned, extended, escalated
    # by hand and by the sweep, sent back, followed up, and still open at the end.
    taken = {a for path in paths for a in path}
    assert {a.value for a in (Action.ACCEPT, Action.ASSIGN, Action.SIGN_FOR)} <= taken
    assert {"resolve_on_site", "reject", "return", "escalate", "follow_up"} <= taken
    assert {"request_extension", "approve_extension", "send_back", "merge"} <= taken
    assert len(paths) >= 20

    replayed = 0
    for original in originals:
        events = _events(session, original.id)
        if any(e.action == Action.MERGE for e in events):
            target = session.get(Report, original.merged_into_id)
            # The app merges only into an open case; the target is read as it is at the end.
            if target is None or State(target.status) not in OPEN_STATES:
                continue
        twin_id = _file_twin(session, original)
        for event in events:
            twin = session.get(Report, twin_id, populate_existing=True)
            assert twin is not None
            if event.actor_id is None:  # the sweep's automatic escalation of an overdue red
                assert event.action == Action.ESCALATE and event.data.get("automatic")
                assert sweep._escalate(session, twin_id, event.at, POLICY) == 1
                continue
            actor = session.get(User, event.actor_id)
            assert actor is not None
            cases.act(
                session,
                actor,
                twin_id,
                event.action,
                _body(original, event, twin.version),
                now=event.at,
                policy=POLICY,
            )
        twin = session.get(Report, twin_id, populate_existing=True)
        assert twin is not None
        got = {c: getattr(twin, c) for c in CASE_COLUMNS}
        want = {c: getattr(original, c) for c in CASE_COLUMNS}
        assert got == want, (original.id, [e.action for e in events])
        twin_events = _events(session, twin_id)
        assert [e[:6] for e in twin_events] == [e[:6] for e in events], original.id
        for mine, theirs in zip(twin_events, events, strict=True):
            # The generator writes what the services write; the services may add more
            # (e.g. the merge's undo information).
            assert (theirs.data or {}).items() <= (mine.data or {}).items(), (
                original.id,
                theirs.action,
            )
        replayed += 1
    assert replayed >= 20
