"""First sign-in with a one-time password, at phone size in real Chromium: the officer is sent
to /account, sees the rules, changes the password, and goes on to the field app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from fieldapp.models import AuditEvent, User
from tests import support

pytestmark = pytest.mark.e2e
NEW_PASSWORD = "plum-blossom-2026"


@pytest.fixture
def fresh_officer(engine: Engine, small_city_loaded: None) -> Iterator[tuple[str, str]]:
    with Session(engine) as session, session.begin():
        user, password = support.enrol_officer(
            session, "t_e2e_first_signin", "991101002003001", "首次登录"
        )
        user_id = user.id
    try:
        yield "t_e2e_first_signin", password
    finally:
        with Session(engine) as session, session.begin():
            session.execute(delete(AuditEvent).where(AuditEvent.actor_id == user_id))
            session.execute(delete(User).where(User.id == user_id))


def test_first_sign_in_changes_the_one_time_password(
    live_server: str, browser: Any, fresh_officer: tuple[str, str]
) -> None:
    username, password = fresh_officer
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{live_server}/login?next=/field/")
        page.fill('input[name="username"]', username)
        page.fill('input[name="password"]', password)
        page.click('form.login button[type="submit"]')
        page.wait_for_selector("#must-change")
        assert page.url.endswith("/account")
        assert "至少 10 个字符" in page.locator("#password-rules").inner_text()
        page.fill('input[name="old_password"]', password)
        page.fill('input[name="new_password"]', "1234567890")
        page.fill('input[name="confirm_password"]', "1234567890")
        page.click("#change-password")
        page.wait_for_selector("#password-error")
        assert "常见" in page.locator("#password-error").inner_text()
        support.save_screenshot(page, "roster-account.png")
        page.fill('input[name="old_password"]', password)
        page.fill('input[name="new_password"]', NEW_PASSWORD)
        page.fill('input[name="confirm_password"]', NEW_PASSWORD)
        page.click("#change-password")
        page.wait_for_selector("#flashes")
        assert "密码已修改" in page.locator("#flashes").inner_text()
        assert page.locator("#must-change").count() == 0
        response = page.goto(f"{live_server}/field/")
        assert response is not None and response.status == 200 and page.url.endswith("/field/")
        assert errors == []
    finally:
        context.close()


def test_first_sign_in_on_the_phone_app_chooses_a_password_there(
    live_server: str, browser: Any, fresh_officer: tuple[str, str]
) -> None:
    """The field app (/field/) itself: the one-time password gets no token, the sign-in form
    asks for the officer's own password (twice), a refused one says why and keeps what was
    typed, and the chosen one signs the officer in."""
    from tests.e2e.test_field_app import _phone_context

    username, password = fresh_officer
    context, page, log = _phone_context(browser, service_workers="block")
    try:
        page.goto(f"{live_server}/field/")
        page.fill("#signin-username", username)
        page.fill("#signin-password", password)
        page.click("#signin-submit")
        page.wait_for_selector("#signin-new:not([hidden])")
        assert "一次性密码" in page.locator("#signin-error").inner_text()
        assert "至少 10 个字符" in page.locator("#signin-new").inner_text()
        assert page.locator("#signin-submit").inner_text() == "保存密码并登录"
        assert page.locator("#screen-app").is_hidden()

        page.fill("#signin-new-password", NEW_PASSWORD)
        page.fill("#signin-confirm-password", NEW_PASSWORD + "x")
        page.click("#signin-submit")
        page.wait_for_function(
            "document.querySelector('#signin-error').textContent.includes('两次')"
        )
        page.fill("#signin-new-password", "1234567890")
        page.fill("#signin-confirm-password", "1234567890")
        page.click("#signin-submit")
        page.wait_for_function(
            "document.querySelector('#signin-error').textContent.includes('常见')"
        )
        assert page.input_value("#signin-password") == password  # nothing typed is lost
        support.save_screenshot(page, "field-first-sign-in.png")

        page.fill("#signin-new-password", NEW_PASSWORD)
        page.fill("#signin-confirm-password", NEW_PASSWORD)
        page.click("#signin-submit")
        page.wait_for_selector("#screen-app:not([hidden])")
        assert "首次登录" in page.locator("#who").inner_text()
        assert page.input_value("#signin-new-password") == ""
        assert log.blocked == [] and log.failed == []
        assert [e for e in log.console_errors if "403" not in e and "400" not in e] == []
    finally:
        context.close()
