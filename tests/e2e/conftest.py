"""Browser tests: the app served on 127.0.0.1 by a real WSGI server in a thread, driven by
Debian's headless Chromium through Playwright. Every request that leaves 127.0.0.1 is blocked
and recorded, so a page that needs the internet fails here as it would in a closed network."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def live_server(app: Flask, small_city_loaded: None) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class PageLog:
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    bytes_received: int = 0

    def watch(self, page: object) -> None:
        """Record on this log what goes wrong on the page: requests that failed, static files
        answered with an error, console errors and uncaught exceptions."""
        page.on("requestfailed", self._request_failed)  # type: ignore[attr-defined]
        page.on("response", self._response)  # type: ignore[attr-defined]
        page.on(  # type: ignore[attr-defined]
            "console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))  # type: ignore[attr-defined]

    def _request_failed(self, request) -> None:  # type: ignore[no-untyped-def]
        # Chromium cancels what is still loading when the page navigates (the favicon, say,
        # requested after the load event and answered 200 by the server): net::ERR_ABORTED is
        # that cancellation, not a broken page. A missing file is an error *response*, which
        # _response records.
        if request.failure != NAVIGATION_CANCELLED:
            self.failed.append(request.url)

    def _response(self, response) -> None:  # type: ignore[no-untyped-def]
        if response.status >= 400 and urlparse(response.url).path.startswith("/static/"):
            self.failed.append(f"{response.url} ({response.status})")


NAVIGATION_CANCELLED = "net::ERR_ABORTED"


@pytest.fixture
def page_and_log(browser) -> Iterator[tuple[object, PageLog]]:  # type: ignore[no-untyped-def]
    # Playwright's wait_for_function evaluates strings in the page, which the app's strict
    # Content-Security-Policy forbids; the policy itself is checked on every page by
    # test_content_security_policy.py, in contexts that do not bypass it.
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="zh-CN", bypass_csp=True
    )
    page = context.new_page()
    log = PageLog()

    def only_loopback(route) -> None:  # type: ignore[no-untyped-def]
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith("data:") or host == "127.0.0.1":
            route.continue_()
        else:
            log.blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    log.watch(page)
    yield page, log
    context.close()
