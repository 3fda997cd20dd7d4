"""The case workflow through the triage pages in real headless Chromium: the coordinator accepts
and assigns, the department signs for and asks to close, the coordinator approves, and the
case page's timeline lists every step in order. Nothing leaves 127.0.0.1, nothing logs a
console error, and report titles that look like HTML never run as script."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest

from tests import support
from tests.e2e.conftest import PageLog

pytestmark = pytest.mark.e2e

XSS_TITLES = ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>")


class Browser:
    """One signed-in person: a browser context whose requests must stay on 127.0.0.1."""

    def __init__(self, browser: Any, live_server: str) -> None:
        self.live_server = live_server
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        self.log = PageLog()
        self.dialogs: list[str] = []
        self.context.route("**/*", self._only_loopback)
        self.page = self.context.new_page()
        self.log.watch(self.page)
        self.page.on("dialog", self._dialog)

    def _only_loopback(self, route: Any) -> None:
        url = route.request.url
        if url.startswith("data:") or urlparse(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.log.blocked.append(url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        # An alert() from a title would mean the title ran as script.
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def sign_in(self, username: str, then: str) -> None:
        self.page.goto(f"{self.live_server}/login?next={then}")
        self.page.fill('input[name="username"]', username)
        self.page.fill('input[name="password"]', support.PASSWORD)
        self.page.click('form.login button[type="submit"]')
        self.page.wait_for_url(f"**{then}*")

    def open_case(self, case_id: str) -> None:
        self.page.goto(f"{self.live_server}/triage/cases/{case_id}")
        self.page.wait_for_selector("#case-status")

    def step(self, action: str, *, select: dict[str, str] | None = None, text: str = "") -> None:
        """Fill one step's form on the case page and submit it; wait for the page to reload."""
        form = self.page.locator(f"#form-{action}")
        for name, value in (select or {}).items():
            form.locator(f'select[name="{name}"]').select_option(value)
        if text:
            form.locator('textarea[name="reason"]').fill(text)
        with self.page.expect_navigation():
            form.locator(f"#do-{action}").click()
        self.page.wait_for_selector("#case-status")
        flashes = self.page.locator("#flashes .flash-success")
        assert flashes.count() == 1, self.page.content()[:3000]

    def status(self) -> str:
        text: str = self.page.locator("#case-status").inner_text()
        return text

    def assert_clean(self) -> None:
        assert self.log.blocked == [], self.log.blocked
        assert self.log.failed == [], self.log.failed
        assert self.log.console_errors == [], self.log.console_errors
        assert self.dialogs == [], self.dialogs

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_browser(browser: Any, live_server: str) -> Iterator[Any]:
    opened: list[Browser] = []

    def make() -> Browser:
        b = Browser(browser, live_server)
        opened.append(b)
        return b

    yield make
    for b in opened:
        b.close()


def _file(live_server: str, token: str, title: str, lon_offset: float = 0.0) -> str:
    lon, lat = support.cell_centre(0, 1)
    body = {
        "id": str(uuid.uuid4()),
        "lon": lon + lon_offset,
        "lat": lat,
        "category": "neighbours",
        "severity": "orange",
        "people_involved": 3,
        "title": title,
        "description": "两户因排水沟堵塞发生争执。",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
    }
    request = urllib.request.Request(
        f"{live_server}/api/v1/reports",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        report_id: str = json.load(response)["id"]
    return report_id


def test_the_closed_loop_in_the_browser(
    live_server: str, open_browser: Any, people: dict[str, Any]
) -> None:
    token = str(people["officer_a"]["token"])
    title = f"排水沟纠纷 {uuid.uuid4().hex[:8]}"
    case_id = _file(live_server, token, title)
    xss_ids = [_file(live_server, token, t, 0.0002 * (i + 1)) for i, t in enumerate(XSS_TITLES)]

    coordinator = open_browser()
    coordinator.sign_in("t_coord_1", "/triage/")
    page = coordinator.page
    # The queue: Chinese, the titles shown as text (not markup), and a light per row.
    page.goto(f"{live_server}/triage/?per_page=200")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    row = page.locator(f'tr.case-row[data-id="{case_id}"]')
    assert "待受理" in row.inner_text() and "剩余" in row.inner_text()
    for xss_id, xss_title in zip(xss_ids, XSS_TITLES, strict=True):
        link = page.locator(f'tr.case-row[data-id="{xss_id}"] td.title a')
        assert link.inner_text() == xss_title
    assert page.locator("#case-table img").count() == 0  # no <img> smuggled in by a title

    # Bulk: accept both look-alike titles, then assign them to a department.
    for xss_id in xss_ids:
        page.check(f'input[name="case"][value="{xss_id}"]')
    with page.expect_navigation():
        page.click("#bulk-accept")
    assert "已完成 2 件" in page.locator("#flashes").inner_text()
    for xss_id in xss_ids:
        page.check(f'input[name="case"][value="{xss_id}"]')
    page.select_option("#bulk-department", "991101-D01")
    with page.expect_navigation():
        page.click("#bulk-assign")
    assert "已完成 2 件" in page.locator("#flashes").inner_text()

    # The case page: details, the map drawn offline, then accept and assign.
    page.click(f'tr.case-row[data-id="{case_id}"] td.title a')
    page.wait_for_selector("#case-status")
    assert page.locator("#case-title").inner_text() == title
    page.wait_for_selector("#case-map path.case-point")
    page.wait_for_selector("#case-map path.cell-own")
    assert page.locator(".leaflet-tile").count() == 0
    coordinator.step("accept")
    assert coordinator.status() == "已受理"
    coordinator.step("assign", select={"department": "991101-D01"})
    assert coordinator.status() == "已交办"

    # The department handler signs for it and asks to close it.
    department = open_browser()
    department.sign_in("t_dept", "/triage/department")
    dept_page = department.page
    assert dept_page.locator("#inbox-badge").count() == 1
    for xss_title in XSS_TITLES:
        assert dept_page.locator("td.title a", has_text=xss_title).count() == 1
    dept_page.goto(f"{live_server}/triage/inbox")
    assert dept_page.locator("#inbox li", has_text=XSS_TITLES[0]).count() == 1
    dept_page.goto(f"{live_server}/triage/department")
    dept_page.click(f'tr.case-row[data-id="{case_id}"] td.title a')
    dept_page.wait_for_selector("#case-status")
    department.step("sign_for")
    assert department.status() == "已签收"
    department.step("request_closing", text="双方达成调解协议，已签字。")
    assert department.status() == "待审核"

    # The coordinator reviews and closes it as resolved (化解).
    coordinator.open_case(case_id)
    coordinator.step("approve_closing", select={"outcome": "resolved"})
    assert coordinator.status() == "已办结"
    assert page.locator("#case-outcome").inner_text() == "化解"
    steps = page.locator("#timeline > li").evaluate_all("items => items.map(i => i.dataset.action)")
    assert steps == [
        "reported",
        "accept",
        "assign",
        "sign_for",
        "request_closing",
        "approve_closing",
    ]
    timeline = page.locator("#timeline").inner_text()
    assert "双方达成调解协议" in timeline and "年" in timeline

    # The look-alike titles on their own case pages stay text too.
    for xss_id, xss_title in zip(xss_ids, XSS_TITLES, strict=True):
        coordinator.open_case(xss_id)
        assert page.locator("#case-title").inner_text() == xss_title

    coordinator.assert_clean()
    department.assert_clean()
