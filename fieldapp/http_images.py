"""The one way a stored photo or thumbnail leaves the server (the API and the triage pages)."""

from __future__ import annotations

from flask import Response


def image_response(data: bytes, content_type: str) -> Response:
    """`data` as an image answer. Photos are personal data: the reader's browser may keep
    them for a day, shared caches may not; nosniff so a file is never run as anything but
    the image type it was stored with."""
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "private, max-age=86400"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
