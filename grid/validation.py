"""Checks and repairs for a set of boundary features before it is imported.

`validate` looks at everything at once — geometry validity, codes, the hierarchy, coordinates,
overlaps, gaps, children sticking out of their parent — and returns every `Problem` found,
sorted, each naming a code and a (lon, lat) near the trouble, so that a person can fix a whole
file in one round instead of one error per upload.

`repair` does what can safely be done automatically: `shapely.make_valid` (GEOS, the same
algorithm as PostGIS ``ST_MakeValid``) and snapping of slivers — tiny overlaps, gaps and
overhangs left by digitising — below a repair tolerance. Anything larger is left for a person.

Areas are in square metres from a local equal-area approximation: a small lon/lat area is
scaled by R² · cos(latitude). At Rizhao's extent (< 1.5° of latitude per feature) the error is
well under 1 %, plenty for tolerances of a few square metres, and it needs no projection library.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import replace

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from grid import LEVELS
from grid.features import BoundaryFeature, Problem

__all__ = [
    "CHINA_BBOX",
    "PROBLEM_KINDS",
    "area_m2",
    "repair",
    "validate",
]

EARTH_RADIUS_M = 6_371_007.2
"""Authalic (equal-area) radius of the WGS-84 ellipsoid."""
_M_PER_DEG = math.pi / 180.0 * EARTH_RADIUS_M

CHINA_BBOX: tuple[float, float, float, float] = (73.0, 18.0, 136.0, 54.0)
"""(min lon, min lat, max lon, max lat) of mainland China and Hainan, generously rounded."""

PROBLEM_KINDS: dict[str, str] = {
    # reading (grid.boundary_io)
    "read": "feature could not be read",
    "crs": "coordinates are not in WGS-84 longitude/latitude",
    "missing_property": "a required property is missing",
    "bad_property": "a property has an unusable value",
    "bad_geometry": "geometry is missing or not a polygon",
    "unclosed_ring": "a ring does not end where it starts",
    "too_few_points": "a ring has fewer than 3 distinct corners",
    # validation
    "empty_geometry": "geometry is empty",
    "not_polygonal": "geometry is not a Polygon or MultiPolygon",
    "invalid_geometry": "geometry is invalid (e.g. self-intersection)",
    "duplicate_code": "the same code is used more than once",
    "unknown_level": "level is not city, county, township, village or cell",
    "multiple_cities": "more than one city in the file",
    "unexpected_parent": "the city has a parent code",
    "no_parent": "an area or cell below the city has no parent code",
    "missing_parent": "the parent code is neither in the file nor already known",
    "wrong_parent_level": "the parent is not one level up",
    "swapped_coordinates": "coordinates look like (latitude, longitude)",
    "outside_china": "coordinates are outside China",
    "overlap": "two areas or cells of the same level overlap",
    "gap": "the children of an area do not cover it completely",
    "outside_parent": "an area or cell extends outside its parent",
}
"""Every problem kind with a short English description (the CLI translates by kind)."""

_KIND_ORDER = {kind: i for i, kind in enumerate(PROBLEM_KINDS)}

_PLURAL = {
    "city": "cities",
    "county": "counties",
    "township": "townships",
    "village": "villages",
    "cell": "cells",
}

_NOISE_M2 = 0.01
"""Overlaps/gaps smaller than this are floating-point noise from set operations: ignored by
repair (nothing to tell a person about) and far below any sensible validation tolerance."""

_REASON_POINT = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\]")


# --------------------------------------------------------------------------------------------
# Helpers


def area_m2(geometry: BaseGeometry) -> float:
    """Approximate area in m² of a lon/lat geometry (local equal-area scaling)."""
    return float(_areas_m2(np.asarray([geometry], dtype=object))[0])


def _areas_m2(geoms: np.ndarray) -> np.ndarray:
    area = shapely.area(geoms)
    bounds = shapely.bounds(geoms)
    lat = (bounds[..., 1] + bounds[..., 3]) / 2.0
    out = area * _M_PER_DEG**2 * np.cos(np.radians(lat))
    # Empty geometries have NaN bounds; their area is simply zero.
    return np.nan_to_num(out, nan=0.0)


def _polygon_list(geometry: BaseGeometry | None) -> list[Polygon]:
    if geometry is None or geometry.is_empty:
        return []
    if geometry.geom_type == "Polygon":
        return [geometry]
    if geometry.geom_type in ("MultiPolygon", "GeometryCollection"):
        return [p for part in geometry.geoms for p in _polygon_list(part)]
    return []


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """Only the polygonal parts, as a Polygon, a MultiPolygon or an empty Polygon."""
    polys = _polygon_list(geometry)
    if not polys:
        return Polygon()
    if len(polys) == 1:
        return polys[0]
    return MultiPolygon(polys)


def _components(geometry: BaseGeometry) -> list[Polygon]:
    return _polygon_list(geometry)


def _point(geometry: BaseGeometry) -> tuple[float, float] | None:
    if geometry.is_empty:
        return None
    p = geometry.representative_point()
    return (float(p.x), float(p.y))


def _fmt_point(point: tuple[float, float] | None) -> str:
    if point is None:
        return "?"
    return ",".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in point)


def _fmt_area(value: float) -> str:
    return f"{value:,.1f}" if value < 10 else f"{value:,.0f}"


def _count_polygons(geometry: BaseGeometry) -> str:
    n = len(_components(geometry))
    return f"{n} polygon" if n == 1 else f"{n} polygons"


def _level_word(level: str) -> str:
    return level if level in LEVELS else "feature"


def _child_word(parent_level: str) -> str:
    if parent_level in LEVELS[:-1]:
        return _PLURAL[LEVELS[LEVELS.index(parent_level) + 1]]
    return "children"


def _feature_ref(feature: BoundaryFeature, position: int) -> str:
    index = feature.source_index if feature.source_index is not None else position
    return f"#{index + 1}"


# --------------------------------------------------------------------------------------------
# validate


def validate(
    features: Sequence[BoundaryFeature],
    *,
    overlap_tolerance_m2: float = 1.0,
    gap_tolerance_m2: float = 1.0,
    known_codes: Collection[str] = frozenset(),
) -> list[Problem]:
    """Check a set of boundary features and return every problem found, sorted.

    `known_codes` are codes already in the database: a parent among them is not "missing".
    Overlaps, gaps and overhangs up to the tolerances (m²) are accepted as digitising noise.
    """
    problems: list[Problem] = []
    usable = [_check_geometry(f, problems) for f in features]

    first: dict[str, int] = {}
    for i, f in enumerate(features):
        first.setdefault(f.code, i)

    _check_codes(features, problems)
    _check_hierarchy(features, first, frozenset(known_codes), problems)
    trees = _check_overlaps(features, usable, overlap_tolerance_m2, problems)
    _check_children(features, usable, first, trees, gap_tolerance_m2, problems)

    return sorted(problems, key=_sort_key)


def _sort_key(p: Problem) -> tuple[str, int, str, float, float, str]:
    x, y = p.location if p.location is not None else (math.inf, math.inf)
    return (p.code, _KIND_ORDER.get(p.kind, len(_KIND_ORDER)), p.kind, x, y, p.message)


def _check_geometry(f: BoundaryFeature, problems: list[Problem]) -> BaseGeometry | None:
    """Per-feature geometry checks. Returns the geometry to use for spatial checks, or None
    when the feature cannot take part (its relations to others would only be noise)."""
    label = f"{_level_word(f.level)} {f.code}"
    g = f.geometry
    if g is None or g.is_empty:
        problems.append(Problem("empty_geometry", f.code, f"{label} has an empty geometry"))
        return None
    if g.geom_type not in ("Polygon", "MultiPolygon"):
        problems.append(
            Problem(
                "not_polygonal",
                f.code,
                f"{label} is a {g.geom_type}; boundaries must be Polygon or MultiPolygon",
                _safe_point(g),
            )
        )
        g = _polygonal(g)
        if g.is_empty:
            return None
    if not g.is_valid:
        reason = shapely.is_valid_reason(g)
        match = _REASON_POINT.search(reason)
        location = (float(match.group(1)), float(match.group(2))) if match else _safe_point(g)
        text = _REASON_POINT.sub("", reason).strip()
        problems.append(
            Problem(
                "invalid_geometry",
                f.code,
                f"{label} has an invalid geometry: {text} at {_fmt_point(location)}",
                location,
            )
        )
        # Check the rest against the repaired shape, so one bad vertex does not hide overlaps.
        g = _polygonal(shapely.make_valid(g))
        if g.is_empty:
            return None

    minx, miny, maxx, maxy = g.bounds
    lon0, lat0, lon1, lat1 = CHINA_BBOX
    if lat0 <= minx and maxx <= lat1 and lon0 <= miny and maxy <= lon1:
        x, y = shapely.get_coordinates(g)[0]
        problems.append(
            Problem(
                "swapped_coordinates",
                f.code,
                f"{label} has coordinates like ({x:.6f}, {y:.6f}) that look like "
                "(latitude, longitude); GeoJSON and Shapefiles store longitude first",
                # Where the feature was meant to be, so a map can show it.
                (float(y), float(x)),
            )
        )
        return None
    if not (lon0 <= minx and maxx <= lon1 and lat0 <= miny and maxy <= lat1):
        coords = shapely.get_coordinates(g)
        outside = ~(
            (coords[:, 0] >= lon0)
            & (coords[:, 0] <= lon1)
            & (coords[:, 1] >= lat0)
            & (coords[:, 1] <= lat1)
        )
        x, y = coords[np.argmax(outside)]
        plausible = -180 <= x <= 180 and -90 <= y <= 90
        hint = "" if plausible else " (these are not degrees: is the file in a projected system?)"
        problems.append(
            Problem(
                "outside_china",
                f.code,
                f"{label} has a point at ({x:.6f}, {y:.6f}), outside China (longitude "
                f"{lon0:g}–{lon1:g}, latitude {lat0:g}–{lat1:g}){hint}",
                (float(x), float(y)) if plausible else None,
            )
        )
        return None
    return g


def _safe_point(g: BaseGeometry) -> tuple[float, float] | None:
    coords = shapely.get_coordinates(g)
    return (float(coords[0, 0]), float(coords[0, 1])) if len(coords) else None


def _check_codes(features: Sequence[BoundaryFeature], problems: list[Problem]) -> None:
    positions: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(features):
        positions[f.code].append(i)
    for code, where in positions.items():
        if len(where) < 2:
            continue
        refs = ", ".join(_feature_ref(features[i], i) for i in where)
        second = features[where[1]]
        problems.append(
            Problem(
                "duplicate_code",
                code,
                f"code {code} is used by {len(where)} features ({refs}); codes must be unique",
                _safe_point(second.geometry) if second.geometry is not None else None,
            )
        )


def _check_hierarchy(
    features: Sequence[BoundaryFeature],
    first: dict[str, int],
    known_codes: frozenset[str],
    problems: list[Problem],
) -> None:
    cities = sorted(f.code for f in features if f.level == "city")
    for f in features:
        label = f"{_level_word(f.level)} {f.code}"
        where = _safe_point(f.geometry) if f.geometry is not None else None
        if f.level not in LEVELS:
            problems.append(
                Problem(
                    "unknown_level",
                    f.code,
                    f"feature {f.code} has level {f.level!r}; expected one of {', '.join(LEVELS)}",
                    where,
                )
            )
            continue
        if f.level == "city":
            if len(cities) > 1:
                problems.append(
                    Problem(
                        "multiple_cities",
                        f.code,
                        f"the file has {len(cities)} cities ({', '.join(cities)}); a boundary "
                        "file covers exactly one city",
                        where,
                    )
                )
            if f.parent_code:
                problems.append(
                    Problem(
                        "unexpected_parent",
                        f.code,
                        f"city {f.code} has parent_code {f.parent_code}; leave it empty for "
                        "the city",
                        where,
                    )
                )
            continue
        expected = LEVELS[LEVELS.index(f.level) - 1]
        if not f.parent_code:
            problems.append(
                Problem(
                    "no_parent",
                    f.code,
                    f"{label} has no parent_code; it needs the code of its {expected}",
                    where,
                )
            )
            continue
        if f.parent_code == f.code:
            problems.append(
                Problem(
                    "wrong_parent_level",
                    f.code,
                    f"{label} names itself as its parent; it needs the code of its {expected}",
                    where,
                )
            )
            continue
        j = first.get(f.parent_code)
        if j is None:
            if f.parent_code not in known_codes:
                problems.append(
                    Problem(
                        "missing_parent",
                        f.code,
                        f"{label} has parent_code {f.parent_code}, which is neither in the file "
                        "nor already imported",
                        where,
                    )
                )
            continue
        parent = features[j]
        if parent.level != expected:
            problems.append(
                Problem(
                    "wrong_parent_level",
                    f.code,
                    f"{label} has parent {parent.code}, which is a "
                    f"{_level_word(parent.level)}; the parent of a {f.level} must be a "
                    f"{expected}",
                    where,
                )
            )


def _check_overlaps(
    features: Sequence[BoundaryFeature],
    usable: list[BaseGeometry | None],
    tolerance_m2: float,
    problems: list[Problem],
) -> dict[str, tuple[shapely.STRtree, np.ndarray]]:
    """Overlaps between features of the same level. Returns per level the STRtree and the
    feature indices it holds, reused by the gap check."""
    trees: dict[str, tuple[shapely.STRtree, np.ndarray]] = {}
    for level in LEVELS:
        idx = np.array(
            [i for i, f in enumerate(features) if f.level == level and usable[i] is not None],
            dtype=np.intp,
        )
        if len(idx) == 0:
            continue
        geoms = np.array([usable[i] for i in idx], dtype=object)
        tree = shapely.STRtree(geoms)
        trees[level] = (tree, idx)
        if len(idx) < 2:
            continue
        # One bulk query for all candidate pairs: neighbours in a tiling only touch, so the
        # intersection of most pairs is a line and has no area.
        left, right = tree.query(geoms, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        if len(left) == 0:
            continue
        # Only pairs whose interiors meet can overlap by an area; this DE-9IM test is about
        # three times cheaper than computing the intersection of every touching pair.
        meet = shapely.relate_pattern(geoms[left], geoms[right], "T********")
        left, right = left[meet], right[meet]
        if len(left) == 0:
            continue
        inter = shapely.intersection(geoms[left], geoms[right])
        areas = _areas_m2(inter)
        for k in np.nonzero(areas > tolerance_m2)[0]:
            a, b = features[idx[left[k]]], features[idx[right[k]]]
            lo, hi = sorted((a.code, b.code))
            part = _polygonal(inter[k])
            problems.append(
                Problem(
                    "overlap",
                    lo,
                    f"{level} {lo} overlaps {level} {hi} by {_fmt_area(float(areas[k]))} m²",
                    _point(part),
                )
            )
    return trees


def _check_children(
    features: Sequence[BoundaryFeature],
    usable: list[BaseGeometry | None],
    first: dict[str, int],
    trees: dict[str, tuple[shapely.STRtree, np.ndarray]],
    tolerance_m2: float,
    problems: list[Problem],
) -> None:
    """Children sticking out of their parent, and gaps between the children of each parent."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(features):
        if f.parent_code and f.parent_code != f.code:
            groups[f.parent_code].append(i)

    # -- children outside their parent (only where both shapes are usable) --
    pairs = [
        (k, first[code])
        for code in sorted(groups)
        if code in first and usable[first[code]] is not None
        for k in groups[code]
        if usable[k] is not None
    ]
    sticking_out: set[int] = set()
    if pairs:
        child_geoms = np.array([usable[k] for k, _ in pairs], dtype=object)
        parent_geoms = np.array([usable[j] for _, j in pairs], dtype=object)
        # Exactly tiled data shares vertices, so `covers` is exact and spares us the far more
        # expensive difference for nearly every child.
        inside = shapely.covers(parent_geoms, child_geoms)
        todo = np.nonzero(~inside)[0]
        outside = shapely.difference(child_geoms[todo], parent_geoms[todo])
        for t, geom, area in zip(todo, outside, _areas_m2(outside), strict=True):
            child, parent = features[pairs[t][0]], features[pairs[t][1]]
            sticking_out.add(pairs[t][0])
            if area <= tolerance_m2:
                continue
            comps = _components(geom)
            biggest = max(comps, key=lambda c: c.area) if comps else geom
            problems.append(
                Problem(
                    "outside_parent",
                    child.code,
                    f"{_level_word(child.level)} {child.code} extends {_fmt_area(float(area))} "
                    f"m² outside its {_level_word(parent.level)} {parent.code}",
                    _point(biggest),
                )
            )

    # -- gaps --
    # An area with no children at all, where its level does have children elsewhere in the
    # file, is one big gap (a file of townships only, without villages, is fine).
    parent_levels = {features[first[code]].level for code in groups if code in first}
    for i, f in enumerate(features):
        geom = usable[i]
        if (
            geom is None
            or f.level not in parent_levels
            or f.code in groups
            or first.get(f.code) != i  # a duplicate: its children went to the first one
        ):
            continue
        problems.append(
            Problem(
                "gap",
                f.code,
                f"{_level_word(f.level)} {f.code} has no {_child_word(f.level)} at all: its "
                f"whole area of {_fmt_area(area_m2(geom))} m² is a gap",
                _point(geom),
            )
        )

    for parent_code in sorted(groups):
        kids = groups[parent_code]
        j = first.get(parent_code)
        if j is not None and usable[j] is None:
            continue  # the parent's own problem is reported; comparing with it is noise
        if any(usable[k] is None for k in kids):
            # A child that cannot be placed would show up as a gap where it belongs.
            continue
        kid_geoms = np.array([usable[k] for k in kids], dtype=object)
        covered = kid_geoms[0] if len(kids) == 1 else shapely.union_all(kid_geoms)
        if j is not None:
            parent = features[j]
            parent_geom = usable[j]
            if not any(k in sticking_out for k in kids):
                # The children lie inside the parent, so the gap area is a plain difference of
                # areas: in a clean tiling this skips the geometric difference altogether.
                missing = area_m2(parent_geom) - area_m2(covered)
                if missing <= tolerance_m2:
                    continue
            gap = shapely.difference(parent_geom, covered)
            owner = f"{_level_word(parent.level)} {parent_code}"
            child_word = _child_word(parent.level)
        else:
            # Parent not in the file: we can still see holes enclosed by its children, minus
            # enclaves that belong to some other parent.
            gap = _holes(covered)
            if gap.is_empty:
                continue
            level = features[kids[0]].level
            if level in trees:
                tree, idx = trees[level]
                others = [
                    usable[idx[t]]
                    for t in tree.query(gap, predicate="intersects")
                    if features[idx[t]].parent_code != parent_code
                ]
                if others:
                    gap = shapely.difference(gap, shapely.union_all(others))
            parent_level = LEVELS[LEVELS.index(level) - 1] if level in LEVELS[1:] else "area"
            owner = f"{parent_level} {parent_code}"
            child_word = _PLURAL.get(level, "children")
        comps = _components(gap)
        if not comps:
            continue
        areas = _areas_m2(np.array(comps, dtype=object))
        for comp, area in zip(comps, areas, strict=True):
            if area <= tolerance_m2:
                continue
            near = sorted(
                features[k].code
                for k, g in zip(kids, kid_geoms, strict=True)
                if g.distance(comp) < 1e-9
            )
            beside = f" (next to {', '.join(near[:6])}{', ...' if len(near) > 6 else ''})"
            problems.append(
                Problem(
                    "gap",
                    parent_code,
                    f"{owner} has a gap of {_fmt_area(float(area))} m² not covered by any of "
                    f"its {child_word}{beside if near else ''}",
                    _point(comp),
                )
            )


