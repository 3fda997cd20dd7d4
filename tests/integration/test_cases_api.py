"""The case workflow through the API against PostGIS: the closed loop, illegal steps,
scope, optimistic concurrency, merge, extension, escalation, supervision, the queue and the
deadline sweep."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from fieldapp.deadlines import DeadlinePolicy
from fieldapp.models import CaseEvent, Notification, Report, SupervisionOrder
from fieldapp.services import sweep
from tests.support import auth, cell_centre
from tests.support import file_via_api as file

pytestmark = pytest.mark.usefixtures("people")


def act(
    client: FlaskClient,
    people: dict,
    who: str,
    case: dict[str, Any],
    action: str,
    expect: int = 200,
    **body: Any,
) -> dict[str, Any]:
    current = client.get(f"/api/v1/cases/{case['id']}", headers=auth(people, who))
    version = current.get_json()["version"] if current.status_code == 200 else case["version"]
    r = client.post(
        f"/api/v1/cases/{case['id']}/actions/{action}",
        json={"version": version, **body},
        headers=auth(people, who),
    )
    assert r.status_code == expect, r.get_json()
    return dict(r.get_json())


def test_the_closed_loop_with_its_timeline(client: FlaskClient, people: dict) -> None:
    case = file(client, people)
    first = client.get(f"/api/v1/cases/{case['id']}", headers=auth(people, "coord_1")).get_json()
    assert first["step"] == "acceptance" and first["light"] == "green"
    assert set(first["allowed_actions"]) >= {"accept", "reject", "merge", "escalate"}
    act(client, people, "coord_1", case, "accept")
    assigned = act(client, people, "coord_1", case, "assign", department="991101-D01")
    assert assigned["status"] == "assigned" and assigned["step"] == "handling"
    act(client, people, "dept", case, "sign_for")
    act(client, people, "dept", case, "progress", reason="已约谈双方")
    act(client, people, "dept", case, "request_closing", reason="双方达成调解协议")
    closed = act(client, people, "coord_1", case, "approve_closing", outcome="resolved")
    assert closed["status"] == "closed" and closed["outcome"] == "resolved"
    assert closed["closed_on_time"] is True and closed["light"] is None
    visited = act(client, people, "officer_a", case, "follow_up", satisfaction="satisfied")
    assert visited["satisfaction"] == "satisfied"
    events = client.get(
        f"/api/v1/cases/{case['id']}/events", headers=auth(people, "coord_1")
    ).get_json()["events"]
    assert [e["action"] for e in events] == [
        "accept",
        "assign",
        "sign_for",
        "progress",
        "request_closing",
        "approve_closing",
        "follow_up",
    ]
    assert events[0]["from"] == "reported" and events[-2]["to"] == "closed"
    assert events[3]["reason"] == "已约谈双方" and events[1]["actor"]["role"] == "coordinator"


def test_illegal_and_foreign_steps_are_refused_with_what_is_allowed(
    client: FlaskClient, people: dict
) -> None:
    case = file(client, people)
    r = act(client, people, "coord_1", case, "approve_closing", expect=409, outcome="resolved")
    assert "受理" in r["error"]["message"]  # says what is possible instead
    act(client, people, "coord_2", case, "accept", expect=404)  # another township: not visible
    act(client, people, "dept", case, "sign_for", expect=404)  # not assigned to them
    act(client, people, "city", case, "accept", expect=403)  # visible, but not the owner
    act(client, people, "coord_1", case, "fly", expect=404)
    r = act(client, people, "coord_1", case, "reject", expect=400)
    assert "reason" in r["error"]["fields"]


def test_two_coordinators_at_once_one_wins_the_other_gets_a_conflict(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    case = file(client, people)
    version = case["version"]
    headers = auth(people, "coord_1")
    url = f"/api/v1/cases/{case['id']}/actions"
    first = client.post(f"{url}/accept", json={"version": version}, headers=headers)
    second = client.post(
        f"{url}/reject", json={"version": version, "reason": "不属实"}, headers=headers
    )
    assert first.status_code == 200 and second.status_code == 409
    # The same user both times (a double submit): the message says so.
    assert "您本人刚刚已修改过此案件（受理）" in second.get_json()["error"]["message"]
    stored = db_session.get(Report, uuid.UUID(case["id"]))
    assert stored is not None and stored.status == "accepted" and stored.version == version + 1
    assert (
        db_session.execute(
            select(func.count()).where(CaseEvent.report_id == stored.id)
        ).scalar_one()
        == 1
    )


def test_merge_keeps_everything_and_counts_once(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    main = file(client, people, title="工地欠薪 工人讨薪", category="wages_labour")
    lon, lat = cell_centre(0, 0)
    dup = file(
        client,
        people,
        title="工地欠薪 工人聚集讨薪",
        category="wages_labour",
        lon=lon + 0.0005,
        lat=lat,
    )
    candidates = client.get(
        f"/api/v1/cases/{dup['id']}/duplicates", headers=auth(people, "coord_1")
    ).get_json()["candidates"]
    assert main["id"] in [c["id"] for c in candidates]
    assert all(c["distance_m"] <= 300 for c in candidates)
    before = client.get(f"/api/v1/cases/{dup['id']}", headers=auth(people, "coord_1")).get_json()
    merged = act(client, people, "coord_1", dup, "merge", into=main["id"])
    assert merged["status"] == "merged" and merged["merged_into"] == main["id"]
    main_events = client.get(
        f"/api/v1/cases/{main['id']}/events", headers=auth(people, "coord_1")
    ).get_json()["events"]
    assert main_events[-1]["action"] == "merged_in"
    assert main_events[-1]["data"]["duplicate"] == dup["id"]
    # The duplicate still exists with its reporter and record; figures skip it.
    stored = db_session.get(Report, uuid.UUID(dup["id"]))
    assert stored is not None and stored.officer_id == people["officer_a"]["id"]
    open_figure = db_session.execute(
        select(func.count()).where(
            Report.id.in_([uuid.UUID(main["id"]), uuid.UUID(dup["id"])]), Report.status != "merged"
        )
    ).scalar_one()
    assert open_figure == 1
    act(client, people, "coord_1", main, "merge", expect=400, into=main["id"])
    # Undone through the API: back to 待受理 with its acceptance clock, both records kept.
    act(client, people, "city", dup, "unmerge", expect=403)
    back = act(client, people, "coord_1", dup, "unmerge")
    assert back["status"] == "reported" and back["merged_into"] is None
    assert back["due_at"] == before["due_at"] and back["step"] == "acceptance"
    events = client.get(
        f"/api/v1/cases/{dup['id']}/events", headers=auth(people, "coord_1")
    ).get_json()["events"]
    assert [(e["action"], e["from"], e["to"]) for e in events][-2:] == [
        ("merge", "reported", "merged"),
        ("unmerge", "merged", "reported"),
    ]
    act(client, people, "coord_1", dup, "unmerge", expect=409)  # nothing left to undo
    # A merge recorded without its clock (as the demo history writes them) gets a new one.
    act(client, people, "coord_1", dup, "merge", into=main["id"])
    db_session.execute(
        update(CaseEvent)
        .where(CaseEvent.report_id == uuid.UUID(dup["id"]), CaseEvent.action == "merge")
        .values(data={"into": main["id"]})
    )
    again = act(client, people, "coord_1", dup, "unmerge")
    assert again["status"] == "reported" and again["due_at"] is not None


def test_extension_escalation_and_supervision(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    case = file(client, people, severity="red")
    act(client, people, "coord_1", case, "accept")
    assigned = act(client, people, "coord_1", case, "assign", department="991101-D01")
    act(client, people, "dept", case, "sign_for")
    act(client, people, "dept", case, "request_extension", expect=400, reason="需要鉴定", days=90)
    act(client, people, "dept", case, "request_extension", reason="需要鉴定", days=10)
    extended = act(client, people, "coord_1", case, "approve_extension")
    old_due = datetime.fromisoformat(assigned["due_at"])
    assert datetime.fromisoformat(extended["due_at"]) == old_due + timedelta(days=10)
    supervised = act(
        client,
        people,
        "city",
        case,
        "supervise",
        reason="请加快办理",
        due_at=(datetime.now(UTC) + timedelta(days=3)).isoformat(),
    )
    assert supervised["status"] == "signed_for"
    assert (
        db_session.execute(
            select(func.count()).where(SupervisionOrder.report_id == uuid.UUID(case["id"]))
        ).scalar_one()
        == 1
    )
    escalated = act(client, people, "coord_1", case, "escalate", reason="涉及多个部门")
    assert escalated["owner_level"] == "county" and escalated["status"] == "accepted"
    assert escalated["department_id"] is None
    # Ownership moved: the township coordinator can no longer act, county staff can.
    act(client, people, "coord_1", case, "assign", expect=403, department="991101-D01")
    act(client, people, "county", case, "assign", department="991101-D02")
    queue = client.get("/api/v1/queue", headers=auth(people, "dept_other")).get_json()
    assert case["id"] in [item["id"] for item in queue["items"]]


def test_triage_queue_is_sorted_by_priority(client: FlaskClient, people: dict) -> None:
    yellow = file(client, people, severity="yellow")
    red = file(client, people, severity="red")
    orange = file(client, people, severity="orange", people_involved=9)
    body = client.get("/api/v1/queue?per_page=200", headers=auth(people, "coord_1")).get_json()
    ids = [item["id"] for item in body["items"]]
    assert ids.index(red["id"]) < ids.index(orange["id"]) < ids.index(yellow["id"])
    item = body["items"][ids.index(red["id"])]
    assert item["light"] == "green" and item["repeat_place_reports"] >= 3
    assert client.get("/api/v1/queue", headers=auth(people, "officer_a")).status_code == 403
    assert (
        client.get("/api/v1/queue?view=overdue", headers=auth(people, "coord_1")).status_code == 403
    )


def test_the_sweep_warns_once_and_escalates_overdue_red_cases(
    client: FlaskClient, people: dict, db_session: Session, app: Flask
) -> None:
    red = file(client, people, severity="red")
    orange = file(client, people, severity="orange")
    policy = DeadlinePolicy()
    t0 = datetime.now(UTC)
    with app.app_context():
        # 1 h 30 min in: the red case (2 h) passed 2/3 → yellow; the orange (24 h) did not.
        first = sweep.sweep(db_session, now=t0 + timedelta(minutes=90), policy=policy)
        again = sweep.sweep(db_session, now=t0 + timedelta(minutes=91), policy=policy)
        assert (again.turned_yellow, again.turned_red, again.notified) == (0, 0, 0)
        assert first.turned_yellow >= 1
        # 3 h in: the red case is overdue → red, and escalated to the county.
        late = sweep.sweep(db_session, now=t0 + timedelta(hours=3), policy=policy)
        assert late.turned_red >= 1 and late.escalated >= 1
        assert sweep.sweep(
            db_session, now=t0 + timedelta(hours=3, minutes=1), policy=policy
        ).as_dict() == {"turned_yellow": 0, "turned_red": 0, "notified": 0, "escalated": 0}
    red_case = db_session.get(Report, uuid.UUID(red["id"]))
    orange_case = db_session.get(Report, uuid.UUID(orange["id"]))
    assert red_case is not None and orange_case is not None
    db_session.refresh(red_case)
    db_session.refresh(orange_case)
    assert red_case.owner_level == "county" and orange_case.owner_level == "township"
    warnings = (
        db_session.execute(
            select(Notification.kind).where(Notification.subject_id.like(f"{red['id']}:%"))
        )
        .scalars()
        .all()
    )
    assert sorted(set(warnings)) == ["case.escalate", "light.red", "light.yellow"]
    texts = db_session.execute(
        select(Notification.text).where(Notification.subject_id.like(f"{red['id']}:%"))
    ).scalars()
    assert all(red["case_number"] in t for t in texts)  # said by its number
    events = (
        db_session.execute(select(CaseEvent).where(CaseEvent.report_id == red_case.id))
        .scalars()
        .all()
    )
    assert events[-1].action == "escalate" and events[-1].actor_id is None


def test_sweep_touches_only_changed_cases(
    db_session: Session, app: Flask, client: FlaskClient, people: dict
) -> None:
    file(client, people, severity="yellow")
    far = datetime.now(UTC) + timedelta(days=365)
    with app.app_context():
        sweep.sweep(db_session, now=far, policy=DeadlinePolicy(escalate_overdue_red=False))
        # Nothing is left to change: every open case is already red.
        second = sweep.sweep(db_session, now=far, policy=DeadlinePolicy(escalate_overdue_red=False))
    assert (second.turned_red, second.turned_yellow) == (0, 0)
