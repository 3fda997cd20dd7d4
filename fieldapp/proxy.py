"""Behind nginx: with FIELDAPP_PROXIES=N (the number of proxies in front, 1 for the shipped
nginx site) the app takes the client's address and scheme from the X-Forwarded-For and
X-Forwarded-Proto headers the last N proxies set (werkzeug's ProxyFix), so audit records and
per-address limits see the phone, not nginx. 0 (the default) trusts no header: a client
talking to gunicorn directly could otherwise claim any address."""

from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    proxies = int(app.config.get("PROXIES", os.environ.get("FIELDAPP_PROXIES", "0")) or 0)
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
