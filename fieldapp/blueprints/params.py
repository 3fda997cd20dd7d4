"""Parsing query parameters into typed values, with field-level messages a person can act on."""

from __future__ import annotations

import math

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from fieldapp.errors import ApiError
from grid.crs import CRS_NAMES


def coordinates(args: MultiDict[str, str]) -> tuple[float, float]:
    """lon and lat from query parameters; every problem reported at once (400)."""
    fields: dict[str, str] = {}
    values: dict[str, float] = {}
    limits = {"lon": 180.0, "lat": 90.0}
    for name, limit in limits.items():
        raw = args.get(name)
        if raw is None or raw.strip() == "":
            fields[name] = _(
                "Required: a decimal number of degrees, e.g. %(example)s.",
                example="119.52" if name == "lon" else "35.41",
            )
            continue
        try:
            value = float(raw)
        except ValueError:
            fields[name] = _("'%(value)s' is not a number of degrees.", value=raw[:40])
            continue
        if not math.isfinite(value):
            fields[name] = _("Must be a finite number.")
        elif abs(value) > limit:
            fields[name] = _(
                "Out of range: must lie between -%(limit)d and %(limit)d.", limit=int(limit)
            )
        else:
            values[name] = value
    if fields:
        raise ApiError(400, "invalid_parameters", _("Check the coordinates."), fields)
    return values["lon"], values["lat"]


def crs(args: MultiDict[str, str]) -> str:
    """The declared coordinate system of lon/lat: wgs84 (GPS, Tianditu), gcj02 (AMap,
    Tencent) or bd09 (Baidu). Default wgs84."""
    value = (args.get("crs") or "wgs84").strip().lower()
    if value not in CRS_NAMES:
        raise ApiError(
            400,
            "invalid_parameters",
            _("Unknown coordinate system."),
            {"crs": _("One of: wgs84, gcj02, bd09.")},
        )
    return value
