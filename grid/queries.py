"""All spatial SQL of the geography core, in one place (like mapit's AreaManager).

Functions take a SQLAlchemy `Session` and return plain dataclasses or shapely geometries, so
nothing above this module sees WKB or SQL. `to_shape`/`from_shape` are used only here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Final

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, func, insert, literal, select, text, update
from sqlalchemy.orm import Session, aliased

from grid.locator import IndexedCell
from grid.models import Area, BoundaryHistory, BoundaryVersion, Cell, Department


@dataclass(frozen=True)
class AreaRef:
    id: int
    code: str
    name: str
    level: str


@dataclass(frozen=True)
class Location:
    """A cell and its chain of ancestors."""

    cell: AreaRef
    village: AreaRef
    township: AreaRef
    county: AreaRef
    city: AreaRef

    def as_dict(self) -> dict[str, Any]:
        return {level: asdict(getattr(self, level)) for level in _CHAIN}


_CHAIN = ("cell", "village", "township", "county", "city")


def _chain_select() -> Any:
    village, township, county, city = (aliased(Area) for _ in range(4))
    stmt = (
        select(
            Cell.id,
            Cell.code,
            Cell.name,
            village.id,
            village.code,
            village.name,
            township.id,
            township.code,
            township.name,
            county.id,
            county.code,
            county.name,
            city.id,
            city.code,
            city.name,
        )
        .join(village, village.id == Cell.village_id)
        .join(township, township.id == Cell.township_id)
        .join(county, county.id == Cell.county_id)
        .join(city, city.id == Cell.city_id)
    )
    return stmt


def _location_from_row(row: Sequence[Any]) -> Location:
    refs = [
        AreaRef(row[i * 3], row[i * 3 + 1], row[i * 3 + 2], level) for i, level in enumerate(_CHAIN)
    ]
    return Location(*refs)


def _point(lon: float, lat: float) -> Any:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


# Raw SQL, prepared once: locate is the hottest query (every report, every map click), and
# building the equivalent select() per call costs more than running it.
_LOCATE_QUERY = """
    SELECT c.id, c.code, c.name, v.id, v.code, v.name, t.id, t.code, t.name,
           co.id, co.code, co.name, ci.id, ci.code, ci.name
    FROM cells c
    JOIN areas v ON v.id = c.village_id
    JOIN areas t ON t.id = c.township_id
    JOIN areas co ON co.id = c.county_id
    JOIN areas ci ON ci.id = c.city_id
    WHERE c.geom && ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)
      AND NOT ST_Relate(c.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'FF*FF****')
    ORDER BY c.code
    LIMIT 1
    """
_LOCATE_SQL = text(_LOCATE_QUERY)


def locate(session: Session, lon: float, lat: float) -> Location | None:
    """The cell containing (lon, lat) in WGS-84, with its chain; None outside every cell.

    A point on a shared edge or vertex belongs to the cell with the lowest code. We ask GEOS
    through ST_Relate rather than ST_Intersects/ST_Covers because PostGIS answers those for
    point-in-polygon with its own non-robust arithmetic, which can disagree with the exact GEOS
    predicate that the STRtree twin (grid.locator) uses, on points within 1e-16 of an edge.
    'FF*FF****' is "disjoint": the point touches neither interior nor boundary."""
    row = session.execute(_LOCATE_SQL, {"lon": lon, "lat": lat}).first()
    return _location_from_row(row) if row else None


def cell_locations(session: Session) -> dict[int, Location]:
    """Every cell's chain, by cell id (for the STRtree twin of locate)."""
    return {row[0]: _location_from_row(row) for row in session.execute(_chain_select())}


def location_of_cell(session: Session, cell_id: int) -> Location | None:
    stmt = _chain_select()
    row = session.execute(stmt.where(Cell.id == cell_id)).first()
    return _location_from_row(row) if row else None


def nearest_cell(session: Session, lon: float, lat: float) -> tuple[Location, float] | None:
    """The cell nearest to a point (typically one outside every cell) and the distance in
    metres on the WGS-84 spheroid. The KNN operator `<->` orders by bounding-box distance via
    the GiST index; we take a handful of candidates and order them by true distance, because
    the nearest box is not always the nearest polygon."""
    point = _point(lon, lat)
    candidates = (
        select(Cell.id.label("id"), Cell.geom.label("geom"))
        .order_by(Cell.geom.op("<->")(point))
        .limit(16)
        .subquery()
    )
    distance = func.ST_Distance(func.Geography(candidates.c.geom), func.Geography(point)).label(
        "distance_m"
    )
    row = session.execute(
        select(candidates.c.id, distance).order_by(distance, candidates.c.id).limit(1)
    ).first()
    if row is None:
        return None
    location = location_of_cell(session, row.id)
    assert location is not None  # the id came from the same table a moment ago
    return location, float(row.distance_m)


#: The column of `cells` holding a cell's area of each level (its own id for "cell"): what
#: every per-area count of cells or reports groups or filters by.
CELL_COLUMN_OF_LEVEL: Final = {
    "cell": Cell.id,
    "village": Cell.village_id,
    "township": Cell.township_id,
    "county": Cell.county_id,
    "city": Cell.city_id,
}


