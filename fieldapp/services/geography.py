"""Geography use cases with process-wide caches keyed on the boundary version: the STRtree
twin of locate and coverage-simplified area layers are built once and rebuilt only when an
import changed the boundaries."""

from __future__ import annotations

import threading
from typing import Any

from shapely.geometry import mapping
from sqlalchemy.orm import Session

from grid import LEVELS, queries
from grid.geometry import metres_to_degrees, simplify_coverage
from grid.locator import CellIndex

_lock = threading.Lock()
_cell_index: CellIndex | None = None
_layers: dict[tuple[str, int, float], list[dict[str, Any]]] = {}

# Simplification tolerance per level: coarse levels are drawn at city scale.
SIMPLIFY_METRES = {"city": 200.0, "county": 120.0, "township": 60.0, "village": 20.0, "cell": 5.0}


class UnknownLevel(ValueError):
    pass


def cell_index(session: Session) -> CellIndex:
    """The cached STRtree over the cells, rebuilt when the boundary version moved."""
    global _cell_index
    version = queries.boundary_version(session)
    with _lock:
        if _cell_index is None or _cell_index.version != version:
            _cell_index = CellIndex(queries.cell_index_entries(session), version=version)
        return _cell_index


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
