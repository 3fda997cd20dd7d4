"""Issue #14's common paths in real headless Chromium, clicks counted (the counts are
asserted, so a change that adds a click shows up here):

- city staff: dashboard → drill down → case list → export, in Chinese, the header listing the
  role's pages, the export labelled with its area and filters and its time in China time;
- the grid officer on a 390×844 phone: check in → file → the report's own page with its status
  and timeline; a second phone shows the day's check-in as done from the server.

No page asks for /favicon.ico in vain (404). With SCREENSHOT_DIR set, screenshots for the
README are saved there."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ
from fieldapp.models import CaseEvent, Checkin, ExportJob, Notification, Report
from tests import support
from tests.e2e.test_dashboard import _wait_ready, month  # noqa: F401  (fixture)
from tests.e2e.test_field_app import _phone_context, _sign_in

pytestmark = pytest.mark.e2e


class Clicks:
    """Counts what a person does: clicks and taps (typing into a field is not counted)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.n = 0

    def click(self, selector: str) -> None:
        self.n += 1
        self.page.click(selector)


def _not_found(page: Any) -> list[str]:
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    return missing


def test_city_dashboard_drill_down_case_list_export(
    live_server: str,
    engine: Engine,
    month: list[uuid.UUID],  # noqa: F811
    page_and_log: Any,
) -> None:
    page, log = page_and_log
    missing = _not_found(page)
    page.goto(f"{live_server}/login")
    page.fill('input[name="username"]', "t_city")
    page.fill('input[name="password"]', support.PASSWORD)
    clicks = Clicks(page)
    clicks.click('form.login button[type="submit"]')
    page.wait_for_url("**/triage/**")

    # The header: exactly the city's pages, in Chinese, with the language switch and sign-out.
    nav = page.locator("#site-nav a").all_text_contents()
    assert [t.strip() for t in nav] == [
        "受理分办",
        "超期与督办",
        "静默网格",
        "数据看板",
        "热点地图",
        "热点预警",
        "热点分析表",
        "消息",
        "导出",
        "审计日志",
        "我的账号",
    ], nav
    assert page.locator("#lang-switch").text_content() == "English"
    assert page.locator("#sign-out").is_visible()

    clicks.click("#nav-dashboard")
    page.wait_for_url("**/dashboard")
    _wait_ready(page)
    # Two overdue figures, named apart and explained.
    labels = page.locator(".figure .label").all_text_contents()
    assert "本期报告中已超期" in labels and "当前超期在办（不限上报时间）" in labels
    assert "过办理时限" in page.locator('.figure[data-key="overdue"] .help').text_content()
    # The village bar chart: horizontal, every label inside the chart (none cut off).
    page.click('#child-table tr[data-code="991101"] a.drill')  # drill down (counted below)
    clicks.n += 1
    page.wait_for_url("**/dashboard?area=991101*")
    _wait_ready(page)
    page.click('#child-table tr[data-code="991101001"] a.drill')
    clicks.n += 1
    page.wait_for_url("**/dashboard?area=991101001*")
    _wait_ready(page)
    horizontal = page.evaluate(
        "window.dashboard.charts['chart-children'].getOption().yAxis[0].type"
    )
    assert horizontal == "category"
    page.locator("#children").scroll_into_view_if_needed()
    support.save_screenshot(page, "ux-city-dashboard.png")

    # The figure → the case list behind it → export it, labelled with its filters.
    clicks.click('.figure[data-key="overdue_now"] a.value')
    page.wait_for_url("**/cases?*overdue=1*")
    assert int(page.locator("#case-total").get_attribute("data-total")) >= 1
    clicks.click("#export-list")
    page.wait_for_url("**/exports/?*")
    assert "已超期" in page.locator("#export-prefill").text_content()
    clicks.click("#export-submit")
    page.wait_for_selector("#exports tbody tr")
    row = page.locator("#exports tbody tr").first
    title = row.locator(".title").text_content()
    assert title == "测试街道001矛盾纠纷案件清单（已超期）", title
    requested = row.locator("td").first.text_content().strip()
    china_now = datetime.now(CHINA_TZ).replace(tzinfo=None)
    shown = datetime.strptime(requested, "%Y-%m-%d %H:%M")
    assert abs(shown - china_now) < timedelta(minutes=3), (requested, china_now)
    # Login + dashboard + 2 drill-downs + figure + export link + request = 7 clicks.
    assert clicks.n == 7
    assert not missing, missing
    assert not log.blocked and not log.console_errors, (log.blocked, log.console_errors)
    with Session(engine) as session, session.begin():
        ids = session.execute(select(ExportJob.id)).scalars().all()
        session.execute(delete(ExportJob).where(ExportJob.id.in_(ids)))


@pytest.fixture
def officer_cleanup(engine: Engine, people: dict[str, Any]) -> Iterator[None]:
    yield
    officer = int(people["officer_a"]["id"])
    with Session(engine) as session, session.begin():
        ids = session.execute(select(Report.id).where(Report.officer_id == officer)).scalars()
        ids = list(ids)
        session.execute(delete(CaseEvent).where(CaseEvent.report_id.in_(ids)))
        for report_id in ids:
            session.execute(
                delete(Notification).where(Notification.subject_id.like(f"{report_id}%"))
            )
        session.execute(delete(Report).where(Report.id.in_(ids)))
        session.execute(delete(Checkin).where(Checkin.officer_id == officer))


