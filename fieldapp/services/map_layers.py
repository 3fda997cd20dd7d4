"""Map layers for city and county staff: report counts per area (choropleth), report points,
a township's cells, and cells as Mapbox vector tiles.

Every read of reports goes through `scope.visible_reports`, so a county's staff count and see
only their county's reports, and the areas offered to them are only their county's. Reports
merged into another case (status ``merged``) are left out everywhere: the duplicate is the
same dispute, counted once through its main case.

Dates are calendar days in China time (reports are filed and read in Rizhao), so "to
2026-11-25" includes 23:59 Beijing time on that day, not 23:59 UTC.

Geometry comes from `geography.area_layer` (coverage-simplified, cached on the boundary
version); here it is only rounded to 5 decimals (about 1 m, well under the simplification
tolerance of every level), which halves the JSON without moving shared edges apart: both
neighbours round the same vertex the same way.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, false, func, literal_column, select
from sqlalchemy.orm import Session

from fieldapp.domain import CHINA_TZ, SEVERITIES
from fieldapp.models import Area, Cell, Report, User
from fieldapp.services import geography, scope
from fieldapp.services.errors import NotFound
from fieldapp.services.reports import category_names
from fieldapp.stats import MERGED, day_start
from grid import queries
from maps.classify import classify

MAP_LEVELS: Final = ("county", "township", "village", "cell")
METRICS: Final = ("count", "rate")
#: Newest reports sent as points at most; a browser clusters 5,000 markers smoothly, and a
#: wider window is what the choropleth and heat map are for.
REPORT_POINT_LIMIT: Final = 5000
#: "per 10,000 residents", the usual base for incidence in Chinese statistics (每万人).
RATE_BASE: Final = 10_000
COORDINATE_DIGITS: Final = 5
#: Name of the layer inside cell vector tiles.
TILE_LAYER: Final = "cells"
TILE_EXTENT: Final = 4096
TILE_BUFFER: Final = 64
MAX_TILE_ZOOM: Final = 22
WEB_MERCATOR_HALF_WORLD: Final = 20037508.342789244  # metres from the origin to the edge


@dataclass(frozen=True)
class LayerFilters:
    """What the map is asked to show: a window of days (China time, both ends included) and
    optionally one category."""

    date_from: date | None = None
    date_to: date | None = None
    category: str | None = None


# --- scope ---------------------------------------------------------------------------------


def _cell_scope(user: User) -> ColumnElement[bool] | None:
    """Which cells' areas `user` is shown (None: all). Mirrors `scope.report_filter` for the
    area roles, so a county's staff get no neighbouring county drawn at zero."""
    role = user.role
    if role in ("city", "admin"):
        return None
    if role == "county" and user.area_id is not None:
        return Cell.county_id == user.area_id
    if role == "coordinator" and user.area_id is not None:
        return Cell.township_id == user.area_id
    return false()


_LEVEL_REPORT_COLUMN: Final = {
    "cell": Report.cell_id,
    "village": Report.village_id,
    "township": Report.township_id,
    "county": Report.county_id,
}


def area_codes_in_scope(session: Session, user: User, level: str) -> set[str] | None:
    """Codes of the areas (or cells) of `level` that `user` may see; None means all."""
    clause = _cell_scope(user)
    if clause is None:
        return None
    if level == "cell":
        stmt: Any = select(Cell.code).where(clause)
    else:
        stmt = (
            select(Area.code)
            .join(Cell, queries.CELL_COLUMN_OF_LEVEL[level] == Area.id)
            .where(clause)
            .distinct()
        )
    return set(session.execute(stmt).scalars())


# --- counting ------------------------------------------------------------------------------


def _window(stmt: Any, user: User, filters: LayerFilters) -> Any:
    """`stmt` (a select over reports) narrowed to what the map counts: visible to `user`, not
    merged into another case, inside the window and category."""
    stmt = stmt.where(Report.status != MERGED)
    if filters.date_from is not None:
        stmt = stmt.where(Report.reported_at >= day_start(filters.date_from))
    if filters.date_to is not None:
        stmt = stmt.where(Report.reported_at < day_start(filters.date_to + timedelta(days=1)))
    if filters.category:
        stmt = stmt.where(Report.category == filters.category)
    return scope.visible_reports(stmt, user)


