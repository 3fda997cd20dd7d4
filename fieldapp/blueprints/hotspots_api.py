"""Hotspot alerts in the JSON API (/api/v1/hotspots). Thin: parse, call
`fieldapp.services.hotspots`, commit, answer.

Reads accept the bearer token of the API *or* the signed session cookie of the web pages,
because the map page fetches its alerts with the browser's cookie. Writes take the bearer
token only: a cross-site page can make a browser send its cookie, never a token, so POSTs
here need no CSRF token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp import bounds
from fieldapp.auth import api_user, csrf, now, remote_addr, web_user
from fieldapp.blueprints.fast_path import dispatch_committed
from fieldapp.db import db
from fieldapp.errors import ApiError
from fieldapp.models import User
from fieldapp.services import hotspots

bp = Blueprint("hotspots_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _reader() -> User:
    """The bearer token's user when the request has an Authorization header, else the web
    session's user (the map page), else 401."""
    if request.headers.get("Authorization"):
        return api_user()
    user = web_user()
    if user is None:
        raise ApiError(
            401,
            "unauthorized",
            _("Sign in first: POST /api/v1/auth/token, then send “Authorization: Bearer <token>”."),
        )
    return user


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        body = {} if not request.data else None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", _("The body must be a JSON object."))
    return body


@bp.get("/hotspots")
def list_hotspots() -> ResponseReturnValue:
    user = _reader()
    status = request.args.get("status") or None
    return jsonify({"alerts": hotspots.list_alerts(db.session, user, status)})


@bp.get("/hotspots/analysis/<kind>")
def hotspot_analysis(kind: str) -> ResponseReturnValue:
    """A map analysis (not alerts): ``gi_star`` confidence classes or ``emerging`` patterns
    per cell, as GeoJSON of the cells with a class."""
    user = _reader()
    return jsonify(hotspots.analysis_layer(db.session, user, kind))


@bp.post("/hotspots/<int(max=2147483647):alert_id>/acknowledge")
def acknowledge_hotspot(alert_id: int) -> ResponseReturnValue:
    user = api_user()
    result = hotspots.acknowledge(db.session, user, alert_id, now=now(), remote_addr=remote_addr())
    db.session.commit()
    return jsonify(result)


@bp.post("/hotspots/<int(max=2147483647):alert_id>/supervise")
def supervise_hotspot(alert_id: int) -> ResponseReturnValue:
    user = api_user()
    body = _json_object()
    reason = body.get("reason")
    due_raw = body.get("due_at")
    fields: dict[str, str] = {}
    due_at: datetime | None = None
    try:
        # The shared parser (fieldapp.bounds): the date window, offsets, China time if bare.
        due_at = bounds.parse_instant(due_raw, required=True)
    except ValueError as exc:
        fields["due_at"] = str(exc)
    if not isinstance(reason, str) or not reason.strip():
        fields["reason"] = _("Required for this step.")
    if fields or due_at is None or not isinstance(reason, str):
        raise ApiError(400, "invalid_action", _("Check the fields."), fields)
    result = hotspots.supervise(
        db.session, user, alert_id, due_at, reason, now=now(), remote_addr=remote_addr()
    )
    db.session.commit()
    return jsonify(result.as_dict())


@bp.post("/hotspots/recompute")
def recompute_hotspots() -> ResponseReturnValue:
    user = api_user()
    outbox_id = hotspots.enqueue_recompute(db.session, user, remote_addr=remote_addr())
    db.session.commit()
    dispatch_committed([outbox_id])
    return jsonify({"queued": True, "outbox_id": outbox_id}), 202
