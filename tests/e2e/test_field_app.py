"""The grid officer's mobile app (/field/) in real headless Chromium on a phone-sized screen:
file a report online, file one offline and watch it go out when the signal comes back, and
make sure a lost answer never makes a duplicate. Every request that leaves 127.0.0.1 is
blocked and recorded."""

from __future__ import annotations

import io
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import Engine, text

from fieldapp.domain import CHINA_TZ, SEVERITIES, SEVERITY_COLOURS
from tests import support
from tests.e2e.conftest import PageLog

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
CELL_CODE = "991101001001001"  # lattice cell (0, 0), one of t_officer_a's cells
CELL_NAME = "测试网格001001"
REPORTS_URL = re.compile(r"/api/v1/reports(\?.*)?$")  # the collection, not photos


def _jpeg(colour: str = "#b71c1c") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def _phone_context(browser: Any, *, service_workers: str = "allow") -> tuple[Any, Any, PageLog]:
    lon, lat = support.cell_centre(0, 0)
    context = browser.new_context(
        viewport=PHONE,
        bypass_csp=True,  # wait_for_function evaluates strings (see conftest.page_and_log)
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation={"longitude": lon, "latitude": lat, "accuracy": 12},
        permissions=["geolocation"],
        service_workers=service_workers,
    )
    log = PageLog()

    def only_loopback(route: Any) -> None:
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            log.blocked.append(route.request.url)
            route.abort()

    # On the context, so requests from every page (and popup) are checked.
    context.route("**/*", only_loopback)
    context.on("request", lambda r: _record_foreign(log, r.url))
    page = context.new_page()
    log.watch(page)
    return context, page, log


def _record_foreign(log: PageLog, url: str) -> None:
    host = urlparse(url).hostname
    if not url.startswith(("data:", "blob:")) and host != "127.0.0.1":
        log.blocked.append(url)


@pytest.fixture
def phone(browser: Any, live_server: str, people: dict[str, Any]) -> Iterator[tuple[Any, PageLog]]:
    context, page, log = _phone_context(browser)
    yield page, log
    context.close()


def _sign_in(page: Any, live_server: str, path: str = "/field/") -> None:
    page.goto(live_server + path)
    page.fill("#signin-username", "t_officer_a")
    page.fill("#signin-password", support.PASSWORD)
    page.click("#signin-submit")
    page.wait_for_selector("#screen-app:not([hidden])")
    # Categories arrive from the API (and are kept for offline use).
    page.wait_for_function("document.querySelectorAll('#f-category option').length > 1")


