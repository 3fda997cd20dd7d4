"""Sign-in abuse, open redirects, security headers and cookie flags (issue #15, items 5, 9
and 10) against the real app and PostgreSQL."""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from fieldapp import create_app
from fieldapp.db import db
from fieldapp.models import AuditEvent, SigninThrottle
from fieldapp.services import accounts
from tests.support import PASSWORD

pytestmark = pytest.mark.usefixtures("people")


def _csrf(client: FlaskClient) -> str:
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def _web_login(
    client: FlaskClient, username: str, password: str, address: str, next_: str | None = None
):  # type: ignore[no-untyped-def]
    token = _csrf(client)
    url = "/login" + (f"?next={next_}" if next_ is not None else "")
    return client.post(
        url,
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def _api_login(client: FlaskClient, username: str, password: str, address: str, **kw):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password, "device": "pytest"},
        environ_base={"REMOTE_ADDR": address},
        **kw,
    )


# --- item 5: open redirect -------------------------------------------------------------------


@pytest.mark.parametrize(
    "next_",
    [
        "/%09/evil.example",
        "//evil.example",
        "/%5Cevil.example",
        "https:evil.example",
        "/%2509/evil.example",
        "%2F%2Fevil.example",
        "/%0d%0a/evil.example",
    ],
)
def test_login_never_redirects_off_site(client: FlaskClient, next_: str) -> None:
    r = _web_login(client, "t_coord_1", PASSWORD, "10.5.0.1", next_)
    assert r.status_code == 302
    assert r.headers["Location"] == "/triage/"  # the coordinator's home page


def test_login_follows_a_page_of_the_app(client: FlaskClient) -> None:
    r = _web_login(client, "t_city", PASSWORD, "10.5.0.2", "/dashboard%3Fperiod%3D2026-11")
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard?period=2026-11"


# --- item 9: sign-in abuse -------------------------------------------------------------------


def test_guessing_from_one_address_does_not_lock_the_user_out_elsewhere(
    client: FlaskClient, db_session: Session
) -> None:
    for _ in range(5):
        assert _web_login(client, "t_coord_2", "wrong", "203.0.113.9").status_code == 401
    refused = _web_login(client, "t_coord_2", PASSWORD, "203.0.113.9")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 15 * 60 + 1
    assert "登录失败次数过多" in refused.get_data(as_text=True)
    # The real user, from their own address, signs in at once.
    assert _web_login(client, "t_coord_2", PASSWORD, "198.51.100.7").status_code == 302
    # The API shares the same counters and answers 429 in the error shape, in English too.
    api = _api_login(client, "t_coord_2", PASSWORD, "203.0.113.9", query_string={"lang": "en"})
    assert api.status_code == 429 and api.headers["Retry-After"]
    assert api.get_json()["error"]["code"] == "rate_limited"
    assert "Too many failed sign-ins" in api.get_json()["error"]["message"]
    audited = db_session.execute(
        select(AuditEvent.action, AuditEvent.remote_addr).where(
            AuditEvent.object_type == "signin", AuditEvent.object_id == "t_coord_2"
        )
    ).all()
    assert audited.count(("login.failed", "203.0.113.9")) == 5
    assert audited.count(("login.locked", "203.0.113.9")) == 1  # once per window


def test_one_address_cannot_spray_many_usernames(client: FlaskClient) -> None:
    for i in range(30):
        assert _api_login(client, f"nobody{i}", "guess", "192.0.2.50").status_code == 401
    r = _api_login(client, "t_city", PASSWORD, "192.0.2.50")
    assert r.status_code == 429
    assert _api_login(client, "t_city", PASSWORD, "192.0.2.51").status_code == 201


def test_a_success_is_not_charged_to_a_shared_address(client: FlaskClient) -> None:
    for _ in range(40):  # a busy office behind one NAT address
        assert _api_login(client, "t_officer_b", PASSWORD, "192.0.2.80").status_code == 201


def test_a_distributed_guess_slows_strangers_but_not_the_users_own_address(
    client: FlaskClient,
) -> None:
    assert _api_login(client, "t_county", PASSWORD, "198.51.100.20").status_code == 201
    for i in range(20):  # 20 attackers, one guess each: all evaluated
        assert _api_login(client, "t_county", "guess", f"203.0.113.{100 + i}").status_code == 401
    # From now on one evaluated attempt a minute for strangers (this minute's is used up).
    stranger = _api_login(client, "t_county", "guess", "203.0.113.200")
    assert stranger.status_code == 429
    slowed = _api_login(client, "t_county", PASSWORD, "203.0.113.201")
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) <= 61
    # The user's usual address is not slowed at all.
    assert _api_login(client, "t_county", PASSWORD, "198.51.100.20").status_code == 201


