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

from fieldapp.auth import reader
from fieldapp.contract import Binary, Contract
from fieldapp.contract.layers import (
    Choropleth,
    ChoroplethQuery,
    LayerQuery,
    ReportCells,
    ReportPoints,
    ReportPointsQuery,
    TileQuery,
    TownshipCellsQuery,
)
from fieldapp.db import db
from fieldapp.errors import ApiError
from fieldapp.i18n import language
from fieldapp.models import User
from fieldapp.services import map_layers
from fieldapp.services.map_layers import LayerFilters
from grid.crs import from_wgs84

bp = Blueprint("layers", __name__, url_prefix="/api/v1/layers")
contract = Contract(bp)

#: Who may read the map layers (and open /city/map): city staff, county staff (their county
#: only, through the report scope) and administrators.
MAP_ROLES: Final = frozenset({"city", "county", "admin"})
#: Answers smaller than this are not worth a gzip header.
GZIP_MIN_BYTES: Final = 1024
#: Tiles change only as reports arrive; a few minutes of staleness on a map is harmless.
TILE_MAX_AGE_S: Final = 300


# --- who is calling ------------------------------------------------------------------------


def map_user() -> User:
    """The caller (bearer token or web session: `fieldapp.auth.reader`), who must be one of
    :data:`MAP_ROLES` (403 otherwise)."""
    user = reader()
    if user.role not in MAP_ROLES:
        raise ApiError(403, "forbidden", _("The map layers are for city and county staff."))
    return user


def _map_reader_first() -> dict[str, Any]:
    """Who is calling, before the query is parsed (401 and 403 come before a 400)."""
    map_user()
    return {}


def _filters(query: LayerQuery) -> LayerFilters:
    return LayerFilters(date_from=query.date_from, date_to=query.date_to, category=query.category)


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

TAGS: Final = ("maps",)
_ERRORS: Final = {403: "The map layers are for city and county staff."}
#: A repeated request for an unchanged layer (If-None-Match) is answered without a body.
_NOT_MODIFIED: Final = {304: ("Not modified since the ETag sent.", None)}


@contract.get(
    "/choropleth",
    query=ChoroplethQuery,
    context=_map_reader_first,
    answers={200: ("The areas.", Choropleth), **_NOT_MODIFIED},
    errors=_ERRORS,
    tags=TAGS,
    operation_id="choroplethLayer",
    summary="Areas of a level with report counts, rates and classes (分级设色)",
)
def choropleth(query: ChoroplethQuery) -> ResponseReturnValue:
    """Properties: code, name, population, count, rate (per 10,000 residents; null without
    population), class. Merged duplicates are not counted. County staff see their county
    only. Accepts the web session or a bearer token."""
    user = map_user()
    layer = map_layers.choropleth(
        db.read_session,
        user,
        query.level,
        _filters(query),
        metric=query.metric,
        method=query.classes,
    )
    return _json(layer)


@contract.get(
    "/reports",
    query=ReportPointsQuery,
    context=_map_reader_first,
    answers={200: ("The points.", ReportPoints), **_NOT_MODIFIED},
    errors=_ERRORS,
    tags=TAGS,
    operation_id="reportPointsLayer",
    summary="Visible reports of the window as points (上报点位), newest first",
)
def reports(query: ReportPointsQuery) -> ResponseReturnValue:
    """Properties: id, title, category and its name, severity, status, reported_at. Capped;
    `truncated` says when more exist."""
    user = map_user()
    layer = map_layers.report_points(
        db.read_session, user, _filters(query), bbox=query.box(), language=language()
    )
    return _json(layer)


@contract.get(
    "/report-cells",
    query=LayerQuery,
    context=_map_reader_first,
    answers={200: ("The counts.", ReportCells), **_NOT_MODIFIED},
    errors=_ERRORS,
    tags=TAGS,
    operation_id="reportCellsLayer",
    summary="EVERY visible report of the window counted per grid cell (按网格汇总)",
)
def report_cells(query: LayerQuery) -> ResponseReturnValue:
    """No cap: one row per cell with reports (the report bubbles and heat map of the city
    map). Merged duplicates are not counted; county staff see their county only."""
    user = map_user()
    return _json(map_layers.report_cells(db.read_session, user, _filters(query)))


@contract.get(
    "/township/<code>/cells",
    query=TownshipCellsQuery,
    context=_map_reader_first,
    answers={200: ("The cells.", Choropleth), **_NOT_MODIFIED},
    errors={**_ERRORS, 404: "No such township."},
    path_params={"code": ("The township's code.", {"type": "string", "maxLength": 32})},
    tags=TAGS,
    operation_id="townshipCellsLayer",
    summary="One township's grid cells with counts (drill-down 下钻)",
)
def township_cells(code: str, query: TownshipCellsQuery) -> ResponseReturnValue:
    """One township's cells with counts and their own classes (the drill-down view)."""
    user = map_user()
    layer = map_layers.township_cells(
        db.read_session, user, code, _filters(query), metric=query.metric, method=query.classes
    )
    return _json(layer)


@contract.get(
    "/cells/<int:z>/<int:x>/<int:y>.mvt",
    query=TileQuery,
    context=_map_reader_first,
    answers={
        200: ("The tile.", Binary(("application/vnd.mapbox-vector-tile",))),
        204: ("No cell in this tile.", None),
        **_NOT_MODIFIED,
    },
    errors={**_ERRORS, 404: "No such tile."},
    path_params={
        name: (f"Tile {name}.", {"type": "integer", "minimum": 0}) for name in ("z", "x", "y")
    },
    tags=TAGS,
    operation_id="cellTile",
    summary="Grid cells as a Mapbox vector tile (layer `cells`: code, name, count), from "
    "PostGIS ST_AsMVT; 204 when empty",
)
def cell_tile(z: int, x: int, y: int, query: TileQuery) -> ResponseReturnValue:
    """`display_crs=gcj02` shifts the cells onto GCJ-02 base tiles (see
    `map_layers.cell_tile`); everything else on the map is shifted in the browser."""
    user = map_user()
    if not map_layers.valid_tile(z, x, y):
        raise ApiError(404, "not_found", _("No such tile."))
    shift = (0.0, 0.0)
    if query.display_crs != "wgs84":
        lon, lat = map_layers.tile_centre(z, x, y)
        shifted = from_wgs84(lon, lat, query.display_crs)
        shift = (shifted[0] - lon, shifted[1] - lat)
    data = map_layers.cell_tile(db.read_session, user, z, x, y, _filters(query), shift=shift)
    response = Response(data, status=200 if data else 204)
    if data:
        response.mimetype = "application/vnd.mapbox-vector-tile"
        response.set_etag(hashlib.sha256(data).hexdigest()[:32], weak=True)
    response.headers["Cache-Control"] = f"private, max-age={TILE_MAX_AGE_S}"
    return response.make_conditional(request) if data else response
