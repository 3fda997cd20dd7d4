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
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
MIME_TYPES = Path("/etc/nginx/mime.types")


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


def render_config(proxy: FrontProxy) -> str:
    """nginx.conf for the embedded front proxy: one worker (an event loop holds thousands of
    slow clients), request and answer buffering, the timeouts above, static files served
    directly."""
    limits = proxy.limits
    tmp = proxy.run_dir / "tmp"
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

    upstream fieldapp {{
        server unix:{proxy.upstream_socket};
        keepalive 32;
    }}

    server {{
        listen {proxy.listen_host}:{proxy.listen_port} backlog=4096;

        location /static/ {{
            alias {proxy.static_dir}/;
            expires 1h;
            add_header X-Content-Type-Options nosniff always;
        }}

        location / {{
            proxy_pass http://fieldapp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            # One trusted hop (FIELDAPP_PROXY_HOPS=1): the client's address as nginx saw it.
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 300s;  # a big export download or a slow report query
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
