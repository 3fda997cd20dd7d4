"""Issue #14, the city/county and officer part, through the Flask test client on PostGIS:
the header lists exactly each role's pages (and they answer; the others refuse), the
favicon, the officer's own report page API, 涉及人数 ≥ 1, today's check-in from the server,
silent officers (service, page, daily notification), and exports named after their filters."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldapp import navigation
from fieldapp.domain import CHINA_TZ
from fieldapp.models import Checkin, Notification, User
from fieldapp.services import export_sources, silent
from fieldapp.services.errors import InvalidInput
from tests.integration.test_cases_api import act, file
from tests.integration.test_triage_pages import login
from tests.support import auth, cell_centre, report_fields

pytestmark = pytest.mark.usefixtures("people")

ROLE_USERS = {
    "officer": "t_officer_a",
    "coordinator": "t_coord_1",
    "county": "t_county",
    "city": "t_city",
    "department": "t_dept",
}


def _header(html: str) -> str:
    match = re.search(r'<header class="topbar">(.*?)</header>', html, re.S)
    assert match, html[:500]
    return match.group(1)


def _nav_links(header: str) -> dict[str, str]:
    """{nav key: href} of the header's page links."""
    return dict(
        (key, href) for href, key in re.findall(r'<a href="([^"]+)" id="nav-([a-z]+)"', header)
    )


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_the_header_lists_exactly_the_pages_of_the_role_and_they_answer(
    client: FlaskClient, app: Flask, role: str
) -> None:
    login(client, ROLE_USERS[role])
    html = client.get("/triage/inbox").get_data(as_text=True)  # a page every role may open
    header = _header(html)
    links = _nav_links(header)
    with app.test_request_context():
        expected = {e.key for e in navigation.entries_for(role, set(app.view_functions))}
        urls = {e.key: navigation.url_for(e.endpoint) for e in navigation.NAV}
    assert set(links) == expected and expected, (role, links)
    # Chinese by default: no English word in the header but the switch to English itself.
    # (The user's own name is data, not a label: left out.)
    labels = re.sub(r'<span class="me".*?</span>', " ", header, flags=re.S)
    words = re.findall(r"[A-Za-z]{2,}", re.sub(r"<[^>]+>", " ", labels))
    assert words == ["English"], words
    for key, href in links.items():
        r = client.get(href)
        assert r.status_code == 200, (role, key, r.status_code)
    for key, url in urls.items():
        if key in links or key == "field":  # /field/ is a public shell; its API refuses
            continue
        r = client.get(url)
        assert r.status_code in (302, 403), (role, key, r.status_code)
    # English on request, with the same pages; the language link keeps the page's arguments.
    english = _header(client.get("/triage/inbox?lang=en&x=1").get_data(as_text=True))
    assert set(_nav_links(english)) == expected
    assert "中文" in english and "x=1" in english and "Sign out" in english


def test_sign_out_and_language_switch_are_in_the_header(client: FlaskClient) -> None:
    login(client, "t_city")
    header = _header(client.get("/dashboard?period=2024-05").get_data(as_text=True))
    assert 'id="sign-out"' in header and "退出" in header
    assert "period=2024-05" in header and "lang=en" in header  # same page, in English
    assert 'aria-current="page"' in header  # the page one is on is marked
    page_html = client.get("/dashboard").get_data(as_text=True)
    assert 'id="silent-link"' in page_html and "/triage/silent" in page_html


def test_favicon_is_served_and_linked(client: FlaskClient) -> None:
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data[:4] == b"\x89PNG"
    assert 'rel="icon"' in client.get("/login").get_data(as_text=True)


# --- the officer ------------------------------------------------------------------------------


