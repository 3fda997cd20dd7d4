"""The STRtree twin of locate on hand-made squares (no database)."""

from __future__ import annotations

import numpy as np
from shapely.geometry import box

from grid.locator import NOT_FOUND, CellIndex, IndexedCell


def index() -> CellIndex:
    # Codes deliberately not in id order: the tie-break is by code, not by id.
    return CellIndex(
        [
            IndexedCell(10, "c2", box(1, 0, 2, 1)),
            IndexedCell(20, "c1", box(0, 0, 1, 1)),
            IndexedCell(30, "c3", box(0, 1, 2, 2)),
        ]
    )


def test_inside_edge_vertex_outside() -> None:
    idx = index()
    lons = np.array([0.5, 1.5, 1.0, 1.0, 5.0, 1.0])
    lats = np.array([0.5, 0.5, 0.5, 1.0, 5.0, 1.5])
    assert idx.locate_many(lons, lats).tolist() == [20, 10, 20, 20, NOT_FOUND, 30]


def test_single_point_api() -> None:
    idx = index()
    assert idx.locate(1.5, 1.5) == 30
    assert idx.locate(-1, -1) is None
    assert len(idx) == 3