@dataclass(frozen=True)
class RollupRow:
    area_id: int
    code: str
    name: str
    count: int


def rollup(
    session: Session,
    source: Any,
    level: str,
    *,
    cell_id_column: str = "cell_id",
    within: int | None = None,
) -> list[RollupRow]:
    """Count the rows of `source` (any selectable with a cell id column: reports, check-ins, …)
    per area of `level`, areas with zero included, ordered by code.

    `within` restricts the answer to the areas below (or equal to) that area id."""
    if level not in CELL_COLUMN_OF_LEVEL:
        levels = ", ".join(CELL_COLUMN_OF_LEVEL)
        raise ValueError(f"unknown level {level!r}; choose one of {levels}")
    src = source.subquery() if isinstance(source, Select) else source
    area_col = CELL_COLUMN_OF_LEVEL[level]
    counts = (
        select(area_col.label("area_id"), func.count().label("n"))
        .select_from(src.join(Cell, Cell.id == src.c[cell_id_column]))
        .group_by(area_col)
        .subquery()
    )
    target: Any = Cell if level == "cell" else Area
    stmt = select(target.id, target.code, target.name, func.coalesce(counts.c.n, 0)).outerjoin(
        counts, counts.c.area_id == target.id
    )
    if level != "cell":
        stmt = stmt.where(Area.level == level)
    if within is not None:
        stmt = stmt.where(target.id.in_(_ids_below(within, level)))
    rows = session.execute(stmt.order_by(target.code)).all()
    return [RollupRow(r[0], r[1], r[2], int(r[3])) for r in rows]


def _ids_below(area_id: int, level: str) -> Select[Any]:
    """Ids of the areas (or cells) of `level` that lie under area `area_id` (itself included)."""
    if level == "cell":
        return select(Cell.id).where(
            (Cell.village_id == area_id)
            | (Cell.township_id == area_id)
            | (Cell.county_id == area_id)
            | (Cell.city_id == area_id)
        )
    column = CELL_COLUMN_OF_LEVEL[level]
    return (
        select(column)
        .where(
            (Cell.village_id == area_id)
            | (Cell.township_id == area_id)
            | (Cell.county_id == area_id)
            | (Cell.city_id == area_id)
        )
        .distinct()
    )


@dataclass(frozen=True)
class AreaShape:
    id: int
    code: str
    name: str
    level: str
    parent_code: str | None
    population: int | None
    geometry: BaseGeometry


def areas_of_level(
    session: Session, level: str, bbox: tuple[float, float, float, float] | None = None
) -> list[AreaShape]:
    """Unsimplified areas (or cells, level='cell') of a level, optionally only those whose
    geometry meets a bounding box (min lon, min lat, max lon, max lat), ordered by code."""
    if level == "cell":
        parent = aliased(Area)
        stmt: Any = select(
            Cell.id, Cell.code, Cell.name, literal("cell"), parent.code, Cell.population, Cell.geom
        ).join(parent, parent.id == Cell.village_id)
        geom_col: Any = Cell.geom
        order: Any = Cell.code
    else:
        parent = aliased(Area)
        stmt = (
            select(
                Area.id, Area.code, Area.name, Area.level, parent.code, Area.population, Area.geom
            )
            .outerjoin(parent, parent.id == Area.parent_id)
            .where(Area.level == level)
        )
        geom_col, order = Area.geom, Area.code
    if bbox is not None:
        envelope = func.ST_MakeEnvelope(*bbox, 4326)
        stmt = stmt.where(geom_col.op("&&")(envelope)).where(func.ST_Intersects(geom_col, envelope))
    return [
        AreaShape(r[0], r[1], r[2], r[3], r[4], r[5], to_shape(r[6]))
        for r in session.execute(stmt.order_by(order))
    ]


def cell_index_entries(session: Session) -> list[IndexedCell]:
    """Every cell's id, code and polygon, for building the STRtree twin of locate."""
    rows = session.execute(select(Cell.id, Cell.code, Cell.geom))
    return [IndexedCell(r[0], r[1], to_shape(r[2])) for r in rows]


def boundary_version(session: Session) -> int:
    """The id of the latest import that changed boundaries (0 before any)."""
    return int(
        session.execute(select(func.coalesce(func.max(BoundaryVersion.id), 0))).scalar() or 0
    )


def level_counts(session: Session) -> dict[str, int]:
    counts = dict(session.execute(select(Area.level, func.count()).group_by(Area.level)).all())
    return {
        "counties": int(counts.get("county", 0)),
        "townships": int(counts.get("township", 0)),
        "villages": int(counts.get("village", 0)),
        "cells": int(session.execute(select(func.count()).select_from(Cell)).scalar() or 0),
    }


# --- writing boundaries (used by grid.importer) -------------------------------------------


def as_multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    if isinstance(geometry, MultiPolygon):
        return geometry
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    raise ValueError(f"expected a polygon, got {geometry.geom_type}")


