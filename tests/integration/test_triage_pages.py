"""The triage pages (server-rendered, Chinese by default) against PostGIS through the Flask test
client: scoped queue, CSRF on every form, workflow steps through `cases.act`, friendly
conflicts and refusals, bulk actions, photos, the inbox, and user text always escaped."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from fieldapp.models import Report
from tests.support import auth, cell_centre, csrf_token, file_via_api, sign_in_form

pytestmark = pytest.mark.usefixtures("people")

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(2)>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ESCAPED_IMG = "&lt;img src=x onerror=alert(2)&gt;"


def file(client: FlaskClient, people: dict, who: str = "officer_a", **overrides: Any) -> dict:
    """File a report through the API, as a phone would: with a party and a title of its own."""
    fields: dict[str, Any] = {
        "title": f"宅基地边界争执 {uuid.uuid4().hex[:6]}",
        "description": "两户因宅基地边界发生争执。",
        "parties": [{"name": "张三丰", "id_number": "371102199001011234", "phone": "13800001111"}],
    }
    return file_via_api(client, people, who, **{**fields, **overrides})


def login(client: FlaskClient, username: str) -> None:
    """Sign in through the CSRF-protected form, as a browser does."""
    sign_in_form(client, username)


def page(client: FlaskClient, path: str, expect: int = 200) -> str:
    r = client.get(path)
    assert r.status_code == expect, r.get_data(as_text=True)[:3000]
    return r.get_data(as_text=True)


def case_page(client: FlaskClient, report_id: str) -> str:
    return page(client, f"/triage/cases/{report_id}")


def version_of(html: str) -> int:
    match = re.search(r'data-version="(\d+)"', html)
    assert match
    return int(match.group(1))


def post_action(
    client: FlaskClient, report_id: str, action: str, *, version: Any = None, **fields: Any
) -> Any:
    """Post one step's form as the case page has it (CSRF token and the version it showed)."""
    html = case_page(client, report_id)
    data = {
        "csrf_token": csrf_token(html),
        "version": version_of(html) if version is None else version,
    }
    data.update(fields)
    return client.post(f"/triage/cases/{report_id}/actions/{action}", data=data)