def test_the_officer_sees_the_progress_of_their_own_report_only(
    client: FlaskClient, people: dict
) -> None:
    case = file(client, people)
    act(client, people, "coord_1", case, "accept")
    act(client, people, "coord_1", case, "assign", department="991101-D01")
    url = f"/api/v1/reports/{case['id']}/progress"
    r = client.get(url, headers=auth(people, "officer_a"))
    assert r.status_code == 200, r.get_json()
    data = r.get_json()
    assert data["status"] == "assigned" and data["status_label"] == "已交办"
    assert data["handled_by"]["department"] == "测试区司法局"
    steps = [(s["status"], s["detail"]) for s in data["timeline"]]
    assert steps[0][0] == "reported" and steps[1][0] == "accepted"
    assert steps[2] == ("assigned", "测试区司法局")
    assert all(s["at"].endswith("+08:00") for s in data["timeline"])  # China time
    # Another officer, staff, a made-up id: not theirs to read this way.
    assert client.get(url, headers=auth(people, "officer_b")).status_code == 404
    assert client.get(url, headers=auth(people, "coord_1")).status_code == 403
    r = client.get(f"/api/v1/reports/{uuid.uuid4()}/progress", headers=auth(people, "officer_a"))
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    assert (
        client.get("/api/v1/reports/nope/progress", headers=auth(people, "officer_a")).status_code
        == 404
    )
    assert client.get(url).status_code == 401


def test_a_rejected_report_says_why(client: FlaskClient, people: dict) -> None:
    case = file(client, people)
    act(client, people, "coord_1", case, "reject", reason="不属于矛盾纠纷")
    data = client.get(
        f"/api/v1/reports/{case['id']}/progress", headers=auth(people, "officer_a")
    ).get_json()
    assert data["status_label"] == "不予受理"
    assert data["timeline"][-1]["detail"] == "原因：不属于矛盾纠纷"


def test_people_involved_must_be_at_least_one(client: FlaskClient, people: dict) -> None:
    body = report_fields(
        lon=119.405,
        lat=35.305,
        severity="yellow",
        people_involved=0,
        title="测试",
        description="测试",
        occurred_at=datetime.now(UTC).isoformat(),
    )
    r = client.post("/api/v1/reports", json=body, headers=auth(people, "officer_a"))
    assert r.status_code == 400
    assert "1" in r.get_json()["error"]["fields"]["people_involved"]


def test_the_phone_reads_todays_check_in_from_the_server(client: FlaskClient, people: dict) -> None:
    today = datetime.now(CHINA_TZ).date().isoformat()
    r = client.post(
        "/api/v1/checkins",
        json={"date": today, "nothing_to_report": True},
        headers=auth(people, "officer_a"),
    )
    assert r.status_code in (200, 201), r.get_json()
    r = client.get("/api/v1/checkins", headers=auth(people, "officer_a"))
    assert r.status_code == 200 and today in r.get_json()["days"]
    other = client.get("/api/v1/checkins", headers=auth(people, "officer_b")).get_json()
    assert today not in other["days"]  # each officer their own
    r = client.get("/api/v1/checkins?days=0", headers=auth(people, "officer_a"))
    assert r.status_code == 400 and "days" in r.get_json()["error"]["fields"]
    assert client.get("/api/v1/checkins", headers=auth(people, "coord_1")).status_code == 403


# --- silent officers ------------------------------------------------------------------------


