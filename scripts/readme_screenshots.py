"""The README's screenshots, taken from a running demo (`make run`) as each role sees it.

Usage: .venv/bin/python scripts/readme_screenshots.py [BASE_URL] [OUT_DIR]
(defaults: http://127.0.0.1:5000, docs/screenshots). Signs in as the demo accounts in Debian's
headless Chromium (desktop for city staff and the coordinator, 390×844 for the officer), with
every request outside the server blocked, and fails if a page logs a console error.
The test suite's own screenshots (pages the demo does not reach, e.g. a roster import) are
saved by `SCREENSHOT_DIR=docs/screenshots .venv/bin/python -m pytest tests/e2e`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from playwright.sync_api import Page, Route, sync_playwright

from fieldapp.demo.accounts import DEMO_PASSWORD
from fieldapp.domain import CHINA_TZ

REPO = Path(__file__).resolve().parent.parent
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Native widgets (a date field's 年/月/日) follow the browser process's own language (its
#: environment, with Debian's chromium-l10n installed), not the page's locale: a Chinese
#: user's browser, not the US default.
CHINESE_BROWSER = {"LANG": "zh_CN.UTF-8", "LANGUAGE": "zh_CN:zh"}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 860}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def main(base: str, out: Path) -> None:
    host = urlparse(base).hostname
    errors: list[str] = []
    out.mkdir(parents=True, exist_ok=True)

    def local_only(route: Route) -> None:
        if urlparse(route.request.url).hostname == host:
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=ARGS, env={**os.environ, **CHINESE_BROWSER}
        )

        def page_for(size: dict[str, Any]) -> Page:
            context = browser.new_context(**size, locale="zh-CN", timezone_id=CHINA_TZ.key)
            context.route("**/*", local_only)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            return page

        def web_sign_in(page: Page, username: str) -> None:
            page.goto(f"{base}/login")
            page.fill('input[name="username"]', username)
            page.fill('input[name="password"]', DEMO_PASSWORD)
            page.click('form.login button[type="submit"]')
            page.wait_for_load_state("networkidle")

        def shot(
            page: Page, path: str, name: str, settle_ms: int = 800, full: bool = False
        ) -> None:
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(settle_ms)
            page.screenshot(path=str(out / name), full_page=full)

        city = page_for(DESKTOP)
        web_sign_in(city, "city")
        shot(city, "/city/map", "city-map.png", settle_ms=2500)
        shot(city, "/city/alerts", "hotspots-alerts.png")
        shot(city, "/city/hotspots/analysis", "hotspots-analysis.png")
        shot(city, "/dashboard", "dashboard.png", settle_ms=2000, full=True)

        coordinator = page_for(DESKTOP)
        web_sign_in(coordinator, "coord_371102004")  # 秦楼街道: the demo's injected cluster
        shot(coordinator, "/triage/", "triage-queue.png")
        coordinator.locator("table a[href*='/triage/cases/']").first.click()
        coordinator.wait_for_load_state("networkidle")
        coordinator.wait_for_timeout(800)
        coordinator.screenshot(path=str(out / "triage-case.png"), full_page=True)

        # In the field, the phone knows where it is: a point in the officer's first cell.
        officer = page_for(PHONE | {"geolocation": _inside_first_cell(city, base, "officer0001")})
        officer.context.grant_permissions(["geolocation"])
        officer.goto(f"{base}/field/")
        officer.wait_for_load_state("networkidle")
        fields = officer.locator("input:visible")
        fields.nth(0).fill("officer0001")
        fields.nth(1).fill(DEMO_PASSWORD)
        officer.locator("button:visible").filter(has_text="登录").first.click()
        officer.wait_for_timeout(3000)
        officer.screenshot(path=str(out / "field-app.png"))
        browser.close()
    if errors:
        raise SystemExit("console errors:\n" + "\n".join(errors))


def _inside_first_cell(city: Page, base: str, officer: str) -> dict[str, float]:
    """A point of `officer`'s first grid cell (its vertices' mean; the demo's cells are
    convex), read from the API: the officer's cells (/me), then the township's cells as the
    city staff's map draws them."""
    signed_in = city.request.post(
        f"{base}/api/v1/auth/token",
        data={"username": officer, "password": DEMO_PASSWORD, "device": "readme screenshots"},
    )
    token = signed_in.json()["token"]
    me = city.request.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    cell = me.json()["cells"][0]
    layer = city.request.get(f"{base}/api/v1/layers/township/{cell['township']['code']}/cells")
    feature = next(f for f in layer.json()["features"] if f["properties"]["code"] == cell["code"])
    geometry = feature["geometry"]
    ring = (
        geometry["coordinates"][0][0]
        if geometry["type"] == "MultiPolygon"
        else geometry["coordinates"][0]
    )
    return {
        "longitude": sum(x for x, _y in ring[:-1]) / (len(ring) - 1),
        "latitude": sum(y for _x, y in ring[:-1]) / (len(ring) - 1),
        "accuracy": 15,
    }


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000",
        Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "docs" / "screenshots",
    )