def _fill_report(page: Any, title: str, *, with_photo: bool = True) -> None:
    page.locator("#f-category").select_option(index=1)
    page.click(".sev-orange")
    page.fill("#f-people_involved", "6")
    assert page.locator("#group-hint").is_visible()  # ≥ 5 people: possible group incident
    page.click("#add-party")
    party = page.locator("#parties .party").first
    party.locator("[data-party=name]").fill("张三")
    party.locator("[data-party=phone]").fill("13800000000")
    party.locator("[data-party=role]").fill("申请人")
    page.fill("#f-title", title)
    page.fill("#f-description", "两户因排水沟堵塞发生争执，现场已初步劝解。")
    page.fill("#f-address", "测试社区 3 号楼")
    if with_photo:
        page.set_input_files(
            "#f-photos",
            files=[{"name": "scene.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}],  # fmt: skip
        )
        page.wait_for_selector("#previews img")


def _server_reports(live_server: str, token: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        live_server + "/api/v1/reports?per_page=100",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        items: list[dict[str, Any]] = json.load(response)["items"]
    return items


def _unexpected(errors: list[str], *expected: str) -> list[str]:
    """Console errors other than the browser's own notes about requests a test made fail."""
    return [e for e in errors if not any(part in e for part in expected)]


def _wait_state(page: Any, report_id: str | None, title: str, state: str, timeout: float) -> str:
    row = page.locator("#queue li.item", has_text=title)
    row.first.wait_for(timeout=timeout * 1000)
    page.wait_for_function(
        """([title, state]) => Array.from(document.querySelectorAll('#queue li.item'))
             .some(li => li.textContent.includes(title) && li.dataset.state === state)""",
        arg=[title, state],
        timeout=timeout * 1000,
    )
    found: str = row.first.get_attribute("data-id")
    assert report_id is None or found == report_id
    return found


def test_file_a_report_online_on_a_phone(
    live_server: str, phone: tuple[Any, PageLog], people: dict[str, Any]
) -> None:
    page, log = phone
    _sign_in(page, live_server)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    # Geolocation put the pin in the officer's own cell; its outline is drawn without tiles.
    page.wait_for_function(
        "name => document.querySelector('#cell-status').textContent.includes(name)",
        arg=CELL_NAME,
    )
    assert "±12" in page.locator("#pos-status").inner_text()
    page.wait_for_selector(".leaflet-overlay-pane path.cell-located")
    assert page.locator(".leaflet-tile").count() == 0

    # Phone layout: nothing wider than the screen, big severity buttons.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for level in SEVERITIES:
        box = page.locator(f".sev-{level}").bounding_box()
        assert box is not None and box["height"] >= 44
        # In the one palette (fieldapp.domain.SEVERITY_COLOURS), set by the server.
        hex_ = SEVERITY_COLOURS[level].lstrip("#")
        rgb = "rgb({}, {}, {})".format(*(int(hex_[i : i + 2], 16) for i in (0, 2, 4)))
        assert (
            page.eval_on_selector(f".sev-{level}", "e => getComputedStyle(e).backgroundColor")
            == rgb
        )
    assert "红" in page.locator(".sev-red").inner_text()
    # Times are shown in the server's zone, whatever the phone's.
    assert page.evaluate("window.FIELD_CONFIG.time_zone") == CHINA_TZ.key

    # Client-side validation mirrors the server's.
    page.click("#submit")
    assert page.locator('[data-error-for="title"]').inner_text() == "必填。"
    assert page.locator('[data-error-for="severity"]').inner_text() == "必填。"

    title = f"排水沟纠纷 {uuid.uuid4().hex[:8]}"
    _fill_report(page, title)
    page.click("#submit")
    report_id = _wait_state(page, None, title, "sent", timeout=30)
    assert "已发送" in page.locator(f'#queue li[data-id="{report_id}"]').inner_text()

    token = str(people["officer_a"]["token"])
    mine = [r for r in _server_reports(live_server, token) if r["title"] == title]
    assert len(mine) == 1
    report = mine[0]
    assert report["id"] == report_id
    assert report["severity"] == "orange" and report["people_involved"] == 6
    assert report["cell"]["code"] == CELL_CODE
    assert report["outside_own_cells"] is False
    assert len(report["photos"]) == 1

    # "My reports" shows the server's list with statuses and Chinese dates.
    server_row = page.locator(f'#server-list li[data-id="{report_id}"]')
    server_row.wait_for()
    assert "年" in server_row.inner_text() and "月" in server_row.inner_text()

    assert log.blocked == [] and log.failed == [] and log.console_errors == []


def test_offline_report_waits_then_goes_out_once(
    live_server: str, phone: tuple[Any, PageLog], people: dict[str, Any], engine: Engine
) -> None:
    page, log = phone
    context = page.context
    _sign_in(page, live_server)
    # The service worker controls the page once it has precached the app shell.
    page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller")
    page.wait_for_function(
        "name => document.querySelector('#cell-status').textContent.includes(name)",
        arg=CELL_NAME,
    )

    context.set_offline(True)
    # The form opens with no network at all: the shell, script, styles and Leaflet come from
    # the service worker, the sign-in and categories from IndexedDB.
    page.reload()
    page.wait_for_selector("#screen-app:not([hidden])")
    page.wait_for_function("document.querySelectorAll('#f-category option').length > 1")
    assert page.locator("#offline-note").is_visible()
    page.wait_for_function(
        "document.querySelector('#cell-status').textContent.includes('发送时')"
    )  # offline: the cell is found on sending

    title = f"离线上报 {uuid.uuid4().hex[:8]}"
    _fill_report(page, title)
    page.click("#submit")
    report_id = _wait_state(page, None, title, "waiting", timeout=10)
    assert "等待发送" in page.locator(f'#queue li[data-id="{report_id}"]').inner_text()
    # The daily check-in is queued too.
    page.click('.tabs [data-tab="new"]')
    page.click("#checkin")
    page.wait_for_selector('#checkin-status[data-state="waiting"]')
    page.click('.tabs [data-tab="list"]')
    time.sleep(1.5)
    assert page.locator(f'#queue li[data-id="{report_id}"]').get_attribute("data-state") == (
        "waiting"
    )

    context.set_offline(False)  # the `online` event starts the sync
    _wait_state(page, report_id, title, "sent", timeout=30)

    token = str(people["officer_a"]["token"])
    mine = [r for r in _server_reports(live_server, token) if r["title"] == title]
    assert len(mine) == 1 and mine[0]["id"] == report_id
    assert mine[0]["cell"]["code"] == CELL_CODE
    assert len(mine[0]["photos"]) == 1
    page.click('.tabs [data-tab="new"]')
    page.wait_for_selector('#checkin-status[data-state="sent"]', timeout=15000)
    with engine.connect() as connection:
        days: int = connection.execute(
            text("SELECT count(*) FROM checkins WHERE officer_id = :id AND nothing_to_report"),
            {"id": people["officer_a"]["id"]},
        ).scalar_one()
    assert days >= 1

    assert log.blocked == []
    # Offline, the browser reports the requests it could not make; nothing else may go wrong.
    assert _unexpected(log.console_errors, "ERR_INTERNET_DISCONNECTED") == []


def test_a_lost_answer_is_retried_without_a_duplicate(
    browser: Any, live_server: str, people: dict[str, Any]
) -> None:
    # No service worker here, so the test's route sees the app's own requests.
    context, page, log = _phone_context(browser, service_workers="block")
    try:
        _sign_in(page, live_server)
        page.wait_for_function(
            "name => document.querySelector('#cell-status').textContent.includes(name)",
            arg=CELL_NAME,
        )
        answers_lost: list[str] = []

        def lose_first_answer(route: Any) -> None:
            if route.request.method == "POST" and not answers_lost:
                route.fetch()  # the server stores the report …
                answers_lost.append(route.request.url)
                route.abort("connectionreset")  # … but the phone never hears back
            else:
                route.fallback()

        page.route(REPORTS_URL, lose_first_answer)
        title = f"丢失应答 {uuid.uuid4().hex[:8]}"
        _fill_report(page, title, with_photo=False)
        page.click("#submit")
        report_id = _wait_state(page, None, title, "waiting", timeout=10)
        # The row shows "waiting" as soon as it is queued, which can be before the route has
        # stored the report and dropped the answer (slower on a loaded machine): wait for that
        # too, pumping the page's events so the route handler runs.
        for _ in range(150):
            if answers_lost:
                break
            page.wait_for_timeout(100)
        assert answers_lost
        page.click(f'#queue li[data-id="{report_id}"] >> text=立即发送')
        _wait_state(page, report_id, title, "sent", timeout=30)

        token = str(people["officer_a"]["token"])
        mine = [r for r in _server_reports(live_server, token) if r["title"] == title]
        assert len(mine) == 1 and mine[0]["id"] == report_id
        assert log.blocked == []
        assert _unexpected(log.console_errors, "ERR_CONNECTION_RESET") == []
    finally:
        context.close()


def test_server_field_errors_are_shown_and_kept(
    browser: Any, live_server: str, people: dict[str, Any]
) -> None:
    """A report the server refuses (400) is never dropped: it is marked 需要处理 and can be
    corrected with the server's message next to the field."""
    context, page, log = _phone_context(browser, service_workers="block")
    try:
        _sign_in(page, live_server)

        def refuse(route: Any) -> None:
            if route.request.method == "POST":
                route.fulfill(
                    status=400,
                    content_type="application/json",
                    body=json.dumps({"error": {"code": "invalid_report", "message": "请更正。",
                                               "fields": {"title": "标题不合适。"}}}),
                )  # fmt: skip
            else:
                route.fallback()

        page.route(REPORTS_URL, refuse)
        title = f"被退回 {uuid.uuid4().hex[:8]}"
        page.wait_for_function("document.querySelector('#pos-status').textContent !== ''")
        _fill_report(page, title, with_photo=False)
        page.click("#submit")
        report_id = _wait_state(page, None, title, "attention", timeout=15)
        row = page.locator(f'#queue li[data-id="{report_id}"]')
        assert "需要处理" in row.inner_text() and "请更正。" in row.inner_text()
        row.locator("button.secondary").click()
        assert page.locator('[data-error-for="title"]').inner_text() == "标题不合适。"
        assert page.input_value("#f-title") == title

        page.unroute(REPORTS_URL)
        page.fill("#f-title", title + " 已更正")
        page.click("#submit")
        _wait_state(page, report_id, title + " 已更正", "sent", timeout=30)
        assert log.blocked == []
        assert _unexpected(log.console_errors, "status of 400") == []
    finally:
        context.close()


def test_expired_sign_in_keeps_the_queue(
    browser: Any, live_server: str, people: dict[str, Any]
) -> None:
    """A 401 while sending asks the officer to sign in again; the report stays queued and goes
    out after the new sign-in."""
    context, page, log = _phone_context(browser, service_workers="block")
    try:
        _sign_in(page, live_server)
        refused: list[str] = []

        def expire_once(route: Any) -> None:
            if route.request.method == "POST" and not refused:
                refused.append(route.request.url)
                route.fulfill(
                    status=401,
                    content_type="application/json",
                    body=json.dumps({"error": {"code": "unauthorized", "message": "expired"}}),
                )
            else:
                route.fallback()

        page.route(REPORTS_URL, expire_once)
        page.wait_for_function("document.querySelector('#pos-status').textContent !== ''")
        title = f"重新登录 {uuid.uuid4().hex[:8]}"
        _fill_report(page, title, with_photo=False)
        page.click("#submit")
        page.wait_for_selector("#screen-signin:not([hidden])")
        assert "重新登录" in page.locator("#signin-note").inner_text()
        assert page.input_value("#signin-username") == "t_officer_a"
        page.fill("#signin-password", support.PASSWORD)
        page.click("#signin-submit")
        page.click('.tabs [data-tab="list"]')
        report_id = _wait_state(page, None, title, "sent", timeout=30)

        token = str(people["officer_a"]["token"])
        mine = [r for r in _server_reports(live_server, token) if r["title"] == title]
        assert len(mine) == 1 and mine[0]["id"] == report_id
        assert log.blocked == []
        assert _unexpected(log.console_errors, "status of 401") == []
    finally:
        context.close()


def test_every_string_the_script_uses_is_served() -> None:
    """A typo in a string key would show the key itself to the officer."""
    from pathlib import Path

    from fieldapp.blueprints import field

    script = (field.STATIC / "field" / "app.js").read_text(encoding="utf-8")
    used = set(re.findall(r'\bt\(\s*"(\w+)"', script))
    served = set(re.findall(r'^\s+"(\w+)": _\(', Path(field.__file__).read_text(), re.M))
    assert used and used <= served, sorted(used - served)


def test_english_manifest_and_service_worker(live_server: str, browser: Any) -> None:
    with urllib.request.urlopen(live_server + "/field/manifest.webmanifest") as response:
        assert response.headers["Content-Type"].startswith("application/manifest+json")
        manifest = json.load(response)
    assert manifest["name"] == "日照网格员" and manifest["start_url"] == "/field/"
    assert manifest["display"] == "standalone" and manifest["theme_color"] == "#b71c1c"
    assert {i["sizes"] for i in manifest["icons"]} == {"192x192", "512x512"}
    with urllib.request.urlopen(live_server + "/field/sw.js") as response:
        assert "no-cache" in response.headers["Cache-Control"]
        source = response.read().decode()
    assert "__VERSION__" not in source and '"/static/field/app.js"' in source

    context, page, log = _phone_context(browser, service_workers="block")
    try:
        page.goto(live_server + "/field/?lang=en")
        assert page.locator("html").get_attribute("lang") == "en-GB"
        assert page.locator("#signin-submit").inner_text() == "Sign in"
        assert page.locator("a.lang").inner_text() == "中文"
        assert page.evaluate("window.I18N.state_waiting") == "Waiting to send"
        assert log.blocked == [] and log.console_errors == []
    finally:
        context.close()