def test_silent_officers_by_area_page_and_one_notification_a_day(
    client: FlaskClient, db_session: Session, people: dict
) -> None:
    # Far enough ahead that nothing anybody filed counts as recent, except what we add.
    later = datetime(2031, 3, 10, 9, tzinfo=CHINA_TZ)
    officer_a = int(people["officer_a"]["id"])
    db_session.add(
        Checkin(
            officer_id=officer_a,
            day=later.date() - timedelta(days=2),
            count=0,
            nothing_to_report=True,
        )
    )
    db_session.flush()
    coord_1 = db_session.get(User, int(people["coord_1"]["id"]))
    coord_2 = db_session.get(User, int(people["coord_2"]["id"]))
    county = db_session.get(User, int(people["county"]["id"]))
    assert coord_1 and coord_2 and county
    mine = silent.silent_officers(db_session, coord_1, now=later, days=3)
    assert [o.username for o in mine.officers] == []  # officer_a checked in 2 days ago
    assert [
        o.username for o in silent.silent_officers(db_session, coord_1, now=later, days=1).officers
    ] == ["t_officer_a"]  # ...which is silence when one day is the limit
    theirs = silent.silent_officers(db_session, coord_2, now=later, days=3)
    assert [o.username for o in theirs.officers] == ["t_officer_b"]
    assert theirs.silent_cells == 1 and theirs.officers[0].cells
    assert {o.username for o in silent.silent_officers(db_session, county, now=later).officers} >= {
        "t_officer_b"
    }
    # Once a day per coordinator, however often the task runs.
    assert silent.notify_coordinators(db_session, now=later, days=3) >= 1
    assert silent.notify_coordinators(db_session, now=later, days=3) == 0
    count = db_session.execute(
        select(func.count()).where(
            Notification.user_id == coord_2.id, Notification.kind == silent.NOTIFICATION_KIND
        )
    ).scalar_one()
    assert count == 1
    with pytest.raises(InvalidInput):
        silent.silent_officers(db_session, coord_1, now=later, days=0)


def test_silent_page_for_staff_refused_to_officers(client: FlaskClient) -> None:
    login(client, "t_coord_2")
    html = client.get("/triage/silent").get_data(as_text=True)
    assert "静默网格" in html and 'id="silent-list"' in html
    login(client, "t_officer_a")
    assert client.get("/triage/silent").status_code == 403


# --- exports ------------------------------------------------------------------------------


def test_an_export_is_named_after_its_area_and_filters(
    client: FlaskClient, db_session: Session, people: dict, app: Flask
) -> None:
    r = client.post(
        "/api/v1/exports",
        json={
            "kind": "cases",
            "format": "csv",
            "filters": {"area": "991101", "status": "closed"},
        },
        headers=auth(people, "city"),
    )
    assert r.status_code == 202, r.get_json()
    job = r.get_json()
    assert job["filters"] == {"area": "991101", "status": "closed"}
    assert job["title"] == "测试区矛盾纠纷案件清单（已办结）"
    assert job["created_at"].endswith("+08:00")
    listed = client.get("/api/v1/exports", headers=auth(people, "city")).get_json()["exports"]
    assert listed[0]["title"] == job["title"] and listed[0]["filters"]["status"] == "closed"
    city = db_session.get(User, int(people["city"]["id"]))
    assert city is not None
    with app.test_request_context():
        params = export_sources.named(
            db_session,
            city,
            export_sources.ExportParams(kind="cases", format="csv", area="991101", overdue=True),
        )
    assert params.unit_name == "测试区" and params.city_name == "测试区"
    assert params.filter_text == "（已超期）"
    # Overdue, key and all-open lists are exportable; a wrong flag is a 400.
    for filters in ({"overdue": True}, {"key": True}, {"status": "open"}):
        r = client.post(
            "/api/v1/exports",
            json={"kind": "cases", "format": "csv", "filters": filters},
            headers=auth(people, "county"),
        )
        assert r.status_code == 202, (filters, r.get_json())
    r = client.post(
        "/api/v1/exports",
        json={"kind": "cases", "format": "csv", "filters": {"overdue": "yes"}},
        headers=auth(people, "county"),
    )
    assert r.status_code == 400 and "filters.overdue" in r.get_json()["error"]["fields"]


