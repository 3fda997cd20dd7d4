"""The dashboards (/dashboard) and the case lists behind their figures (/cases) through the
Flask test client on PostGIS: who may open them, scoping, 400 pages for bad parameters
(never a 500), escaped area names, and every linked list's total equal to the figure the
JSON API gives for the same filters."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ
from fieldapp.models import Area
from tests.integration.stats_support import CELLS, add_report, cell_ids
from tests.integration.test_triage_pages import login, page

pytestmark = pytest.mark.usefixtures("people")

PERIOD = "2024-05"
FROM, TO = "2024-05-01", "2024-05-31"
OPEN = "accepted,assigned,closing_requested,in_progress,reported,signed_for"


def cn(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=CHINA_TZ)


@pytest.fixture
def history(db_session: Session, people: dict[str, Any]) -> dict[str, Any]:
    """May 2024 in the small city: township 1 has an overdue red report, two closed cases
    (resolved and satisfied; stabilised and dissatisfied), a merged duplicate, a key case in
    progress; township 2 one report; April one report (outside the period)."""
    cells = cell_ids(db_session, list(CELLS.values()))
    c1, c2, d1 = (cells[CELLS[k]] for k in ("c1", "c2", "d1"))
    officer = int(people["officer_a"]["id"])
    now = datetime.now(UTC)
    add_report(
        db_session, c1, cn(5, 2), officer, severity="red", step="acceptance", due_at=cn(5, 2, 12)
    )
    add_report(
        db_session,
        c1,
        cn(5, 3),
        officer,
        status="closed",
        outcome="resolved",
        satisfaction="satisfied",
        category="housing_land",
    )
    add_report(
        db_session,
        c2,
        cn(5, 20),
        officer,
        status="closed",
        outcome="stabilised",
        satisfaction="dissatisfied",
        severity="orange",
    )
    add_report(db_session, c2, cn(5, 21), officer, status="merged")
    add_report(
        db_session,
        c2,
        cn(5, 31, 23),
        officer,
        status="in_progress",
        step="handling",
        due_at=now + timedelta(days=10),
        is_key_case=True,
        key_leader="王副镇长",
        key_target_date=(now + timedelta(days=30)).date(),
    )
    add_report(db_session, d1, cn(5, 15), officer, category="marriage_family")
    add_report(db_session, c1, cn(4, 30, 23), officer)
    db_session.flush()
    return {"cells": cells}


def config_of(html: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="dashboard-config">(.*?)</script>', html, re.S
    )
    assert match, html[:2000]
    return dict(json.loads(match.group(1)))


def total_of(client: FlaskClient, query: str) -> int:
    html = page(client, f"/cases?{query}")
    match = re.search(r'data-total="(\d+)"', html)
    assert match, html[:2000]
    return int(match.group(1))


def api(client: FlaskClient, path: str) -> dict[str, Any]:
    r = client.get(path)
    assert r.status_code == 200, r.get_json()
    return dict(r.get_json())


# --- access ---------------------------------------------------------------------------------


def test_signed_out_readers_are_sent_to_sign_in(client: FlaskClient) -> None:
    for path in ("/dashboard", "/cases"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"]


@pytest.mark.parametrize("who", ["officer_a", "dept"])
def test_officers_and_departments_get_a_403_page_with_a_message(
    client: FlaskClient, who: str
) -> None:
    login(client, f"t_{who}")
    html = page(client, "/dashboard", 403)
    assert "数据看板仅供" in html and 'id="page-error"' in html
    assert "nav-dashboard" not in html
    html = page(client, "/cases", 403)
    assert 'id="page-error"' in html


def test_each_role_starts_on_its_own_area_in_chinese(client: FlaskClient) -> None:
    expected = {
        "t_city": ("991100", "city", "测试市"),
        "t_county": ("991101", "county", "测试区"),
        "t_coord_1": ("991101001", "township", "测试街道001"),
    }
    for username, (code, level, name) in expected.items():
        client = client.application.test_client()  # a fresh cookie jar per reader
        login(client, username)
        html = page(client, "/dashboard")
        cfg = config_of(html)
        assert cfg["area"] == {"code": code, "level": level, "name": name}
        assert cfg["language"] == "zh" and '<html lang="zh-CN">' in html
        assert cfg["locale"] == "zh-CN"
        assert 'id="nav-dashboard"' in html and "数据看板" in html
        assert cfg["period"]["kind"] == "month" and cfg["period"]["bucket"] == "day"


def test_levels_choose_children_and_kpi_levels(client: FlaskClient) -> None:
    login(client, "t_city")
    want = {
        "991100": ("county", "county", "county", True),
        "991101": ("township", "county", "township", True),
        "991101001": ("village", "township", None, True),
        "991101001001": ("cell", None, None, False),
        "991101001001001": (None, None, None, False),
    }
    for code, (child, headline, table, campaign) in want.items():
        cfg = config_of(page(client, f"/dashboard?area={code}&period={PERIOD}"))
        assert (
            cfg["child_level"],
            cfg["headline_kpi_level"],
            cfg["table_kpi_level"],
            cfg["campaign"],
        ) == (child, headline, table, campaign), code
    html = page(client, "/dashboard?area=991101001001001&period=2024-Q2")
    crumbs = re.findall(r'class="crumb[^"]*" data-code="(\d+)"', html)
    assert crumbs == ["991100", "991101", "991101001", "991101001001", "991101001001001"]
    assert config_of(html)["period"]["bucket"] == "week"
    assert config_of(page(client, "/dashboard?period=2024"))["period"]["bucket"] == "month"
    cfg = config_of(page(client, "/dashboard?from=2024-05-03&to=2024-05-09"))
    assert cfg["period"]["kind"] == "range" and cfg["period_args"] == {
        "from": "2024-05-03",
        "to": "2024-05-09",
    }


def test_coordinators_see_only_their_township(client: FlaskClient, history: dict[str, Any]) -> None:
    login(client, "t_coord_1")
    for path in (
        "/dashboard?area=991101002",
        "/dashboard?area=991100",
        "/dashboard?area=991101",
        "/dashboard?area=991101002001001",
        "/cases?within=991101002",
        "/cases?within=991100",
    ):
        assert 'id="page-error"' in page(client, path, 403), path
    # Their own list holds only their township's reports, whatever is asked.
    assert total_of(client, f"from={FROM}&to={TO}") == 4
    html = page(client, f"/dashboard?area=991101001001&period={PERIOD}")
    # The breadcrumb shows the city and county, but links only from the township down.
    assert 'data-code="991100"' in html and "area=991100&" not in html
    assert "area=991101001&amp;period=2024-05" in html


# --- bad parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard?period=2024-13",
        "/dashboard?period=soon",
        "/dashboard?from=2024-05-10&to=2024-05-01",
        "/dashboard?from=yesterday&to=2024-05-01",
        "/dashboard?period=range",
        "/dashboard?from=2000-01-01&to=2024-01-01",
        "/dashboard?area=nowhere",
        "/dashboard?area=" + "9" * 40,
        "/cases?severity=purple",
        "/cases?category=astrology",
        "/cases?status=lost",
        "/cases?page=0",
        "/cases?per_page=5000",
        "/cases?overdue=maybe",
        "/cases?from=2024-05-10&to=2024-05-01",
        "/cases?outcome=won",
        "/cases?within=nowhere",
    ],
)
def test_bad_parameters_are_a_400_page_with_the_field(client: FlaskClient, path: str) -> None:
    login(client, "t_city")
    html = page(client, path, 400)
    assert 'id="page-error"' in html and 'id="page-error-fields"' in html


# --- figures equal the lists behind them ----------------------------------------------------


def test_every_figure_equals_the_total_of_its_case_list(
    client: FlaskClient, history: dict[str, Any]
) -> None:
    login(client, "t_city")
    cfg = config_of(page(client, f"/dashboard?period={PERIOD}"))
    window = f"from={FROM}&to={TO}"
    base = f"level=city&within=991100&{window}"
    status = api(client, f"/api/v1/rollups?{base}&by=status")
    assert status["totals"]["total"] == 5  # merged and April left out
    assert total_of(client, f"within=991100&{window}") == 5
    opened = sum(status["totals"]["counts"][s] for s in OPEN.split(","))
    assert opened == 3 == total_of(client, f"within=991100&{window}&status={OPEN}")
    assert status["totals"]["counts"]["closed"] == 2
    assert total_of(client, f"within=991100&{window}&status=closed") == 2
    assert cfg["overdue"] == 1 == total_of(client, f"within=991100&{window}&overdue=1")

    for by, key in (("category", "neighbours"), ("severity", "red"), ("severity", "orange")):
        counts = api(client, f"/api/v1/rollups?{base}&by={by}")["totals"]["counts"]
        assert counts[key] == total_of(client, f"within=991100&{window}&{by}={key}"), key

    trend = api(client, f"/api/v1/rollups?{base}&by=period&bucket=week")
    for week, n in trend["totals"]["counts"].items():
        first = max(week, FROM)
        last = min((datetime.fromisoformat(week) + timedelta(days=6)).date().isoformat(), TO)
        assert n == total_of(client, f"within=991100&from={first}&to={last}"), week

    children = api(client, f"/api/v1/rollups?level=township&within=991101&{window}")
    assert [r["total"] for r in children["rows"]] == [4, 1]
    for row in children["rows"]:
        assert row["total"] == total_of(client, f"within={row['code']}&{window}")

    kpis = api(client, f"/api/v1/kpis?level=county&within=991100&period={PERIOD}")["rows"][0]
    resolution, satisfaction = kpis["kpis"]["resolution"], kpis["kpis"]["satisfaction"]
    assert (resolution["numerator"], resolution["denominator"]) == (1, 2)
    assert resolution["numerator"] == total_of(
        client, f"within=991100&{window}&status=closed&outcome=resolved"
    )
    assert resolution["denominator"] == total_of(client, f"within=991100&{window}&status=closed")
    assert (satisfaction["numerator"], satisfaction["denominator"]) == (1, 2)
    assert satisfaction["denominator"] == total_of(
        client, f"within=991100&{window}&satisfaction=satisfied,basically_satisfied,dissatisfied"
    )

    campaign = api(client, "/api/v1/campaign?within=991100")["summary"]
    assert campaign["assigned"] == 1 == total_of(client, "within=991100&key=1")
    assert campaign["resolved"] == total_of(
        client, "within=991100&key=1&status=closed&outcome=resolved"
    )


def test_case_list_rows_link_to_the_case_pages(
    client: FlaskClient, history: dict[str, Any]
) -> None:
    login(client, "t_county")
    html = page(client, f"/cases?within=991101001&from={FROM}&to={TO}&per_page=2")
    ids = re.findall(r'href="/triage/cases/([0-9a-f-]{36})"', html)
    assert len(ids) == 2 and all(uuid.UUID(i) for i in ids)
    assert "共" in html or "合计" in html
    assert 'rel="next"' in html and "page=2" in html
    assert page(client, f"/cases?within=991101001&from={FROM}&to={TO}&per_page=2&page=2")


def test_area_names_from_imported_data_are_escaped(
    client: FlaskClient, db_session: Session, history: dict[str, Any]
) -> None:
    evil = "<script>alert(1)</script>"
    db_session.execute(update(Area).where(Area.code == "991101001001").values(name=evil))
    db_session.flush()
    login(client, "t_city")
    for path in (
        f"/dashboard?area=991101001001&period={PERIOD}",
        f"/dashboard?area=991101001001001&period={PERIOD}",
        f"/cases?within=991101001001&from={FROM}&to={TO}",
    ):
        html = page(client, path)
        assert evil not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_english_with_lang_en(client: FlaskClient) -> None:
    login(client, "t_city")
    html = page(client, "/dashboard?period=2024-05&lang=en")
    cfg = config_of(html)
    assert cfg["language"] == "en" and '<html lang="en-GB">' in html
    assert cfg["locale"] == "en-GB"  # the browser's Intl formats: day-month, 24-hour clock
    assert cfg["labels"]["resolution"] == "Resolution rate"
    assert "May 2024" in html and "Dashboard" in html
    html = page(client, "/dashboard?period=2024-05&lang=zh")
    assert config_of(html)["labels"]["resolution"] == "化解率" and "2024年5月" in html
