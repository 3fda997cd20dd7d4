"""Where a sign-in may send the browser next (`?next=`): only to a page this app serves.

Browsers are generous with what they take as another site: `//x`, `/\\x`, `/\\t/x` (tabs and
newlines are dropped), `https:x`, and each of these percent-encoded once more. Rather than
list the tricks, a target is accepted only if it is a plain absolute path of printable
characters that, decoded, still has no scheme, host, backslash, control character or `//`,
and that matches a GET route of the app's URL map. Anything else goes to the role's home
page."""

from __future__ import annotations

import posixpath
from urllib.parse import unquote, urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, RequestRedirect

MAX_LENGTH = 2000
# Never back to the sign-in pages themselves.
_NOT_TARGETS = frozenset({"auth.login", "auth.logout", "static"})


def _unsafe_text(text: str) -> bool:
    return any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in text) or "\\" in text


def local_path(target: str | None, url_map: Map) -> str | None:
    """`target` if it is a safe local page of `url_map` (path and query kept), else None."""
    if not target or len(target) > MAX_LENGTH or _unsafe_text(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    # Decode repeatedly (a browser or proxy may decode again) and check every form.
    decoded = target
    for _ in range(3):
        decoded = unquote(decoded)
        if _unsafe_text(decoded) or "//" in decoded.split("?", 1)[0]:
            return None
        inner = urlsplit(decoded)
        if inner.scheme or inner.netloc:
            return None
    path = unquote(parts.path)
    normal = posixpath.normpath(path) + ("/" if path.endswith("/") and path != "/" else "")
    if normal != path:  # dot segments: /field/../x
        return None
    adapter = url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(path, method="GET")
    except (HTTPException, RequestRedirect):
        return None
    if endpoint in _NOT_TARGETS:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
