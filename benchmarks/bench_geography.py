"""Geography figures (issue: foundation):
- bulk locate of 1,000,000 random points with the cached STRtree twin vs. a bare shapely
  `STRtree.query(predicate="intersects")` over the same polygons (target ratio ≥ 0.8);
- single-point PostGIS locate (with its chain) p50/p99 vs. a bare ST_Intersects look-up;
- demo city build + import: seconds (target ≤ 60 s), and the database size."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import shapely
from shapely import STRtree
from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks.common import figure, median_seconds, percentile, throwaway_database
from fieldapp.demo.city import build_demo_city
from grid import queries
from grid.importer import import_boundaries
from grid.locator import CellIndex, IndexedCell

POINTS = 1_000_000
SINGLE_LOOKUPS = 2_000


def main() -> None:
    start = time.perf_counter()
    city = build_demo_city(seed=1)
    build_s = time.perf_counter() - start
    cells = [f for f in city.features if f.level == "cell"]
    rng = np.random.default_rng(42)
    minx, miny, maxx, maxy = shapely.total_bounds([c.geometry for c in cells])
    lons = rng.uniform(minx, maxx, POINTS)
    lats = rng.uniform(miny, maxy, POINTS)

    index = CellIndex([IndexedCell(i, c.code, c.geometry) for i, c in enumerate(cells)])
    bare_tree = STRtree([c.geometry for c in cells])
    ours = median_seconds(lambda: index.locate_many(lons, lats))
    # The baseline gets the same input (coordinate arrays), so it builds points too.
    bare = median_seconds(
        lambda: bare_tree.query(shapely.points(lons, lats), predicate="intersects")
    )
    figure(
        "bulk_locate_1M",
        points=POINTS,
        seconds=round(ours, 3),
        points_per_s=round(POINTS / ours),
        baseline="bare STRtree.query(intersects)",
        baseline_seconds=round(bare, 3),
        baseline_points_per_s=round(POINTS / bare),
        ratio=round(bare / ours, 3),
        target="ratio >= 0.8",
    )

    with throwaway_database("geo") as engine:
        start = time.perf_counter()
        with Session(engine) as session, session.begin():
            import_boundaries(session, city.features, source="benchmark")
        import_s = time.perf_counter() - start
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
        figure(
            "demo_city_build_import",
            build_seconds=round(build_s, 2),
            import_seconds=round(import_s, 2),
            total_seconds=round(build_s + import_s, 2),
            database_bytes=size,
            database_mb=round((size or 0) / 2**20, 1),
            target="total <= 60 s",
        )

        inside = index.locate_many(lons[:50_000], lats[:50_000]) >= 0
        sample = np.column_stack([lons[:50_000][inside], lats[:50_000][inside]])[:SINGLE_LOOKUPS]
        with Session(engine) as session:
            ours_ms = _timed(lambda p: queries.locate(session, p[0], p[1]), sample)
            bare_sql = text(
                "SELECT id FROM cells WHERE geom && ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) "
                "AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) LIMIT 1"
            )
            bare_ms = _timed(
                lambda p: session.execute(bare_sql, {"lon": p[0], "lat": p[1]}).first(), sample
            )
        figure(
            "postgis_locate_single",
            lookups=len(sample),
            p50_ms=round(percentile(ours_ms, 50), 3),
            p99_ms=round(percentile(ours_ms, 99), 3),
            baseline="bare ST_Intersects id look-up",
            baseline_p50_ms=round(percentile(bare_ms, 50), 3),
            baseline_p99_ms=round(percentile(bare_ms, 99), 3),
            ratio=round(percentile(bare_ms, 50) / percentile(ours_ms, 50), 3),
            target="p50 <= 1 ms",
        )


def _timed(fn: Callable[[np.ndarray], object], sample: np.ndarray) -> list[float]:
    for p in sample[:100]:  # warm the cache and the connection
        fn(p)
    out = []
    for p in sample:
        t = time.perf_counter()
        fn(p)
        out.append((time.perf_counter() - t) * 1000)
    return out


if __name__ == "__main__":
    main()