def counts_by_area(
    session: Session,
    user: User,
    level: str,
    filters: LayerFilters,
    *,
    township_id: int | None = None,
) -> dict[str, int]:
    """Report counts per area (or cell) code at `level`; areas without reports are absent.

    Counts use the chain written onto each report at intake, so no spatial join is needed and
    a later re-import does not move old reports between areas."""
    column = _LEVEL_REPORT_COLUMN[level]
    target: Any = Cell if level == "cell" else Area
    stmt = (
        select(target.code, func.count())
        .select_from(Report)
        .join(target, target.id == column)
        .group_by(target.code)
    )
    if township_id is not None:
        stmt = stmt.where(Report.township_id == township_id)
    rows: Any = session.execute(_window(stmt, user, filters))
    return {str(code): int(n) for code, n in rows}


# --- area layers with counts and classes ---------------------------------------------------

_rounded_lock = threading.Lock()
_rounded: dict[tuple[str, int], list[dict[str, Any]]] = {}


def _round_coordinates(coordinates: Any) -> Any:
    if coordinates and isinstance(coordinates[0], (int, float)):
        return [round(c, COORDINATE_DIGITS) for c in coordinates]
    return [_round_coordinates(c) for c in coordinates]


def _base_features(session: Session, level: str) -> list[dict[str, Any]]:
    """The level's features with rounded geometry, cached like `geography.area_layer` on the
    boundary version (rounding 4,586 cells costs more than serving them)."""
    version = queries.boundary_version(session)
    key = (level, version)
    with _rounded_lock:
        cached = _rounded.get(key)
    if cached is not None:
        return cached
    # Only what the map shows: the level is said once for the collection, and bbox and
    # parent_code (~100 bytes a feature) would make the city's cells 0.4 MB heavier.
    features = [
        {
            "type": "Feature",
            "id": f["id"],
            "properties": {
                "code": f["properties"]["code"],
                "name": f["properties"]["name"],
                "population": f["properties"]["population"],
            },
            "geometry": {
                "type": f["geometry"]["type"],
                "coordinates": _round_coordinates(f["geometry"]["coordinates"]),
            },
        }
        for f in geography.area_layer(session, level)["features"]
    ]
    with _rounded_lock:
        for stale in [k for k in _rounded if k[0] == level and k[1] != version]:
            del _rounded[stale]
        _rounded[key] = features
    return features


def rate_per_10k(count: int, population: int | None) -> float | None:
    """Reports per 10,000 residents, to 2 decimals; None when the population is unknown or
    zero (a rate there would be infinite or meaningless, not high)."""
    if not population or population <= 0:
        return None
    return round(count * RATE_BASE / population, 2)


