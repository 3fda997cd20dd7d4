"""The pure-Python twin of `grid.queries.locate`, for bulk work (imports, the history generator,
hotspot statistics): a shapely STRtree over the cells, built once and reused.

Both twins follow one rule: a point belongs to every cell whose closed polygon contains it
(GEOS's exact, robust predicate), and when several do — the point lies on a shared edge or
vertex — to the one with the lowest code. PostGIS answers with the same GEOS predicate
(`ST_Relate`), so the two agree on every point, edges included."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

NOT_FOUND = -1


@dataclass(frozen=True)
class IndexedCell:
    id: int
    code: str
    geometry: BaseGeometry


class CellIndex:
    """An STRtree over cell polygons with the lowest-code tie-break."""

    def __init__(self, cells: Sequence[IndexedCell]) -> None:
        # Sorted by code once, so "lowest position" means "lowest code" during look-ups.
        ordered = sorted(cells, key=lambda c: c.code)
        self.ids = np.array([c.id for c in ordered], dtype=np.int64)
        self.codes = [c.code for c in ordered]
        self.geometries = np.array([c.geometry for c in ordered], dtype=object)
        self.tree = STRtree(self.geometries)

    def __len__(self) -> int:
        return len(self.ids)

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Cell id for every point, `NOT_FOUND` (-1) where no cell contains it."""
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        point_idx, cell_pos = self.tree.query(points, predicate="intersects")
        result = np.full(len(points), NOT_FOUND, dtype=np.int64)
        # Nearly every point lies in exactly one cell: assign directly, then settle the few
        # points on shared edges (several hits) by the lowest position, i.e. the lowest code.
        result[point_idx] = self.ids[cell_pos]
        hits = np.bincount(point_idx, minlength=len(points))
        shared = hits[point_idx] > 1
        if shared.any():
            best = np.full(len(points), np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(best, point_idx[shared], cell_pos[shared])
            on_edges = np.flatnonzero(best != np.iinfo(np.int64).max)
            result[on_edges] = self.ids[best[on_edges]]
        return result

    def locate(self, lon: float, lat: float) -> int | None:
        """Cell id of one point, or None outside every cell (one tree query: intake locates
        every report this way, where locate_many's array set-up would cost more)."""
        positions = self.tree.query(shapely.Point(lon, lat), predicate="intersects")
        if len(positions) == 0:
            return None
        return int(self.ids[positions.min()])  # the lowest position is the lowest code
