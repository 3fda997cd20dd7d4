"""The map analyses as a table (/city/hotspots/analysis, issue 13: "Gi* and emerging hot spots
become map analyses (layers and a table)") on the 48-cell test city with a planted outbreak:
who may open it, what a row says, sorting and filtering, the links to the map and the cases."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from fieldapp.services import hotspots
from tests.integration.test_hotspots_service import (
    CLUSTER,
    SETTINGS,
    TODAY,
    _web_login,
    planted,  # noqa: F401  (the fixture)
)

pytestmark = pytest.mark.usefixtures("people")

DAY = (TODAY - timedelta(days=1)).isoformat()


@pytest.fixture
def settings(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    # 12 weeks of emerging hot spots instead of 52: the test city has 120 days of reports.
    monkeypatch.setitem(app.config, "HOTSPOT_SETTINGS", SETTINGS)


def _rows(page: str) -> dict[str, str]:
    """{cell code: the row's HTML}."""
    return dict(re.findall(r'<tr id="cell-(\d+)" class="analysis-row[^"]*">(.*?)</tr>', page, re.S))


@pytest.mark.usefixtures("settings", "planted")
def test_city_staff_read_the_gi_star_classes_as_a_table_with_links_to_map_and_cases(
    app: Flask, db_session: Session
) -> None:
    web = _web_login(app, "t_city")
    r = web.get(f"/city/hotspots/analysis?day={DAY}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'id="nav-analysis"' in page  # in the header, from fieldapp/navigation.py
    rows = _rows(page)
    # The planted outbreak: its four cells are hot at 99 %, with their township.
    assert set(CLUSTER) <= set(rows)
    row = rows[CLUSTER[0]]
    assert "热点，置信度 99%" in row and "纯属偶然的可能不到百分之一" in row
    observed = re.search(r"实际 (\d+) 件，预期 ([\d.]+) 件", row)
    assert observed is not None and int(observed.group(1)) > float(observed.group(2))
    assert "p 值" not in page and "e-" not in row
    # Only hot spots by default, the strongest first.
    assert all("cold" not in m for m in re.findall(r'class="analysis-row ([a-z]+)"', page))
    zs = [float(z) for z in re.findall(r"z = (-?[\d.]+)", page)]
    assert zs == sorted(zs, key=lambda v: -abs(v)) and zs
    # The map link opens the map on the cell with the Gi* layer switched on.
    link = re.search(r'class="map-link" href="([^"]+)"', row)
    assert link is not None
    href = link.group(1).replace("&amp;", "&")
    assert href == f"/city/map?focus={CLUSTER[0]}&analysis=gi_star"
    map_page = web.get(href).get_data(as_text=True)
    focus = re.search(r'"focus":\s*(\{.*?"analysis":\s*"gi_star"\})', map_page)
    assert focus is not None and f'"code":"{CLUSTER[0]}"' in focus.group(1).replace(" ", "")
    # The case list of the cell over the analysed 28 days holds the planted reports.
    cases = re.search(r'class="cases-link" href="([^"]+)"', row)
    assert cases is not None
    href = cases.group(1).replace("&amp;", "&")
    period_from = (TODAY - timedelta(days=SETTINGS.gi_days)).isoformat()
    assert href == f"/cases?cells={CLUSTER[0]}&from={period_from}&to={DAY}"
    total = re.search(r'data-total="(\d+)"', web.get(href).get_data(as_text=True))
    assert total is not None and int(total.group(1)) >= 24  # 6 a day × 4 days planted


@pytest.mark.usefixtures("settings", "planted")
def test_sorting_filtering_emerging_patterns_english_and_escaping(
    app: Flask, db_session: Session
) -> None:
    web = _web_login(app, "t_city")
    base = f"/city/hotspots/analysis?day={DAY}"
    everything = _rows(web.get(f"{base}&side=all").get_data(as_text=True))
    hot = _rows(web.get(base).get_data(as_text=True))
    cold = _rows(web.get(f"{base}&side=cold").get_data(as_text=True))
    assert set(hot) | set(cold) == set(everything) and not set(hot) & set(cold)
    # Sorted by township: township names in order.
    by_town = web.get(f"{base}&side=all&sort=township").get_data(as_text=True)
    towns = [re.sub(r"<.*", "", r.strip()[4:]) for r in _rows(by_town).values()]
    assert towns == sorted(towns)
    # Filtered to the other township: none of the cluster's cells.
    other = web.get(f"{base}&side=all&township=991101002").get_data(as_text=True)
    assert not set(CLUSTER) & set(_rows(other))
    # Emerging hot spots: Chinese pattern names, never the English ones.
    emerging = web.get(f"{base}&kind=emerging&side=all").get_data(as_text=True)
    assert re.search(r"(新增|连续|加剧|持续|减弱|零星|振荡|历史)(热点|冷点)", emerging)
    assert " hot spot" not in emerging and "最近一周" in emerging
    # English, both ways.
    en = web.get(f"{base}&lang=en").get_data(as_text=True)
    assert "Hot spot, 99% confidence" in en and "Chance alone: less than 1 in 100" in en
    # A hostile township name is shown as text.
    hostile = "<img src=x onerror=alert(1)>街道"
    db_session.execute(text("UPDATE areas SET name = :n WHERE code = '991101001'"), {"n": hostile})
    db_session.flush()
    page = web.get(base).get_data(as_text=True)
    assert hostile not in page and "&lt;img src=x onerror=alert(1)&gt;街道" in page
    # A day outside the date window is refused in words, and the page still answers.
    bad = web.get("/city/hotspots/analysis?day=1900-01-01")
    assert bad.status_code == 200 and "flash-error" in bad.get_data(as_text=True)


@pytest.mark.usefixtures("settings", "planted")
@pytest.mark.parametrize(
    ("username", "status"), [("t_county", 200), ("t_coord_1", 403), ("t_officer_a", 403)]
)
def test_who_may_open_the_table(
    app: Flask, db_session: Session, username: str, status: int
) -> None:
    web = _web_login(app, username)
    r = web.get(f"/city/hotspots/analysis?day={DAY}")
    assert r.status_code == status
    page = r.get_data(as_text=True)
    if status == 200:
        assert set(CLUSTER) <= set(_rows(page)) and 'id="nav-analysis"' in page
    else:
        assert 'id="analysis-table"' not in page and 'id="nav-analysis"' not in page


def test_pure_helpers_of_the_table() -> None:
    import numpy as np
    import scipy.sparse as sp

    # A path of three cells: 0–1–2.
    queen = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float64))
    observed, expected = hotspots.neighbourhood_counts(np.array([3.0, 0.0, 6.0]), queen)
    assert observed.tolist() == [3.0, 9.0, 6.0] and expected.tolist() == [6.0, 9.0, 6.0]
    rows = [
        {"code": "b", "z": -3.0, "township": "乙", "class": -3, "observed": 1},
        {"code": "a", "z": 2.0, "township": "甲", "class": 2, "observed": 5},
        {"code": "c", "z": 3.0, "township": "甲", "class": 3, "observed": 2},
    ]
    assert [r["code"] for r in hotspots.sort_rows(rows, "strength")] == ["b", "c", "a"]
    assert [r["code"] for r in hotspots.sort_rows(rows, "class")] == ["c", "a", "b"]
    assert [r["code"] for r in hotspots.sort_rows(rows, "observed")] == ["a", "c", "b"]