def _classed_collection(
    features: Iterable[dict[str, Any]],
    counts: dict[str, int],
    *,
    metric: str,
    method: str,
) -> dict[str, Any]:
    """GeoJSON of `features` with count, rate and class properties, and the classes used."""
    rows = []
    for f in features:
        props = f["properties"]
        count = counts.get(props["code"], 0)
        rows.append((f, count, rate_per_10k(count, props.get("population"))))
    values = [rate if metric == "rate" else float(count) for _f, count, rate in rows]
    classes = classify(values, method=method)
    out = []
    for (f, count, rate), value in zip(rows, values, strict=True):
        out.append(
            {
                **f,
                "properties": {
                    **f["properties"],
                    "count": count,
                    "rate": rate,
                    "class": classes.class_of(value),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": out,
        "metric": metric,
        "classes": classes.as_dict(),
        "total": sum(count for _f, count, _r in rows),
    }


def choropleth(
    session: Session,
    user: User,
    level: str,
    filters: LayerFilters,
    *,
    metric: str = "count",
    method: str = "jenks",
) -> dict[str, Any]:
    """The areas of `level` in the user's scope with report counts, rates per 10,000
    residents and a class (0 = none, 1–5, None = no rate), plus the classes for the legend."""
    if level not in MAP_LEVELS:
        raise geography.UnknownLevel(level)
    codes = area_codes_in_scope(session, user, level)
    features = [f for f in _base_features(session, level) if codes is None or f["id"] in codes]
    counts = counts_by_area(session, user, level, filters)
    answer = _classed_collection(features, counts, metric=metric, method=method)
    answer["level"] = level
    return answer


def township_cells(
    session: Session,
    user: User,
    township_code: str,
    filters: LayerFilters,
    *,
    metric: str = "count",
    method: str = "jenks",
) -> dict[str, Any]:
    """A township's cells with counts and classes of their own (the drill-down view).
    NotFound for a township outside the user's scope: we do not reveal what exists."""
    township = session.execute(
        select(Area.id, Area.code, Area.name).where(
            Area.code == township_code, Area.level == "township"
        )
    ).first()
    clause = _cell_scope(user)
    if township is not None and clause is not None:
        visible = session.execute(
            select(func.count()).select_from(Cell).where(Cell.township_id == township.id, clause)
        ).scalar_one()
        if not visible:
            township = None
    if township is None:
        raise NotFound(_("No such township."))
    codes = set(session.execute(select(Cell.code).where(Cell.township_id == township.id)).scalars())
    features = [f for f in _base_features(session, "cell") if f["id"] in codes]
    counts = counts_by_area(session, user, "cell", filters, township_id=township.id)
    answer = _classed_collection(features, counts, metric=metric, method=method)
    answer["level"] = "cell"
    answer["township"] = {"code": township.code, "name": township.name}
    return answer


# --- report points -------------------------------------------------------------------------


def report_points(
    session: Session,
    user: User,
    filters: LayerFilters,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    language: str = "zh",
    limit: int = REPORT_POINT_LIMIT,
) -> dict[str, Any]:
    """The newest visible reports in the window as GeoJSON points (at most `limit`;
    ``truncated`` says when there were more). Only what a popup shows: no description, no
    parties, nothing personal."""
    stmt = select(
        Report.id,
        Report.title,
        Report.category,
        Report.severity,
        Report.status,
        Report.reported_at,
        func.ST_X(Report.geom),
        func.ST_Y(Report.geom),
    )
    if bbox is not None:
        # && on the GiST index of reports.geom: points need no exact test beyond the box.
        stmt = stmt.where(Report.geom.op("&&")(func.ST_MakeEnvelope(*bbox, 4326)))
    stmt = _window(stmt, user, filters).order_by(Report.reported_at.desc(), Report.id)
    rows = session.execute(stmt.limit(limit + 1)).all()
    truncated = len(rows) > limit
    names = category_names(session)
    features = [
        _point_feature(row, names, language) for row in (rows[:limit] if truncated else rows)
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "truncated": truncated,
        "limit": limit,
    }


def _point_feature(row: Any, names: dict[str, tuple[str, str]], language: str) -> dict[str, Any]:
    report_id: uuid.UUID = row[0]
    zh, en = names.get(row[2], (row[2], row[2]))
    # The id once, in the properties: at 5,000 points every repeated key costs 200 KB.
    return {
        "type": "Feature",
        "properties": {
            "id": str(report_id),
            "title": row[1],
            "category": row[2],
            "category_name": zh if language == "zh" else en,
            "severity": row[3],
            "status": row[4],
            "reported_at": row[5].astimezone(CHINA_TZ).isoformat(timespec="minutes"),
        },
        "geometry": {
            "type": "Point",
            "coordinates": [round(row[6], 6), round(row[7], 6)],
        },
    }


# --- vector tiles --------------------------------------------------------------------------


def valid_tile(z: int, x: int, y: int) -> bool:
    """Whether z/x/y names a tile of the Web Mercator pyramid."""
    return 0 <= z <= MAX_TILE_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z


def tile_centre(z: int, x: int, y: int) -> tuple[float, float]:
    """Longitude and latitude (WGS-84) of the centre of tile z/x/y (slippy-map numbering)."""
    n = 2.0**z
    lon = (x + 0.5) / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    return lon, lat


def cell_tile(
    session: Session,
    user: User,
    z: int,
    x: int,
    y: int,
    filters: LayerFilters,
    *,
    shift: tuple[float, float] = (0.0, 0.0),
) -> bytes:
    """A Mapbox vector tile of the cells in the user's scope meeting tile z/x/y, with the
    properties code, name and count (reports in the window). Empty bytes when no cell meets
    the tile.

    `shift` (degrees) moves the cells for display on GCJ-02 base tiles: the GCJ-02 offset
    changes by well under a pixel across one tile at any zoom where cells are visible, so one
    translation per tile, computed by the caller at the tile centre, stands in for the
    per-vertex formula that SQL does not have."""
    dx, dy = shift
    # ST_TileEnvelope is in EPSG:3857; the margin matches the MVT buffer, so polygons crossing
    # the edge are clipped outside the visible tile and neighbouring tiles join seamlessly.
    envelope = func.ST_TileEnvelope(z, x, y)
    margin_m = 2 * WEB_MERCATOR_HALF_WORLD / 2**z * TILE_BUFFER / TILE_EXTENT
    search = func.ST_Translate(
        func.ST_Transform(func.ST_Expand(envelope, margin_m), 4326), -dx, -dy
    )
    # A correlated count per cell of the tile uses ix_reports_cell_reported; a grouped count
    # over the whole city would redo the same work for every tile.
    count = (
        _window(select(func.count()).select_from(Report), user, filters)
        .where(Report.cell_id == Cell.id)
        .correlate(Cell)
        .scalar_subquery()
    )
    geom = func.ST_AsMVTGeom(
        func.ST_Transform(func.ST_Translate(Cell.geom, dx, dy), 3857),
        envelope,
        TILE_EXTENT,
        TILE_BUFFER,
        True,
    )
    rows = select(
        geom.label("geom"), Cell.code.label("code"), Cell.name.label("name"), count.label("count")
    ).where(Cell.geom.op("&&")(search))
    clause = _cell_scope(user)
    if clause is not None:
        rows = rows.where(clause)
    tile = rows.subquery("tile")
    # ST_AsMVT aggregates whole rows: "tile" is the row of the subquery; cells clipped away
    # entirely come back with a NULL geometry and are dropped.
    stmt = (
        select(func.ST_AsMVT(literal_column("tile"), TILE_LAYER, TILE_EXTENT, "geom"))
        .select_from(tile)
        .where(tile.c.geom.is_not(None))
    )
    data = session.execute(stmt).scalar()
    return bytes(data) if data else b""


# --- reports aggregated per cell -----------------------------------------------------------

#: Columns of each row of `report_cells` (arrays, not GeoJSON: 4,586 cells × 8 values are
#: ~150 KB before compression, whatever the number of reports).
REPORT_CELL_COLUMNS: Final = ("code", "name", "lon", "lat", "count", *SEVERITIES)

_anchor_lock = threading.Lock()
_anchors: dict[tuple[int, int], dict[int, tuple[str, str, float, float]]] = {}


def _cell_anchors(session: Session) -> dict[int, tuple[str, str, float, float]]:
    """Each cell's code, name and a point inside it (ST_PointOnSurface: a centroid can fall
    outside a crescent-shaped cell), cached per boundary version and cell count."""
    version = queries.boundary_version(session)
    n = int(session.execute(select(func.count()).select_from(Cell)).scalar_one())
    key = (version, n)
    with _anchor_lock:
        cached = _anchors.get(key)
    if cached is not None:
        return cached
    point = func.ST_PointOnSurface(Cell.geom)
    rows = session.execute(
        select(Cell.id, Cell.code, Cell.name, func.ST_X(point), func.ST_Y(point))
    ).all()
    built = {
        int(r[0]): (
            str(r[1]),
            str(r[2] or r[1]),
            round(float(r[3]), COORDINATE_DIGITS),
            round(float(r[4]), COORDINATE_DIGITS),
        )
        for r in rows
    }
    with _anchor_lock:
        _anchors.clear()
        _anchors[key] = built
    return built


def report_cells(session: Session, user: User, filters: LayerFilters) -> dict[str, Any]:
    """EVERY visible report of the window, counted per cell on the server (no cap): one row
    per cell with reports — code, name, a point inside the cell, the count and the count per
    severity — and the total. The report bubbles, the heat map and the legend all read these
    counts, so they agree with each other and with the choropleth."""
    stmt = (
        select(
            Report.cell_id,
            func.count(),
            *(func.count().filter(Report.severity == level) for level in SEVERITIES),
        )
        .where(Report.cell_id.is_not(None))
        .group_by(Report.cell_id)
    )
    anchors = _cell_anchors(session)
    rows: list[list[Any]] = []
    total = 0
    result: Any = session.execute(_window(stmt, user, filters))
    for cell_id, n, *per_severity in result:
        anchor = anchors.get(int(cell_id))
        if anchor is None:  # a cell imported after the cache: next request rebuilds it
            continue
        rows.append([*anchor, int(n), *(int(k) for k in per_severity)])
        total += int(n)
    rows.sort(key=lambda r: str(r[0]))
    return {"columns": list(REPORT_CELL_COLUMNS), "rows": rows, "total": total}