def test_case_lists_link_to_exports_with_their_filters(client: FlaskClient) -> None:
    login(client, "t_county")
    for query, expected in (
        ("overdue=1", "overdue=1"),
        ("key=1", "key=1"),
        (
            "status=accepted,assigned,closing_requested,in_progress,reported,signed_for",
            "status=open",
        ),
    ):
        html = client.get(f"/cases?within=991101&{query}").get_data(as_text=True)
        # The link is shown when the list has cases; the URL builder is checked either way.
        from fieldapp.blueprints.dashboard import _export_url
        from fieldapp.services import case_list

        filters = case_list.parse_case_filters(dict(q.split("=") for q in query.split("&")))
        with client.application.test_request_context():
            url = _export_url(filters, "991101")
        assert url is not None and expected.replace(",", "%2C") in url, url
        assert "cases" in html


def test_kpi_table_ranks_areas_without_reports_after_the_others(
    client: FlaskClient, db_session: Session, people: dict
) -> None:
    from tests.integration.stats_support import CELLS, add_report, cell_ids

    cells = cell_ids(db_session, [CELLS["c1"]])
    add_report(
        db_session,
        cells[CELLS["c1"]],
        datetime(2024, 5, 3, 10, tzinfo=CHINA_TZ),
        int(people["officer_a"]["id"]),
        status="closed",
        outcome="resolved",
        accepted_on_time=False,
        closed_on_time=False,
    )
    db_session.flush()
    r = client.get(
        "/api/v1/kpis?level=township&period=2024-05", headers=auth(people, "city")
    ).get_json()
    rows = {row["code"]: row for row in r["rows"]}
    assert rows["991101001"]["rank"] == 1
    assert rows["991101002"]["score"] is None and rows["991101002"]["rank"] is None
    assert [row["code"] for row in r["rows"]][-1] == "991101002"


def test_the_daily_task_notifies_each_coordinator_once_a_day(
    app: Flask, db_session: Session, people: dict
) -> None:
    from workers import tasks

    with app.app_context():
        first = tasks.notify_silent_officers.run()
        again = tasks.notify_silent_officers.run()
    assert first >= 1 and again == 0  # officer_b never checked in: coord_2 hears of it
    today = datetime.now(CHINA_TZ).date().isoformat()
    texts = (
        db_session.execute(
            select(Notification.text).where(
                Notification.user_id == int(people["coord_2"]["id"]),
                Notification.kind == silent.NOTIFICATION_KIND,
                Notification.subject_id == f"silent:{today}",
            )
        )
        .scalars()
        .all()
    )
    assert len(texts) == 1 and "测试officer_b" in texts[0]


def test_the_assessment_export_says_no_data_instead_of_ranking_it(
    app: Flask, client: FlaskClient, db_session: Session, people: dict, tmp_path: Path
) -> None:
    import openpyxl

    from fieldapp import export_store
    from tests.integration.stats_support import CELLS, add_report, cell_ids
    from tests.integration.test_exports import request_export, run_here

    cells = cell_ids(db_session, [CELLS["c1"]])
    add_report(
        db_session,
        cells[CELLS["c1"]],
        datetime(2029, 1, 10, 10, tzinfo=CHINA_TZ),
        int(people["officer_a"]["id"]),
        status="closed",
        outcome="resolved",
    )
    db_session.flush()
    body = {
        "kind": "assessment",
        "format": "xlsx",
        "level": "township",
        "filters": {"from": "2029-01-01", "to": "2029-01-31"},
    }
    job = request_export(client, people, "county", body)
    run_here(app, db_session, job["id"], tmp_path)
    stored = export_store.read_all(db_session, uuid.UUID(job["id"]))  # as a download reads it
    sheet = openpyxl.load_workbook(io.BytesIO(stored), data_only=True).active
    assert sheet is not None
    headers = [c.value for c in sheet[5]]
    rows = [
        dict(zip(headers, r, strict=True))
        for r in sheet.iter_rows(min_row=6, values_only=True)
        if r[0] != "合计"
    ]
    assert [r["区划代码"] for r in rows] == ["991101001", "991101002"]  # the ranked first
    assert rows[0]["排名"] == 1 and rows[0]["考评说明"] in ("", None)
    assert rows[1]["排名"] is None and rows[1]["综合得分"] is None
    assert rows[1]["考评说明"] == "无数据：本期无上报，不参与排名"


