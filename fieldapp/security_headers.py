"""Security headers on every answer, and the session cookie's flags (issue #15, item 10).

- Content-Security-Policy: scripts only from the app itself and inline blocks carrying this
  request's nonce (templates write `nonce="{{ csp_nonce() }}"`); no plugins, no framing,
  forms post only here. Two narrow, documented exceptions:
  * `style-src 'unsafe-inline'`: Folium's map pages and Swagger UI write `<style>` blocks
    and `style=` attributes; style cannot run script, and every script source stays strict;
  * `img-src` adds the configured tile server's origin (TILE_URL) for the base map.
- `frame-ancestors 'none'` and `X-Frame-Options: DENY` (older browsers): no clickjacking.
- `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin` everywhere (a case's
  address never leaks to another site in a Referer).
- `Strict-Transport-Security` on answers served over HTTPS.
- The session cookie: HttpOnly, SameSite=Lax, and Secure when the request came over HTTPS
  (directly, or through a proxy trusted with FIELDAPP_PROXY_HOPS that says so in
  X-Forwarded-Proto).
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, g, request
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup
from werkzeug.middleware.proxy_fix import ProxyFix


def csp_nonce() -> str:
    """This request's script nonce (made on first use)."""
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def add_nonce(html: object) -> Markup:
    """Trusted markup (Folium's header and body) with this request's nonce on every
    <script> tag, so its inline scripts run under the policy."""
    nonce = csp_nonce()
    return Markup(_SCRIPT_TAG.sub(f'<script nonce="{nonce}"', str(html)))


_SCRIPT_TAG = re.compile(r"<script(?![^>]*\bnonce=)", re.IGNORECASE)


def tile_origin(tile_url: str | None) -> str | None:
    """The origin (scheme://host[:port]) of an XYZ tile template, for img-src; None when no
    tile server is configured or the template has no host (served by the app itself).
    Subdomain templates ({s}.tile.example) become a wildcard host."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "a"))
    if not parts.scheme or not parts.netloc:
        return None
    host = parts.netloc
    if "{s}" in tile_url.split("//", 1)[-1].split("/", 1)[0]:
        host = "*." + host.split(".", 1)[1]
    return f"{parts.scheme}://{host}"


def policy(nonce: str | None, tile_url: str | None) -> str:
    """The Content-Security-Policy of a page (pure, for tests); with no nonce (an answer that
    rendered no inline script: every API call), scripts from the app only."""
    images = "'self' data: blob:"
    origin = tile_origin(tile_url)
    if origin:
        images += f" {origin}"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'" if nonce else "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


STATIC_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _secure_when_https(interface: SecureCookieSessionInterface) -> SecureCookieSessionInterface:
    """The app's session interface, of a subclass that marks the cookie Secure whenever the
    request came over HTTPS, so one deployment works on plain HTTP (make run) and behind
    TLS without a setting. Subclassed, not replaced: the app's interface keeps its own
    behaviour (fieldapp.auth.CookieSessionInterface)."""

    class SecureWhenHttps(type(interface)):  # type: ignore[misc]
        def get_cookie_secure(self, app: Flask) -> bool:
            return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure

    interface.__class__ = SecureWhenHttps
    return interface


def init_app(app: Flask) -> None:
    """Headers on every answer, cookie flags, and ProxyFix when configured."""
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    trusted = int(app.config.get("PROXY_HOPS") or 0)
    if trusted > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted, x_proto=trusted, x_host=trusted, x_port=trusted
        )
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.jinja_env.filters["with_nonce"] = add_nonce
    if isinstance(app.session_interface, SecureCookieSessionInterface):
        app.session_interface = _secure_when_https(app.session_interface)

    # Most answers (the API's) render no script: their policy is made once, not per request.
    without_nonce = policy(None, app.config.get("TILE_URL"))
    # Every answer gets these unless its view set its own: the names looked up once in the
    # answer's headers (a `name in headers` miss costs werkzeug a raised KeyError each, and
    # this runs on every request, the intake's included).
    static = [(name.lower(), name, value) for name, value in STATIC_HEADERS.items()]

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        present = {name.lower() for name, _value in headers}
        for lowered, name, value in static:
            if lowered not in present:
                headers.add(name, value)
        if request.is_secure and "strict-transport-security" not in present:
            # Over HTTPS only: browsers then refuse plain HTTP for a year.
            headers.add("Strict-Transport-Security", "max-age=31536000")
        if "content-security-policy" not in present:
            nonce: str | None = g.get("csp_nonce")  # made by a template that needed one
            headers.add(
                "Content-Security-Policy",
                policy(nonce, app.config.get("TILE_URL")) if nonce else without_nonce,
            )
        return response