def test_pages_need_a_signed_in_user(client: FlaskClient) -> None:
    r = client.get("/triage/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_queue_shows_the_townships_cases_only_in_chinese(client: FlaskClient, people: dict) -> None:
    mine = file(client, people, "officer_a", severity="red")
    other = file(client, people, "officer_b")
    login(client, "t_coord_1")
    html = page(client, "/triage/?per_page=200")
    assert mine["title"] in html and other["title"] not in html
    assert 'lang="zh-CN"' in html
    row = html[html.index(f'data-id="{mine["id"]}"') :]
    row = row[: row.index("</tr>")]
    assert "待受理" in row and "红" in row  # status and severity in Chinese
    assert "剩余1小时" in row  # red: 2 h to accept
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", row)
    assert 'class="light light-green"' in row
    # Filters narrow the list; a bad filter is explained, not a 500.
    assert mine["title"] not in page(client, "/triage/?severity=yellow&per_page=200")
    bad = page(client, "/triage/?severity=purple")
    assert "error" in bad and mine["title"] in page(client, "/triage/?severity=red&per_page=200")
    # The other township's coordinator does not see it, nor its case page.
    login(client, "t_coord_2")
    assert mine["title"] not in page(client, "/triage/?per_page=200")
    assert "没有这条报告" in page(client, f"/triage/cases/{mine['id']}", expect=404)


def test_a_post_without_the_csrf_token_is_refused(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    case = file(client, people)
    login(client, "t_coord_1")
    r = client.post(f"/triage/cases/{case['id']}/actions/accept", data={"version": 1})
    assert r.status_code == 400
    r = client.post("/triage/bulk", data={"action": "accept", "case": case["id"]})
    assert r.status_code == 400
    stored = db_session.get(Report, uuid.UUID(case["id"]))
    assert stored is not None and stored.status == "reported"


def test_the_closed_loop_through_the_forms(client: FlaskClient, people: dict) -> None:
    case = file(client, people)
    login(client, "t_coord_1")
    html = case_page(client, case["id"])
    assert "张三丰" in html and "371102199001011234" in html  # the coordinator sees parties
    for form in ("accept", "reject", "merge", "resolve_on_site", "escalate"):
        assert f'id="form-{form}"' in html
    r = post_action(client, case["id"], "accept")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/triage/cases/{case['id']}")
    html = case_page(client, case["id"])
    assert "已完成：受理" in html and 'id="case-status">已受理' in html
    assert 'id="form-assign"' in html and "测试区司法局" in html  # the department select
    r = post_action(client, case["id"], "assign", department="991101-D01")
    assert r.status_code == 302
    assert 'id="case-status">已交办' in case_page(client, case["id"])

    login(client, "t_dept")
    assert client.get("/triage/").headers["Location"].endswith("/triage/department")
    assert case["title"] in page(client, "/triage/department")
    inbox = page(client, "/triage/inbox")
    assert f"新交办：{case['case_number']} {case['title']}" in inbox and 'id="inbox-badge"' in inbox
    assert post_action(client, case["id"], "sign_for").status_code == 302
    assert (
        post_action(client, case["id"], "request_closing", reason="双方达成调解协议").status_code
        == 302
    )

    login(client, "t_coord_1")
    r = post_action(client, case["id"], "approve_closing", outcome="resolved")
    assert r.status_code == 302
    html = case_page(client, case["id"])
    assert 'id="case-status">已办结' in html and 'id="case-outcome">化解' in html
    timeline = html[html.index('id="timeline"') :]
    steps = re.findall(r'<li data-action="([a-z_]+)"', timeline)
    assert steps == [
        "reported",
        "accept",
        "assign",
        "sign_for",
        "request_closing",
        "approve_closing",
    ]
    assert "双方达成调解协议" in timeline and "测试dept" in timeline


def test_a_stale_version_made_by_oneself_says_so_and_keeps_the_input(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    case = file(client, people)
    login(client, "t_coord_1")
    seen = version_of(case_page(client, case["id"]))
    assert post_action(client, case["id"], "accept", version=seen).status_code == 302
    # A second tab still shows the old version and tries to resolve it on site.
    r = post_action(
        client,
        case["id"],
        "resolve_on_site",
        version=seen,
        outcome="stabilised",
        reason="已当场调解",
    )
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    # Truthful: it was the reader themself (not "someone else"), and no "refresh" dead end.
    assert "您本人刚刚已修改过此案件（受理）" in html and "现为“已受理”" in html
    assert "他人" not in html and "刷新" not in html
    assert 'id="case-status">已受理' in html and f'data-version="{seen + 1}"' in html
    # What the reader typed is still in the form, to send again with the new version.
    form = html[html.index('id="form-resolve_on_site"') :]
    form = form[: form.index("</form>")]
    assert "已当场调解</textarea>" in form and 'value="stabilised" selected' in form
    assert f'name="version" value="{seen + 1}"' in form
    stored = db_session.get(Report, uuid.UUID(case["id"]))
    assert stored is not None and stored.status == "accepted"


def test_a_stale_version_made_by_someone_else_names_them_and_the_step(
    client: FlaskClient, people: dict
) -> None:
    case = file(client, people)
    login(client, "t_coord_1")
    seen = version_of(case_page(client, case["id"]))
    # City staff issue a supervision order meanwhile (API): the version moves on.
    r = client.post(
        f"/api/v1/cases/{case['id']}/actions/supervise",
        json={
            "version": seen,
            "reason": "请尽快受理",
            "due_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        },
        headers=auth(people, "city"),
    )
    assert r.status_code == 200, r.get_json()
    r = post_action(client, case["id"], "reject", version=seen, reason="不属实")
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    shown = re.search(r'id="case-error">([^<]*)<', html)
    assert shown and "测试city 修改了它（督办）" in shown.group(1), shown
    assert "现为“待受理”" in html
    assert "不属实</textarea>" in html


def test_refusals_are_shown_on_the_page_never_a_500(client: FlaskClient, people: dict) -> None:
    case = file(client, people)
    login(client, "t_coord_1")
    r = post_action(client, case["id"], "reject", reason="  ")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert 'id="case-error"' in html and "理由" in html
    assert 'class="action-form kind-destructive failed" id="form-reject"' in html
    r = post_action(client, case["id"], "approve_closing", outcome="resolved")  # not now
    html = r.get_data(as_text=True)
    assert r.status_code == 409 and 'id="case-error"' in html
    assert "已被他人修改" not in html  # not a concurrent change: the state does not allow it
    r = post_action(client, case["id"], "fly")
    assert r.status_code == 400 and 'id="case-error"' in r.get_data(as_text=True)
    r = post_action(client, case["id"], "accept", version="abc")
    assert r.status_code == 400 and 'id="case-error"' in r.get_data(as_text=True)
    # The city sees the case but does not own it: a clear refusal.
    login(client, "t_city")
    r = post_action(client, case["id"], "accept")
    assert r.status_code == 403 and 'id="case-error"' in r.get_data(as_text=True)
    assert page(client, "/triage/cases/not-a-uuid", expect=404)
    login(client, "t_officer_a")
    assert 'id="page-error"' in page(client, "/triage/", expect=403)


def test_bulk_accept_and_assign_report_each_failure(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    first, second = file(client, people), file(client, people)
    login(client, "t_coord_1")
    html = page(client, "/triage/?per_page=200")
    token = csrf_token(html)
    r = client.post(
        "/triage/bulk",
        data={
            "csrf_token": token,
            "action": "accept",
            "case": [first["id"], second["id"]],
            f"version-{first['id']}": "1",
            f"version-{second['id']}": "1",
        },
    )
    assert r.status_code == 302
    html = page(client, "/triage/?per_page=200")
    assert "受理：已完成 2 件" in html
    # Assign both; the second row's version is stale (the page was open before a change).
    r = client.post(
        "/triage/bulk",
        data={
            "csrf_token": token,
            "action": "assign",
            "department": "991101-D01",
            "case": [first["id"], second["id"]],
            f"version-{first['id']}": "2",
            f"version-{second['id']}": "1",
        },
    )
    html = page(client, "/triage/?per_page=200")
    assert "交办责任部门：已完成 1 件" in html
    assert f"{second['case_number']} {second['title']}：您本人刚刚已修改过此案件" in html
    db_session.expire_all()
    first_row = db_session.get(Report, uuid.UUID(first["id"]))
    second_row = db_session.get(Report, uuid.UUID(second["id"]))
    assert first_row is not None and second_row is not None
    assert (first_row.status, second_row.status) == ("assigned", "accepted")
    r = client.post("/triage/bulk", data={"csrf_token": token, "action": "assign", "case": []})
    assert r.status_code == 302


def test_photos_are_served_to_signed_in_viewers_in_scope(client: FlaskClient, people: dict) -> None:
    from PIL import Image

    case = file(client, people)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "#2e7d32").save(buffer, format="JPEG")
    up = client.post(
        f"/api/v1/reports/{case['id']}/photos",
        data={"photo": (io.BytesIO(buffer.getvalue()), "scene.jpg")},
        headers=auth(people, "officer_a"),
        content_type="multipart/form-data",
    )
    assert up.status_code == 201, up.get_json()
    photo_id = up.get_json()["id"]
    login(client, "t_coord_1")
    html = case_page(client, case["id"])
    thumb = f"/triage/cases/{case['id']}/photos/{photo_id}/thumbnail"
    assert thumb in html
    r = client.get(thumb)
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert "private" in r.headers["Cache-Control"]
    assert client.get(f"/triage/cases/{case['id']}/photos/{photo_id}").status_code == 200
    login(client, "t_coord_2")
    assert client.get(thumb).status_code == 404


def test_county_and_city_see_parties_masked(client: FlaskClient, people: dict) -> None:
    case = file(client, people)
    login(client, "t_county")
    html = case_page(client, case["id"])
    assert "371102199001011234" not in html and "13800001111" not in html
    assert "张三丰" not in html


def test_user_text_is_escaped_on_every_page(
    client: FlaskClient, people: dict, db_session: Session
) -> None:
    lon, lat = cell_centre(0, 0)
    script = file(client, people, title=XSS_SCRIPT, description=XSS_IMG, category="wages_labour")
    img = file(client, people, title=XSS_IMG, category="wages_labour", lon=lon + 0.0003, lat=lat)

    def assert_escaped(html: str, *, both: bool = True) -> None:
        assert XSS_SCRIPT not in html and XSS_IMG not in html
        assert ESCAPED_SCRIPT in html
        if both:
            assert ESCAPED_IMG in html

    login(client, "t_coord_1")
    assert_escaped(page(client, "/triage/?per_page=200"))
    assert_escaped(case_page(client, script["id"]))  # the title and the description
    html = case_page(client, img["id"])
    assert_escaped(html)  # the title, and the earlier one as a duplicate candidate
    assert script["id"] in html[html.index('id="duplicates"') :]
    for report in (script, img):
        post_action(client, report["id"], "accept")
        post_action(client, report["id"], "assign", department="991101-D01")

    login(client, "t_dept")
    assert_escaped(page(client, "/triage/department"))
    assert_escaped(page(client, "/triage/inbox"))

    login(client, "t_city")
    due = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    r = post_action(client, script["id"], "supervise", due_at=due, reason=XSS_IMG)
    assert r.status_code == 302, r.get_data(as_text=True)
    db_session.execute(
        update(Report)
        .where(Report.id.in_([uuid.UUID(script["id"]), uuid.UUID(img["id"])]))
        .values(due_at=datetime.now(UTC) - timedelta(days=2, hours=1))
    )
    db_session.flush()
    html = page(client, "/triage/overdue?per_page=200")
    assert_escaped(html)
    assert "已超期2天" in html
    orders = html[html.index('id="supervision-orders"') :]
    assert ESCAPED_SCRIPT in orders and ESCAPED_IMG in orders  # the title and the note

    login(client, "t_county")
    assert_escaped(page(client, "/triage/overdue?per_page=200"))
    login(client, "t_coord_1")
    assert 'id="page-error"' in page(client, "/triage/overdue", expect=403)


def test_the_inbox_badge_counts_unread_and_can_be_cleared(
    client: FlaskClient, people: dict
) -> None:
    case = file(client, people)
    login(client, "t_coord_1")
    post_action(client, case["id"], "accept")
    post_action(client, case["id"], "assign", department="991101-D01")
    login(client, "t_dept")
    html = page(client, "/triage/inbox")
    badge = re.search(r'id="inbox-badge"[^>]*>(\d+)<', html)
    assert badge and int(badge.group(1)) >= 1
    r = client.post("/triage/inbox/read", data={"csrf_token": csrf_token(html)})
    assert r.status_code == 302
    html = page(client, "/triage/inbox")
    assert 'id="inbox-badge"' not in html and "全部消息已标为已读" in html
