"""Every page works under the Content-Security-Policy: headless Chromium visits each one
signed in as a role that may see it, and no CSP violation is reported (the page's
`securitypolicyviolation` events and the console), while its scripts did run."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from sqlalchemy import delete

from fieldapp.db import db
from fieldapp.models import AuditEvent, OutboxMessage, Report
from tests.support import PASSWORD, cell_centre

pytestmark = pytest.mark.e2e

_LISTEN = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || ''));
});
"""


@pytest.fixture
def committed_case(app: Flask, people: dict) -> object:
    """A report with parties, committed (the live server reads it), removed afterwards."""
    report_id = str(uuid.uuid4())
    lon, lat = cell_centre(0, 0)
    client = app.test_client()
    r = client.post(
        "/api/v1/reports",
        json={
            "id": report_id,
            "lon": lon,
            "lat": lat,
            "occurred_at": "2026-11-25T09:30:00+08:00",
            "category": "neighbours",
            "severity": "orange",
            "people_involved": 2,
            "title": "CSP 测试",
            "description": "邻里纠纷",
            "parties": [{"name": "张三", "id_number": "371102199001011234"}],
        },
        headers={"Authorization": f"Bearer {people['officer_a']['token']}"},
    )
    assert r.status_code == 201, r.get_json()
    yield report_id
    with app.app_context():
        session = db.session
        session.execute(delete(Report).where(Report.id == uuid.UUID(report_id)))
        session.execute(delete(AuditEvent).where(AuditEvent.object_id == report_id))
        session.execute(
            delete(OutboxMessage).where(OutboxMessage.payload["report_id"].astext == report_id)
        )
        session.commit()


def _sign_in(page, live_server: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")


def _visit(page, url: str) -> list[str]:  # type: ignore[no-untyped-def]
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    # Scripts from the app only, plus this page's nonce when it has inline scripts.
    csp = response.headers["content-security-policy"]
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert script_src.startswith("script-src 'self'") and "unsafe" not in script_src, csp
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    return list(page.evaluate("window.__csp"))


def test_no_page_breaks_its_content_security_policy(
    browser, live_server: str, people: dict, committed_case: str
) -> None:  # type: ignore[no-untyped-def]
    pages = {
        None: ["/", "/login", "/api/v1/docs"],
        "t_city": [
            "/city/map",
            "/dashboard",
            "/cases",
            "/exports/",
            "/city/alerts",
            "/city/hotspots/analysis",
        ],
        "t_coord_1": ["/triage/", f"/triage/cases/{committed_case}", "/triage/inbox"],
        "t_county": ["/triage/overdue"],
        "t_dept": ["/triage/department"],
        "t_officer_a": ["/field/"],
    }
    problems: dict[str, list[str]] = {}
    for username, paths in pages.items():
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        context.add_init_script(_LISTEN)
        page = context.new_page()
        console: list[str] = []
        page.on(
            "console",
            lambda m, sink=console: (
                sink.append(m.text)
                if "Content Security Policy" in m.text or "Refused to" in m.text
                else None
            ),
        )
        if username:
            _sign_in(page, live_server, username)
        for path in paths:
            console.clear()
            violations = _visit(page, live_server + path)
            if violations or console:
                problems[path] = violations + console
            # The page's own scripts ran (a blocked inline script would leave these empty).
            if path in ("/", "/city/map"):
                assert page.locator(".leaflet-container").count() >= 1, path
            if path == "/dashboard":
                assert page.locator("canvas").count() >= 1, path
            if path == "/api/v1/docs":
                page.wait_for_selector(".opblock", timeout=15000)
        if username is None:
            # The listener does catch a violation: an injected inline script is refused.
            page.goto(live_server + "/login")
            page.evaluate(
                "() => { const s = document.createElement('script');"
                " s.textContent = 'window.__ran = 1'; document.body.appendChild(s); }"
            )
            page.wait_for_timeout(200)
            assert page.evaluate("window.__ran") is None
            assert any("script-src" in v for v in page.evaluate("window.__csp"))
        context.close()
    assert problems == {}