def _holes(geometry: BaseGeometry) -> BaseGeometry:
    holes = [Polygon(ring) for poly in _components(geometry) for ring in poly.interiors]
    if not holes:
        return Polygon()
    return shapely.union_all(np.array(holes, dtype=object))


# --------------------------------------------------------------------------------------------
# repair


def repair(
    features: Sequence[BoundaryFeature], *, tolerance_m2: float = 50.0
) -> tuple[list[BoundaryFeature], list[str]]:
    """Return repaired copies of the features and one human-readable line per change.

    Invalid geometries go through `shapely.make_valid` and keep only their polygonal parts.
    Then, top-down through the hierarchy, for the children of each parent: parts sticking out
    of the parent are trimmed, overlaps between siblings are given to the sibling with the
    lower code, and gaps are merged into the sibling sharing the longest border — each only
    when at most `tolerance_m2`; bigger defects need a person and are left for `validate`.
    The input features are not modified.
    """
    log: list[str] = []
    geoms: list[BaseGeometry] = []
    for f in features:
        geoms.append(_make_valid(f, log))

    first: dict[str, int] = {}
    for i, f in enumerate(features):
        first.setdefault(f.code, i)

    # Per level, to recognise a hole that is really another parent's enclave (see _fill_gaps).
    trees: dict[str, tuple[shapely.STRtree, list[int]]] = {}
    for level in LEVELS:
        members = [i for i, f in enumerate(features) if f.level == level]
        if members:
            trees[level] = (shapely.STRtree([geoms[i] for i in members]), members)

    for level in LEVELS[1:]:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, f in enumerate(features):
            if f.level == level and f.parent_code and not _empty_polygonal(geoms[i]):
                groups[f.parent_code].append(i)
        for parent_code in sorted(groups):
            kids = sorted(groups[parent_code], key=lambda i: (features[i].code, i))
            j = first.get(parent_code)
            parent_geom = None
            owner = f"{LEVELS[LEVELS.index(level) - 1]} {parent_code}"
            if j is not None and not _empty_polygonal(geoms[j]):
                parent_geom = geoms[j]
                owner = f"{_level_word(features[j].level)} {parent_code}"
                _trim_to_parent(features, geoms, kids, parent_geom, owner, tolerance_m2, log)
            _resolve_overlaps(features, geoms, kids, tolerance_m2, log)
            _fill_gaps(features, geoms, kids, parent_geom, owner, tolerance_m2, trees, log)

    out = [
        replace(f, geometry=g, extra=dict(f.extra)) for f, g in zip(features, geoms, strict=True)
    ]
    return out, log


