"""Geography use cases with process-wide caches keyed on the boundary version: the STRtree
twin of locate and coverage-simplified area layers are built once and rebuilt only when an
import changed the boundaries."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

from shapely.geometry import mapping
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from grid import LEVELS, queries
from grid.geometry import metres_to_degrees, simplify_coverage
from grid.locator import CellIndex

_lock = threading.Lock()
# By engine, i.e. by database: a process may talk to more than one (tests, benchmarks), and
# versions are numbered per database. (Not by URL: hashing one costs a report more than
# locating it.)
_cells: weakref.WeakKeyDictionary[Engine, CellSnapshot] = weakref.WeakKeyDictionary()
_layers: dict[tuple[str, int, float], list[dict[str, Any]]] = {}

# Simplification tolerance per level: coarse levels are drawn at city scale.
SIMPLIFY_METRES = {"city": 200.0, "county": 120.0, "township": 60.0, "village": 20.0, "cell": 5.0}


class UnknownLevel(ValueError):
    pass


@dataclass(frozen=True)
class CellSnapshot:
    """The cells as of one boundary version: the STRtree twin of locate, and every cell's
    chain (village, township, county, city) by cell id."""

    version: int
    index: CellIndex
    locations: dict[int, queries.Location]

    def locate(self, lon: float, lat: float) -> queries.Location | None:
        """As grid.queries.locate answers for these boundaries (the same GEOS predicate and
        lowest-code rule), without the database."""
        cell_id = self.index.locate(lon, lat)
        return None if cell_id is None else self.locations[cell_id]


def cell_snapshot(session: Session, *, check_version: bool = True) -> CellSnapshot:
    """The cached cells, rebuilt when the boundary version moved. With check_version=False,
    a snapshot already built is returned without asking the database: for a caller that
    checks the version itself, as report intake does in the statement that writes."""
    database = session.get_bind().engine
    cached = _cells.get(database)
    if not check_version and cached is not None:
        return cached
    version = queries.boundary_version(session)
    with _lock:
        cached = _cells.get(database)
        if cached is None or cached.version != version:
            entries = queries.cell_index_entries(session)
            cached = _cells[database] = CellSnapshot(
                version, CellIndex(entries), queries.cell_locations(session)
            )
        return cached


def area_layer(
    session: Session, level: str, bbox: tuple[float, float, float, float] | None = None
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the areas of `level` meeting `bbox`, simplified as a
    coverage over the whole level (so neighbours inside and outside the box still share
    edges), from a cache keyed on the boundary version."""
    if level not in LEVELS:
        raise UnknownLevel(level)
    version = queries.boundary_version(session)
    tolerance = metres_to_degrees(SIMPLIFY_METRES[level])
    key = (level, version, tolerance)
    with _lock:
        features = _layers.get(key)
    if features is None:
        shapes = queries.areas_of_level(session, level)
        simplified = simplify_coverage([s.geometry for s in shapes], tolerance)
        features = [
            {
                "type": "Feature",
                "id": s.code,
                "bbox": list(s.geometry.bounds),
                "properties": {
                    "code": s.code,
                    "name": s.name,
                    "level": s.level,
                    "parent_code": s.parent_code,
                    "population": s.population,
                },
                "geometry": mapping(geometry),
            }
            for s, geometry in zip(shapes, simplified, strict=True)
        ]
        with _lock:
            for stale in [k for k in _layers if k[0] == level and k[1] != version]:
                del _layers[stale]
            _layers[key] = features
    if bbox is not None:
        features = [f for f in features if _bbox_meets(f["bbox"], bbox)]
    return {"type": "FeatureCollection", "features": features}


def _bbox_meets(a: list[float], b: tuple[float, float, float, float]) -> bool:
    return not (a[2] < b[0] or a[0] > b[2] or a[3] < b[1] or a[1] > b[3])
