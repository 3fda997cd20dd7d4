"""The JSON API, /api/v1. Thin: parse, call a service, answer."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp.blueprints import params
from fieldapp.db import db
from fieldapp.errors import ApiError
from fieldapp.services import geography
from fieldapp.services.locating import locate_point
from grid.crs import to_wgs84

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/locate")
def locate() -> ResponseReturnValue:
    lon, lat = params.coordinates(request.args)
    source_crs = params.crs(request.args)
    wgs_lon, wgs_lat = to_wgs84(lon, lat, source_crs)
    answer = locate_point(db.session, wgs_lon, wgs_lat)
    if source_crs != "wgs84":
        answer["input"] = {"lon": lon, "lat": lat, "crs": source_crs}
    if not answer["found"]:
        answer["message"] = _(
            "This point is outside the city's grid. Check the position (is it WGS-84, "
            "and longitude before latitude?)."
        )
    return jsonify(answer)


@bp.get("/layers/areas")
def area_layer() -> ResponseReturnValue:
    level = request.args.get("level", "township")
    bbox = None
    if "bbox" in request.args:
        try:
            parts = [float(v) for v in request.args["bbox"].split(",")]
            if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
                raise ValueError
        except ValueError:
            raise ApiError(
                400,
                "invalid_parameters",
                _("Check the bounding box."),
                {"bbox": _("Four numbers: min lon, min lat, max lon, max lat.")},
            ) from None
        bbox = (parts[0], parts[1], parts[2], parts[3])
    try:
        layer = geography.area_layer(db.session, level, bbox)
    except geography.UnknownLevel:
        raise ApiError(
            400,
            "invalid_parameters",
            _("Unknown level."),
            {"level": _("One of: city, county, township, village, cell.")},
        ) from None
    return jsonify(layer)