def test_merged_and_closed_reports_say_into_what_and_how(client: FlaskClient, people: dict) -> None:
    main = file(client, people, title="主案件：排水沟纠纷")
    duplicate = file(client, people)
    act(client, people, "coord_1", duplicate, "merge", into=main["id"])
    data = client.get(
        f"/api/v1/reports/{duplicate['id']}/progress", headers=auth(people, "officer_a")
    ).get_json()
    assert data["status"] == "merged" and data["merged_into"]["id"] == main["id"]
    number = main["case_number"]
    assert data["merged_into"]["case_number"] == number
    # Both the officer's own: the title is theirs to read, but the sentence names the number.
    assert data["merged_into"]["title"] == "主案件：排水沟纠纷"
    assert data["timeline"][-1]["detail"] == f"已并入案件{number}（同一纠纷），该案件现为“待受理”。"
    act(client, people, "coord_1", main, "resolve_on_site", outcome="resolved", reason="当场调解")
    data = client.get(
        f"/api/v1/reports/{main['id']}/progress", headers=auth(people, "officer_a")
    ).get_json()
    assert data["status_label"] == "已办结" and data["outcome_label"] == "化解"
    assert data["timeline"][-1]["detail"] == "化解"


def test_a_report_merged_into_another_officers_case_shows_its_number_never_its_title(
    client: FlaskClient, people: dict
) -> None:
    """The coordinator merges officer_a's report into a case officer_b filed in the same
    township: officer_a reads that case's number and state, never its title or description,
    in the answer the report page renders; the coordinator still reads the title."""
    lon, lat = cell_centre(0, 0)  # in coord_1's township, filed by the other officer
    secret_title, secret_text = "甲户私事：内部核查中", "仅承办人可见的细节。"
    main = file(client, people, "officer_b", lon=lon, lat=lat, title=secret_title,
                description=secret_text)  # fmt: skip
    mine = file(client, people)
    act(client, people, "coord_1", main, "accept")
    act(client, people, "coord_1", mine, "merge", into=main["id"])

    r = client.get(f"/api/v1/reports/{mine['id']}/progress", headers=auth(people, "officer_a"))
    assert r.status_code == 200, r.get_json()
    body = r.get_data(as_text=True)
    data = r.get_json()
    number = main["case_number"]
    assert data["merged_into"] == {
        "id": main["id"],
        "case_number": number,
        "status": "accepted",
        "status_label": "已受理",
        "title": None,
    }
    assert data["timeline"][-1]["detail"] == f"已并入案件{number}（同一纠纷），该案件现为“已受理”。"
    assert secret_title not in body and "甲户私事" not in body and secret_text not in body
    # The same in English.
    english = client.get(
        f"/api/v1/reports/{mine['id']}/progress",
        headers={**auth(people, "officer_a"), "Accept-Language": "en"},
    )
    assert english.get_json()["timeline"][-1]["detail"] == (
        f"Merged into case {number} (the same dispute), which is now “Accepted”."
    )
    assert secret_title not in english.get_data(as_text=True)
    # The township's coordinator may read the kept case, title included.
    case = client.get(f"/api/v1/cases/{main['id']}", headers=auth(people, "coord_1"))
    assert case.get_json()["title"] == secret_title


def test_the_overdue_list_explains_itself_and_exports(client: FlaskClient) -> None:
    login(client, "t_county")
    html = client.get("/triage/overdue").get_data(as_text=True)
    assert "不论何时上报" in html and "本期报告中已超期" in html
    link = re.search(r'href="([^"]+)" id="export-overdue"', html)
    assert link and "overdue=1" in link.group(1)
    assert client.get(link.group(1).replace("&amp;", "&")).status_code == 200