@dataclass(frozen=True)
class StoredBoundary:
    id: int
    code: str
    name: str
    level: str
    parent_code: str | None
    population: int | None
    households: int | None
    valid_from: date | None
    geometry: BaseGeometry


def stored_boundaries(session: Session) -> dict[str, StoredBoundary]:
    """Every area and cell now in the database, keyed by code."""
    parent = aliased(Area)
    result: dict[str, StoredBoundary] = {}
    area_rows = session.execute(
        select(
            Area.id,
            Area.code,
            Area.name,
            Area.level,
            parent.code,
            Area.population,
            Area.households,
            Area.valid_from,
            Area.geom,
        ).outerjoin(parent, parent.id == Area.parent_id)
    )
    cell_rows = session.execute(
        select(
            Cell.id,
            Cell.code,
            Cell.name,
            literal("cell"),
            parent.code,
            Cell.population,
            Cell.households,
            Cell.valid_from,
            Cell.geom,
        ).join(parent, parent.id == Cell.village_id)
    )
    for rows in (area_rows, cell_rows):
        for r in rows:
            result[r[1]] = StoredBoundary(*r[:8], to_shape(r[8]))
    return result


def area_ids_by_code(session: Session) -> dict[str, int]:
    return dict(session.execute(select(Area.code, Area.id)).all())


def insert_areas(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert areas (dicts with a shapely `geometry`); returns code → id."""
    if not rows:
        return {}
    payload = [_with_geom(r) for r in rows]
    result = session.execute(insert(Area).returning(Area.code, Area.id), payload)
    return dict(result.all())


def insert_cells(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Cell), [_with_geom(r) for r in rows])


def update_area(session: Session, area_id: int, values: dict[str, Any]) -> None:
    session.execute(update(Area).where(Area.id == area_id).values(**_with_geom(values)))


def update_cell(session: Session, cell_id: int, values: dict[str, Any]) -> None:
    session.execute(update(Cell).where(Cell.id == cell_id).values(**_with_geom(values)))


def refresh_cell_chains(session: Session) -> None:
    """Rewrite every cell's township/county/city ids from its village's ancestors, after an
    import moved areas. One set-based UPDATE instead of per-cell round trips."""
    session.execute(
        text(
            """
            UPDATE cells c SET township_id = t.id, county_id = co.id, city_id = ci.id
            FROM areas v JOIN areas t ON t.id = v.parent_id
                 JOIN areas co ON co.id = t.parent_id JOIN areas ci ON ci.id = co.parent_id
            WHERE v.id = c.village_id
              AND (c.township_id, c.county_id, c.city_id) IS DISTINCT FROM (t.id, co.id, ci.id)
            """
        )
    )


def record_history(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(BoundaryHistory), [_with_geom(r) for r in rows])


def record_version(session: Session, source: str, summary: str) -> int:
    version = BoundaryVersion(source=source, summary=summary)
    session.add(version)
    session.flush()
    return version.id


def upsert_departments(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert departments by code, leaving existing ones as they are; returns how many new."""
    existing = set(session.execute(select(Department.code)).scalars())
    new = [r for r in rows if r["code"] not in existing]
    if new:
        session.execute(insert(Department), new)
    return len(new)


def _with_geom(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "geometry" in out:
        out["geom"] = from_shape(as_multipolygon(out.pop("geometry")), srid=4326)
    return out


def point_wkt(lon: float, lat: float) -> str:
    """EWKT of a WGS-84 point, for inserting point columns."""
    return f"SRID=4326;POINT({lon!r} {lat!r})"


def areas_geojson(
    session: Session, level: str, *, within: int | None = None
) -> Iterator[tuple[int, str, str, str, str | None, int | None, str]]:
    """(id, code, name, level, parent code, population, GeoJSON geometry text) of every area
    (or cell) of `level`, below `within` if given, ordered by code — for exports. PostGIS
    writes the GeoJSON (ST_AsGeoJSON, 7 decimals ≈ 1 cm) so the exporter copies text through
    instead of building shapely objects; streamed in batches, never all in memory."""
    if level not in CELL_COLUMN_OF_LEVEL:
        levels = ", ".join(CELL_COLUMN_OF_LEVEL)
        raise ValueError(f"unknown level {level!r}; choose one of {levels}")
    parent = aliased(Area)
    target: Any = Cell if level == "cell" else Area
    parent_id = Cell.village_id if level == "cell" else Area.parent_id
    stmt: Any = select(
        target.id,
        target.code,
        target.name,
        literal(level),
        parent.code,
        target.population,
        func.ST_AsGeoJSON(target.geom, 7),
    ).outerjoin(parent, parent.id == parent_id)
    if level != "cell":
        stmt = stmt.where(Area.level == level)
    if within is not None:
        stmt = stmt.where(target.id.in_(_ids_below(within, level)))
    result = session.execute(stmt.order_by(target.code).execution_options(yield_per=200))
    for r in result:
        yield (r[0], r[1], r[2], r[3], r[4], r[5], r[6])