def _empty_polygonal(g: BaseGeometry | None) -> bool:
    return g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon")


def _make_valid(f: BoundaryFeature, log: list[str]) -> BaseGeometry:
    g = f.geometry
    if g is None or g.is_empty:
        return g
    if g.is_valid and g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    if not g.is_valid:
        reason = shapely.is_valid_reason(g)
        match = _REASON_POINT.search(reason)
        what = _REASON_POINT.sub("", reason).strip()
        what = what.lower()
        at = f" at {_fmt_point((float(match.group(1)), float(match.group(2))))}" if match else ""
        fixed = shapely.make_valid(g)
        action = f"made valid ({what}{at})"
    else:
        fixed = g
        action = f"kept the polygonal parts of a {g.geom_type}"
    poly = _polygonal(fixed)
    if poly.is_empty:
        log.append(f"{f.code}: could not repair the geometry: no polygonal part is left")
        return g
    dropped = len(shapely.get_parts(fixed)) - len(_components(fixed))
    extra = (
        f", dropped {dropped} non-polygonal part{'s' if dropped != 1 else ''}"
        if (dropped > 0 and fixed.geom_type == "GeometryCollection")
        else ""
    )
    log.append(f"{f.code}: {action} → {_count_polygons(poly)}{extra}")
    return poly


