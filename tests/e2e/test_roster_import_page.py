"""The roster import page in real headless Chromium with a 5,000-row xlsx: the spinner while
it runs, the result with 5,000 one-time passwords, and a re-import that changes nothing.
With SCREENSHOT_DIR set, the result is saved as roster-import.png (README)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from benchmarks.bench_roster import roster_rows, write_xlsx
from fieldapp.models import Area, AuditEvent, Cell, User
from fieldapp.services import accounts
from tests import support
from tests.support import PASSWORD

pytestmark = pytest.mark.e2e
ADMIN = "t_e2e_roster_admin"


@pytest.fixture
def roster_admin(engine: Engine, small_city_loaded: None) -> Iterator[int]:
    """An admin committed for the live server, and everything the import made removed after
    (the live server commits for real)."""
    with Session(engine) as session, session.begin():
        admin = accounts.create_user(
            session, username=ADMIN, password=PASSWORD, role="admin", display_name="花名册管理员"
        )
        admin_id = admin.id
    try:
        yield admin_id
    finally:
        with Session(engine) as session, session.begin():
            made = select(User.id).where(User.username.like("139%"))
            session.execute(delete(AuditEvent).where(AuditEvent.actor_id.in_(made)))
            session.execute(delete(AuditEvent).where(AuditEvent.actor_id == admin_id))
            session.execute(delete(User).where(User.username.like("139%")))
            session.execute(delete(User).where(User.id == admin_id))


def test_importing_5000_people_in_the_browser(
    live_server: str, page_and_log: Any, roster_admin: int, engine: Engine, tmp_path: Path
) -> None:
    with Session(engine) as session:
        cells = list(session.execute(select(Cell.code).order_by(Cell.code)).scalars())
        townships = list(
            session.execute(select(Area.code).where(Area.level == "township")).scalars()
        )
        counties = list(session.execute(select(Area.code).where(Area.level == "county")).scalars())
    rows = roster_rows(cells, townships, counties, 5000)
    path = tmp_path / "花名册.xlsx"
    write_xlsx(rows, path)

    page, log = page_and_log
    page.goto(f"{live_server}/login?next=/admin/roster")
    page.fill('input[name="username"]', ADMIN)
    page.fill('input[name="password"]', PASSWORD)
    page.click('form.login button[type="submit"]')
    page.wait_for_selector("#roster-form")
    assert page.title().startswith("花名册导入")

    page.set_input_files("#roster-file", str(path))
    # Whether the spinner showed while the request ran, noted where it outlives the page.
    page.evaluate(
        """() => {
          const spinner = document.getElementById("roster-spinner");
          new MutationObserver(() => sessionStorage.setItem(
            "spinner", getComputedStyle(spinner).display)).observe(spinner, {attributes: true});
        }"""
    )
    page.click("#roster-submit")
    page.wait_for_selector("#roster-outcome", timeout=180_000)
    assert page.evaluate("sessionStorage.getItem('spinner')") == "flex"
    assert page.locator("#count-created").inner_text() == "5000"
    assert page.locator("#roster-passwords tbody tr").count() == 5000
    assert "导入完成：5000 项改动" in page.locator("#roster-outcome").inner_text()
    support.save_screenshot(page, "roster-import.png", full_page=False)

    page.set_input_files("#roster-file", str(path))
    page.click("#roster-submit")
    page.wait_for_selector("#roster-outcome", timeout=180_000)
    assert "导入完成：0 项改动" in page.locator("#roster-outcome").inner_text()
    assert page.locator("#count-unchanged").inner_text() == "5000"
    assert page.locator("#roster-passwords").count() == 0
    assert log.blocked == [] and log.console_errors == []