@pytest.fixture
def live_app(app: Flask) -> Iterator[str]:
    """The app on a real threaded server, on committed data (no test transaction): parallel
    requests are parallel transactions. Counters and audit rows of the test are removed."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        with app.app_context():
            db.session.execute(delete(SigninThrottle))
            db.session.execute(delete(AuditEvent).where(AuditEvent.object_type == "signin"))
            db.session.commit()


def test_parallel_guesses_cannot_get_past_the_limit(live_app: str, app: Flask) -> None:
    with app.app_context():
        db.session.execute(delete(SigninThrottle))
        db.session.commit()

    def guess(i: int) -> int:
        r = requests.post(
            f"{live_app}/api/v1/auth/token",
            json={"username": "t_dept", "password": f"guess-{i}", "device": "x"},
            timeout=120,
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(guess, range(30)))
    assert statuses.count(401) == 5, statuses  # exactly the limit was evaluated
    assert statuses.count(429) == 25, statuses
    with app.app_context():
        failed = db.session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "login.failed", AuditEvent.object_id == "t_dept"
            )
        ).all()
        assert len(failed) == 5


def test_unknown_users_cost_the_same_time_as_real_ones(client: FlaskClient) -> None:
    accounts.verify_password(accounts._dummy_hash(), "warm")  # the dummy hash is made once
    known: list[float] = []
    unknown: list[float] = []
    for i in range(12):  # interleaved, so a busy machine slows both alike
        for username, sink in (("t_coord_1", known), (f"no-such-user-{i}", unknown)):
            started = time.perf_counter()
            r = _api_login(client, username, "not-the-password", f"10.77.{i}.{len(sink)}")
            sink.append(time.perf_counter() - started)
            assert r.status_code == 401
    ratio = statistics.median(unknown) / statistics.median(known)
    print(
        f"\nsign-in medians: real user {statistics.median(known) * 1000:.0f} ms, "
        f"unknown user {statistics.median(unknown) * 1000:.0f} ms (ratio {ratio:.2f})"
    )
    assert 0.5 < ratio < 2, (ratio, known, unknown)


# --- item 10: headers and cookies ------------------------------------------------------------

HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _check_headers(response, where: str) -> None:  # type: ignore[no-untyped-def]
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (where, name)
    csp = response.headers.get("Content-Security-Policy", "")
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    # Scripts from the app only; a nonce on answers that rendered inline scripts.
    assert "frame-ancestors 'none'" in csp and "unsafe" not in script_src, where
    assert script_src == "script-src 'self'" or script_src.startswith(
        "script-src 'self' 'nonce-"
    ), where


def test_every_route_answers_with_the_security_headers(
    app: Flask, client: FlaskClient, people: dict
) -> None:
    assert _web_login(client, "t_city", PASSWORD, "10.9.0.1").status_code == 302
    bearer = {"Authorization": f"Bearer {people['city']['token']}"}
    checked = 0
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<{argument}>", "00000000-0000-0000-0000-000000000000")
        path = re.sub(r"<[^>]+:([^>]+)>", "x", path)
        path = re.sub(r"<[^>]+>", "00000000-0000-0000-0000-000000000000", path)
        if rule.endpoint == "static":
            path = "/static/css/app.css"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            headers = bearer if path.startswith("/api/") else {}
            response = client.open(path, method=method, headers=headers, json={})
            _check_headers(response, f"{method} {path} → {response.status_code}")
            checked += 1
    assert checked > 40
    _check_headers(client.get("/no/such/page"), "404")
    _check_headers(client.get("/api/v1/no-such"), "API 404")


def test_session_cookie_flags_over_http_https_and_a_trusted_proxy(
    app: Flask, client: FlaskClient, database_url: str, db_session: Session
) -> None:
    r = _web_login(client, "t_coord_1", PASSWORD, "10.9.0.2")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "Strict-Transport-Security" not in r.headers
    https = app.test_client()
    token_page = https.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', token_page).group(1)  # type: ignore[union-attr]
    r = https.post(
        "/login",
        base_url="https://localhost",
        data={"username": "t_coord_1", "password": PASSWORD, "csrf_token": token},
        headers={"Referer": "https://localhost/login"},
    )
    assert r.status_code == 302
    assert "Secure" in r.headers["Set-Cookie"]
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
    # Behind a trusted proxy, X-Forwarded-Proto says the browser used HTTPS.
    proxied = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": "memory://",
            "SECRET_KEY": "test",
            "PROXY_HOPS": 1,
            "WTF_CSRF_ENABLED": False,
        }
    )
    db.use_sessionmaker(proxied, app.extensions["fieldapp.sessionmaker"])
    behind = proxied.test_client()
    r = behind.post(
        "/login",
        data={"username": "t_coord_1", "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.77"},
    )
    assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]
    login = db_session.execute(
        select(AuditEvent.remote_addr)
        .where(AuditEvent.action == "login")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).scalar()
    assert login == "203.0.113.77"