def _trim_to_parent(
    features: Sequence[BoundaryFeature],
    geoms: list[BaseGeometry],
    kids: list[int],
    parent_geom: BaseGeometry,
    owner: str,
    tolerance_m2: float,
    log: list[str],
) -> None:
    for k in kids:
        if shapely.covers(parent_geom, geoms[k]):
            continue
        small = [
            c
            for c in _components(shapely.difference(geoms[k], parent_geom))
            if _NOISE_M2 < area_m2(c) <= tolerance_m2
        ]
        if not small:
            continue
        cut = shapely.union_all(np.array(small, dtype=object))
        geoms[k] = _polygonal(shapely.difference(geoms[k], cut))
        log.append(
            f"{features[k].code}: trimmed {_fmt_area(area_m2(cut))} m² sticking out of "
            f"{owner} at {_fmt_point(_point(small[0]))}"
        )


def _resolve_overlaps(
    features: Sequence[BoundaryFeature],
    geoms: list[BaseGeometry],
    kids: list[int],
    tolerance_m2: float,
    log: list[str],
) -> None:
    if len(kids) < 2:
        return
    tree = shapely.STRtree(np.array([geoms[k] for k in kids], dtype=object))
    left, right = tree.query(
        np.array([geoms[k] for k in kids], dtype=object), predicate="intersects"
    )
    # kids are sorted by code, so (left < right) puts the lower code first.
    for a, b in sorted((int(x), int(y)) for x, y in zip(left, right, strict=True) if x < y):
        ka, kb = kids[a], kids[b]
        small = [
            c
            for c in _components(shapely.intersection(geoms[ka], geoms[kb]))
            if _NOISE_M2 < area_m2(c) <= tolerance_m2
        ]
        if not small:
            continue
        cut = shapely.union_all(np.array(small, dtype=object))
        geoms[kb] = _polygonal(shapely.difference(geoms[kb], cut))
        log.append(
            f"{features[kb].code}: gave a {_fmt_area(area_m2(cut))} m² overlap with "
            f"{features[ka].code} to {features[ka].code} at {_fmt_point(_point(small[0]))}"
        )


