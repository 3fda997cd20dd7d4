"""The synthetic demo city (fieldapp.demo.city): counts, codes, populations, exact tiling,
determinism.

The city is built once per module (about 2 s); every check reads the same build."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import date
from importlib import resources

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon

from fieldapp.demo.city import (
    CITY_CODE,
    CITY_EXTENT,
    ISLANDS_EXTENT,
    N_CELLS,
    QIANSANDAO_CODE,
    SHANHAITIAN_CODE,
    TOTAL_POPULATION,
    DemoCity,
    build_demo_city,
)
from grid.features import BoundaryFeature

LEVELS = ("city", "county", "township", "village", "cell")
# Approximate county extents (lon0, lat0, lon1, lat1) from shared/data/README.md.
README_EXTENTS = {
    "371102": (119.03, 35.20, 119.67, 35.61),
    "371103": (118.87, 35.07, 119.43, 35.48),
    "371121": (118.93, 35.53, 119.54, 35.97),
    "371122": (118.60, 35.36, 119.11, 36.04),
}


@pytest.fixture(scope="module")
def messages() -> list[str]:
    return []


@pytest.fixture(scope="module")
def city(messages: list[str]) -> DemoCity:
    return build_demo_city(1, progress=messages.append)


@pytest.fixture(scope="module")
def by_level(city: DemoCity) -> dict[str, list[BoundaryFeature]]:
    out: dict[str, list[BoundaryFeature]] = defaultdict(list)
    for f in city.features:
        out[f.level].append(f)
    return out


@pytest.fixture(scope="module")
def by_code(city: DemoCity) -> dict[str, BoundaryFeature]:
    return {f.code: f for f in city.features}


@pytest.fixture(scope="module")
def children(city: DemoCity) -> dict[str, list[BoundaryFeature]]:
    out: dict[str, list[BoundaryFeature]] = defaultdict(list)
    for f in city.features:
        if f.parent_code:
            out[f.parent_code].append(f)
    return out


@pytest.fixture(scope="module")
def island_codes(city: DemoCity) -> set[str]:
    """Codes of the 前三岛 township and everything below it (they lie offshore)."""
    return {f.code for f in city.features if f.code.startswith(QIANSANDAO_CODE)}


def _csv_rows() -> list[dict[str, str]]:
    text = resources.files("grid").joinpath("data/rizhao_divisions.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def _signature(city: DemoCity) -> list[tuple[object, ...]]:
    return [
        (f.code, f.name, f.level, f.parent_code, f.population, f.households, f.geometry.wkb)
        for f in city.features
    ]


# --- counts and order ---------------------------------------------------------------------


def test_counts(by_level: dict[str, list[BoundaryFeature]]) -> None:
    csv_townships = [r for r in _csv_rows() if r["level"] == "township"]
    assert len(by_level["city"]) == 1
    assert len(by_level["county"]) == 6
    assert len(by_level["township"]) == len(csv_townships)
    assert 2800 <= len(by_level["village"]) <= 3200
    assert len(by_level["cell"]) == N_CELLS == 4586


def test_features_are_top_down(city: DemoCity) -> None:
    ranks = [LEVELS.index(f.level) for f in city.features]
    assert ranks == sorted(ranks)
    assert [f.source_index for f in city.features] == list(range(len(city.features)))


def test_progress_reported(city: DemoCity, messages: list[str]) -> None:
    # Asks for `city` itself: run alone (-k), the messages would otherwise never be written.
    assert len(messages) >= 5
    assert messages[-1] == "done"


# --- names, codes, hierarchy --------------------------------------------------------------


def test_real_counties_and_townships(
    by_level: dict[str, list[BoundaryFeature]], by_code: dict[str, BoundaryFeature]
) -> None:
    names = {f.code: f.name for f in by_level["county"]}
    assert names == {
        "371102": "东港区",
        "371103": "岚山区",
        "371121": "五莲县",
        "371122": "莒县",
        "371171": "日照经济技术开发区",
        SHANHAITIAN_CODE: "山海天旅游度假区",
    }
    for row in _csv_rows():
        if row["level"] == "township":
            f = by_code[row["code"]]
            assert f.name == row["name"]
            expected = (
                SHANHAITIAN_CODE if f.code in ("371102008", "371102009") else row["parent_code"]
            )
            assert f.parent_code == expected
    assert by_code["371102008"].extra["nbs_parent_code"] == "371102"
    assert by_code["371102009"].extra["nbs_parent_code"] == "371102"


def test_codes_unique_and_prefixed(city: DemoCity, by_code: dict[str, BoundaryFeature]) -> None:
    codes = [f.code for f in city.features]
    assert len(codes) == len(set(codes))
    for f in city.features:
        if f.level == "city":
            assert f.parent_code is None and f.code == CITY_CODE
            continue
        parent = by_code[f.parent_code or ""]
        assert LEVELS.index(parent.level) == LEVELS.index(f.level) - 1
        if f.level == "township" and parent.code == SHANHAITIAN_CODE:
            assert f.code.startswith("371102")  # NBS code kept; local parent has none
        elif f.level == "county":
            assert f.code.startswith("3711")
        else:
            assert f.code.startswith(parent.code)
        if f.level == "village":
            assert len(f.code) == 12 and f.code[:9] == parent.code
            suffix = int(f.code[9:])
            if parent.name.endswith("街道"):
                assert 1 <= suffix <= 199 and "社区" in f.name
            else:
                assert suffix >= 200 and "村" in f.name
        if f.level == "cell":
            assert len(f.code) == 15 and f.code[:12] == parent.code


def test_synthetic_labels(city: DemoCity) -> None:
    for f in city.features:
        assert f.synthetic is True
        assert f.valid_from == date(2024, 1, 1)
        if f.level in ("village", "cell"):
            assert "（示例）" in f.name


# --- population ---------------------------------------------------------------------------


def test_population_sums(
    city: DemoCity,
    by_code: dict[str, BoundaryFeature],
    children: dict[str, list[BoundaryFeature]],
) -> None:
    assert by_code[CITY_CODE].population == TOTAL_POPULATION == 2_968_365
    for f in city.features:
        assert f.population is not None and f.population > 0
        assert f.households is not None and 0 < f.households <= f.population
        kids = children.get(f.code)
        if kids:
            assert f.population == sum(k.population or 0 for k in kids)
            assert f.households == sum(k.households or 0 for k in kids)


def test_urban_cells_smaller_and_denser(
    by_level: dict[str, list[BoundaryFeature]], by_code: dict[str, BoundaryFeature]
) -> None:
    def street(cell: BoundaryFeature) -> bool:
        village = by_code[cell.parent_code or ""]
        return by_code[village.parent_code or ""].name.endswith("街道")

    urban = [c for c in by_level["cell"] if street(c)]
    rural = [c for c in by_level["cell"] if not street(c)]
    assert urban and rural
    assert np.mean([c.population for c in urban]) > 1.5 * np.mean([c.population for c in rural])
    assert np.mean([c.geometry.area for c in urban]) < 0.7 * np.mean(
        [c.geometry.area for c in rural]
    )


# --- geometry -----------------------------------------------------------------------------


def test_geometries_valid_multipolygons_on_grid(city: DemoCity) -> None:
    geoms = np.array([f.geometry for f in city.features])
    assert all(isinstance(g, MultiPolygon) for g in geoms)
    assert shapely.is_valid(geoms).all()
    assert (shapely.area(geoms) > 0).all()
    coords = shapely.get_coordinates(geoms)
    assert np.array_equal(np.round(coords, 7), coords)


def test_children_union_equals_parent(
    by_code: dict[str, BoundaryFeature], children: dict[str, list[BoundaryFeature]]
) -> None:
    for code, kids in children.items():
        union = shapely.union_all([k.geometry for k in kids])
        diff = shapely.symmetric_difference(union, by_code[code].geometry)
        assert diff.area < 1e-12, code


@pytest.mark.parametrize("level", ["county", "township", "village", "cell"])
def test_no_overlaps_and_matching_edges(
    by_level: dict[str, list[BoundaryFeature]], level: str
) -> None:
    geoms = np.array([f.geometry for f in by_level[level]])
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left < right
    assert pair.any()
    overlap = shapely.area(shapely.intersection(geoms[left[pair]], geoms[right[pair]]))
    assert overlap.max() < 1e-14
    # Neighbours share bit-identical vertices along common edges (a valid coverage).
    assert shapely.coverage_is_valid(geoms)


def test_areas_are_connected(city: DemoCity, island_codes: set[str]) -> None:
    """Every area is one polygon, except for the offshore 前三岛 islands."""
    for f in city.features:
        n_parts = len(f.geometry.geoms)
        if f.code in island_codes and f.level == "cell":
            assert n_parts == 1
        elif f.code in island_codes or f.code in ("371103", CITY_CODE):
            assert n_parts >= 2  # mainland part(s) plus the 前三岛 islands
        else:
            assert n_parts == 1, f.code


def test_inside_city_extent(city: DemoCity, island_codes: set[str]) -> None:
    mainland = shapely.box(*CITY_EXTENT)
    islands = shapely.box(*ISLANDS_EXTENT)
    for f in city.features:
        if f.code in island_codes:
            assert islands.contains(f.geometry), f.code
        elif f.level in ("township", "village", "cell"):
            assert mainland.contains(f.geometry), f.code
        else:  # city, 岚山区 hold the islands too
            assert mainland.union(islands).contains(f.geometry), f.code


def test_outline_plausible(by_code: dict[str, BoundaryFeature]) -> None:
    city = by_code[CITY_CODE].geometry
    main = max(city.geoms, key=lambda p: p.area)
    minx, miny, maxx, maxy = main.bounds
    ex = CITY_EXTENT
    # Spans the official extent (within ~5 km) but is no rectangle.
    assert abs(minx - ex[0]) < 0.05 and abs(maxx - ex[2]) < 0.05
    assert abs(miny - ex[1]) < 0.05 and abs(maxy - ex[3]) < 0.05
    assert main.area < 0.75 * shapely.box(minx, miny, maxx, maxy).area
    # Real area 5,359 km²; 1 deg² is about 111.2² · cos(35.5°) km² here.
    km2 = main.area * 111.2**2 * np.cos(np.radians(35.55))
    assert 4500 < km2 < 7000


def test_counties_where_they_belong(by_code: dict[str, BoundaryFeature]) -> None:
    for code, (x0, y0, x1, y1) in README_EXTENTS.items():
        c = by_code[code].geometry.representative_point()
        assert x0 <= c.x <= x1 and y0 <= c.y <= y1, code
    sht = by_code[SHANHAITIAN_CODE].geometry.centroid
    assert 119.43 <= sht.x <= 119.65 and 35.43 <= sht.y <= 35.63
    zone = by_code["371171"].geometry.centroid
    centre = by_code["371102004"].geometry.centroid  # 秦楼街道, the city centre
    assert zone.x < centre.x and zone.y < centre.y


# --- people and departments ---------------------------------------------------------------


def test_departments(city: DemoCity) -> None:
    deps = city.departments
    assert len({d.code for d in deps}) == len(deps) == 99
    assert sum(d.level == "city" for d in deps) == 21
    county_deps = Counter(d.area_code for d in deps if d.level == "county")
    assert sum(county_deps.values()) == 78
    assert set(county_deps) == {"371102", "371103", "371121", "371122", "371171", SHANHAITIAN_CODE}
    assert set(county_deps.values()) == {13}
    names = {d.name for d in deps}
    assert "日照市公安局" in names and "日照市信访局" in names
    assert "莒县司法局" in names


def test_officers_one_per_cell(city: DemoCity, by_level: dict[str, list[BoundaryFeature]]) -> None:
    officers = city.officers
    assert len(officers) == N_CELLS
    assert [o.username for o in officers] == [f"officer{i:04d}" for i in range(1, N_CELLS + 1)]
    assigned = [c for o in officers for c in o.cell_codes]
    assert sorted(assigned) == sorted(f.code for f in by_level["cell"])
    assert all("（示例）" in o.display_name for o in officers)
    assert len({o.phone for o in officers}) == N_CELLS


def test_coordinators_one_per_township(
    city: DemoCity, by_level: dict[str, list[BoundaryFeature]]
) -> None:
    townships = [f.code for f in by_level["township"]]
    assert [c.township_code for c in city.coordinators] == townships
    assert [c.username for c in city.coordinators] == [f"coord_{t}" for t in townships]


# --- determinism --------------------------------------------------------------------------


def test_same_seed_same_city(city: DemoCity) -> None:
    again = build_demo_city(1)
    assert _signature(again) == _signature(city)
    assert again.officers == city.officers
    assert again.departments == city.departments


def test_other_seed_other_geometry(city: DemoCity) -> None:
    other = build_demo_city(2)
    assert [f.code for f in other.features if f.level != "village" and f.level != "cell"] == [
        f.code for f in city.features if f.level != "village" and f.level != "cell"
    ]
    assert len(other.by_level("cell")) == N_CELLS
    assert not other.by_level("county")[0].geometry.equals(city.by_level("county")[0].geometry)
