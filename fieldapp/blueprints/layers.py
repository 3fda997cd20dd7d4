"""Map layers for city and county staff, /api/v1/layers/…: counts per area (choropleth),
report points, a township's cells, and cells as vector tiles.

Callers are the city map page (signed in with the session cookie) and API clients (bearer
token), so both are accepted. Every route here is GET and changes nothing, which is why the
cookie needs no CSRF token: a cross-site page can make the browser send the request, but the
same-origin policy keeps the answer from it.

JSON and tiles are gzipped here when the client accepts it: layers are the heaviest answers
of the platform (the cells of the whole city are 1 MB of GeoJSON, 0.25 MB gzipped), and
neither the development server nor gunicorn compresses.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any, Final

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from fieldapp.auth import api_user, web_user
from fieldapp.blueprints import params
from fieldapp.db import db
from fieldapp.errors import ApiError
from fieldapp.i18n import language
from fieldapp.models import User
from fieldapp.services import map_layers
from fieldapp.services.map_layers import LayerFilters
from grid.crs import from_wgs84
from maps.classify import METHODS

bp = Blueprint("layers", __name__, url_prefix="/api/v1/layers")

#: Who may read the map layers (and open /city/map): city staff, county staff (their county
#: only, through the report scope) and administrators.
MAP_ROLES: Final = frozenset({"city", "county", "admin"})
#: Answers smaller than this are not worth a gzip header.
GZIP_MIN_BYTES: Final = 1024
#: Tiles change only as reports arrive; a few minutes of staleness on a map is harmless.
TILE_MAX_AGE_S: Final = 300


# --- who is calling ------------------------------------------------------------------------


def request_user() -> User:
    """The caller: the bearer token's user if there is an Authorization header, otherwise
    the signed-in web user. A bad token is refused outright (no fallback to the cookie), so
    a client never silently acts as someone else."""
    try:
        return api_user()
    except ApiError:
        if request.headers.get("Authorization"):
            raise
        user = web_user()
        if user is None:
            raise
        return user


def map_user() -> User:
    """The caller, who must be one of :data:`MAP_ROLES` (403 otherwise)."""
    user = request_user()
    if user.role not in MAP_ROLES:
        raise ApiError(403, "forbidden", _("The map layers are for city and county staff."))
    return user


# --- parameters ----------------------------------------------------------------------------


def _invalid(field: str, message: str) -> ApiError:
    return params.invalid(_("Check the map filters."), field, message)


def filters_from_request() -> LayerFilters:
    """from/to (ISO dates, China time, both included) and category from the query string."""
    date_from, date_to = params.date_window(request.args, _("Check the map filters."))
    category = request.args.get("category") or None
    if category is not None and len(category) > 32:
        raise _invalid("category", _("Unknown category."))
    return LayerFilters(date_from=date_from, date_to=date_to, category=category)


def _choice(name: str, allowed: tuple[str, ...], default: str) -> str:
    return params.choice(request.args, name, allowed, default, _("Check the map filters."))


def _bbox() -> tuple[float, float, float, float] | None:
    raw = request.args.get("bbox")
    if not raw:
        return None
    try:
        parts = [float(v) for v in raw.split(",")]
        if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
            raise ValueError
    except ValueError:
        raise _invalid("bbox", _("Four numbers: min lon, min lat, max lon, max lat.")) from None
    return (parts[0], parts[1], parts[2], parts[3])


# --- answers -------------------------------------------------------------------------------


def _json(body: Any) -> Response:
    """Compact UTF-8 JSON (Chinese names are 3 bytes each, not 6 as \\u escapes), with a
    weak ETag so a repeated request for an unchanged layer costs a 304."""
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    response = Response(data, mimetype="application/json")
    response.set_etag(hashlib.sha256(data).hexdigest()[:32], weak=True)
    # Per user (scoped) and changing as reports arrive: the browser may keep it but must ask.
    response.headers["Cache-Control"] = "private, no-cache"
    response.make_conditional(request)
    return response


@bp.after_request
def _compress(response: Response) -> Response:
    response.vary.update(("Authorization", "Cookie"))
    if (
        response.status_code != 200
        or response.direct_passthrough
        or "Content-Encoding" in response.headers
        or "gzip" not in request.headers.get("Accept-Encoding", "")
    ):
        return response
    data = response.get_data()
    if len(data) < GZIP_MIN_BYTES:
        return response
    response.set_data(gzip.compress(data, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response


# --- routes --------------------------------------------------------------------------------


@bp.get("/choropleth")
def choropleth() -> ResponseReturnValue:
    """Areas of a level with counts, rates per 10,000 residents and classes."""
    user = map_user()
    level = _choice("level", map_layers.MAP_LEVELS, "township")
    metric = _choice("metric", map_layers.METRICS, "count")
    method = _choice("classes", METHODS, "jenks")
    layer = map_layers.choropleth(
        db.read_session, user, level, filters_from_request(), metric=metric, method=method
    )
    return _json(layer)


@bp.get("/reports")
def reports() -> ResponseReturnValue:
    """The newest visible reports of the window as points (capped; see ``truncated``)."""
    user = map_user()
    layer = map_layers.report_points(
        db.read_session, user, filters_from_request(), bbox=_bbox(), language=language()
    )
    return _json(layer)


@bp.get("/report-cells")
def report_cells() -> ResponseReturnValue:
    """Every visible report of the window counted per cell (no cap): the report bubbles and
    heat map of the city map."""
    user = map_user()
    return _json(map_layers.report_cells(db.read_session, user, filters_from_request()))


@bp.get("/township/<code>/cells")
def township_cells(code: str) -> ResponseReturnValue:
    """One township's cells with counts and their own classes (the drill-down view)."""
    user = map_user()
    metric = _choice("metric", map_layers.METRICS, "count")
    method = _choice("classes", METHODS, "jenks")
    layer = map_layers.township_cells(
        db.read_session, user, code, filters_from_request(), metric=metric, method=method
    )
    return _json(layer)


@bp.get("/cells/<int:z>/<int:x>/<int:y>.mvt")
def cell_tile(z: int, x: int, y: int) -> ResponseReturnValue:
    """Cells as a Mapbox vector tile (layer ``cells``: code, name, count); 204 when empty.

    ``display_crs=gcj02`` shifts the cells onto GCJ-02 base tiles (see
    `map_layers.cell_tile`); everything else on the map is shifted in the browser."""
    user = map_user()
    if not map_layers.valid_tile(z, x, y):
        raise ApiError(404, "not_found", _("No such tile."))
    display_crs = _choice("display_crs", ("wgs84", "gcj02"), "wgs84")
    shift = (0.0, 0.0)
    if display_crs != "wgs84":
        lon, lat = map_layers.tile_centre(z, x, y)
        shifted = from_wgs84(lon, lat, display_crs)
        shift = (shifted[0] - lon, shifted[1] - lat)
    data = map_layers.cell_tile(db.read_session, user, z, x, y, filters_from_request(), shift=shift)
    response = Response(data, status=200 if data else 204)
    if data:
        response.mimetype = "application/vnd.mapbox-vector-tile"
        response.set_etag(hashlib.sha256(data).hexdigest()[:32], weak=True)
    response.headers["Cache-Control"] = f"private, max-age={TILE_MAX_AGE_S}"
    return response.make_conditional(request) if data else response
