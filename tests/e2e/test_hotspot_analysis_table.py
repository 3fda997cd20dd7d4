"""The map analyses as a table (/city/hotspots/analysis) in headless Chromium: city staff open
the table, see the planted hot cells, click a row's map link and land on the map zoomed to
that cell with the Gi* layer on and the cell outlined."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, text

from fieldapp.models import Report
from fieldapp.services import hotspots
from tests import support
from tests.e2e.test_city_map import Visit, _sign_in, visit  # noqa: F401  (the fixture)

pytestmark = pytest.mark.e2e

# Four touching cells of the west township, as in tests/integration/test_hotspots_service.py.
CELL_CODES = [f.code for f in support.small_city() if f.level == "cell"]
CLUSTER = [CELL_CODES[i * support.ROWS + j] for i in (1, 2) for j in (2, 3)]


@pytest.fixture
def hot_cells(engine: Engine, people: dict[str, Any]) -> Iterator[list[str]]:
    """Eight reports in each cluster cell on each of the last three complete days
    (committed: the live server has its own connections); removed afterwards."""
    now = datetime.now(UTC)
    rows = [
        (uuid.uuid4(), code, now - timedelta(days=back, hours=k))
        for code in CLUSTER
        for back in (1, 2, 3)
        for k in range(8)
    ]
    with engine.begin() as connection:
        connection.execute(
            text(
                """
                INSERT INTO reports (id, officer_id, cell_id, village_id, township_id,
                    county_id, geom, input_lon, input_lat, input_crs, outside_own_cells,
                    occurred_at, reported_at, category, severity, people_involved,
                    potential_group_incident, title, description, status, version,
                    owner_level, owner_area_id, body_hash)
                SELECT r.id, :officer, c.id, c.village_id, c.township_id, c.county_id,
                    ST_PointOnSurface(c.geom), ST_X(ST_PointOnSurface(c.geom)),
                    ST_Y(ST_PointOnSurface(c.geom)), 'wgs84', false, r.at, r.at,
                    'neighbours', 'yellow', 2, false, '热点表测试', '测试', 'reported', 1,
                    'township', c.township_id, md5(r.id::text)
                FROM unnest(CAST(:ids AS uuid[]), CAST(:codes AS text[]),
                            CAST(:ats AS timestamptz[])) AS r(id, code, at)
                JOIN cells c ON c.code = r.code
                """
            ),
            {
                "officer": people["officer_a"]["id"],
                "ids": [r[0] for r in rows],
                "codes": [r[1] for r in rows],
                "ats": [r[2] for r in rows],
            },
        )
    # The analysis is cached per analysed day in the server's process (this one): computed
    # before these reports existed, it would not show them.
    hotspots._analysis_cache.clear()
    yield CLUSTER
    with engine.begin() as connection:
        connection.execute(delete(Report).where(Report.id.in_([r[0] for r in rows])))
    hotspots._analysis_cache.clear()


def test_the_table_lists_the_hot_cells_and_a_row_opens_the_map_on_its_cell(
    live_server: str,
    hot_cells: list[str],
    visit: tuple[Any, Visit],  # noqa: F811  (the imported fixture)
) -> None:
    page, log = visit
    _sign_in(page, live_server)
    page.wait_for_function("window.cityMap && window.cityMap.ready")
    default_zoom = page.evaluate("window.cityMap.map.getZoom()")
    page.locator("#nav-analysis").click()
    page.wait_for_url("**/city/hotspots/analysis")
    table = page.locator("#analysis-table")
    table.wait_for()
    assert "热点分析表" in page.title()
    for code in hot_cells:
        assert page.locator(f"#cell-{code}").count() == 1, code
    row = page.locator(f"#cell-{hot_cells[0]}")
    assert "热点，置信度" in row.text_content()
    row.locator("a.map-link").click()
    page.wait_for_url(f"**/city/map?focus={hot_cells[0]}&analysis=gi_star")
    page.wait_for_function("window.cityMap && window.cityMap.ready", timeout=10_000)
    container = page.locator("#" + page.evaluate("window.cityMap.map.getContainer().id"))
    assert container.get_attribute("data-focus") == hot_cells[0]
    # Zoomed in on the cell (closer than the city view), which is in sight and outlined.
    assert page.evaluate("window.cityMap.map.getZoom()") > default_zoom
    lon, lat = support.cell_centre(1, 2)
    assert page.evaluate(f"window.cityMap.map.getBounds().contains([{lat}, {lon}])")
    assert page.evaluate("window.cityMap.focusLayer.getLayers().length") == 1
    # The Gi* layer is switched on and holds the hot cells.
    page.wait_for_function(
        "window.cityMap.analysisGi.group.getLayers().length === 1"
        " && window.cityMap.analysisGi.group.getLayers()[0].getLayers().length >= 4"
    )
    assert page.locator(".analysis-legend").count() == 1
    assert log.console_errors == [] and log.blocked == []
