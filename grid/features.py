"""The in-memory form of a boundary file (DESIGN §4): one feature per area or cell.

Every importer (GeoJSON, Shapefile, the demo city) produces a list of `BoundaryFeature`, the
validator checks such a list, and the database import writes it. Geometry is a shapely
geometry in WGS-84 (lon, lat)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from shapely.geometry.base import BaseGeometry


@dataclass
class BoundaryFeature:
    code: str
    name: str
    level: str  # city | county | township | village | cell
    parent_code: str | None
    geometry: BaseGeometry
    population: int | None = None
    households: int | None = None
    valid_from: date | None = None
    previous_code: str | None = None
    """Set when an area keeps its ground but changes code (镇 → 街道): the import renames the
    existing area in place and keeps the old code in the history."""
    synthetic: bool = False
    source_index: int | None = None
    """Position in the source file (0-based), so problems can point at the right feature."""
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a boundary set. `location` is a (lon, lat) near the problem."""

    kind: str
    code: str
    message: str
    location: tuple[float, float] | None = None

    def __str__(self) -> str:
        where = f" at {self.location[0]:.6f},{self.location[1]:.6f}" if self.location else ""
        return f"[{self.kind}] {self.code}{where}: {self.message}"
