"""The coordinator's common path in real headless Chromium at desktop size (issue 14): open the
queue → accept → assign, counted in clicks; the queue's urgency order and text search; the
filters kept after a bulk action; and a merge that says which case is kept, asks to confirm,
goes the direction shown and can be undone. Set SCREENSHOT_DIR to also save the queue and
case page (docs/screenshots/ux-coord-*.png were taken this way)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests import support
from tests.e2e.test_triage_flow import Browser, _file

pytestmark = pytest.mark.e2e

#: The common path, counted: open the case from the queue, 受理, choose the department, 交办.
COMMON_PATH_CLICKS = 4


@pytest.fixture
def coordinator(browser: Any, live_server: str) -> Iterator[Browser]:
    b = Browser(browser, live_server)
    b.sign_in("t_coord_1", "/triage/")
    yield b
    b.close()


def _set_due(engine: Engine, report_id: str, due: datetime | None, severity: str) -> None:
    """Age a case (the browser cannot wait a day): its due time and severity."""
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE reports SET due_at = :due, severity = :sev WHERE id = :id"),
            {"due": due, "sev": severity, "id": report_id},
        )


@pytest.fixture
def aged(engine: Engine) -> Iterator[Any]:
    """_set_due, undone after the test: the browser tests' data is committed and the other
    tests (exports by severity, overdue counts) must not find red or overdue cases of ours."""
    changed: list[tuple[str, Any, str]] = []

    def age(report_id: str, due: datetime, severity: str) -> None:
        with engine.begin() as connection:
            before = connection.execute(
                text("SELECT due_at, severity FROM reports WHERE id = :id"), {"id": report_id}
            ).one()
        changed.append((report_id, before[0], before[1]))
        _set_due(engine, report_id, due, severity)

    yield age
    for report_id, due, severity in changed:
        _set_due(engine, report_id, due, severity)


def test_open_queue_accept_assign_in_four_clicks_most_urgent_first(
    coordinator: Browser, live_server: str, people: dict[str, Any], aged: Any
) -> None:
    token = str(people["officer_a"]["token"])
    tag = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    red_later = _file(live_server, token, f"红色 八天后到期 {tag}", 0.0001)
    yellow_overdue = _file(live_server, token, f"黄色 已超期 {tag}", 0.0002)
    orange_soon = _file(live_server, token, f"橙色 三小时后到期 {tag}", 0.0003)
    aged(red_later, now + timedelta(days=8), "red")
    aged(yellow_overdue, now - timedelta(days=1, hours=2), "yellow")
    aged(orange_soon, now + timedelta(hours=3), "orange")
    page = coordinator.page
    clicks = 0

    # The queue, searched by the tag the three share: the overdue yellow one comes first.
    page.goto(f"{live_server}/triage/")
    page.fill("#queue-search", tag)
    with page.expect_navigation():
        page.press("#queue-search", "Enter")
    rows = page.locator("tr.case-row").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert rows == [yellow_overdue, orange_soon, red_later]
    assert "已超期1天" in page.locator(f'tr.case-row[data-id="{yellow_overdue}"]').inner_text()
    number = page.locator(f'tr.case-row[data-id="{yellow_overdue}"] .case-number').inner_text()
    assert re.fullmatch(r"测试-\d{4}-\d{6}", number)
    support.save_screenshot(page, "ux-coord-queue.png")

    # The common path from the queue: open the first case, accept, choose, assign.
    page.click(f'tr.case-row[data-id="{yellow_overdue}"] td.title a')
    clicks += 1
    page.wait_for_selector("#case-status")
    assert page.locator("#case-number").inner_text() == number
    # One primary step (受理); 不予受理 and 合并 look destructive, the rest secondary.
    kinds = page.locator("#actions button").evaluate_all(
        "bs => bs.map(b => [b.id, b.dataset.kind])"
    )
    assert [k for _id, k in kinds].count("primary") == 1
    assert ["do-accept", "primary"] in kinds and ["do-reject", "destructive"] in kinds
    assert ["do-merge", "destructive"] in kinds and ["do-escalate", "secondary"] in kinds
    styles = {
        kind: page.locator(f"#actions button[data-kind={kind}]").first.evaluate(
            "b => getComputedStyle(b).backgroundColor"
        )
        for kind in ("primary", "secondary", "destructive")
    }
    assert len(set(styles.values())) >= 2 and styles["primary"] != styles["destructive"]
    # 不予受理 asks first: dismissed, nothing happens.
    page.fill("#form-reject textarea", "不属实")
    page.click("#do-reject")
    assert coordinator.dialogs and "无法自行撤回" in coordinator.dialogs[-1]
    coordinator.dialogs.clear()
    assert coordinator.status() == "待受理"
    page.fill("#form-reject textarea", "")
    page.mouse.move(0, 0)
    support.save_screenshot(page, "ux-coord-case.png")

    with page.expect_navigation():
        page.click("#do-accept")
    clicks += 1
    assert coordinator.status() == "已受理"
    page.locator('#form-assign select[name="department"]').select_option("991101-D01")
    clicks += 1
    with page.expect_navigation():
        page.click("#do-assign")
    clicks += 1
    assert coordinator.status() == "已交办"
    assert clicks == COMMON_PATH_CLICKS
    # After 交办 the coordinator can 改派 (reassign), named in the record.
    page.locator('#form-reassign select[name="department"]').select_option("991101-D02")
    page.fill("#form-reassign textarea", "属人社职责")
    with page.expect_navigation():
        page.click("#do-reassign")
    assert page.locator("#case-department").inner_text() == "测试区人社局"
    timeline = page.locator("#timeline").inner_text()
    assert "原责任部门：测试区司法局" in timeline and "991101-D0" not in timeline
    coordinator.assert_clean()


def test_bulk_accept_keeps_the_filters(
    coordinator: Browser, live_server: str, people: dict[str, Any]
) -> None:
    token = str(people["officer_a"]["token"])
    tag = uuid.uuid4().hex[:6]
    ids = [_file(live_server, token, f"批量 {tag} {i}", 0.0001 * i) for i in range(3)]
    page = coordinator.page
    page.goto(f"{live_server}/triage/?q={tag}&status=reported&per_page=2&page=1")
    assert page.locator("tr.case-row").count() == 2
    for box in page.locator('#case-table input[name="case"]').all():
        box.check()
    with page.expect_navigation():
        page.click("#bulk-accept")
    assert "已完成 2 件" in page.locator("#flashes").inner_text()
    url = page.url
    assert f"q={tag}" in url and "status=reported" in url and "per_page=2" in url
    assert page.locator("#queue-search").input_value() == tag
    # The one left waiting is what the filtered page shows now.
    assert page.locator("tr.case-row").count() == 1
    assert page.locator("tr.case-row").get_attribute("data-id") in ids
    coordinator.assert_clean()


def test_merge_says_which_case_is_kept_asks_first_and_can_be_undone(
    coordinator: Browser, live_server: str, people: dict[str, Any]
) -> None:
    token = str(people["officer_a"]["token"])
    tag = uuid.uuid4().hex[:6]
    earlier = _file(live_server, token, f"排水沟堵塞 邻里争执 {tag}")
    later = _file(live_server, token, f"排水沟堵塞 邻里争执 {tag} 再报", 0.0001)
    page = coordinator.page
    coordinator.open_case(later)
    later_number = page.locator("#case-number").inner_text()
    row = page.locator(f'#duplicates tr[data-id="{earlier}"]')
    earlier_number = row.locator(".case-number").inner_text()
    button = row.locator("a.merge-into")
    assert button.inner_text() == f"将本案并入 {earlier_number}（保留 {earlier_number}）"
    with page.expect_navigation():
        button.click()
    # Nothing merged yet: the confirmation names the duplicate and the kept case.
    sentence = page.locator("#merge-sentence").inner_text()
    assert sentence.startswith(f"{later_number} 将并入 {earlier_number}。保留 {earlier_number}")
    with page.expect_navigation():
        page.click("#confirm-merge")
    assert coordinator.status() == "已合并"
    assert earlier_number in page.locator("#merged-into").inner_text()
    # The kept case is open and shows what was merged in.
    coordinator.open_case(earlier)
    assert coordinator.status() == "待受理"
    assert later_number in page.locator("#timeline").inner_text()
    # Undo from the merged case: back to 待受理, both steps in its record.
    coordinator.open_case(later)
    with page.expect_navigation():
        page.click("#do-unmerge")
    assert coordinator.status() == "待受理"
    steps = page.locator("#timeline > li").evaluate_all("items => items.map(i => i.dataset.action)")
    assert steps == ["reported", "merge", "unmerge"]
    coordinator.assert_clean()
