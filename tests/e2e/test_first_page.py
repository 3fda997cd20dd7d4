"""The first page in real headless Chromium with the network closed beyond 127.0.0.1."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_city_map_renders_offline_in_chinese(live_server: str, page_and_log) -> None:  # type: ignore[no-untyped-def]
    page, log = page_and_log
    response = page.goto(live_server + "/", wait_until="networkidle")
    assert response.status == 200
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.title() == "全市概览 · 日照"
    # Leaflet drew the county and township polygons as SVG paths.
    page.wait_for_selector(".leaflet-overlay-pane path")
    assert page.locator(".leaflet-overlay-pane path").count() >= 3  # 1 county + 2 townships
    assert page.locator(".leaflet-control-layers").count() == 1
    assert "48" in page.locator("#level-counts").inner_text()
    assert log.blocked == [] and log.failed == [] and log.console_errors == []


def test_english_is_one_click_away(live_server: str, page_and_log) -> None:  # type: ignore[no-untyped-def]
    page, log = page_and_log
    page.goto(live_server + "/", wait_until="networkidle")
    page.click("text=English")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "en-GB"
    assert "grid cells" in page.locator("#level-counts").inner_text()
    assert log.console_errors == []