def _fill_gaps(
    features: Sequence[BoundaryFeature],
    geoms: list[BaseGeometry],
    kids: list[int],
    parent_geom: BaseGeometry | None,
    owner: str,
    tolerance_m2: float,
    trees: dict[str, tuple[shapely.STRtree, list[int]]],
    log: list[str],
) -> None:
    covered = shapely.union_all(np.array([geoms[k] for k in kids], dtype=object))
    # Without the parent we can only fill holes enclosed by the siblings, and only those that
    # are not an enclave of some other parent's children.
    gap = shapely.difference(parent_geom, covered) if parent_geom is not None else _holes(covered)
    siblings = set(kids)
    for comp in _components(gap):
        area = area_m2(comp)
        if not _NOISE_M2 < area <= tolerance_m2:
            continue
        if parent_geom is None and _is_enclave(
            comp, features[kids[0]].level, siblings, geoms, trees
        ):
            continue
        border = comp.boundary
        best: tuple[float, float, str, int] | None = None
        for k in kids:
            g = geoms[k]
            distance = g.distance(comp)
            if distance > 1e-9:
                continue
            shared = shapely.intersection(g.boundary, border).length
            # Longest shared border wins; ties (and pure corner contacts) go to the lower code.
            key = (-shared, distance, features[k].code, k)
            if best is None or key < best:
                best = key
        if best is None:
            continue
        k = best[3]
        geoms[k] = _polygonal(shapely.union(geoms[k], comp))
        log.append(
            f"{features[k].code}: filled a {_fmt_area(area)} m² gap in {owner} at "
            f"{_fmt_point(_point(comp))}"
        )


def _is_enclave(
    hole: BaseGeometry,
    level: str,
    siblings: set[int],
    geoms: list[BaseGeometry],
    trees: dict[str, tuple[shapely.STRtree, list[int]]],
) -> bool:
    if level not in trees:
        return False
    tree, members = trees[level]
    return any(
        members[t] not in siblings and shapely.relate_pattern(hole, geoms[members[t]], "T********")
        for t in tree.query(hole, predicate="intersects")
    )
