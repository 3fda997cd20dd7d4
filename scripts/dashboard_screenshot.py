"""Screenshot of the city dashboard against a running demo (`make run`), for the README.

Usage: .venv/bin/python scripts/dashboard_screenshot.py [BASE_URL] [OUT.png]
(defaults: http://127.0.0.1:5000, docs/screenshots/dashboard.png). Signs in as the demo
city account in Debian's headless Chromium, with every request outside the server blocked."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Route, sync_playwright

from fieldapp.services.demo import DEMO_PASSWORD

REPO = Path(__file__).resolve().parent.parent


def main(base: str, out: Path) -> None:
    host = urlparse(base).hostname
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless=new", "--no-sandbox"]
        )
        context = browser.new_context(
            viewport={"width": 1360, "height": 1000}, locale="zh-CN", timezone_id="Asia/Shanghai"
        )

        def local_only(route: Route) -> None:
            if urlparse(route.request.url).hostname == host:
                route.continue_()
            else:
                route.abort()

        context.route("**/*", local_only)
        page = context.new_page()
        page.goto(f"{base}/login?next=/dashboard")
        page.fill('input[name="username"]', "city")
        page.fill('input[name="password"]', DEMO_PASSWORD)
        page.click('form.login button[type="submit"]')
        page.wait_for_url("**/dashboard*")
        page.wait_for_function("window.dashboard && window.dashboard.ready", timeout=60_000)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(out)


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000",
        Path(sys.argv[2]) if len(sys.argv) > 2 else REPO / "docs/screenshots/dashboard.png",
    )
