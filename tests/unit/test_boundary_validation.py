"""Boundary files: reading (GeoJSON, Shapefile), validation and repair. No database needed.

Each file in tests/fixtures/boundaries/ is a small variant of good.geojson (1 city, 1 county,
1 township, 2 villages, 4 cells near 119.5E 35.4N) with exactly one class of defect.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapefile
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from grid.boundary_io import BoundaryFileError, read_boundaries, write_geojson
from grid.features import BoundaryFeature, Problem
from grid.validation import PROBLEM_KINDS, area_m2, repair, validate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "boundaries"


def read_and_validate(path: Path) -> list[Problem]:
    features, problems = read_boundaries(path)
    return problems + validate(features)


def good() -> list[BoundaryFeature]:
    features, problems = read_boundaries(FIXTURES / "good.geojson")
    assert problems == []
    return features


def by_code(features: list[BoundaryFeature], code: str) -> BoundaryFeature:
    return next(f for f in features if f.code == code)


def with_geometry(
    features: list[BoundaryFeature], code: str, geometry: BaseGeometry
) -> list[BoundaryFeature]:
    return [dataclasses.replace(f, geometry=geometry) if f.code == code else f for f in features]


def kinds_and_codes(problems: list[Problem]) -> set[tuple[str, str]]:
    return {(p.kind, p.code) for p in problems}


# --------------------------------------------------------------------------------------------
# Bad fixtures: each is refused with the right kind, naming the offending code

BAD_FIXTURES = [
    ("self_intersection.geojson", "invalid_geometry", "371102001001002"),
    ("unclosed_ring.geojson", "unclosed_ring", "371102001001001"),
    ("too_few_points.geojson", "too_few_points", "371102001002001"),
    ("overlapping_cells.geojson", "overlap", "371102001001001"),
    ("gap_in_village.geojson", "gap", "371102001002"),
    ("cell_outside_village.geojson", "outside_parent", "371102001001001"),
    ("child_outside_parent.geojson", "outside_parent", "371102001"),
    ("duplicate_code.geojson", "duplicate_code", "371102001002001"),
    ("unknown_parent_code.geojson", "missing_parent", "371102001002002"),
    ("swapped_coordinates.geojson", "swapped_coordinates", "371102001002002"),
    ("outside_china.geojson", "outside_china", "371102001002002"),
    ("declared_crs.geojson", "crs", ""),  # a file-level problem: no single feature to blame
]


@pytest.mark.parametrize(
    ("fixture", "kind", "code"),
    BAD_FIXTURES,
    ids=[name.removesuffix(".geojson") for name, _, _ in BAD_FIXTURES],
)
def test_bad_fixture_is_refused_with_kind_and_code(fixture: str, kind: str, code: str) -> None:
    problems = read_and_validate(FIXTURES / fixture)

    matching = [p for p in problems if p.kind == kind]
    assert matching, f"no {kind!r} problem among: {[str(p) for p in problems]}"
    assert code in {p.code for p in matching}
    for p in matching:
        assert p.kind in PROBLEM_KINDS
        if code:
            assert code in p.message  # the message alone tells a person which feature
            assert p.location is not None
            lon, lat = p.location
            if kind != "outside_china":
                assert 73 <= lon <= 136 and 18 <= lat <= 54  # near the trouble, as (lon, lat)
        else:
            assert "EPSG::3857" in p.message and fixture in p.message


def test_every_fixture_is_in_the_table() -> None:
    on_disk = {p.name for p in FIXTURES.glob("*.geojson")} - {"good.geojson"}
    assert on_disk == {name for name, _, _ in BAD_FIXTURES}


def test_overlap_message_names_both_cells_and_area() -> None:
    problems = read_and_validate(FIXTURES / "overlapping_cells.geojson")
    (overlap,) = [p for p in problems if p.kind == "overlap"]
    assert "371102001001001" in overlap.message and "371102001001002" in overlap.message
    # 0.01° x 0.001° at 35.4°N is about 907 m x 111 m.
    assert "100,7" in overlap.message and "m²" in overlap.message
    assert overlap.location == pytest.approx((119.505, 35.4045))


def test_ring_problems_point_at_the_ring() -> None:
    _, problems = read_boundaries(FIXTURES / "unclosed_ring.geojson")
    (p,) = problems
    assert p.location == (119.5, 35.4)
    assert "feature #6" in p.message and "repeat the first point" in p.message


# --------------------------------------------------------------------------------------------
# Good data


def test_good_geojson_has_no_problems() -> None:
    features, problems = read_boundaries(FIXTURES / "good.geojson")
    assert problems == []
    assert validate(features) == []
    assert [f.level for f in features].count("cell") == 4
    city = by_code(features, "371100")
    assert city.parent_code is None and city.name == "日照市"
    cell = by_code(features, "371102001001001")
    assert (cell.population, cell.households) == (600, 200)
    assert by_code(features, "371102001001").valid_from is not None
    assert cell.source_index == 5


def test_shapefile_reads_the_same_features_as_geojson() -> None:
    from_geojson = good()
    from_shapefile, problems = read_boundaries(FIXTURES / "good_shapefile" / "good.shp")
    assert problems == []
    assert validate(from_shapefile) == []
    assert from_shapefile == from_geojson


def test_zipped_shapefile_reads_the_same(tmp_path: Path) -> None:
    archive = tmp_path / "boundaries.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for member in (FIXTURES / "good_shapefile").iterdir():
            z.write(member, f"export/{member.name}")
    features, problems = read_boundaries(archive)
    assert problems == []
    assert features == good()


def test_write_geojson_round_trips(tmp_path: Path) -> None:
    target = tmp_path / "out.geojson"
    write_geojson(good(), target)
    features, problems = read_boundaries(target)
    assert problems == []
    assert features == good()
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    # RFC 7946: exterior rings counter-clockwise.
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    assert Polygon(ring).exterior.is_ccw


# --------------------------------------------------------------------------------------------
# Reader details


def write_json(tmp_path: Path, doc: object, name: str = "b.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def square_feature(**props: object) -> dict[str, object]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[119.5, 35.4], [119.51, 35.4], [119.51, 35.41], [119.5, 35.4]]],
        },
    }


def test_broken_json_says_where(tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [\n  {"type" "Feature"}]}')
    with pytest.raises(BoundaryFileError, match=r"broken.geojson.*line 3, column 11"):
        read_boundaries(path)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ([1, 2], "found a JSON list"),
        ({"type": "Feature"}, "wrap it"),
        ({"type": "FeatureCollection"}, 'no "features" list'),
    ],
)
def test_not_a_feature_collection(tmp_path: Path, doc: object, expected: str) -> None:
    with pytest.raises(BoundaryFileError, match=expected):
        read_boundaries(write_json(tmp_path, doc))


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    kml = tmp_path / "x.kml"
    kml.write_text("<kml/>")
    with pytest.raises(BoundaryFileError, match="unsupported file type"):
        read_boundaries(kml)
    with pytest.raises(BoundaryFileError, match="not found"):
        read_boundaries(tmp_path / "nope.geojson")


def test_shapefile_without_dbf_is_refused(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "good_shapefile" / "good.shp", tmp_path / "good.shp")
    with pytest.raises(BoundaryFileError, match=r"\.dbf"):
        read_boundaries(tmp_path / "good.shp")


def test_gbk_shapefile_without_cpg(tmp_path: Path) -> None:
    # Chinese desktop GIS writes GBK and often no .cpg; ArcGIS upper-cases field names.
    with shapefile.Writer(tmp_path / "gbk", shapeType=shapefile.POLYGON, encoding="gbk") as w:
        for field in ("CODE", "NAME", "LEVEL", "PARENT_COD"):
            w.field(field, "C", size=40)
        w.field("POPULATION", "N", size=10)
        w.record(
            CODE="371102001001",
            NAME="示例一村",
            LEVEL="村",
            PARENT_COD="371102001",
            POPULATION=1210,
        )
        w.shape(box(119.50, 35.40, 119.51, 35.41))
    features, problems = read_boundaries(tmp_path / "gbk.shp")
    assert problems == []
    (village,) = features
    assert (village.code, village.name, village.level, village.parent_code) == (
        "371102001001",
        "示例一村",
        "village",
        "371102001",
    )
    assert village.population == 1210 and village.geometry.equals(box(119.5, 35.4, 119.51, 35.41))


def test_projected_prj_is_a_crs_problem(tmp_path: Path) -> None:
    for member in (FIXTURES / "good_shapefile").iterdir():
        shutil.copy(member, tmp_path / member.name)
    (tmp_path / "good.prj").write_text(
        'PROJCS["CGCS2000_3_Degree_GK_CM_120E",GEOGCS["GCS_China_Geodetic_Coordinate_System_'
        '2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM['
        '"Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],'
        'UNIT["Meter",1.0]]'
    )
    _, problems = read_boundaries(tmp_path / "good.shp")
    assert [(p.kind, p.code) for p in problems] == [("crs", "")]
    assert "CGCS2000_3_Degree_GK_CM_120E" in problems[0].message

    (tmp_path / "good.prj").write_text(
        'GEOGCS["GCS_Beijing_1954",DATUM["D_Beijing_1954",SPHEROID["Krasovsky_1940",6378245.0,'
        '298.3]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'
    )
    _, problems = read_boundaries(tmp_path / "good.shp")
    assert [p.kind for p in problems] == ["crs"] and "Beijing_1954" in problems[0].message


@pytest.mark.parametrize(
    "name",
    ["EPSG:4326", "urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:EPSG::4490"],
)
def test_wgs84_crs_member_is_accepted(tmp_path: Path, name: str) -> None:
    doc = json.loads((FIXTURES / "good.geojson").read_text(encoding="utf-8"))
    doc["crs"] = {"type": "name", "properties": {"name": name}}
    features, problems = read_boundaries(write_json(tmp_path, doc))
    assert problems == [] and len(features) == 9


def test_property_problems_are_collected_not_raised(tmp_path: Path) -> None:
    doc = {
        "type": "FeatureCollection",
        "features": [
            square_feature(name="no code", level="cell", parent_code="1"),
            square_feature(code=371102, name="县", level="区", parent_code=371100),
            square_feature(code="9", level="cell", parent_code="1", population="many"),
            square_feature(code="10", name="x", level="cell", parent_code="1", valid_from="soon"),
            {"type": "Feature", "properties": {"code": "11"}, "geometry": None},
            {
                "type": "Feature",
                "properties": {"code": "12", "name": "x", "level": "cell"},
                "geometry": {"type": "Point", "coordinates": [119.5, 35.4]},
            },
            {
                "type": "Feature",
                "properties": {"code": "13", "name": "x", "level": "cell"},
                "geometry": {"type": "MultiPolygon", "coordinates": []},
            },
            "not a feature",
        ],
    }
    features, problems = read_boundaries(write_json(tmp_path, doc))
    assert kinds_and_codes(problems) == {
        ("missing_property", ""),
        ("missing_property", "9"),
        ("bad_property", "9"),
        ("bad_property", "10"),
        ("bad_geometry", "11"),
        ("bad_geometry", "12"),
        ("bad_geometry", "13"),
        ("read", ""),
    }
    assert [f.code for f in features] == ["371102", "9", "10"]
    county = features[0]
    # Numbers become text; the Chinese level name is understood.
    assert (county.code, county.parent_code, county.level) == ("371102", "371100", "county")
    assert features[1].population is None


# --------------------------------------------------------------------------------------------
# Validation details


def test_validate_reports_everything_at_once() -> None:
    features = good()
    features = with_geometry(features, "371102001001002", box(119.50, 35.404, 119.51, 35.41))
    features = with_geometry(features, "371102001002002", box(119.51, 35.406, 119.52, 35.41))
    features.append(
        BoundaryFeature(
            "371102001001009", "stray", "cell", "371102001", box(119.5, 35.4, 119.501, 35.401)
        )
    )
    features.append(
        BoundaryFeature("371100", "again", "city", None, box(119.5, 35.4, 119.52, 35.41))
    )
    features.append(
        BoundaryFeature(
            "371102001003", "orphan", "village", None, box(119.5, 35.4, 119.501, 35.401)
        )
    )
    features.append(
        BoundaryFeature("x", "odd", "hamlet", "371102001", box(119.5, 35.4, 119.501, 35.401))
    )

    found = kinds_and_codes(validate(features))
    assert {
        ("overlap", "371102001001001"),
        ("gap", "371102001002"),
        ("wrong_parent_level", "371102001001009"),
        ("duplicate_code", "371100"),
        ("multiple_cities", "371100"),
        ("no_parent", "371102001003"),
        ("unknown_level", "x"),
    } <= found


def test_known_codes_satisfy_parents_and_gaps_between_cells_still_show() -> None:
    # Only the cells of one village, whose village is already in the database.
    cells = [f for f in good() if f.parent_code == "371102001002"]
    assert kinds_and_codes(validate(cells)) == {("missing_parent", c.code) for c in cells}
    assert validate(cells, known_codes=frozenset({"371102001002"})) == []

    # Without the village polygon, a hole enclosed by its cells is still a gap.
    ring = box(119.51, 35.40, 119.52, 35.41).difference(box(119.514, 35.404, 119.516, 35.406))
    holed = [dataclasses.replace(cells[0], geometry=ring)]
    problems = validate(holed, known_codes=frozenset({"371102001002"}))
    assert kinds_and_codes(problems) == {("gap", "371102001002")}


def test_tolerances_are_in_square_metres() -> None:
    # Top cell reaches 0.3 µ° (~3 cm) into the bottom one: 907 m x 0.033 m ≈ 30 m².
    features = with_geometry(good(), "371102001001002", box(119.50, 35.4049997, 119.51, 35.41))
    (overlap,) = validate(features)
    assert overlap.kind == "overlap"
    assert 25 < float(overlap.message.split(" by ")[1].split(" ")[0]) < 35
    assert validate(features, overlap_tolerance_m2=50) == []


def test_area_is_roughly_right() -> None:
    # 0.01° x 0.01° at 35.4°N: 1,112 m x 907 m.
    assert area_m2(box(119.5, 35.4, 119.51, 35.41)) == pytest.approx(1_008_000, rel=0.005)


def test_problems_are_sorted_and_deterministic() -> None:
    features, _ = read_boundaries(FIXTURES / "child_outside_parent.geojson")
    once = validate(features)
    assert once == validate(list(reversed(features)))
    assert [p.code for p in once] == sorted(p.code for p in once)


# --------------------------------------------------------------------------------------------
# Repair


def test_repair_fixes_the_self_intersection() -> None:
    features, _ = read_boundaries(FIXTURES / "self_intersection.geojson")
    before = by_code(features, "371102001001002").geometry
    assert not before.is_valid

    repaired, log = repair(features)

    assert validate(repaired) == []
    assert log[0].startswith("371102001001002: made valid (ring self-intersection at 119.5,")
    assert log[0].endswith("→ 2 polygons")
    assert log[1].startswith("371102001001002: filled a 13 m² gap in village 371102001001")
    assert len(log) == 2
    assert by_code(features, "371102001001002").geometry is before  # input untouched
    assert not before.is_valid


def test_repair_snaps_a_sliver_overlap_and_gap() -> None:
    features = with_geometry(good(), "371102001001002", box(119.50, 35.4049997, 119.51, 35.41))
    features = with_geometry(features, "371102001002002", box(119.51, 35.4050003, 119.52, 35.41))
    assert kinds_and_codes(validate(features)) == {
        ("overlap", "371102001001001"),
        ("gap", "371102001002"),
    }

    repaired, log = repair(features)

    assert validate(repaired) == []
    assert len(log) == 2
    # The sliver goes to the lower code; the gap to the cell with the longest shared border,
    # and both cells border this one along its whole length, so again the lower code.
    assert log[0].startswith("371102001001002: gave a 30 m² overlap with 371102001001001 to ")
    assert log[1].startswith("371102001002001: filled a 30 m² gap in village 371102001002 at ")
    assert by_code(features, "371102001001002").geometry.bounds[1] == 35.4049997


def test_repair_gives_a_gap_to_the_longest_border_and_trims_overhangs() -> None:
    # A 36 m x 1.1 m notch in the bottom of the top cell: it borders the top cell on three
    # sides (38 m) and the bottom cell on one (36 m), so the higher code gets it this time.
    notched = box(119.50, 35.405, 119.51, 35.41).difference(
        box(119.505, 35.405, 119.5054, 35.40501)
    )
    features = with_geometry(good(), "371102001001002", notched)
    # ... and the other village's bottom cell pokes 3 cm out of the village (15 m²).
    features = with_geometry(features, "371102001002001", box(119.51, 35.4, 119.5200003, 35.405))
    assert kinds_and_codes(validate(features)) == {
        ("gap", "371102001001"),
        ("outside_parent", "371102001002001"),
    }

    repaired, log = repair(features)

    assert validate(repaired) == []
    assert [line.split(" at ")[0] for line in log] == [
        "371102001001002: filled a 40 m² gap in village 371102001001",
        "371102001002001: trimmed 15 m² sticking out of village 371102001002",
    ]


def test_repair_leaves_big_defects_to_a_person() -> None:
    features, _ = read_boundaries(FIXTURES / "overlapping_cells.geojson")
    repaired, log = repair(features)
    assert log == []
    assert kinds_and_codes(validate(repaired)) == {("overlap", "371102001001001")}


def test_repair_keeps_only_polygonal_parts() -> None:
    spike = Polygon(
        [
            (119.50, 35.40),
            (119.51, 35.40),
            (119.51, 35.405),
            (119.505, 35.405),
            (119.505, 35.4055),
            (119.505, 35.405),
            (119.50, 35.405),
        ]
    )
    features = with_geometry(good(), "371102001001001", spike)
    repaired, log = repair(features)
    geometry = by_code(repaired, "371102001001001").geometry
    assert geometry.geom_type == "Polygon" and geometry.is_valid
    assert log == [
        "371102001001001: made valid (self-intersection at 119.505,35.4055) → 1 polygon, "
        "dropped 1 non-polygonal part"
    ]
    assert validate(repaired) == []


# --------------------------------------------------------------------------------------------
# Scale: a synthetic city the size of Rizhao's grid


def _densify(poly: Polygon, step: float) -> Polygon:
    """Add vertices every `step` degrees. Points on an edge are interpolated from its
    lexicographically smaller end, so neighbours sharing the edge get bit-identical vertices
    and the tessellation stays exact."""
    ring = np.asarray(poly.exterior.coords)
    out: list[tuple[float, float]] = []
    for p, q in zip(ring[:-1], ring[1:], strict=True):
        out.append((float(p[0]), float(p[1])))
        n = int(np.hypot(*(q - p)) // step)
        if n < 1:
            continue
        a, b = (p, q) if tuple(p) <= tuple(q) else (q, p)
        pts = [
            (float(x), float(y)) for x, y in (a + (b - a) * (k / (n + 1)) for k in range(1, n + 1))
        ]
        out.extend(pts if tuple(p) == tuple(a) else pts[::-1])
    return Polygon(out)


def synthetic_city(
    n_cells: int = 4586,
    n_villages: int = 3000,
    n_townships: int = 57,
    n_counties: int = 6,
    seed: int = 7,
    extent: tuple[float, float, float, float] = (118.6, 35.0, 119.7, 36.0),
    step: float = 0.006,
) -> list[BoundaryFeature]:
    """A Voronoi tessellation grouped into villages, townships and counties by nearest seed;
    each area is the exact union of its children."""
    rng = np.random.default_rng(seed)
    frame = box(*extent)
    seeds = shapely.points(rng.uniform(extent[:2], extent[2:], (n_cells, 2)))
    voronoi = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame)
    cells = [_densify(shapely.intersection(c, frame), step) for c in shapely.get_parts(voronoi)]

    def group(geoms: list[BaseGeometry], k: int) -> list[list[int]]:
        # Seeds are members themselves, so every group gets at least one member.
        centres = shapely.centroid(np.array(geoms, dtype=object))
        chosen = rng.choice(len(geoms), k, replace=False)
        _, nearest = shapely.STRtree(centres[chosen]).query_nearest(centres, all_matches=False)
        members: list[list[int]] = [[] for _ in range(k)]
        for i, g in enumerate(nearest):
            members[int(g)].append(i)
        return members

    def unite(geoms: list[BaseGeometry], members: list[list[int]]) -> list[BaseGeometry]:
        return [shapely.union_all([geoms[i] for i in m]) for m in members]

    village_cells = group(cells, n_villages)
    villages = unite(cells, village_cells)
    township_villages = group(villages, n_townships)
    townships = unite(villages, township_villages)
    county_townships = group(townships, n_counties)
    counties = unite(townships, county_townships)

    out = [BoundaryFeature("371100", "合成市", "city", None, shapely.union_all(counties))]
    for c, ts in enumerate(county_townships):
        county = f"3711{c + 1:02d}"
        out.append(BoundaryFeature(county, county, "county", "371100", counties[c]))
        for t in ts:
            township = f"{county}{t + 1:03d}"
            out.append(BoundaryFeature(township, township, "township", county, townships[t]))
            for v in township_villages[t]:
                village = f"{township}{v + 1:04d}"
                out.append(BoundaryFeature(village, village, "village", township, villages[v]))
                for n, i in enumerate(village_cells[v]):
                    cell = f"{village}{n + 1:03d}"
                    out.append(
                        BoundaryFeature(cell, cell, "cell", village, cells[i], synthetic=True)
                    )
    return out


def test_synthetic_city_of_4586_cells_validates_clean_and_catches_a_defect() -> None:
    features = synthetic_city()
    levels = [f.level for f in features]
    assert levels.count("cell") == 4586 and levels.count("village") == 3000

    started = time.perf_counter()
    problems = validate(features)
    elapsed = time.perf_counter() - started
    print(f"\nvalidate: {len(features)} features in {elapsed:.2f} s")  # shown with -s
    assert problems == []

    # Swell one cell: it now overlaps its neighbours and sticks out of its village.
    victim = next(f for f in features if f.level == "cell" and f.code.endswith("001"))
    swollen = with_geometry(features, victim.code, victim.geometry.buffer(0.001))
    found = validate(swollen)
    assert ("outside_parent", victim.code) in kinds_and_codes(found)
    assert any(p.kind == "overlap" and victim.code in p.message for p in found)

    started = time.perf_counter()
    repaired, log = repair(features)
    print(f"repair: {time.perf_counter() - started:.2f} s, {len(log)} changes")
    assert log == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_cells=st.integers(min_value=4, max_value=40),
    seed=st.integers(min_value=0, max_value=10_000),
    data=st.data(),
)
def test_any_exact_tessellation_is_clean_and_a_missing_cell_is_a_gap(
    n_cells: int, seed: int, data: st.DataObject
) -> None:
    features = synthetic_city(
        n_cells=n_cells,
        n_villages=max(1, n_cells // 3),
        n_townships=1,
        n_counties=1,
        seed=seed,
        extent=(119.4, 35.3, 119.6, 35.5),
        step=0.02,
    )
    assert validate(features) == []

    cells = [f for f in features if f.level == "cell"]
    dropped = data.draw(st.sampled_from(cells))
    rest = [f for f in features if f is not dropped]
    problems = validate(rest)
    assert ("gap", dropped.parent_code) in kinds_and_codes(problems)
    (gap,) = [p for p in problems if p.kind == "gap"]
    assert gap.location is not None
    assert shapely.Point(gap.location).within(dropped.geometry)
