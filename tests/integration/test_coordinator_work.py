"""The coordinator's day without the rough edges (issue 14): case numbers people can say,
merging that cannot go the wrong way (confirmation, direction, undo), 改派, the urgency-first
queue with text search, bulk actions that keep the filters, department names in the record,
and one inbox message per report. Real PostgreSQL, the Flask test client, the real forms."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from fieldapp.models import CaseEvent, Notification, OutboxMessage, Report
from tests.integration.test_triage_pages import (
    case_page,
    file,
    login,
    page,
    post_action,
)
from tests.support import auth, csrf_token

pytestmark = pytest.mark.usefixtures("people")

NUMBER = re.compile(r"^测试-(\d{4})-(\d{6})$")


def _row(html: str, report_id: str) -> str:
    row = html[html.index(f'data-id="{report_id}"') :]
    return row[: row.index("</tr>")]


# --- case numbers ------------------------------------------------------------------------------


def test_every_report_gets_a_sequential_number_of_its_county_and_year(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    first = file(client, people)
    second = file(client, people, "officer_b")  # another township, the same county
    year = datetime.now(UTC).astimezone().year
    for case in (first, second):
        match = NUMBER.match(case["case_number"])
        assert match, case["case_number"]
        assert abs(int(match.group(1)) - year) <= 1  # China-time year (New Year's Eve aside)
    n1 = int(NUMBER.match(first["case_number"]).group(2))  # type: ignore[union-attr]
    n2 = int(NUMBER.match(second["case_number"]).group(2))  # type: ignore[union-attr]
    assert n2 == n1 + 1
    # The phone's resend of the same report gets the same number and uses none up.
    again = client.get(f"/api/v1/reports/{first['id']}", headers=auth(people, "officer_a"))
    assert again.get_json()["case_number"] == first["case_number"]
    # The case API and the queue show it too.
    case = client.get(f"/api/v1/cases/{first['id']}", headers=auth(people, "coord_1")).get_json()
    assert case["case_number"] == first["case_number"]
    login(client, "t_coord_1")
    assert first["case_number"] in _row(page(client, "/triage/?per_page=200"), first["id"])
    assert f'id="case-number" title="案件编号">{first["case_number"]}' in case_page(
        client, first["id"]
    )


def test_a_resent_report_uses_up_no_number(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    first = file(client, people)
    body = dict(first)
    resend = {
        k: body[k]
        for k in ("id", "title", "description", "category", "severity", "people_involved")
    }
    resend.update(
        lon=first["input"]["lon"],
        lat=first["input"]["lat"],
        occurred_at=first["occurred_at"],
        parties=[{"name": "张三丰", "id_number": "371102199001011234", "phone": "13800001111"}],
    )
    r = client.post("/api/v1/reports", json=resend, headers=auth(people, "officer_a"))
    assert r.status_code in (200, 201), r.get_json()
    assert r.get_json()["case_number"] == first["case_number"]
    following = file(client, people)
    n1 = int(first["case_number"].rsplit("-", 1)[1])
    assert int(following["case_number"].rsplit("-", 1)[1]) == n1 + 1


def test_prefixes_for_districts_counties_zones_and_an_unknown_county(
    db_session: Session,
) -> None:
    names = {
        "东港区": "东港",
        "五莲县": "五莲",
        "莒县": "莒县",
        "日照经济技术开发区": "经开区",
        "山海天旅游度假区": "山海天",
    }
    for i, (name, prefix) in enumerate(names.items()):
        area_id = db_session.execute(
            text(
                "INSERT INTO areas (code, name, level, synthetic, geom) VALUES (:code, :name, "
                "'county', true, "
                "ST_Multi(ST_MakeEnvelope(0, 0, 1, 1, 4326))) RETURNING id"
            ),
            {"code": f"TEST{i}", "name": name},
        ).scalar_one()
        got = db_session.execute(text("SELECT case_number_prefix(:id)"), {"id": area_id})
        assert got.scalar_one() == prefix
    assert db_session.execute(text("SELECT case_number_prefix(NULL)")).scalar_one() == "未定"
    # More than a million in a year: more digits, never cut off.
    db_session.execute(
        text(
            "INSERT INTO case_number_counters (prefix, year, last_number) "
            "VALUES ('东港', 2031, 999999)"
        )
    )
    assert (
        db_session.execute(text("SELECT case_number_next('东港', 2031)")).scalar_one()
        == "东港-2031-1000000"
    )


def test_case_numbers_are_unique(db_session: Session) -> None:
    numbers = db_session.execute(
        select(Report.case_number, func.count())
        .group_by(Report.case_number)
        .having(func.count() > 1)
    ).all()
    assert numbers == []
    assert (
        db_session.execute(
            text(
                "SELECT count(*) FROM pg_constraint WHERE conname = 'uq_reports_case_number' "
                "AND contype = 'u'"
            )
        ).scalar_one()
        == 1
    )


# --- merging -----------------------------------------------------------------------------------


def test_merge_from_the_duplicate_row_asks_first_goes_the_way_shown_and_can_be_undone(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    earlier = file(client, people, title="宅基地边界争执 东侧院墙", severity="orange")
    later = file(client, people, title="宅基地边界争执 东侧院墙 再报", severity="orange")
    login(client, "t_coord_1")
    html = case_page(client, later["id"])
    row = _row(html[html.index('id="duplicates"') :], earlier["id"])
    # The row's buttons say which case is kept.
    assert f"将本案并入 {earlier['case_number']}（保留 {earlier['case_number']}）" in row
    assert f"将 {earlier['case_number']} 并入本案（保留 {later['case_number']}）" in row
    link = re.search(r'class="btn-destructive merge-into" href="([^"]+)"', row)
    assert link
    # Following it changes nothing yet: a confirmation page names both cases.
    confirm = page(client, link.group(1).replace("&amp;", "&"))
    assert (
        f"{later['case_number']} 将并入 {earlier['case_number']}。保留 {earlier['case_number']}"
        in confirm
    )
    stored = db_session.get(Report, uuid.UUID(later["id"]))
    assert stored is not None and stored.status == "reported"
    form = confirm[confirm.index('id="merge-confirm-form"') :]
    data = {
        "csrf_token": csrf_token(confirm),
        "version": re.search(r'name="version" value="(\d+)"', form).group(1),  # type: ignore[union-attr]
        "into": re.search(r'name="into" value="([^"]+)"', form).group(1),  # type: ignore[union-attr]
    }
    assert data["into"] == earlier["id"]
    r = client.post(f"/triage/cases/{later['id']}/actions/merge", data=data)
    assert r.status_code == 302
    html = case_page(client, later["id"])
    assert (
        f"{later['case_number']} 已并入 {earlier['case_number']}，保留 {earlier['case_number']}"
        in html
    )
    assert 'id="case-status">已合并' in html
    assert f"{earlier['case_number']} {earlier['title']}" in html  # merged into, by number
    db_session.expire_all()
    kept = db_session.get(Report, uuid.UUID(earlier["id"]))
    assert kept is not None and kept.status == "reported" and kept.merged_into_id is None
    # Undo: the primary step of a merged case; it returns to the state it had, clock too.
    before = db_session.get(Report, uuid.UUID(later["id"]))
    assert before is not None and before.due_at is None
    assert 'id="do-unmerge" data-kind="primary"' in html
    r = post_action(client, later["id"], "unmerge", reason="合并错了")
    assert r.status_code == 302
    html = case_page(client, later["id"])
    assert f"已撤销合并：{later['case_number']} 恢复为“待受理”" in html
    db_session.expire_all()
    back = db_session.get(Report, uuid.UUID(later["id"]))
    assert back is not None and back.status == "reported" and back.merged_into_id is None
    assert back.due_at is not None and back.step == "acceptance" and back.closed_at is None
    # Both records keep the merge and show the undo.
    actions = [e.action for e in _events(db_session, later["id"])]
    assert actions[-2:] == ["merge", "unmerge"]
    assert [e.action for e in _events(db_session, earlier["id"])][-2:] == [
        "merged_in",
        "unmerged_out",
    ]
    timeline = html[html.index('id="timeline"') :]
    assert "合并重复报告" in timeline and "撤销合并" in timeline
    assert "保留案件：" in timeline and earlier["case_number"] in timeline


def test_the_manual_merge_form_takes_a_case_number_and_confirms(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    kept = file(client, people)
    dup = file(client, people)
    login(client, "t_coord_1")
    html = case_page(client, dup["id"])
    assert (
        'id="form-merge"' in html and 'method="get"' in html[html.index('id="form-merge"') - 200 :]
    )
    confirm = page(client, f"/triage/cases/{dup['id']}/merge?into={kept['case_number'].lower()}")
    assert f"{dup['case_number']} 将并入 {kept['case_number']}" in confirm
    # As an input method types it: full-width dashes, spaces.
    typed = kept["case_number"].replace("-", "－").replace("测试", "测试 ")
    confirm = page(client, f"/triage/cases/{dup['id']}/merge?into={typed}")
    assert f"{dup['case_number']} 将并入 {kept['case_number']}" in confirm
    # A number that is no case: said on the case page, with what was typed kept.
    r = client.get(f"/triage/cases/{dup['id']}/merge?into=测试-1999-000001")
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert "要保留的案件的编号" in body and 'value="测试-1999-000001"' in body
    # A case of another township: not yours.
    other = file(client, people, "officer_b")
    r = client.get(f"/triage/cases/{dup['id']}/merge?into={other['case_number']}")
    assert r.status_code == 400 and "不是您负责的案件" in r.get_data(as_text=True)
    # The API takes the number too.
    r = client.post(
        f"/api/v1/cases/{dup['id']}/actions/merge",
        json={"version": 1, "into": kept["case_number"]},
        headers=auth(people, "coord_1"),
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["merged_into"] == kept["id"]


def _events(session: Session, report_id: str) -> list[CaseEvent]:
    return list(
        session.execute(
            select(CaseEvent)
            .where(CaseEvent.report_id == uuid.UUID(report_id))
            .order_by(CaseEvent.at, CaseEvent.id)
        ).scalars()
    )


# --- reassign and names in the record ----------------------------------------------------------


def test_reassign_after_assignment_with_a_reason_names_in_the_record(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    case = file(client, people)
    login(client, "t_coord_1")
    assert post_action(client, case["id"], "accept").status_code == 302
    assert post_action(client, case["id"], "assign", department="991101-D01").status_code == 302
    html = case_page(client, case["id"])
    assert 'id="form-reassign"' in html and 'id="form-escalate"' in html
    # A reason is required; the same department is refused.
    r = post_action(client, case["id"], "reassign", department="991101-D02", reason=" ")
    assert r.status_code == 400
    r = post_action(client, case["id"], "reassign", department="991101-D01", reason="换")
    assert r.status_code == 400 and "请选择其他部门" in r.get_data(as_text=True)
    r = post_action(client, case["id"], "reassign", department="991101-D02", reason="属人社职责")
    assert r.status_code == 302
    html = case_page(client, case["id"])
    assert 'id="case-status">已交办' in html and 'id="case-department">测试区人社局' in html
    timeline = html[html.index('id="timeline"') :]
    assert "改派其他部门" in timeline and "原责任部门：测试区司法局" in timeline
    assert "责任部门：测试区人社局" in timeline and "属人社职责" in timeline
    # Names, never codes, in both languages.
    assert "991101-D0" not in timeline
    en = page(client, f"/triage/cases/{case['id']}?lang=en")
    assert "991101-D0" not in en[en.index('id="timeline"') :]
    # Audited, and the new department is told.
    assert (
        db_session.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'case.reassign' AND object_id = :id"
            ),
            {"id": case["id"]},
        ).scalar_one()
        == 1
    )
    handlers = db_session.execute(
        select(Notification.text).where(Notification.kind == "case.reassign")
    ).scalars()
    assert any(case["case_number"] in t for t in handlers)
    # The department that had it is told it is no longer theirs.
    away = db_session.execute(
        select(Notification.user_id, Notification.text).where(
            Notification.kind == "case.reassigned_away"
        )
    ).all()
    assert [user for user, t in away if case["case_number"] in t] == [people["dept"]["id"]]


# --- the queue ---------------------------------------------------------------------------------


def test_the_queue_puts_overdue_and_nearly_due_work_first(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    now = datetime.now(UTC)
    red_later = file(client, people, severity="red")
    yellow_overdue = file(client, people, severity="yellow")
    orange_soon = file(client, people, severity="orange")
    for case, due in (
        (red_later, now + timedelta(days=8)),
        (yellow_overdue, now - timedelta(days=1)),
        (orange_soon, now + timedelta(hours=3)),
    ):
        db_session.execute(
            update(Report).where(Report.id == uuid.UUID(case["id"])).values(due_at=due)
        )
    db_session.flush()
    login(client, "t_coord_1")
    html = page(client, "/triage/?per_page=200")
    order = [html.index(f'data-id="{c["id"]}"') for c in (yellow_overdue, orange_soon, red_later)]
    assert order == sorted(order)
    assert "已超期1天" in _row(html, yellow_overdue["id"])
    # The old order stays one choice away.
    html = page(client, "/triage/?per_page=200&sort=severity")
    assert html.index(f'data-id="{red_later["id"]}"') < html.index(
        f'data-id="{yellow_overdue["id"]}"'
    )


def test_queue_search_by_number_title_address_and_description_escaped(
    client: FlaskClient, people: dict
) -> None:
    a = file(client, people, title="果园承包费争执", address="北村东头<b>老槐树</b>")
    b = file(client, people, title="噪音扰民", description="楼上装修 100% 全天施工")
    login(client, "t_coord_1")

    def found(q: str) -> tuple[bool, bool]:
        html = page(client, f"/triage/?per_page=200&q={q}")
        return f'data-id="{a["id"]}"' in html, f'data-id="{b["id"]}"' in html

    assert found(a["case_number"]) == (True, False)
    assert found(a["case_number"].rsplit("-", 1)[1]) == (True, False)
    assert found("承包费") == (True, False)
    assert found("老槐树") == (True, False)
    assert found("100%25") == (False, True)  # % is a character here, not a wildcard
    assert found("%25") == (False, True)
    assert found("_") == (False, False)
    html = page(client, "/triage/?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "最多 100 个字符" in page(client, "/triage/?q=" + "长" * 101)


def test_same_place_count_is_labelled_for_what_it_is_and_duplicates_apart(
    client: FlaskClient, people: dict
) -> None:
    first = file(client, people, title="排水沟堵塞 邻里争执")
    second = file(client, people, title="排水沟堵塞 邻里争执 再次")
    login(client, "t_coord_1")
    html = page(client, "/triage/?per_page=200")
    assert "本网格近90天" in html and "同地重复" not in html
    assert 'class="repeat"' not in html
    assert "疑似重复" in _row(html, second["id"])  # an earlier open one nearby
    assert "疑似重复" not in _row(html, first["id"])


def test_bulk_actions_return_to_the_same_filtered_page_and_cap_the_ids(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    cases = [file(client, people, severity="yellow") for _ in range(2)]
    login(client, "t_coord_1")
    query = "status=reported&severity=yellow&q=%E5%AE%85%E5%9F%BA%E5%9C%B0&per_page=20"
    html = page(client, f"/triage/?{query}")
    back = re.search(r'name="back" value="([^"]*)"', html)
    assert back
    data: dict[str, Any] = {
        "csrf_token": csrf_token(html),
        "action": "accept",
        "back": back.group(1).replace("&amp;", "&"),
        "case": [c["id"] for c in cases],
    }
    for c in cases:
        data[f"version-{c['id']}"] = "1"
    r = client.post("/triage/bulk", data=data)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith("/triage/?") and "severity=yellow" in location
    assert "status=reported" in location and "per_page=20" in location and "q=" in location
    html = page(client, location)
    assert "受理：已完成 2 件" in html
    # Too many ids: nothing done, said plainly, filters kept.
    many = {**data, "case": [str(uuid.uuid4()) for _ in range(201)]}
    r = client.post("/triage/bulk", data=many)
    assert r.status_code == 302 and "severity=yellow" in r.headers["Location"]
    html = page(client, r.headers["Location"])
    assert "已选择 201 个案件，一次最多处理 200 个" in html
    # A back value is parsed, never followed as a URL.
    r = client.post("/triage/bulk", data={**data, "back": "//evil.example/x?severity=red"})
    assert r.headers["Location"] in ("/triage/?severity=red", "/triage/")


# --- the inbox ---------------------------------------------------------------------------------


def test_one_new_report_makes_one_inbox_message_with_the_duplicate_fact(
    app: Flask, client: FlaskClient, people: dict, db_session: Session
) -> None:
    from workers.tasks import process_report

    first = file(client, people, title="邻里漏水纠纷 三楼")
    second = file(client, people, title="邻里漏水纠纷 三楼 再报")
    for case in (first, second):
        outbox_id = db_session.execute(
            select(OutboxMessage.id).where(OutboxMessage.payload["report_id"].astext == case["id"])
        ).scalar_one()
        with app.app_context():
            # The task's own code (`run`) in this test's app and transaction: calling the task
            # would enter the app the Celery app was made for, which another test may own.
            assert process_report.run(outbox_id, case["id"]) is True
    coord_id = people["coord_1"]["id"]
    texts = {
        subject: text_
        for subject, text_ in db_session.execute(
            select(Notification.subject_id, Notification.text).where(
                Notification.user_id == coord_id,
                Notification.subject_id.in_([first["id"], second["id"]]),
            )
        ).all()
    }
    assert len(texts) == 2  # one per report, not two
    assert "疑似重复" not in texts[first["id"]]
    assert (
        "疑似重复：1条相近报告" in texts[second["id"]]
        and second["case_number"] in texts[second["id"]]
    )
    # Opening one marks it read; the inbox marks all read at once.
    login(client, "t_coord_1")
    inbox = page(client, "/triage/inbox")
    link = re.search(r'href="(/triage/inbox/\d+)"', inbox)
    assert link
    r = client.get(link.group(1))
    assert r.status_code == 302 and "/triage/cases/" in r.headers["Location"]
    r = client.post("/triage/inbox/read", data={"csrf_token": csrf_token(inbox)})
    assert r.status_code == 302
    unread = db_session.execute(
        select(func.count()).where(Notification.user_id == coord_id, Notification.read_at.is_(None))
    ).scalar_one()
    assert unread == 0
