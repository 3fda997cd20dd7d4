"""The buffering reverse proxy (nginx) in front of gunicorn, in the embedded default as in
production.

Why: gunicorn's threaded workers read a request's headers and body with a blocking socket and
no deadline, one thread per connection. A client that sends its request a byte at a time holds
a thread for as long as it likes, and 3 processes × 6 threads = 18 such clients take the whole
server (issue #15, item 6). nginx reads every request in full first, without a thread per
client (an event loop), cuts a client that has not sent its headers within
``header_timeout_s`` or pauses in its body longer than ``body_timeout_s``, and only then hands
the complete request to gunicorn over a unix socket. `benchmarks/bench_slow_clients.py`
measures how many slow clients each set-up survives.

`fieldapp up` (`make run`) starts nginx with :func:`render_config` as a child of its own,
listening where gunicorn used to, with gunicorn on a unix socket under the instance folder.
Production uses the site in `deploy/nginx/` with the same limits (TLS added there).

Load shedding (issue #16, item 6): gunicorn serves 3 processes × 6 threads at once. Without a
bound, a burst of 200 clients queued in nginx and the kernel and waited (p99 1.2 s). The
upstream is declared with ``max_conns``: nginx opens at most ``max_in_flight`` connections to
gunicorn for requests being served (idle keep-alive ones do not count, and a request counts
only once nginx has read it whole, so slow uploads never take a place), and answers a request
beyond that at once with 503, ``Retry-After`` and the API's error shape (``busy``) in the
request's language; the phones keep the report and retry. A page (any path outside /api/) is
answered with a small HTML page instead, as the app's own error pages are: a heading once and
what to do next. ``limit_conn`` was not chosen: it
counts a request from its headers on, while nginx is still reading its body, so a handful of
slow photo uploads would have shed everyone else. `benchmarks/bench_shedding.py` measures
bursts with and without it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path

from babel.messages.pofile import read_po

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
MIME_TYPES = Path("/etc/nginx/mime.types")
CATALOG = Path(__file__).with_name("translations") / "zh" / "LC_MESSAGES" / "messages.po"
UPSTREAM = "fieldapp"
"""The upstream's name: nginx reports it as $upstream_addr when no server of it could take
the request (all at max_conns), which is how a shed request is told from a dead gunicorn."""


def _l(message: str) -> str:
    """Marks a message for extraction (the `_l` keyword); translated by `busy_bodies`, since
    nginx answers without the app."""
    return message


BUSY_MESSAGE = _l(
    "The server is busy; nothing was saved. Try again in a few seconds (your phone retries "
    "by itself)."
)
#: The page a shed page request gets: its heading, and under it what to do next (the same
#: sentence as the app's own 503 page, fieldapp.errors._page_text).
BUSY_PAGE_TITLE = _l("Server busy")
BUSY_PAGE_MESSAGE = _l("Nothing was saved. Try again in a few seconds.")
BUSY_PAGE_RETRY = _l("Try again")


@dataclass(frozen=True)
class ProxyLimits:
    """How long nginx waits for a slow client, and how many it holds at once."""

    # Whole request header (nginx: client_header_timeout): a phone on a weak signal sends
    # a few hundred bytes of headers in well under a second; 10 s leaves room for a
    # retransmission or two.
    header_timeout_s: int = 10
    # Longest pause between two reads of a body (client_body_timeout), not the whole
    # upload: a photo on a slow 3G link keeps sending, with pauses of a second or two.
    body_timeout_s: int = 20
    # Longest pause while sending the answer to the client (send_timeout).
    send_timeout_s: int = 30
    # Connections one nginx worker holds at once (slow clients included).
    worker_connections: int = 8192
    # Requests handed to gunicorn at once (the upstream's max_conns); more are answered 503
    # `busy` at once. gunicorn runs 3 × 6 = 18 threads, so up to 110 more wait in its accept
    # queue: about 0.2 s of work at the intake's ~700 reports/s on two quiet cores, 2.4 s
    # (p99) on the benchmark's overloaded machine — always far below the phones' 20 s
    # request timeout, past which a queued report is sent again while the first is still
    # being served. Not lower: a shed phone waits at least 3.75 s (its backoff), so shedding
    # what would have been served in a fraction of a second costs more than it saves
    # (bench_shedding: with 36, a burst of 200 took 18 s to get in, with 128 6 s).
    # 0 turns shedding off (the benchmark's baseline: every request queues).
    max_in_flight: int = 128
    # Retry-After of a shed request, in seconds.
    busy_retry_after_s: int = 2


@dataclass(frozen=True)
class FrontProxy:
    """Where the proxy listens, where gunicorn is, and where nginx keeps its files."""

    listen_host: str
    listen_port: int
    upstream_socket: Path
    run_dir: Path
    static_dir: Path
    max_body_bytes: int
    limits: ProxyLimits = ProxyLimits()

    @property
    def config_path(self) -> Path:
        return self.run_dir / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.run_dir / "nginx-error.log"


def nginx_binary() -> str | None:
    """The nginx executable, or None when it is not installed (scripts/bootstrap.sh installs
    Debian's nginx-light)."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((c for c in NGINX_CANDIDATES if os.access(c, os.X_OK)), None)


@cache
def _chinese() -> dict[str, str]:
    """The app's Chinese catalog, msgid → msgstr (nginx answers without the app)."""
    with CATALOG.open("rb") as f:
        catalog = read_po(f, locale="zh")
    return {
        m.id: m.string
        for m in catalog
        if isinstance(m.id, str) and isinstance(m.string, str) and m.string
    }


def _text(message: str, lang: str) -> str:
    return _chinese().get(message, message) if lang == "zh" else message


@cache
def busy_bodies() -> dict[str, str]:
    """The `busy` error body of a shed request in each language ("zh", "en"), as JSON in the
    API's error shape; the Chinese text comes from the app's catalog."""
    return {
        lang: json.dumps(
            {"error": {"code": "busy", "message": _text(BUSY_MESSAGE, lang)}}, ensure_ascii=False
        )
        for lang in ("zh", "en")
    }


@cache
def busy_pages() -> dict[str, str]:
    """The page a shed page request gets in each language ("zh", "en"), on one line: the
    heading once and what to do next, styled as the app's error page (error.html)."""
    pages = {}
    for lang in ("zh", "en"):
        title, message, retry = (
            escape(_text(m, lang)) for m in (BUSY_PAGE_TITLE, BUSY_PAGE_MESSAGE, BUSY_PAGE_RETRY)
        )
        pages[lang] = (
            f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
            '<meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{title}</title><link rel="stylesheet" href="/static/css/app.css"></head>'
            f'<body><main><h1>{title}</h1><p class="error-message">{message}</p>'
            f'<p class="error-actions"><a href="">{retry}</a></p></main></body></html>'
        )
    return pages


def _quoted(text: str) -> str:
    """`text` inside an nginx single-quoted string: a quote and a backslash need theirs."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def shedding_http(limits: ProxyLimits) -> str:
    """The http-level part of load shedding: the shed answer's body by language. Chinese
    unless the request asks for English as the app would (?lang=en, the `lang` cookie, or
    English as the first language of Accept-Language); shared with deploy/nginx/."""
    bodies = {k: _quoted(v) for k, v in busy_bodies().items()}
    pages = {k: _quoted(v) for k, v in busy_pages().items()}
    return f"""# Load shedding (fieldapp.front_proxy): the body of a shed request, by language.
    map "$arg_lang|$cookie_lang|$http_accept_language" $fieldapp_busy_body {{
        default '{bodies["zh"]}';
        "~^en\\|" '{bodies["en"]}';
        "~^zh\\|" '{bodies["zh"]}';
        "~^\\|en\\|" '{bodies["en"]}';
        "~^\\|zh\\|" '{bodies["zh"]}';
        "~*^\\|[^|]*\\|\\s*en" '{bodies["en"]}';
    }}
    # The page of a shed page request: pages follow ?lang= and its cookie, not
    # Accept-Language (fieldapp.i18n).
    map "$arg_lang|$cookie_lang" $fieldapp_busy_page {{
        default '{pages["zh"]}';
        "~^en\\|" '{pages["en"]}';
        "~^\\|en$" '{pages["en"]}';
    }}"""


def shedding_location(
    limits: ProxyLimits,
    upstream: str = UPSTREAM,
    headers: tuple[str, ...] = ("X-Content-Type-Options nosniff",),
) -> str:
    """The named locations that answer a shed request: 503, Retry-After, and the JSON body
    (@fieldapp_busy, for /api/) or the page (@fieldapp_busy_page, for the rest). A 502 that
    is not shedding (gunicorn down) stays a 502. With several web nodes (the shipped site),
    "no server could take it" also covers every node being down: a 503 the phones retry is
    the right answer then too. `headers`: the server's own add_header lines, repeated here
    because a location with add_header of its own inherits none of them."""
    extra = "".join(f"\n            add_header {h} always;" for h in headers)
    blocks = []
    for name, media, body in (
        ("@fieldapp_busy", "application/json", "$fieldapp_busy_body"),
        ("@fieldapp_busy_page", "text/html", "$fieldapp_busy_page"),
    ):
        blocks.append(f"""location {name} {{
            if ($upstream_addr != "{upstream}") {{
                return 502;
            }}
            default_type "{media}; charset=utf-8";
            add_header Retry-After {limits.busy_retry_after_s} always;
            add_header Cache-Control no-store always;{extra}
            return 503 {body};
        }}""")
    return """# Load shedding (fieldapp.front_proxy): no server of the upstream could take the
        # request (all at max_conns): answer at once instead of queueing; the API's error
        # shape for /api/, a page for the rest.
        """ + "\n        ".join(blocks)


def render_config(proxy: FrontProxy) -> str:
    """nginx.conf for the embedded front proxy: one worker (an event loop holds thousands of
    slow clients), request and answer buffering, the timeouts above, static files served
    directly."""
    limits = proxy.limits
    tmp = proxy.run_dir / "tmp"
    max_conns = f" max_conns={limits.max_in_flight}" if limits.max_in_flight > 0 else ""
    # As root nginx would switch its worker to `nobody`, which may not reach a checkout
    # under /root or the socket under the instance folder; this proxy only ever listens
    # where `fieldapp up` was told to (127.0.0.1 by default).
    user = "user root root;\n" if os.geteuid() == 0 else ""
    mime = f"include {MIME_TYPES};" if MIME_TYPES.exists() else ""
    return f"""# Written by fieldapp.front_proxy for `fieldapp up`; rewritten at every start.
{user}daemon off;
worker_processes 1;
worker_rlimit_nofile {limits.worker_connections * 2 + 64};
pid {proxy.run_dir / "nginx.pid"};
error_log {proxy.error_log} warn;

events {{
    worker_connections {limits.worker_connections};
}}

http {{
    {mime}
    default_type application/octet-stream;
    access_log off;  # gunicorn logs each request
    server_tokens off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    # Slow clients stay here, never in a gunicorn thread.
    client_header_timeout {limits.header_timeout_s}s;
    client_body_timeout {limits.body_timeout_s}s;
    send_timeout {limits.send_timeout_s}s;
    keepalive_timeout 65s;
    reset_timedout_connection on;
    client_max_body_size {proxy.max_body_bytes};
    client_body_buffer_size 1m;
    proxy_request_buffering on;
    proxy_buffering on;
    proxy_buffers 64 16k;

    {shedding_http(limits)}

    upstream {UPSTREAM} {{
        server unix:{proxy.upstream_socket}{max_conns};
        keepalive 32;
        # Shorter than gunicorn's own keep-alive (2 s): nginx must never reuse a connection
        # gunicorn is closing (a 502 for a report, seen when phones came back after exactly
        # their 2 s Retry-After).
        keepalive_timeout 1s;
    }}

    server {{
        listen {proxy.listen_host}:{proxy.listen_port} backlog=4096;

        location /static/ {{
            alias {proxy.static_dir}/;
            expires 1h;
            add_header X-Content-Type-Options nosniff always;
        }}

        {shedding_location(limits)}

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        # One trusted hop (FIELDAPP_PROXY_HOPS=1): the client's address as nginx saw it.
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 300s;  # a big export download or a slow report query

        location /api/ {{
            proxy_pass http://{UPSTREAM};
            error_page 502 = @fieldapp_busy;
        }}

        location / {{
            proxy_pass http://{UPSTREAM};
            error_page 502 = @fieldapp_busy_page;
        }}
    }}
}}
"""


def prepare(proxy: FrontProxy) -> Path:
    """Write the configuration and the folders nginx needs; return the config's path."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (proxy.run_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    proxy.config_path.write_text(render_config(proxy), encoding="utf-8")
    return proxy.config_path


def command(proxy: FrontProxy, binary: str) -> list[str]:
    """The nginx command line: -e sends start-up errors to our log (not /var/log/nginx) and
    -p keeps every relative path inside run_dir."""
    return [
        binary,
        "-p",
        str(proxy.run_dir),
        "-e",
        str(proxy.error_log),
        "-c",
        str(proxy.config_path),
    ]


def check(proxy: FrontProxy, binary: str) -> None:
    """`nginx -t` on the written configuration; raises RuntimeError with nginx's own words."""
    prepare(proxy)
    run = subprocess.run(
        [*command(proxy, binary), "-t", "-q"], capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        raise RuntimeError(f"nginx refused its configuration: {run.stderr.strip()}")


def start(proxy: FrontProxy, binary: str) -> subprocess.Popen[bytes]:
    """Start nginx in the foreground as a child process (it stops with its parent's
    SIGTERM: nginx's fast shutdown)."""
    check(proxy, binary)
    return subprocess.Popen(command(proxy, binary))
