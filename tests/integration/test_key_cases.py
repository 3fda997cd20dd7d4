"""Key backlog cases (重点积案): who may flag them, every write audited and in the case record,
and the campaign view ("N assigned, M% resolved", overdue past the target date)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ
from fieldapp.models import AuditEvent, CaseEvent, Report
from tests.integration.test_cases_api import act, file
from tests.support import auth

pytestmark = pytest.mark.usefixtures("people")

TARGET = (datetime.now(CHINA_TZ).date() + timedelta(days=30)).isoformat()


def put_key(client: FlaskClient, people: dict, who: str, case_id: str, **body: Any) -> Any:
    payload = {"leader": "王某某（副区长）", "target_date": TARGET, **body}
    return client.put(f"/api/v1/cases/{case_id}/key", json=payload, headers=auth(people, who))


def test_flag_and_unflag_with_audit_and_case_record(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    case = file(client, people)
    r = put_key(client, people, "coord_1", case["id"])
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {
        "id": case["id"],
        "is_key_case": True,
        "leader": "王某某（副区长）",
        "target_date": TARGET,
        "status": "reported",
    }
    # County and city staff may change it too; the case's version does not move.
    assert put_key(client, people, "county", case["id"], leader="李某").status_code == 200
    assert put_key(client, people, "city", case["id"], leader="张某").status_code == 200
    got = client.get(f"/api/v1/cases/{case['id']}", headers=auth(people, "coord_1")).get_json()
    assert got["version"] == case["version"]
    cleared = client.delete(f"/api/v1/cases/{case['id']}/key", headers=auth(people, "coord_1"))
    assert cleared.status_code == 200 and cleared.get_json()["is_key_case"] is False
    again = client.delete(f"/api/v1/cases/{case['id']}/key", headers=auth(people, "coord_1"))
    assert again.status_code == 409

    audits = db_session.execute(
        select(AuditEvent.action).where(AuditEvent.object_id == case["id"]).order_by(AuditEvent.id)
    ).scalars()
    assert [a for a in audits if a.startswith("case.key")] == [
        "case.key_case",
        "case.key_case",
        "case.key_case",
        "case.key_case_cleared",
    ]
    events = client.get(f"/api/v1/cases/{case['id']}/events", headers=auth(people, "city"))
    actions = [e["action"] for e in events.get_json()["events"]]
    assert actions.count("key_case") == 3 and actions[-1] == "key_case_cleared"
    last = db_session.execute(
        select(CaseEvent.data).where(CaseEvent.action == "key_case_cleared")
    ).scalar_one()
    assert last["before"]["leader"] == "张某" and last["after"]["is_key_case"] is False


def test_who_may_flag(client: FlaskClient, people: dict) -> None:
    case = file(client, people)  # in township 991101001
    assert put_key(client, people, "coord_2", case["id"]).status_code == 404  # not visible
    assert put_key(client, people, "officer_a", case["id"]).status_code == 403
    assert client.put(f"/api/v1/cases/{case['id']}/key", json={}).status_code == 401
    assert put_key(client, people, "coord_1", "not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"leader": ""}, "leader"),
        ({"leader": "x" * 51}, "leader"),
        ({"target_date": "next week"}, "target_date"),
        ({"target_date": "2001-01-01"}, "target_date"),
    ],
)
def test_bad_key_case_input_is_400_with_the_field(
    client: FlaskClient, people: dict, body: dict[str, Any], field: str
) -> None:
    case = file(client, people)
    r = put_key(client, people, "coord_1", case["id"], **body)
    assert r.status_code == 400 and field in r.get_json()["error"]["fields"]
    r = client.put(f"/api/v1/cases/{case['id']}/key", data="nope", headers=auth(people, "coord_1"))
    assert r.status_code == 400


def test_a_merged_report_cannot_be_a_key_case(client: FlaskClient, people: dict) -> None:
    main, duplicate = file(client, people), file(client, people)
    act(client, people, "coord_1", duplicate, "merge", into=main["id"])
    assert put_key(client, people, "coord_1", duplicate["id"]).status_code == 409


def test_the_campaign_view(client: FlaskClient, people: dict, db_session: Session) -> None:
    resolved, late, fresh = (file(client, people) for _ in range(3))
    for case in (resolved, late, fresh):
        assert put_key(client, people, "coord_1", case["id"]).status_code == 200
    act(client, people, "coord_1", resolved, "resolve_on_site", outcome="resolved")
    # The target date of one passes (set directly: the API refuses dates in the past).
    yesterday = datetime.now(CHINA_TZ).date() - timedelta(days=3)
    db_session.execute(
        update(Report).where(Report.id == late["id"]).values(key_target_date=yesterday)
    )
    db_session.flush()

    body = client.get("/api/v1/campaign", headers=auth(people, "coord_1")).get_json()
    assert body["within"]["code"] == "991101001"
    # 3 assigned, 1 resolved (33%), 1 overdue, 2 open.
    assert body["summary"] == {
        "assigned": 3,
        "resolved": 1,
        "resolved_rate": 0.3333,
        "closed": 1,
        "open": 2,
        "overdue": 1,
    }
    assert [a["code"] for a in body["areas"]] == ["991101001"]
    by_id = {c["id"]: c for c in body["cases"]}
    assert by_id[late["id"]]["overdue"] is True and by_id[late["id"]]["days_overdue"] == 3
    assert by_id[resolved["id"]]["resolved"] is True and by_id[resolved["id"]]["overdue"] is False
    assert body["cases"][0]["id"] == late["id"]  # earliest target first

    county = client.get("/api/v1/campaign", headers=auth(people, "county")).get_json()
    townships = {a["code"]: a for a in county["areas"]}
    assert townships["991101001"]["assigned"] == 3 and townships["991101002"]["assigned"] == 0
    city = client.get("/api/v1/campaign", headers=auth(people, "city")).get_json()
    assert city["within"] is None and {a["level"] for a in city["areas"]} == {"county"}
    # The other township's coordinator sees none of them.
    other = client.get("/api/v1/campaign", headers=auth(people, "coord_2")).get_json()
    assert other["summary"]["assigned"] == 0
    bad = client.get("/api/v1/campaign?within=991101001001001", headers=auth(people, "city"))
    assert bad.status_code == 400 and "within" in bad.get_json()["error"]["fields"]
    assert isinstance(date.fromisoformat(body["as_of"]), date)
