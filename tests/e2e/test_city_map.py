"""The city staff's map (/city/map) in real headless Chromium with every request outside
127.0.0.1 blocked: it draws the choropleth and the report markers from the API, shows report
titles that look like HTML as text, drills down into a township, and stays within its budget
(≤ 1.5 MB transferred, usable within 2 s)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import Engine, delete, text

from fieldapp.domain import CHINA_TZ, SEVERITIES, SEVERITY_COLOURS
from fieldapp.models import Report
from grid.crs import from_wgs84
from tests import support
from tests.e2e.conftest import PageLog

pytestmark = pytest.mark.e2e

XSS_TITLES = ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>")
PAGE_BUDGET_BYTES = 1_500_000
READY_BUDGET_MS = 2_000
TOWNSHIP_1 = "991101001"


@dataclass
class Visit(PageLog):
    """What one browser context did: a PageLog, the dialogs, and every response (URL, status,
    bytes on the wire, bytes decoded)."""

    dialogs: list[str] = field(default_factory=list)
    responses: list[tuple[str, int, int, int]] = field(default_factory=list)

    def transferred(self) -> int:
        return sum(r[2] for r in self.responses)

    def decoded(self) -> int:
        return sum(r[3] for r in self.responses)


def _post_report(
    live_server: str,
    token: str,
    title: str,
    i: int,
    j: int,
    severity: str,
    offset: tuple[float, float] = (0.0, 0.0),
) -> str:
    lon, lat = support.cell_centre(i, j)
    lon, lat = lon + offset[0], lat + offset[1]
    report_id = str(uuid.uuid4())
    body = {
        "id": report_id,
        "lon": lon,
        "lat": lat,
        "occurred_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "category": "neighbours",
        "severity": severity,
        "people_involved": 2,
        "title": title,
        "description": "地图测试",
    }
    request = urllib.request.Request(
        live_server + "/api/v1/reports",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    return report_id


@pytest.fixture
def map_reports(live_server: str, people: dict[str, Any], engine: Engine) -> Iterator[list[str]]:
    """Reports filed through the API by officer A (committed: the live server has its own
    connections), two of them with titles that are HTML; removed afterwards."""
    token = str(people["officer_a"]["token"])
    # Off the cell centres other browser tests file at, so that at the highest zoom these
    # two stand alone and can be clicked like any marker.
    ids = [
        _post_report(live_server, token, XSS_TITLES[0], 0, 0, "red", (0.0011, 0.0007)),
        _post_report(live_server, token, XSS_TITLES[1], 5, 4, "orange", (-0.0009, 0.0012)),
    ]
    ids += [
        _post_report(live_server, token, f"邻里纠纷 {n}", 1 + n % 6, 1 + n // 6, "yellow")
        for n in range(8)
    ]
    yield ids
    with engine.begin() as connection:
        connection.execute(delete(Report).where(Report.id.in_([uuid.UUID(i) for i in ids])))


@pytest.fixture
def visit(browser: Any) -> Iterator[tuple[Any, Visit]]:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        bypass_csp=True,  # wait_for_function evaluates strings (see conftest.page_and_log)
    )
    log = Visit()

    def only_loopback(route: Any) -> None:
        url = route.request.url
        if url.startswith("data:") or urlparse(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            log.blocked.append(url)
            route.abort()

    def finished(request: Any) -> None:
        response = request.response()
        if response is None:
            return
        try:
            decoded = len(response.body()) if response.status < 300 else 0
            wire = request.sizes()["responseBodySize"]
        except Exception:  # a redirect has no body to read
            decoded, wire = 0, 0
        log.responses.append((request.url, response.status, wire, decoded))

    # Routing on the context also turns Chromium's HTTP cache off, so every visit is measured
    # as a first visit.
    context.route("**/*", only_loopback)
    page = context.new_page()
    page.on("requestfinished", finished)
    log.watch(page)

    def dialog(d: Any) -> None:
        log.dialogs.append(d.message)  # an alert() from a title: it ran as script
        d.dismiss()

    page.on("dialog", dialog)
    yield page, log
    context.close()


def _sign_in(page: Any, live_server: str, username: str = "t_city") -> None:
    page.goto(f"{live_server}/login?next=/city/map")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', support.PASSWORD)
    page.click('form.login button[type="submit"]')
    page.wait_for_url("**/city/map*")


def _open_map(page: Any, live_server: str) -> float:
    """Load the map afresh; the milliseconds from navigation start until it is usable."""
    page.goto(f"{live_server}/city/map")
    page.wait_for_function("window.cityMap && window.cityMap.ready", timeout=10_000)
    ready: float = page.evaluate("window.cityMap.readyAt")
    # The browser measured the time itself; waiting here only lets every response event of
    # the visit reach the log before the bytes are added up.
    page.wait_for_load_state("networkidle")
    return ready


def _bubble_sum_and_legend_total(page: Any) -> tuple[int, int]:
    """(the reports the bubble layer holds, the total the legend prints)."""
    layer_sum: int = page.evaluate(
        "window.cityMap.cluster.getLayers().reduce((n, l) => n + l.options.count, 0)"
    )
    text = page.locator(".map-legend .total").first.text_content()
    digits = "".join(ch for ch in text if ch.isdigit())
    return layer_sum, int(digits)


def test_city_map_offline_safe_and_within_budget(
    live_server: str, people: dict[str, Any], map_reports: list[str], visit: tuple[Any, Visit]
) -> None:
    page, log = visit
    _sign_in(page, live_server)
    # The visit after signing in is measured alone: nothing of the first may still be loading.
    page.wait_for_function("window.cityMap && window.cityMap.ready")
    page.wait_for_load_state("networkidle")
    log.responses.clear()
    ready_ms = _open_map(page, live_server)
    transferred, decoded = log.transferred(), log.decoded()
    for url, status, wire, plain in log.responses:
        print(f"  {status} {wire:>9,} {plain:>9,} {url.split('/', 3)[-1][:90]}")
    print(
        f"\ncity map: {transferred:,} bytes transferred ({decoded:,} decoded) in "
        f"{len(log.responses)} responses; usable after {ready_ms:.0f} ms"
    )
    assert transferred <= PAGE_BUDGET_BYTES and decoded <= PAGE_BUDGET_BYTES
    assert ready_ms <= READY_BUDGET_MS

    assert page.locator("html").get_attribute("lang") == "zh-CN"
    # The choropleth: both townships drawn, with a legend.
    assert page.evaluate("window.cityMap.areas.getLayers().length") == 2
    assert page.locator(".leaflet-overlay-pane path").count() >= 2
    assert page.locator(".map-legend .row").count() >= 2
    # The bubbles: every report of the window counted per cell on the server; the bubbles
    # add up to the legend's total, and our reports are among them.
    layer_sum, legend_total = _bubble_sum_and_legend_total(page)
    assert layer_sum == legend_total >= len(map_reports)
    assert page.locator(".marker-cluster, .leaflet-overlay-pane path.leaflet-interactive").count()
    # A cell's bubble opens a card with its count and a link to exactly its cases.
    code = page.evaluate("window.cityMap.cluster.getLayers()[0].options.code")
    card = page.evaluate(
        "(() => { const m = window.cityMap.cluster.getLayers()[0];"
        " const box = window.cityMap.cellPopup(m.options.row, window.cityMap.query());"
        " return [box.textContent, box.querySelector('a').getAttribute('href'),"
        " Array.from(box.querySelectorAll('dt'), (d) => d.textContent),"
        " m.options.fillColor, m.options.row]; })()"
    )
    assert "cells=" + code in card[1] and card[1].startswith("/cases?")
    # Its counts per severity, most urgent first, and the bubble in the colour of its most
    # urgent level: the server's list and palette (fieldapp.domain), not the script's.
    assert card[2][1:] == ["红", "橙", "黄"]
    worst = next(level for level in SEVERITIES if card[4][level])
    assert card[3] == SEVERITY_COLOURS[worst]
    page.wait_for_timeout(200)  # give an injected handler time to fire, if there were one
    assert log.dialogs == []
    assert log.blocked == [] and log.failed == [] and log.console_errors == []
    assert all(status < 400 for _url, status, _w, _d in log.responses)


# Raw SQL: 5,280 reports in one statement (the API would take minutes), random points inside
# every cell of the test city, all in the last day so the default window holds them all.
_BULK_REPORTS = text(
    """
    INSERT INTO reports (id, officer_id, cell_id, village_id, township_id, county_id, geom,
        input_lon, input_lat, input_crs, outside_own_cells, occurred_at, reported_at, category,
        severity, people_involved, potential_group_incident, title, description, status,
        version, body_hash, owner_level, owner_area_id)
    SELECT gen_random_uuid(), :officer, c.id, c.village_id, c.township_id, c.county_id, d.geom,
        ST_X(d.geom), ST_Y(d.geom), 'wgs84', false,
        now() - d.path[1] * interval '5 minutes', now() - d.path[1] * interval '5 minutes',
        'neighbours', (ARRAY['red', 'orange', 'yellow'])[1 + d.path[1] % 3], 2, false,
        '负载测试 ' || c.code || '-' || d.path[1], :marker, 'reported', 1,
        md5(c.code || d.path[1]), 'township', c.township_id
    FROM cells c CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(c.geom, 110, 7)) AS d
    WHERE c.code LIKE '991101%'
    """
)
_BULK_MARKER = "地图负载测试"


@pytest.fixture
def many_reports(engine: Engine, people: dict[str, Any]) -> Iterator[int]:
    with engine.begin() as connection:
        inserted = connection.execute(
            _BULK_REPORTS, {"officer": people["officer_a"]["id"], "marker": _BULK_MARKER}
        ).rowcount
    yield inserted
    with engine.begin() as connection:
        connection.execute(delete(Report).where(Report.description == _BULK_MARKER))


def test_every_report_is_counted_within_the_budget(
    live_server: str, people: dict[str, Any], many_reports: int, visit: tuple[Any, Visit]
) -> None:
    """More reports in the window than the former 5,000-point cap: every one is counted (per
    cell, on the server), bubbles and legend agree, and the page still fits its budget."""
    assert many_reports > 5000
    page, log = visit
    _sign_in(page, live_server)
    page.wait_for_function("window.cityMap && window.cityMap.ready", timeout=10_000)
    page.wait_for_load_state("networkidle")
    log.responses.clear()
    ready_ms = _open_map(page, live_server)
    transferred, decoded = log.transferred(), log.decoded()
    print(
        f"\ncity map, every report counted: {transferred:,} bytes transferred "
        f"({decoded:,} decoded); usable after {ready_ms:.0f} ms"
    )
    assert transferred <= PAGE_BUDGET_BYTES
    assert ready_ms <= READY_BUDGET_MS
    layer_sum, legend_total = _bubble_sum_and_legend_total(page)
    assert layer_sum == legend_total >= many_reports
    heat = page.evaluate("window.cityMap.heat._latlngs.reduce((n, p) => n + p[2], 0)")
    assert heat == layer_sum
    status = page.locator("#map-status").text_content().replace(",", "").replace("，", "")
    assert str(layer_sum) in status
    assert log.blocked == [] and log.failed == [] and log.console_errors == []


def test_levels_drill_down_and_filters(
    live_server: str, people: dict[str, Any], map_reports: list[str], visit: tuple[Any, Visit]
) -> None:
    page, log = visit
    _sign_in(page, live_server)
    page.wait_for_function("window.cityMap && window.cityMap.ready")

    # Drill down: a township's cells with their own legend, and back.
    page.evaluate(f"window.cityMap.drillInto('{TOWNSHIP_1}')")
    page.wait_for_function("window.cityMap.drill && window.cityMap.drill.getLayers().length === 24")
    assert "测试街道001" in page.locator(".map-legend h4").text_content()
    page.click(".map-legend button")
    assert page.evaluate("window.cityMap.drill") is None

    # Another level and the rate: fetched again, legend shows the no-data swatch.
    with page.expect_response(lambda r: "level=village" in r.url and "metric=rate" in r.url):
        page.select_option("#map-filters select[name=level]", "village")
        page.select_option("#map-filters select[name=metric]", "rate")
    page.wait_for_function("window.cityMap.lastChoropleth.level === 'village'")
    page.wait_for_function("window.cityMap.areas.getLayers().length === 12")
    # A category with none of our reports: the bubbles count again, still equal to the
    # legend's total.
    before = _bubble_sum_and_legend_total(page)[0]
    with page.expect_response(lambda r: "/layers/report-cells" in r.url and "category=" in r.url):
        page.select_option("#map-filters select[name=category]", "medical")
    page.wait_for_function(f"window.cityMap.reportTotal <= {before - len(map_reports)}")
    page.wait_for_function(
        "window.cityMap.lastChoropleth && window.cityMap.lastChoropleth.total"
        " === window.cityMap.reportTotal"
    )
    # Custom dates open two fields, prefilled with the last 30 days in China time.
    page.select_option("#map-filters select[name=window]", "custom")
    assert page.locator("#map-filters .custom-dates").is_visible()
    today = datetime.now(CHINA_TZ).date()
    assert page.input_value("#map-filters input[name=to]") == today.isoformat()

    # The browser's GCJ-02 port agrees with grid.crs.
    for lon, lat in ((119.45, 35.33), (118.9, 35.9), (2.35, 48.85)):
        js = page.evaluate(f"CityMap.wgs84ToGcj02({lon}, {lat})")
        assert js == pytest.approx(list(from_wgs84(lon, lat, "gcj02")), abs=1e-9)
    assert log.blocked == [] and log.failed == [] and log.console_errors == []


def test_alerts_are_on_top_and_clickable_at_the_default_view_with_markers_on(
    live_server: str,
    people: dict[str, Any],
    map_reports: list[str],
    visit: tuple[Any, Visit],
) -> None:
    page, log = visit
    _sign_in(page, live_server)
    page.wait_for_function("window.cityMap && window.cityMap.ready")
    if page.evaluate("window.cityMap.config.urls.hotspots") is None:
        pytest.skip("no /api/v1/hotspots in this app")
    # Over the cells where map_reports put report bubbles.
    (x0, y0), (x1, y1) = support.cell_centre(0, 0), support.cell_centre(1, 1)
    name = "<img src=x onerror=alert(3)>"
    alert = {
        "id": 1,
        "area": {"code": "991101001", "name": name, "level": "township"},
        "township": {"code": "991101001", "name": name},
        "method": "scan",
        "statistic": 24.8,
        "p_value": 1e-12,
        "period": {"from": "2026-11-21", "to": "2026-11-24"},
        "categories": ["neighbours"],
        "recurrence_interval_days": 100000,
        "observed": 31,
        "expected": 6.2,
        "relative_risk": 5.0,
        "status": "new",
        "cells": ["991101001001001", "991101001001002"],
        "display": {
            "cells_text": name + " 2 个网格",
            "relative_risk": "预期的 5.0 倍",
            "unusual": "超过百年一遇",
        },
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
        },
    }
    # The hotspot service's answer, so this test does not depend on its detection runs.
    page.route("**/api/v1/hotspots", lambda route: route.fulfill(json={"alerts": [alert]}))
    page.reload()
    page.wait_for_function("window.cityMap && window.cityMap.ready")
    assert page.evaluate("window.cityMap.hotspots.getLayers().length") == 1
    # Markers on (the default), at the default view: the alert's pin is the topmost element
    # at its place — above the report bubbles and clusters — and a real click opens it.
    assert page.evaluate("window.cityMap.map.hasLayer(window.cityMap.cluster)")
    point = page.evaluate(
        """() => {
            const map = window.cityMap.map;
            const group = window.cityMap.hotspots.getLayers()[0];
            const pin = group.getLayers().find((l) => l instanceof L.CircleMarker);
            const p = map.latLngToContainerPoint(pin.getLatLng());
            const box = map.getContainer().getBoundingClientRect();
            const under = document.elementFromPoint(box.left + p.x, box.top + p.y);
            return [box.left + p.x, box.top + p.y, under === pin._path,
                    !!under.closest(".leaflet-cityAlerts-pane")];
        }"""
    )
    assert point[2] and point[3]
    page.mouse.click(point[0], point[1])
    popup = page.locator(".leaflet-popup-content .map-popup")
    popup.wait_for(timeout=5000)
    assert popup.locator(".title").text_content() == name
    text_ = popup.text_content()
    assert "邻里纠纷" in text_  # the category's name, not its code
    assert "超过百年一遇" in text_ and "实际 31 件，预期 6.2 件" in text_ and "5.0 倍" in text_
    assert "e-" not in text_ and "p 值" not in text_
    link = popup.locator("a").first.get_attribute("href")
    assert link.startswith("/cases?") and "991101001001001%2C991101001001002" in link
    assert "from=2026-11-21" in link and "to=2026-11-24" in link
    assert popup.locator("img, script").count() == 0
    page.wait_for_timeout(200)
    assert log.dialogs == [] and log.console_errors == [] and log.blocked == []


def test_map_analyses_are_layers_with_confidence_classes_and_chinese_patterns(
    live_server: str, people: dict[str, Any], visit: tuple[Any, Visit]
) -> None:
    page, log = visit
    _sign_in(page, live_server)
    page.wait_for_function("window.cityMap && window.cityMap.ready")
    if page.evaluate("window.cityMap.config.urls.analysis") is None:
        pytest.skip("no /api/v1/hotspots in this app")
    (x0, y0), (x1, y1) = support.cell_centre(2, 2), support.cell_centre(3, 3)
    square = {
        "type": "Polygon",
        "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
    }

    def answer(kind: str, cls: int) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "kind": kind,
            "classes": {str(cls): 1},
            "features": [
                {"type": "Feature", "properties": {"code": "x", "class": cls}, "geometry": square}
            ],
        }

    page.route(
        "**/api/v1/hotspots/analysis/gi_star",
        lambda route: route.fulfill(json=answer("gi_star", 3)),
    )
    page.route(
        "**/api/v1/hotspots/analysis/emerging",
        lambda route: route.fulfill(json=answer("emerging", 4)),
    )
    # Off by default: the page does not pay for them.
    assert not page.evaluate("window.cityMap.map.hasLayer(window.cityMap.analysisGi.group)")
    page.locator(".leaflet-control-layers").get_by_text("热点分析（Gi*，近 28 天）").click()
    legend = page.locator(".analysis-legend")
    legend.wait_for()
    page.wait_for_function("window.cityMap.analysisGi.group.getLayers().length === 1")
    text_ = legend.text_content()
    assert "热点，置信度 99%" in text_ and "冷点，置信度 90%" in text_ and "不显著" in text_
    assert "1 个网格" in text_
    page.locator(".leaflet-control-layers").get_by_text("热点分析（Gi*，近 28 天）").click()
    page.locator(".leaflet-control-layers").get_by_text("新兴热点（52 周）").click()
    page.wait_for_function("window.cityMap.analysisEmerging.group.getLayers().length === 1")
    assert "持续热点" in page.locator(".analysis-legend").text_content()
    assert log.console_errors == [] and log.blocked == []


def test_gcj02_base_tiles_shift_the_data_for_display(
    app: Any,
    live_server: str,
    people: dict[str, Any],
    map_reports: list[str],
    visit: tuple[Any, Visit],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "TILE_CRS", "gcj02")
    page, log = visit
    _sign_in(page, live_server)
    page.wait_for_function("window.cityMap && window.cityMap.ready")
    assert page.evaluate("window.cityMap.gcj") is True
    shown, wgs = page.evaluate(
        """() => {
            const l = window.cityMap.cluster.getLayers()[0];
            return [[l.getLatLng().lng, l.getLatLng().lat], l.options.wgs84];
        }"""
    )
    expected = from_wgs84(wgs[0], wgs[1], "gcj02")
    assert shown == pytest.approx(list(expected), abs=1e-6)
    assert shown != pytest.approx(wgs, abs=1e-5)
    assert log.console_errors == [] and log.blocked == []


def test_officers_get_a_403_page(live_server: str, people: dict[str, Any], visit: Any) -> None:
    page, log = visit
    page.goto(f"{live_server}/login?next=/city/map")
    page.fill('input[name="username"]', "t_officer_a")
    page.fill('input[name="password"]', support.PASSWORD)
    with page.expect_response(lambda r: urlparse(r.url).path == "/city/map") as answer:
        page.click('form.login button[type="submit"]')
    assert answer.value.status == 403
    assert page.locator(".leaflet-container").count() == 0
    assert log.blocked == []
