"""The dashboards (/dashboard) in real headless Chromium with every request outside
127.0.0.1 blocked: city staff see this month's figures drawn with the vendored ECharts, in
Chinese, equal to what the database holds; a figure's link and a bar's click open the case
list whose total equals the figure; clicks drill down city → county → township → village →
cell and the breadcrumb leads back up; an area named like a script stays text."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ
from fieldapp.models import Area, Report
from fieldapp.workflow import OPEN_STATES
from tests import support
from tests.integration.stats_support import CELLS, add_report, cell_ids

pytestmark = pytest.mark.e2e

EVIL = "<script>alert(1)</script>社区"
VILLAGE = "991101001001"


def _month_start() -> datetime:
    return datetime.now(CHINA_TZ).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def month(engine: Engine, people: dict[str, Any]) -> Iterator[list[uuid.UUID]]:
    """Reports of this month (committed: the live server has its own connections), one of
    them overdue, one closed and resolved, one merged; and a village whose imported name is
    a script tag. Undone afterwards."""
    when = max(datetime.now(CHINA_TZ) - timedelta(minutes=5), _month_start() + timedelta(minutes=1))
    officer = int(people["officer_a"]["id"])
    with Session(engine) as session, session.begin():
        cells = cell_ids(session, list(CELLS.values()))
        c1, c2, d1 = (cells[CELLS[k]] for k in ("c1", "c2", "d1"))
        made = [
            add_report(
                session,
                c1,
                when,
                officer,
                severity="red",
                step="acceptance",
                due_at=when - timedelta(hours=1),
            ),
            add_report(session, c1, when, officer, status="closed", outcome="resolved"),
            add_report(session, c2, when, officer, status="in_progress", severity="orange"),
            add_report(session, c2, when, officer, status="merged"),
            add_report(session, d1, when, officer, category="marriage_family"),
        ]
        ids = [r.id for r in made]
        old = session.execute(select(Area.name).where(Area.code == VILLAGE)).scalar_one()
        session.execute(update(Area).where(Area.code == VILLAGE).values(name=EVIL))
    yield ids
    with Session(engine) as session, session.begin():
        session.execute(delete(Report).where(Report.id.in_(ids)))
        session.execute(update(Area).where(Area.code == VILLAGE).values(name=old))


def _db_count(engine: Engine, *where: Any) -> int:
    with Session(engine) as session:
        return int(
            session.execute(
                select(func.count())
                .select_from(Report)
                .where(Report.reported_at >= _month_start(), *where)
            ).scalar_one()
        )


def _number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def _wait_ready(page: Any) -> None:
    page.wait_for_function(
        "window.dashboard && (window.dashboard.ready || window.dashboard.failed)", timeout=10_000
    )
    assert page.evaluate("window.dashboard.ready"), page.locator("#dash-status").text_content()


def _area(page: Any) -> str:
    code: str = page.evaluate(
        "JSON.parse(document.getElementById('dashboard-config').textContent).area.code"
    )
    return code


def _click_bar(page: Any, chart_id: str, index: int) -> None:
    """Click the middle of bar `index` of a bar chart, as a person would (ECharts draws on a
    canvas: the point comes from the chart's own coordinate conversion)."""
    x, y = page.evaluate(
        """([id, index]) => {
            document.getElementById(id).scrollIntoView({ block: "center" });
            const c = window.dashboard.charts[id];
            const opt = c.getOption();
            const horizontal = opt.yAxis[0].type === "category";
            const raw = opt.series[0].data[index];
            const value = typeof raw === "object" ? raw.value : raw;
            const point = c.convertToPixel({ xAxisIndex: 0, yAxisIndex: 0 },
                horizontal ? [value / 2, index] : [index, value / 2]);
            const box = document.getElementById(id).getBoundingClientRect();
            return [box.left + point[0], box.top + point[1]];
        }""",
        [chart_id, index],
    )
    page.mouse.click(x, y)


def test_dashboard_figures_links_and_drill_down(
    live_server: str,
    engine: Engine,
    month: list[uuid.UUID],
    page_and_log: Any,
) -> None:
    page, log = page_and_log
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live_server}/login?next=/dashboard")
    page.fill('input[name="username"]', "t_city")
    page.fill('input[name="password"]', support.PASSWORD)
    page.click('form.login button[type="submit"]')
    page.wait_for_url("**/dashboard*")
    _wait_ready(page)

    # Chinese by default, charts drawn on canvases by the app's own ECharts.
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert _area(page) == support.CITY
    for chart in ("chart-trend", "chart-categories", "chart-severity", "chart-status"):
        assert page.locator(f"#{chart} canvas").count() >= 1, chart
    assert page.locator("#chart-children canvas").count() >= 1
    # This month's trend runs day by day up to today (China time), not into the future.
    days_shown = page.evaluate(
        "window.dashboard.charts['chart-trend'].getOption().xAxis[0].data.length"
    )
    assert days_shown == datetime.now(CHINA_TZ).day
    labels = page.locator(".figure .label").all_text_contents()
    # Two overdue figures, named apart (issue #14): this period's reports, and all open now.
    assert labels[:5] == [
        "上报数",
        "办理中",
        "本期报告中已超期",
        "当前超期在办（不限上报时间）",
        "已办结",
    ]
    assert "化解率" in labels and "重点积案" in labels

    # The figures are what the database holds for this month (merged duplicates left out).
    figures = {
        key: _number(page.locator(f'.figure[data-key="{key}"] .value').text_content())
        for key in ("reports", "open", "overdue", "closed")
    }
    open_states = [s.value for s in OPEN_STATES]
    assert figures == {
        "reports": _db_count(engine, Report.status != "merged"),
        "open": _db_count(engine, Report.status.in_(open_states)),
        "overdue": _db_count(
            engine,
            Report.status.in_(open_states),
            Report.due_at <= datetime.now(CHINA_TZ),
        ),
        "closed": _db_count(engine, Report.status == "closed"),
    }
    assert figures["reports"] >= 4 and figures["overdue"] >= 1
    resolution = page.locator('.figure[data-key="resolution"] .value').text_content()
    assert re.fullmatch(r"\d{1,3}\.\d%", resolution), resolution

    # A figure's link opens the case list whose total equals the figure.
    for key in ("overdue", "reports"):
        page.click(f'.figure[data-key="{key}"] a.value')
        page.wait_for_url("**/cases?*")
        assert int(page.locator("#case-total").get_attribute("data-total")) == figures[key], key
        assert page.locator("#case-list tbody tr.case-row").count() == min(figures[key], 50)
        page.go_back()
        _wait_ready(page)

    # A click on a category bar: the list of that category, as many as the bar says.
    categories = page.evaluate("window.dashboard.charts['chart-categories'].getOption()")
    names = categories["yAxis"][0]["data"]
    first = categories["series"][0]["data"][0]
    _click_bar(page, "chart-categories", 0)
    page.wait_for_url("**/cases?*category=*")
    assert int(page.locator("#case-total").get_attribute("data-total")) == first
    assert names[0] in page.locator("#case-filters").text_content()
    page.go_back()
    _wait_ready(page)

    # Drill down: the county's bar (a click on the chart), then rows of the child table.
    _click_bar(page, "chart-children", 0)
    page.wait_for_url("**/dashboard?area=991101*")
    _wait_ready(page)
    assert _area(page) == support.COUNTY
    assert page.locator("#child-table tbody tr").count() == 2
    for code in ("991101001", VILLAGE, "991101001001001"):
        page.click(f'#child-table tr[data-code="{code}"] a.drill')
        page.wait_for_url(f"**/dashboard?area={code}*")
        _wait_ready(page)
        assert _area(page) == code
    assert page.locator("#children").count() == 0  # a cell has no areas below
    assert page.locator(".figure-note").count() == 1  # and no KPIs: the note says so
    crumbs = page.locator("#breadcrumb .crumb").all_text_contents()
    assert crumbs[0] == "测试市" and crumbs[3] == EVIL  # shown as text, never run
    # Back up to the city through the breadcrumb.
    page.click(f'#breadcrumb a[data-code="{support.CITY}"]')
    page.wait_for_url(f"**/dashboard?area={support.CITY}*")
    _wait_ready(page)

    assert not dialogs, dialogs
    assert not log.blocked, log.blocked
    assert not log.failed, log.failed
    assert not log.console_errors, log.console_errors
