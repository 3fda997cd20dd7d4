"""Load shedding (issue #16, item 6) with real nginx in front of real gunicorn: requests
beyond what gunicorn may hold at once are answered at once with 503, Retry-After and the API's
`busy` error in the request's language; requests within the bound are all served; a dead
gunicorn is still a 502, not `busy`; the shipped production site sheds the same way."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from fieldapp import front_proxy
from tests.integration.test_front_proxy import STATIC, _free_port, _gunicorn, _wait_ok

REPO = Path(__file__).resolve().parents[2]
Shedding = tuple[int, Path, "subprocess.Popen[bytes]"]
MAX_IN_FLIGHT = 2  # the test's gunicorn has 1 process × 2 threads (test_front_proxy)


def _request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: str = ""
) -> tuple[int, dict[str, str], bytes, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data, time.monotonic() - started
    finally:
        conn.close()


@pytest.fixture()
def shedding(database_url: str, small_city_loaded: None) -> Iterator[Shedding]:
    """The app behind the embedded front proxy with max_in_flight 2; yields nginx's port, the
    instance folder and gunicorn."""
    binary = front_proxy.nginx_binary()
    assert binary, "nginx is missing: scripts/bootstrap.sh installs nginx-light"
    with tempfile.TemporaryDirectory(prefix="shed") as tmp:
        instance = Path(tmp)
        sock = instance / "gunicorn.sock"
        server = _gunicorn(database_url, f"unix:{sock}", instance)
        proxy = front_proxy.FrontProxy(
            listen_host="127.0.0.1",
            listen_port=_free_port(),
            upstream_socket=sock,
            run_dir=instance / "run",
            static_dir=STATIC,
            max_body_bytes=16 * 1024 * 1024,
            limits=front_proxy.ProxyLimits(max_in_flight=MAX_IN_FLIGHT),
        )
        (instance / "run").mkdir()
        nginx = front_proxy.start(proxy, binary)
        try:
            _wait_ok(proxy.listen_port, server, instance / "gunicorn.log")
            yield proxy.listen_port, instance, server
        finally:
            for child in (nginx, server):
                if child.poll() is None:
                    child.terminate()
                    child.wait(timeout=30)


def _sign_in_attempt(port: int) -> tuple[int, dict[str, str], bytes, float]:
    # Reads the users table: blocks while the test holds its lock.
    body = json.dumps({"username": "nobody", "password": "wrong", "device": "t"})
    return _request(port, "POST", "/api/v1/auth/token", {"Content-Type": "application/json"}, body)


def test_a_burst_beyond_the_bound_is_shed_at_once_and_the_held_requests_are_served(
    shedding: Shedding, database_url: str
) -> None:
    port, _instance, _server = shedding
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as lock:
        # Every sign-in now waits in gunicorn: MAX_IN_FLIGHT of them fill what nginx may
        # hand to it.
        lock.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(MAX_IN_FLIGHT) as held_pool:
            held = [held_pool.submit(_sign_in_attempt, port) for _ in range(MAX_IN_FLIGHT)]
            time.sleep(1.0)  # both are in gunicorn, waiting for the lock
            assert not any(f.done() for f in held)
            with ThreadPoolExecutor(20) as burst_pool:
                burst = list(
                    burst_pool.map(
                        lambda i: _request(
                            port,
                            "GET",
                            "/api/v1/categories",
                            {"Accept-Language": "en-US,en;q=0.9"} if i % 2 else {},
                        ),
                        range(20),
                    )
                )
            lock.rollback()  # release: the held requests go on
            answers = [f.result() for f in held]
    for i, (status, headers, body, seconds) in enumerate(burst):
        assert status == 503, (status, body[:200])
        assert headers["Retry-After"] == "2"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Content-Type"].startswith("application/json")
        error = json.loads(body)["error"]
        assert error["code"] == "busy"
        if i % 2:
            assert error["message"].startswith("The server is busy")
        else:
            assert "服务器繁忙" in error["message"]
        assert seconds < 1.0, seconds  # at once, not after the held requests
    # The held requests were served by the app (a refused sign-in), not shed.
    assert [a[0] for a in answers] == [401] * MAX_IN_FLIGHT, [a[2][:200] for a in answers]


def test_a_shed_page_request_gets_a_page_with_its_heading_once(
    shedding: Shedding, database_url: str
) -> None:
    """A page (not /api/) shed the same way gets a page, not the API's JSON: the heading
    once and what to do next, in the page's language (?lang= or its cookie)."""
    port, _instance, _server = shedding
    asks = [("/", {}), ("/?lang=en", {}), ("/field/", {"Cookie": "lang=en"}), ("/login", {})]
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as lock:
        lock.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(MAX_IN_FLIGHT) as held_pool:
            held = [held_pool.submit(_sign_in_attempt, port) for _ in range(MAX_IN_FLIGHT)]
            time.sleep(1.0)  # both are in gunicorn, waiting for the lock
            assert not any(f.done() for f in held)
            shed = [_request(port, "GET", path, headers) for path, headers in asks]
            lock.rollback()
            for f in held:
                f.result()
    expected = {
        "zh": ("服务器繁忙", "本次未保存任何内容。请几秒钟后重试。"),
        "en": ("Server busy", "Nothing was saved. Try again in a few seconds."),
    }
    for (path, sent), (status, headers, body, _seconds) in zip(asks, shed, strict=True):
        assert status == 503, (path, status, body[:200])
        assert headers["Retry-After"] == "2"
        assert headers["Content-Type"].startswith("text/html"), headers
        page = body.decode("utf-8")
        lang = "en" if "en" in path or sent else "zh"
        heading, sentence = expected[lang]
        assert f"<h1>{heading}</h1>" in page, page
        assert f'<p class="error-message">{sentence}</p>' in page, page
        body_text = page.split("<body>", 1)[1]
        assert body_text.count(heading) == 1, page
        assert '"error"' not in page  # not the API's JSON