def _api(live_server: str, path: str, token: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        live_server + "/api/v1" + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


def test_officer_checks_in_files_and_sees_the_status_on_the_report_page(
    browser: Any, live_server: str, people: dict[str, Any], officer_cleanup: None
) -> None:
    context, page, log = _phone_context(browser)
    missing = _not_found(page)
    try:
        _sign_in(page, live_server)
        clicks = Clicks(page)
        clicks.n = 1  # the sign-in button
        clicks.click("#checkin")
        page.wait_for_selector('#checkin-status[data-state="sent"]')

        # 涉及人数 has no default: it must be filled, with 1 or more.
        assert page.locator("#f-people_involved").input_value() == ""
        page.locator("#f-category").select_option(index=1)
        clicks.click(".sev-orange")
        page.fill("#f-people_involved", "0")
        page.fill("#f-title", "楼道堆物纠纷")
        page.fill("#f-description", "两户因楼道堆放杂物发生争执。")
        clicks.click("#submit")
        assert page.locator('[data-error-for="people_involved"]').text_content()
        page.fill("#f-people_involved", "2")
        clicks.click("#submit")

        # The toast "sending" goes when the row says sent.
        page.wait_for_selector('#queue li[data-state="sent"]', timeout=15_000)
        page.wait_for_function(
            "document.getElementById('toast').hidden || "
            "document.getElementById('toast').textContent === '已发送'",
            timeout=5_000,
        )
        report_id = page.locator('#queue li[data-state="sent"]').first.get_attribute("data-id")

        # The coordinator accepts and assigns it; the officer opens the report's own page.
        case = {"id": report_id}
        token = str(people["coord_1"]["token"])
        version = _api(live_server, f"/cases/{report_id}", token)["version"]
        _api(live_server, f"/cases/{report_id}/actions/accept", token, {"version": version})
        _api(
            live_server,
            f"/cases/{report_id}/actions/assign",
            token,
            {"version": version + 1, "department": "991101-D01"},
        )
        assert case
        clicks.click(f'#queue li[data-id="{report_id}"]')
        page.wait_for_selector("#report-page:not([hidden])")
        page.wait_for_function("document.getElementById('report-status').textContent === '已交办'")
        assert "测试区司法局" in page.locator("#report-handler").text_content()
        steps = page.locator("#report-timeline li .what").all_text_contents()
        assert steps == ["已上报", "已受理", "已交办"], steps
        support.save_screenshot(page, "ux-city-officer-report.png")
        # Sign in + check in + severity + 2 × send (the first refused: 0 people) + open = 6.
        assert clicks.n == 6
        assert not missing, missing
        assert not log.blocked, log.blocked
    finally:
        context.close()

    # A new phone: today's check-in shows as done, read from the server.
    context, page, log = _phone_context(browser)
    try:
        _sign_in(page, live_server)
        page.wait_for_selector('#checkin-status[data-state="sent"]', timeout=10_000)
        assert page.locator("#checkin-status").text_content() == "今日已报到。"
    finally:
        context.close()


@pytest.fixture
def merge_cleanup(engine: Engine, people: dict[str, Any]) -> Iterator[None]:
    """Both officers' reports (and their events) go after the test."""
    yield
    officers = [int(people[who]["id"]) for who in ("officer_a", "officer_b")]
    with Session(engine) as session, session.begin():
        ids = list(
            session.execute(select(Report.id).where(Report.officer_id.in_(officers))).scalars()
        )
        session.execute(delete(CaseEvent).where(CaseEvent.report_id.in_(ids)))
        for report_id in ids:
            session.execute(
                delete(Notification).where(Notification.subject_id.like(f"{report_id}%"))
            )
        session.execute(update(Report).where(Report.id.in_(ids)).values(merged_into_id=None))
        session.execute(delete(Report).where(Report.id.in_(ids)))


def test_the_report_page_names_the_case_merged_into_by_number_not_title(
    browser: Any, live_server: str, people: dict[str, Any], merge_cleanup: None
) -> None:
    """officer_a's report is merged into a case officer_b filed in the same township: the
    report page shows that case's number and state, and nothing of its title."""
    lon, lat = support.cell_centre(0, 0)
    secret = "甲户私事：内部核查中"
    main = _api(
        live_server,
        "/reports",
        str(people["officer_b"]["token"]),
        support.report_fields("officer_b", lon=lon, lat=lat, title=secret),
    )
    mine = _api(
        live_server,
        "/reports",
        str(people["officer_a"]["token"]),
        support.report_fields("officer_a", title="楼道堆物纠纷"),
    )
    token = str(people["coord_1"]["token"])
    _api(live_server, f"/cases/{main['id']}/actions/accept", token, {"version": main["version"]})
    version = _api(live_server, f"/cases/{mine['id']}", token)["version"]
    _api(
        live_server,
        f"/cases/{mine['id']}/actions/merge",
        token,
        {"version": version, "into": main["id"]},
    )

    context, page, log = _phone_context(browser)
    try:
        _sign_in(page, live_server)
        page.click('.tabs [data-tab="list"]')
        page.click(f'#server-list li[data-id="{mine["id"]}"]')
        page.wait_for_selector("#report-page:not([hidden])")
        page.wait_for_function("document.getElementById('report-status').textContent === '已合并'")
        detail = page.locator("#report-timeline li.step-merged .detail").text_content()
        assert detail == f"已并入案件{main['case_number']}（同一纠纷），该案件现为“已受理”。"
        assert secret not in page.locator("body").inner_text()
        assert secret not in page.content()
        assert not log.blocked, log.blocked
    finally:
        context.close()


def test_no_page_requests_a_missing_favicon(live_server: str, page_and_log: Any) -> None:
    page, _log = page_and_log
    missing = _not_found(page)
    for path in ("/login", "/field/", "/"):
        page.goto(live_server + path)
        page.wait_for_load_state("load")
    assert not [u for u in missing if "favicon" in u], missing
    assert re.search(r"/favicon\.ico$", live_server + "/favicon.ico")
