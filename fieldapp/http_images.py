"""One way to answer with an image (a report photo, its thumbnail), for the API and the
triage pages alike: the caching and sniffing rules of personal photos written once."""

from __future__ import annotations

from flask import Response


def image_response(data: bytes, content_type: str) -> Response:
    """`data` as `content_type`: the browser may keep it (a day), shared caches may not
    (personal photos), and the browser takes the declared type as it is (no sniffing)."""
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "private, max-age=86400"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