def test_requests_within_the_bound_all_succeed(shedding: Shedding) -> None:
    port, _instance, _server = shedding
    with ThreadPoolExecutor(MAX_IN_FLIGHT) as pool:
        statuses = list(
            pool.map(lambda _i: _request(port, "GET", "/api/v1/categories")[0], range(200))
        )
    assert statuses == [200] * 200
    # Static files never reach gunicorn: not counted, not shed.
    assert _request(port, "GET", "/static/app.css")[0] in (200, 404)


def test_a_dead_gunicorn_is_a_502_not_busy(shedding: Shedding) -> None:
    port, _instance, server = shedding
    server.terminate()  # nginx can no longer reach it
    server.wait(timeout=30)
    status, headers, body, _s = _request(port, "GET", "/api/v1/categories")
    assert status == 502, body[:200]
    assert b"busy" not in body


def _squash(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines())


def test_the_shipped_site_sheds_the_same_way() -> None:
    """deploy/nginx/fieldapp.conf carries the rendered bodies and the same directives."""
    site = (REPO / "deploy" / "nginx" / "fieldapp.conf").read_text(encoding="utf-8")
    limits = front_proxy.ProxyLimits()
    assert _squash(front_proxy.shedding_http(limits)) in _squash(site)
    # The server's own headers repeated in the location (add_header is not inherited there).
    headers = ('Strict-Transport-Security "max-age=31536000"', "X-Content-Type-Options nosniff")
    for header in headers:
        assert f"add_header {header} always;" in site
    location = front_proxy.shedding_location(limits, "fieldapp_web", headers)
    assert _squash(location) in _squash(site)
    assert re.search(r"server \S+ .*max_conns=\d+;", site)
    assert "error_page 502 = @fieldapp_busy;" in site
    assert "error_page 502 = @fieldapp_busy_page;" in site
    assert "zone fieldapp_web" in site  # max_conns shared by all nginx workers
