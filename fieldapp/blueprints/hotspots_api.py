"""Hotspot alerts in the JSON API (/api/v1/hotspots). Thin: the contract
(`fieldapp.contract.hotspots`) parses, `fieldapp.services.hotspots` decides, the view commits
and answers.

Reads accept the bearer token of the API *or* the signed session cookie of the web pages
(`fieldapp.auth.reader`), because the map page fetches its alerts with the browser's cookie.
Writes take the bearer token only: a cross-site page can make a browser send its cookie,
never a token, so POSTs here need no CSRF token."""

from __future__ import annotations

from typing import Any, Final, get_args

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from fieldapp.auth import api_user, csrf, now, reader, reader_first, remote_addr
from fieldapp.blueprints.fast_path import dispatch_committed
from fieldapp.contract import Contract
from fieldapp.contract.hotspots import (
    Analysis,
    HotspotAlert,
    HotspotAnalysis,
    HotspotList,
    HotspotListQuery,
    Recompute,
    SuperviseInput,
    SuperviseResult,
)
from fieldapp.db import db
from fieldapp.services import hotspots

bp = Blueprint("hotspots_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
contract = Contract(bp)

TAGS: Final = ("hotspots",)
_STAFF: Final = "Not city or county staff."
_ALERT_ID: Final[dict[str, Any]] = {
    "alert_id": (
        "The alert's id.",
        {"type": "integer", "minimum": 1, "maximum": 2147483647},
    )
}


@contract.get(
    "/hotspots",
    query=HotspotListQuery,
    context=reader_first,
    answers={200: ("The alerts.", HotspotList)},
    errors={403: _STAFF},
    tags=TAGS,
    operation_id="listHotspots",
    summary="Current hotspot alerts (热点预警), scoped: city staff all, county staff their "
    "county's",
)
def list_hotspots(query: HotspotListQuery) -> ResponseReturnValue:
    """Also accepts the web session cookie (the map page). Other roles get 403."""
    user = reader()
    return jsonify({"alerts": hotspots.list_alerts(db.session, user, query.status)})


@contract.get(
    "/hotspots/analysis/<kind>",
    context=reader_first,
    answers={200: ("The cells with a class.", HotspotAnalysis)},
    errors={403: _STAFF, 404: "No such map analysis."},
    path_params={"kind": ("The analysis.", {"type": "string", "enum": list(get_args(Analysis))})},
    tags=TAGS,
    operation_id="hotspotAnalysis",
    summary="A map analysis (not alerts): Gi* confidence classes or emerging hot spot "
    "patterns per cell (热点分析)",
)
def hotspot_analysis(kind: str) -> ResponseReturnValue:
    """GeoJSON of the cells with a class: `class` +3/+2/+1 hot at 99/95/90 %, −1/−2/−3 cold
    (gi_star), or the emerging pattern code ±1 … ±8 (emerging); `classes` counts the cells
    per class; `p_values` says whether permutation p-values were used (sparse counts). Same
    readers as /hotspots."""
    user = reader()
    return jsonify(hotspots.analysis_layer(db.session, user, kind))


@contract.post(
    "/hotspots/<int(max=2147483647):alert_id>/acknowledge",
    answers={200: ("The alert.", HotspotAlert)},
    errors={
        403: _STAFF,
        404: "No such alert in the caller's scope.",
        409: "Already supervised or expired.",
    },
    path_params=_ALERT_ID,
    tags=TAGS,
    operation_id="acknowledgeHotspot",
    summary="Acknowledge a new alert (已知悉); bearer token only",
)
def acknowledge_hotspot(alert_id: int) -> ResponseReturnValue:
    """Marks a new alert as seen; nothing else changes."""
    user = api_user()
    result = hotspots.acknowledge(db.session, user, alert_id, now=now(), remote_addr=remote_addr())
    db.session.commit()
    return jsonify(result)


@contract.post(
    "/hotspots/<int(max=2147483647):alert_id>/supervise",
    body=SuperviseInput,
    answers={200: ("The alert, the number of orders and the cases.", SuperviseResult)},
    errors={
        403: "Not city staff.",
        404: "No such alert.",
        409: "Already supervised or expired, or no open cases behind it.",
    },
    path_params=_ALERT_ID,
    tags=TAGS,
    operation_id="superviseHotspot",
    summary="督办 every open case behind the alert (city staff; bearer only)",
)
def supervise_hotspot(alert_id: int, body: SuperviseInput) -> ResponseReturnValue:
    """A supervision order on every open case behind the alert, due at `due_at`; their
    owners are notified and the alert is marked supervised."""
    user = api_user()
    result = hotspots.supervise(
        db.session, user, alert_id, body.due_at, body.reason, now=now(), remote_addr=remote_addr()
    )
    db.session.commit()
    return jsonify(result.as_dict())


@contract.post(
    "/hotspots/recompute",
    answers={202: ("Queued through the outbox.", Recompute)},
    errors={403: "Not city staff."},
    tags=TAGS,
    operation_id="recomputeHotspots",
    summary="Queue a recomputation now (city staff; it also runs daily at 06:00)",
)
def recompute_hotspots() -> ResponseReturnValue:
    """The detection runs in a worker; the alerts change when it is done."""
    user = api_user()
    outbox_id = hotspots.enqueue_recompute(db.session, user, remote_addr=remote_addr())
    db.session.commit()
    dispatch_committed([outbox_id])
    return jsonify({"queued": True, "outbox_id": outbox_id}), 202
