"""The settings and audit pages in real headless Chromium: an administrator corrects a bad
deadline policy (the page says which field, keeps what was typed), saves it as a new
version, finds the change in the audit log with where it came from, narrows the log and
downloads it as CSV. Nothing leaves 127.0.0.1 and nothing logs a console error. Screenshots
for the README (with SCREENSHOT_DIR): settings-deadlines.png and settings-audit.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fieldapp.models import AuditEvent, DeadlinePolicyVersion, Report, SettingsRevision, User
from fieldapp.services import accounts, settings
from tests import support
from tests.e2e.conftest import PageLog

pytestmark = pytest.mark.e2e

USERNAME = "t_e2e_admin"


@pytest.fixture
def admin_account(engine: Engine, live_server: str) -> Iterator[int]:
    """A committed admin (the live server has its own sessions). Afterwards the versions it
    saved and its audit records are removed, so later tests file reports under the
    configured policy as before."""
    with Session(engine) as session, session.begin():
        user = session.execute(select(User).where(User.username == USERNAME)).scalar_one_or_none()
        if user is None:
            user = accounts.create_user(
                session,
                username=USERNAME,
                password=support.PASSWORD,
                role="admin",
                display_name="浏览器管理员",
            )
        user_id = user.id
        known = set(session.execute(select(DeadlinePolicyVersion.version)).scalars())
    try:
        yield user_id
    finally:
        with Session(engine) as session, session.begin():
            mine = [
                v
                for v in session.execute(select(DeadlinePolicyVersion.version)).scalars()
                if v not in known
            ]
            session.execute(
                update(Report)
                .where(Report.deadline_policy_version.in_(mine))
                .values(deadline_policy_version=None)
            )
            session.execute(
                delete(DeadlinePolicyVersion).where(DeadlinePolicyVersion.version.in_(mine))
            )
            session.execute(delete(AuditEvent).where(AuditEvent.actor_id == user_id))
            session.execute(update(SettingsRevision).values(revision=SettingsRevision.revision + 1))
        settings.cache.invalidate()


def test_deadline_policy_and_audit_log_in_chromium(
    browser: Any, live_server: str, admin_account: int, tmp_path: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 1280, "height": 1000},
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        accept_downloads=True,
    )
    log = PageLog()

    def only_loopback(route: Any) -> None:
        url = route.request.url
        if url.startswith("data:") or url.startswith(live_server):
            route.continue_()
        else:
            log.blocked.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    log.watch(page)
    try:
        page.goto(f"{live_server}/login?next=/admin/")
        page.fill('input[name="username"]', USERNAME)
        page.fill('input[name="password"]', support.PASSWORD)
        page.click('form.login button[type="submit"]')
        page.wait_for_url("**/admin/")
        assert page.locator("#link-people").get_attribute("href") == "/admin/people"

        page.click("#link-settings")
        page.click("#tab-deadlines")
        page.wait_for_selector("#policy-form")
        # A typo: the page answers which field, and keeps the rest of what was typed.
        page.fill("#acceptance_red_value", "两小时")
        page.fill("#note", "红色受理时限调整为 4 小时")
        page.click("#save-policy")
        page.wait_for_selector("#error-acceptance_red_value")
        assert page.input_value("#note") == "红色受理时限调整为 4 小时"
        assert "1 至 720 之间的整数" in page.inner_text("#error-acceptance_red_value")
        # The refused form answered 400 on purpose; Chromium logs that status as an error.
        assert [e for e in log.console_errors if "400" not in e] == []
        log.console_errors.clear()

        page.fill("#acceptance_red_value", "4")
        page.select_option("#handling_yellow_unit", "days")
        page.fill("#handling_yellow_value", "10")
        page.click("#save-policy")
        page.wait_for_selector("#flashes .flash-ok")
        flash = page.inner_text("#flashes")
        assert "新报告按此版执行" in flash
        version = int(
            page.inner_text("#policy-history tbody tr:first-child td:first-child").split()[0]
        )
        row = page.inner_text(f"#version-{version}")
        assert "浏览器管理员" in row and "红 4小时" in row and "黄 10天" in row
        assert page.input_value("#acceptance_red_value") == "4"  # the form shows what is in force
        support.save_screenshot(page, "settings-deadlines.png")

        # Two more changes, each undone (the test database stays as it was): a holiday
        # added and removed on the calendar page.
        page.click("#tab-calendar")
        page.wait_for_selector("#add-day")
        page.fill("#day", "2026-12-31")
        page.select_option("#kind", "holiday")
        page.fill("#name", "试验假日")
        page.click("#add-day button[type=submit]")
        page.wait_for_selector("#day-2026-12-31")
        page.click("#day-2026-12-31 button[type=submit]")
        page.wait_for_selector("#flashes .flash-ok")
        assert page.locator("#day-2026-12-31").count() == 0

        # The changes in the audit log: who, what, which object, from where, China time.
        page.goto(f"{live_server}/admin/audit")
        page.fill("#f-person", USERNAME)
        page.fill("#f-action", "settings.")
        page.click("#apply-filters")
        page.wait_for_selector("#audit-rows")
        rows = page.locator("#audit-rows tbody tr")
        assert rows.count() == 3
        assert "settings.calendar_remove" in rows.nth(0).inner_text()
        assert "试验假日" in rows.nth(1).inner_text()  # not \u-escaped
        text = rows.nth(2).inner_text()
        assert "settings.deadline_policy" in text and "127.0.0.1" in text
        assert f"deadline_policy {version}" in text
        support.save_screenshot(page, "settings-audit.png")

        with page.expect_download() as info:
            page.click("#export-csv")
        saved = tmp_path / "audit.csv"
        info.value.save_as(saved)
        content = saved.read_text(encoding="utf-8-sig")
        assert content.splitlines()[0].startswith("时间（北京时间）")
        assert "settings.deadline_policy" in content and "127.0.0.1" in content

        assert log.blocked == [], log.blocked
        assert log.console_errors == [], log.console_errors
    finally:
        context.close()
