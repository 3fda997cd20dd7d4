"""Pure geometry helpers (no database)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry


def simplify_coverage(
    geometries: Sequence[BaseGeometry], tolerance_deg: float
) -> list[BaseGeometry]:
    """Simplify polygons that tile an area *as a coverage*: shared edges are simplified once
    and identically on both sides, so neighbours keep touching (per-polygon simplify opens gaps
    and overlaps). `tolerance_deg` is in degrees (1e-3 ≈ 100 m at Rizhao's latitude)."""
    if not geometries:
        return []
    simplified = shapely.coverage_simplify(np.array(geometries, dtype=object), tolerance_deg)
    return list(simplified)


def metres_to_degrees(metres: float) -> float:
    """A rough conversion for tolerances only (1° of latitude ≈ 111 km)."""
    return metres / 111_000.0
