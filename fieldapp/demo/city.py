"""The deterministic synthetic demo city: Rizhao with made-up villages and grid cells.

Village and grid-cell boundaries are not public, so the demo generates them: real county and
township names and codes (from ``grid/data/rizhao_divisions.csv``), synthetic geometry inside the
real extents, synthetic populations, departments, officers and coordinators. Everything is
labelled synthetic (``synthetic=True`` on every feature, "（示例）" in every made-up name).

How the geometry is made, and why it tiles exactly:

1. An irregular city outline is drawn around a hand-made base shape (coast on the east side)
   and clipped to the official extent.
2. 4,583 seed points are sampled inside it, denser around township seats and much denser around
   the urban street (街道) seats, then relaxed twice (Lloyd) so no cell is a sliver.
3. Their Voronoi ridges (scipy: every vertex is computed once and shared) and the outline are
   noded *once* with snap-rounding onto a 1e-7° grid (``union_all(..., grid_size=1e-7)``) and
   polygonized. Every face therefore has its vertices on the grid, and neighbouring faces share
   bit-identical vertices along their common edges.
4. Cells are assigned to counties (by hand-drawn regions), to townships (graph growth from
   approximate seat positions) and to villages (graph growth from spread-out seeds). Growth runs
   over the cells' edge-adjacency graph, so every area is one connected polygon.
5. Every parent geometry is the *coverage union* of its children, which only drops shared edges
   and never computes a new coordinate: parents are exactly the union of their children, and
   re-computing a union elsewhere gives the same result.

The three 前三岛 islands (前三岛乡, 岚山区) are three small island cells near 34.85°N, 119.8°E,
outside the mainland extent (``ISLANDS_EXTENT``).

山海天旅游度假区 has no NBS code; it gets the local code ``371100L01`` ("L" cannot occur in an
NBS code, so it can never collide with a future official code) and takes over 卧龙山街道 and
两城街道, which the NBS file lists under 东港区 (their features keep the NBS parent in
``extra["nbs_parent_code"]``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources

import numpy as np
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import Voronoi, cKDTree
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from grid.features import BoundaryFeature

__all__ = [
    "CITY_CODE",
    "CITY_EXTENT",
    "ISLANDS_EXTENT",
    "N_CELLS",
    "QIANSANDAO_CODE",
    "SHANHAITIAN_CODE",
    "TARGET_VILLAGES",
    "TOTAL_POPULATION",
    "VALID_FROM",
    "DemoCity",
    "DemoCoordinator",
    "DemoDepartment",
    "DemoOfficer",
    "build_demo_city",
]

CITY_CODE = "371100"
CITY_NAME = "日照市"
SHANHAITIAN_CODE = "371100L01"
"""Local code of 山海天旅游度假区, which has no NBS code (see the module docstring)."""
SHANHAITIAN_NAME = "山海天旅游度假区"
SHANHAITIAN_TOWNSHIPS: tuple[str, ...] = ("371102008", "371102009")  # 卧龙山街道, 两城街道
QIANSANDAO_CODE = "371103200"
"""前三岛乡: the island township, generated as three island cells."""

CITY_EXTENT: tuple[float, float, float, float] = (118.42, 35.07, 119.65, 36.07)
"""(min lon, min lat, max lon, max lat) of the mainland: every mainland feature lies inside."""
ISLANDS_EXTENT: tuple[float, float, float, float] = (119.74, 34.78, 119.86, 34.92)
"""Box holding the three 前三岛 island cells."""

N_CELLS = 4586
"""Grid cells, one officer each (the number of grid officers named in the source article)."""
TARGET_VILLAGES = 3000
TOTAL_POPULATION = 2_968_365
"""Rizhao, 2020 census."""
VALID_FROM = date(2024, 1, 1)

DIGITS = 7
"""Coordinates are on a 1e-7° grid (~1 cm), fixed once when the tessellation is noded."""
GRID_SIZE = 10.0**-DIGITS

# Local planar metric: a degree of longitude is cos(lat) degrees of latitude long. Seeds,
# Voronoi and distances use x = lon * KX so that cells are not stretched east-west.
KX = math.cos(math.radians(35.55))

N_ISLAND_CELLS = 3
_ISLANDS: tuple[tuple[str, float, float, float], ...] = (
    # name, lon, lat, radius (deg): approximate positions, synthetic shapes
    ("平山岛", 119.790, 34.895, 0.0045),
    ("达山岛", 119.820, 34.830, 0.0040),
    ("车牛山岛", 119.775, 34.850, 0.0030),
)

# County-level units: code, name, share of the city population (synthetic, roughly plausible).
_COUNTIES: tuple[tuple[str, str, float], ...] = (
    ("371102", "东港区", 0.265),
    ("371103", "岚山区", 0.145),
    ("371121", "五莲县", 0.150),
    ("371122", "莒县", 0.335),
    ("371171", "日照经济技术开发区", 0.065),
    (SHANHAITIAN_CODE, SHANHAITIAN_NAME, 0.040),
)

# Rough county regions (lon, lat), applied in this priority order; whatever is left is 东港区.
# They reach far outside the outline on purpose: only their inner borders matter.
# fmt: off
_COUNTY_REGIONS: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = (
    ("371122", (  # 莒县: the west
        (118.0, 35.0), (118.87, 35.0), (118.87, 35.32), (118.96, 35.38), (119.02, 35.45),
        (119.07, 35.52), (119.05, 35.57), (118.99, 35.66), (118.97, 35.78), (119.02, 35.90),
        (119.07, 35.99), (119.08, 36.4), (118.0, 36.4),
    )),
    ("371121", (  # 五莲县: the north
        (118.9, 35.57), (119.05, 35.57), (119.15, 35.55), (119.28, 35.56), (119.40, 35.59),
        (119.50, 35.61), (119.60, 35.63), (119.9, 35.64), (119.9, 36.4), (118.9, 36.4),
    )),
    ("371103", (  # 岚山区: the south
        (118.5, 34.9), (119.9, 34.9), (119.9, 35.16), (119.44, 35.22), (119.36, 35.26),
        (119.26, 35.30), (119.16, 35.35), (119.08, 35.40), (119.02, 35.45), (118.96, 35.38),
        (118.87, 35.32), (118.5, 35.32),
    )),
    (SHANHAITIAN_CODE, (  # coast north-east of the centre
        (119.44, 35.53), (119.45, 35.46), (119.53, 35.44), (119.75, 35.44), (119.75, 35.62),
        (119.58, 35.61), (119.50, 35.60),
    )),
    ("371171", (  # development zone, south-west of the centre
        (119.40, 35.33), (119.48, 35.30), (119.54, 35.34), (119.51, 35.40), (119.44, 35.41),
        (119.40, 35.37),
    )),
)
_REST_COUNTY = "371102"

# Base city outline (lon, lat), counter-clockwise from the southern tip at the 绣针河 mouth;
# the east side is the Yellow Sea coast. Its bounding box is the official extent; its area,
# once roughened, is close to the official 5,359 km².
_OUTLINE: tuple[tuple[float, float], ...] = (
    (119.200, 35.075), (119.260, 35.085), (119.310, 35.090), (119.360, 35.130),
    (119.390, 35.190), (119.430, 35.240), (119.450, 35.300), (119.500, 35.335),
    (119.555, 35.365), (119.565, 35.420), (119.590, 35.470), (119.610, 35.530),
    (119.650, 35.590), (119.600, 35.630), (119.540, 35.660), (119.480, 35.700),
    (119.450, 35.780), (119.380, 35.820), (119.330, 35.890), (119.260, 35.910),
    (119.200, 35.870), (119.130, 35.890), (119.080, 35.950), (119.000, 36.065),
    (118.940, 36.030), (118.910, 35.960), (118.840, 35.900), (118.770, 35.840),
    (118.710, 35.780), (118.660, 35.740), (118.560, 35.730), (118.440, 35.700),
    (118.420, 35.665), (118.500, 35.620), (118.620, 35.600), (118.690, 35.550),
    (118.700, 35.470), (118.740, 35.420), (118.800, 35.385), (118.880, 35.360),
    (118.960, 35.330), (119.020, 35.290), (119.070, 35.230), (119.110, 35.170),
    (119.150, 35.120),
)
# fmt: on

# Approximate township seats (lon, lat) and kind. Kinds: "core" urban street, "street" (a
# former town now a 街道), "zone" (county development zone), "town" (镇/乡). The seats only
# arrange the synthetic townships plausibly; they are not surveyed positions.
_SEATS: dict[str, tuple[float, float, str]] = {
    "371102001": (119.480, 35.430, "core"),  # 日照街道
    "371102002": (119.545, 35.395, "core"),  # 石臼街道
    "371102004": (119.520, 35.425, "core"),  # 秦楼街道
    "371102008": (119.470, 35.500, "street"),  # 卧龙山街道
    "371102009": (119.560, 35.560, "street"),  # 两城街道
    "371102100": (119.380, 35.545, "town"),  # 河山镇
    "371102104": (119.300, 35.370, "town"),  # 后村镇
    "371102106": (119.400, 35.410, "town"),  # 西湖镇
    "371102107": (119.220, 35.440, "town"),  # 陈疃镇
    "371102108": (119.290, 35.500, "town"),  # 南湖镇
    "371102109": (119.110, 35.460, "town"),  # 三庄镇
    "371102110": (119.380, 35.290, "town"),  # 涛雒镇
    "371103001": (119.315, 35.125, "core"),  # 岚山头街道
    "371103002": (119.240, 35.125, "core"),  # 安东卫街道
    "371103100": (119.160, 35.160, "town"),  # 碑廓镇
    "371103101": (119.330, 35.200, "town"),  # 虎山镇
    "371103102": (119.230, 35.240, "town"),  # 巨峰镇
    "371103103": (119.080, 35.270, "town"),  # 高兴镇
    "371103105": (119.030, 35.360, "town"),  # 黄墩镇
    "371103108": (119.140, 35.300, "town"),  # 中楼镇
    "371121001": (119.210, 35.750, "core"),  # 洪凝街道
    "371121002": (119.110, 35.720, "street"),  # 高泽街道
    "371121102": (119.100, 35.610, "town"),  # 街头镇
    "371121103": (119.360, 35.630, "town"),  # 潮河镇
    "371121104": (119.030, 35.800, "town"),  # 许孟镇
    "371121105": (119.120, 35.860, "town"),  # 于里镇
    "371121106": (119.220, 35.840, "town"),  # 汪湖镇
    "371121107": (119.360, 35.720, "town"),  # 叩官镇
    "371121108": (119.480, 35.650, "town"),  # 中至镇
    "371121110": (119.230, 35.630, "town"),  # 松柏镇
    "371121201": (119.300, 35.860, "town"),  # 石场乡
    "371121202": (119.420, 35.770, "town"),  # 户部乡
    "371122001": (118.830, 35.580, "core"),  # 城阳街道
    "371122002": (118.930, 35.640, "street"),  # 店子集街道
    "371122003": (118.930, 35.500, "street"),  # 陵阳街道
    "371122004": (118.750, 35.590, "street"),  # 浮来山街道
    "371122005": (118.880, 35.710, "street"),  # 阎庄街道
    "371122102": (118.900, 35.860, "town"),  # 招贤镇
    "371122104": (118.820, 35.430, "town"),  # 夏庄镇
    "371122105": (118.740, 35.470, "town"),  # 刘官庄镇
    "371122106": (118.760, 35.700, "town"),  # 峤山镇
    "371122107": (118.960, 35.780, "town"),  # 小店镇
    "371122109": (118.930, 35.400, "town"),  # 龙山镇
    "371122110": (119.000, 36.010, "town"),  # 东莞镇
    "371122114": (118.830, 35.790, "town"),  # 长岭镇
    "371122115": (118.520, 35.670, "town"),  # 安庄镇
    "371122116": (118.640, 35.650, "town"),  # 棋山镇
    "371122117": (118.790, 35.500, "town"),  # 洛河镇
    "371122118": (119.010, 35.600, "town"),  # 寨里河镇
    "371122119": (119.020, 35.870, "town"),  # 桑园镇
    "371122120": (118.700, 35.540, "town"),  # 果庄镇
    "371122206": (118.930, 35.930, "town"),  # 库山乡
    "371122400": (118.870, 35.545, "zone"),  # 莒县经济开发区
    "371171003": (119.460, 35.370, "core"),  # 奎山街道
    "371171007": (119.505, 35.375, "core"),  # 北京路街道
}

# Seed density bump at each seat, by kind: (peak density relative to the countryside, sigma in
# degrees). Urban streets get many small cells, towns a slightly denser centre.
_BUMPS: dict[str, tuple[float, float]] = {
    "core": (9.0, 0.020),
    "street": (2.5, 0.018),
    "zone": (2.5, 0.015),
    "town": (1.2, 0.012),
}
# Cells per village wanted, by kind (scaled afterwards so the city has TARGET_VILLAGES).
_CELLS_PER_VILLAGE: dict[str, float] = {"core": 4.0, "street": 2.2, "zone": 1.6, "town": 1.2}
# Relative population of a cell, by kind: urban cells are smaller and hold more people.
_POP_WEIGHT: dict[str, float] = {
    "core": 2.8,
    "street": 1.5,
    "zone": 1.3,
    "town": 1.0,
    "island": 0.05,
}

CITY_DEPARTMENTS: tuple[str, ...] = (
    "公安局",
    "司法局",
    "人力资源和社会保障局",
    "住房和城乡建设局",
    "自然资源和规划局",
    "农业农村局",
    "生态环境局",
    "卫生健康委员会",
    "市场监督管理局",
    "交通运输局",
    "信访局",
    "民政局",
    "教育局",
    "应急管理局",
    "综合行政执法局",
    "水利局",
    "商务局",
    "文化和旅游局",
    "退役军人事务局",
    "医疗保障局",
    "地方金融监督管理局",
)
"""The 21 city-level departments (日照市…)."""
COUNTY_DEPARTMENTS: tuple[str, ...] = (
    "公安分局",
    "司法局",
    "人力资源和社会保障局",
    "住房和城乡建设局",
    "自然资源局",
    "农业农村局",
    "生态环境分局",
    "卫生健康局",
    "市场监督管理局",
    "交通运输局",
    "信访局",
    "民政局",
    "综合行政执法局",
)
"""The 13 departments of each of the 6 county-level units (78 in all)."""


@dataclass(frozen=True)
class DemoDepartment:
    """A department (责任部门) that cases can be assigned to."""

    code: str
    name: str
    level: str  # city | county
    area_code: str


@dataclass
class DemoOfficer:
    """A synthetic grid officer (网格员) and the cells they report for."""

    username: str
    display_name: str
    cell_codes: list[str]
    phone: str


@dataclass(frozen=True)
class DemoCoordinator:
    """A synthetic township coordinator (信访专干) who triages reports."""

    username: str
    display_name: str
    township_code: str


@dataclass
class DemoCity:
    """The whole demo city: boundary features top-down (city, counties, townships, villages,
    cells) and the people and departments that go with them."""

    features: list[BoundaryFeature]
    departments: list[DemoDepartment]
    officers: list[DemoOfficer]
    coordinators: list[DemoCoordinator]
    seed: int = 1

    def by_level(self, level: str) -> list[BoundaryFeature]:
        """Features of one level, in build order."""
        return [f for f in self.features if f.level == level]

    def counts(self) -> dict[str, int]:
        """Number of features per level and of people/departments, for summaries."""
        out: dict[str, int] = {}
        for f in self.features:
            out[f.level] = out.get(f.level, 0) + 1
        out["departments"] = len(self.departments)
        out["officers"] = len(self.officers)
        out["coordinators"] = len(self.coordinators)
        return out


@dataclass
class _Township:
    code: str
    name: str
    county: str
    nbs_county: str
    kind: str
    seat: tuple[float, float] | None
    cells: list[int] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# public entry point


def build_demo_city(seed: int = 1, progress: Callable[[str], None] | None = None) -> DemoCity:
    """Build the synthetic demo city; a pure function of ``seed`` (no database, no I/O beyond
    reading the packaged divisions CSV).

    The same seed always gives bit-identical output; another seed gives other geometry,
    populations and village layouts (names, codes and counts of the real units stay).
    ``progress`` is called with a short message at each stage.
    """
    say: Callable[[str], None] = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed)

    say("reading divisions")
    townships = _read_townships()
    mainland = [t for t in townships if t.code != QIANSANDAO_CODE]
    county_codes = [c for c, _n, _s in _COUNTIES]

    say("drawing the city outline")
    outline = _city_outline(rng)
    regions = [(code, _roughen_polygon(pts, rng, 4, 0.16)) for code, pts in _COUNTY_REGIONS]

    n_main = N_CELLS - N_ISLAND_CELLS
    say(f"placing {n_main} cell seeds")
    seats = np.array([t.seat if t.seat else (np.nan, np.nan) for t in mainland])
    kinds = [t.kind for t in mainland]
    seeds = _sample_seeds(rng, outline, n_main, seats, kinds)
    seeds = _relax(seeds, outline, iterations=2)

    say("tessellating cells (Voronoi, snap-rounded)")
    cells, length_adj = _tessellate(seeds, outline)
    xy = _scaled(seeds)
    dist_adj = _distance_graph(length_adj, xy)

    say("assigning cells to county-level units")
    county_of = _assign_counties(seeds, regions, county_codes)
    county_of = _make_connected(county_of, length_adj)

    say("growing townships")
    _grow_townships(mainland, county_codes, county_of, xy, dist_adj)

    say("growing villages and communities")
    island_cells = _island_cells(rng)
    all_cells: list[Polygon] = list(cells) + island_cells
    qiansandao = next(t for t in townships if t.code == QIANSANDAO_CODE)
    qiansandao.cells = list(range(n_main, n_main + N_ISLAND_CELLS))
    village_lists = _grow_villages(rng, townships, xy, dist_adj)

    say("distributing population")
    kind_of_cell = np.empty(N_CELLS, dtype=object)
    county_of_cell = np.empty(N_CELLS, dtype=object)
    for t in townships:
        kind_of_cell[t.cells] = "island" if t.code == QIANSANDAO_CODE else t.kind
        county_of_cell[t.cells] = t.county
    population, households = _populate(rng, kind_of_cell, county_of_cell)

    say("assembling features (coverage unions)")
    features = _assemble(townships, village_lists, all_cells, population, households)

    say("creating departments, officers and coordinators")
    cell_features = [f for f in features if f.level == "cell"]
    officers = [
        DemoOfficer(
            username=f"officer{i:04d}",
            display_name=f"网格员{i:04d}（示例）",
            cell_codes=[f.code],
            # "100…" is not a mobile prefix (those are 13–19), so no real subscriber is hit.
            phone=f"100{i:08d}",
        )
        for i, f in enumerate(cell_features, start=1)
    ]
    coordinators = [
        DemoCoordinator(
            username=f"coord_{t.code}",
            display_name=f"{t.name}信访专干（示例）",
            township_code=t.code,
        )
        for t in townships
    ]
    say("done")
    return DemoCity(
        features=features,
        departments=_departments(),
        officers=officers,
        coordinators=coordinators,
        seed=seed,
    )


# --------------------------------------------------------------------------------------------
# reference data


def _read_townships() -> list[_Township]:
    """Townships from the packaged CSV, re-parented to the six county-level units in use, in
    county order then code order."""
    text = resources.files("grid").joinpath("data/rizhao_divisions.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    order = {code: i for i, (code, _n, _s) in enumerate(_COUNTIES)}
    out: list[_Township] = []
    for row in rows:
        if row["level"] != "township":
            continue
        code, nbs_parent = row["code"], row["parent_code"]
        county = SHANHAITIAN_CODE if code in SHANHAITIAN_TOWNSHIPS else nbs_parent
        if county not in order:
            raise ValueError(f"township {code} has unknown county {county}")
        seat = _SEATS.get(code)
        # A unit added to the CSV later has no seat: it is placed automatically.
        fallback_kind = "core" if row["name"].endswith("街道") else "town"
        kind = seat[2] if seat is not None else fallback_kind
        out.append(
            _Township(
                code=code,
                name=row["name"],
                county=county,
                nbs_county=nbs_parent,
                kind=kind,
                seat=(seat[0], seat[1]) if seat else None,
            )
        )
    out.sort(key=lambda t: (order[t.county], t.code))
    return out


def _departments() -> list[DemoDepartment]:
    """21 city-level and 13 × 6 county-level departments."""
    deps = [
        DemoDepartment(f"{CITY_CODE}-D{i:02d}", f"{CITY_NAME}{name}", "city", CITY_CODE)
        for i, name in enumerate(CITY_DEPARTMENTS, start=1)
    ]
    for code, county_name, _share in _COUNTIES:
        for i, name in enumerate(COUNTY_DEPARTMENTS, start=1):
            # A 县 has its own 公安局; districts and zones have a branch of the city's.
            label = "公安局" if name == "公安分局" and county_name.endswith("县") else name
            deps.append(DemoDepartment(f"{code}-D{i:02d}", f"{county_name}{label}", "county", code))
    return deps


# --------------------------------------------------------------------------------------------
# geometry helpers


def _scaled(lonlat: np.ndarray) -> np.ndarray:
    """(lon, lat) → local planar (lon·cos φ, lat), where Euclidean distance is fair."""
    out = np.array(lonlat, dtype=float, copy=True)
    out[..., 0] *= KX
    return out


def _roughen(points: np.ndarray, rng: np.random.Generator, levels: int, amp: float) -> np.ndarray:
    """Midpoint displacement of a closed ring (without the closing point): each level inserts
    a midpoint pushed sideways by up to ``amp`` × the segment length, so borders look natural."""
    pts = np.asarray(points, dtype=float)
    for _ in range(levels):
        nxt = np.roll(pts, -1, axis=0)
        d = nxt - pts
        normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
        mid = (pts + nxt) / 2 + normal * rng.uniform(-amp, amp, len(pts))[:, None]
        pts = np.stack([pts, mid], axis=1).reshape(-1, 2)
    return pts


def _largest_valid(geom: BaseGeometry) -> Polygon:
    """The largest polygon of ``geom`` after repairing it (roughening can fold a corner)."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon)]
    if not parts:
        raise RuntimeError("no polygon left after repair")
    return max(parts, key=lambda p: p.area)


def _roughen_polygon(
    points: Sequence[tuple[float, float]], rng: np.random.Generator, levels: int, amp: float
) -> Polygon:
    return _largest_valid(Polygon(_roughen(np.array(points), rng, levels, amp)))


def _city_outline(rng: np.random.Generator) -> Polygon:
    """The mainland outline: the base shape roughened and clipped just inside CITY_EXTENT, with
    coordinates on the grid."""
    rough = _roughen_polygon(_OUTLINE, rng, 5, 0.2)
    minx, miny, maxx, maxy = CITY_EXTENT
    # Clip a hair inside the extent so that snap-rounding can never push a vertex outside.
    eps = 1e-4
    clipped = _largest_valid(
        rough.intersection(shapely.box(minx + eps, miny + eps, maxx - eps, maxy - eps))
    )
    snapped = _largest_valid(shapely.set_precision(clipped, GRID_SIZE))
    # Only the exterior ring goes into the noding, so a (rare) hole is filled rather than
    # left half-described.
    return Polygon(snapped.exterior)


def _sample_seeds(
    rng: np.random.Generator,
    outline: Polygon,
    n: int,
    seats: np.ndarray,
    kinds: list[str],
) -> np.ndarray:
    """``n`` points inside the outline from a mixture: uniform countryside plus a Gaussian bump
    at each seat (weight = peak × 2πσ², i.e. the bump's integral)."""
    inner = outline.buffer(-0.002)  # keep seeds off the coast so each owns a real face
    shapely.prepare(inner)
    minx, miny, maxx, maxy = inner.bounds
    have = ~np.isnan(seats[:, 0])
    comps: list[tuple[float, float, float, float]] = []  # weight, lon, lat, sigma
    for (lon, lat), kind, ok in zip(seats, kinds, have, strict=True):
        if ok:
            peak, sigma = _BUMPS[kind]
            comps.append((peak * 2 * math.pi * sigma**2, float(lon), float(lat), sigma))
    base_weight = inner.area * KX  # density 1 over the (scaled) area
    weights = np.array([base_weight] + [c[0] for c in comps])
    counts = rng.multinomial(n, weights / weights.sum())
    parts: list[np.ndarray] = []
    for i, k in enumerate(counts):
        got = np.empty((0, 2))
        while len(got) < k:
            m = max(64, 3 * (k - len(got)))
            if i == 0:
                cand = np.column_stack([rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)])
            else:
                _w, lon, lat, sigma = comps[i - 1]
                cand = rng.normal(0.0, sigma, (m, 2))
                cand[:, 0] = lon + cand[:, 0] / KX
                cand[:, 1] += lat
            cand = cand[shapely.contains_xy(inner, cand[:, 0], cand[:, 1])]
            got = np.vstack([got, cand])
        parts.append(got[:k])
    return np.vstack(parts)


def _relax(seeds: np.ndarray, outline: Polygon, iterations: int) -> np.ndarray:
    """A few damped Lloyd steps: move each seed towards the centroid of its clipped Voronoi
    cell. Removes slivers and near-duplicate seeds while mostly keeping the density."""
    inner = outline.buffer(-0.002)
    shapely.prepare(inner)
    outline_s = shapely.transform(outline, lambda c: c * np.array([KX, 1.0]))
    shapely.prepare(outline_s)
    pts = _scaled(seeds)
    for _ in range(iterations):
        vor = shapely.voronoi_polygons(
            shapely.multipoints(pts), extend_to=outline_s.envelope.buffer(1.0), ordered=True
        )
        polys = shapely.intersection(shapely.get_parts(vor), outline_s)
        cent = shapely.get_coordinates(shapely.centroid(polys))
        moved = pts + 0.7 * (cent - pts)
        ok = shapely.contains_xy(inner, moved[:, 0] / KX, moved[:, 1])
        pts = np.where(ok[:, None], moved, pts)
    out = pts.copy()
    out[:, 0] /= KX
    return out


def _tessellate(seeds: np.ndarray, outline: Polygon) -> tuple[list[Polygon], csr_matrix]:
    """Voronoi cells of ``seeds`` clipped to ``outline``, exactly tiling it.

    Returns one polygon per seed (in seed order) and the symmetric matrix of shared edge
    lengths between cells (scaled degrees). A seed whose Voronoi cell the coast cuts into
    several pieces keeps the piece holding it; the other pieces join the neighbour they share
    the longest edge with.
    """
    n = len(seeds)
    pts = _scaled(seeds)
    # Far points on a ring make every ridge between real seeds finite.
    centre = pts.mean(axis=0)
    ang = np.linspace(0, 2 * math.pi, 24, endpoint=False)
    far = centre + 6.0 * np.column_stack([np.cos(ang), np.sin(ang)])
    vor = Voronoi(np.vstack([pts, far]))
    verts = vor.vertices.copy()
    verts[:, 0] /= KX
    verts = np.round(verts, DIGITS)
    ridges = np.array(vor.ridge_vertices, dtype=np.int64)
    ridges = ridges[(ridges >= 0).all(axis=1)]
    lines = shapely.linestrings(verts[ridges])
    shapely.prepare(outline)
    lines = lines[shapely.intersects(outline, lines)]
    linework = np.concatenate([lines, [outline.exterior]])
    # One snap-rounded noding of everything: all vertices land on the grid once, so shared
    # edges are bit-identical and the faces are valid by construction.
    noded = shapely.union_all(linework, grid_size=GRID_SIZE)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inside = shapely.contains_xy(
        outline, *shapely.get_coordinates(shapely.point_on_surface(faces)).T
    )
    faces = faces[inside]
    faces = faces[shapely.area(faces) > 0]

    # Which seed's Voronoi cell each face is in: the nearest seed to a point inside it.
    probe = _scaled(shapely.get_coordinates(shapely.point_on_surface(faces)))
    owner = cKDTree(pts).query(probe)[1]
    holds_seed = shapely.contains_xy(faces, seeds[owner, 0], seeds[owner, 1])
    face_len = _face_adjacency(faces)

    cell_of_face = np.where(holds_seed, owner, -1)
    primary = np.full(n, -1)
    primary[owner[holds_seed]] = np.flatnonzero(holds_seed)
    if (primary < 0).any():
        raise RuntimeError("a seed lost its Voronoi face; seeds must lie inside the outline")
    # Orphan pieces join the assigned neighbour with the longest shared edge (repeat for
    # pieces whose neighbours are orphans too).
    orphans: list[int] = [int(f) for f in np.flatnonzero(cell_of_face < 0)]
    while orphans:
        left: list[int] = []
        for f in orphans:
            row = face_len.getrow(f)
            best, best_len = -1, 0.0
            for g, ln in zip(row.indices, row.data, strict=True):
                if cell_of_face[g] >= 0 and ln > best_len:
                    best, best_len = int(cell_of_face[g]), float(ln)
            if best >= 0:
                cell_of_face[f] = best
            else:
                left.append(f)
        if len(left) == len(orphans):
            raise RuntimeError("a piece of the outline touches no cell")
        orphans = left

    members: list[list[int]] = [[] for _ in range(n)]
    for f, c in enumerate(cell_of_face):
        members[int(c)].append(f)
    cells: list[Polygon] = []
    for fs in members:
        geom = faces[fs[0]] if len(fs) == 1 else shapely.coverage_union_all(faces[fs])
        cells.append(geom)
    # Cell adjacency from face adjacency.
    coo = face_len.tocoo()
    a, b = cell_of_face[coo.row], cell_of_face[coo.col]
    keep = a != b
    cell_len = coo_matrix((coo.data[keep], (a[keep], b[keep])), shape=(n, n)).tocsr()
    cell_len.sum_duplicates()
    return cells, cell_len


def _face_adjacency(faces: np.ndarray) -> csr_matrix:
    """Symmetric matrix of shared boundary lengths between faces that share at least one edge
    (faces from one noding share identical vertices, so shared edges match exactly)."""
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    keys = np.rint(coords * 10**DIGITS).astype(np.int64)
    _, vid = np.unique(keys[:, 0] * (1 << 31) + keys[:, 1], return_inverse=True)
    vid = vid.ravel()
    same = ring_of[:-1] == ring_of[1:]
    va, vb = vid[:-1][same], vid[1:][same]
    seg_face = ring_face[ring_of[:-1][same]]
    seg_len = np.hypot(
        (coords[1:, 0] - coords[:-1, 0])[same] * KX, (coords[1:, 1] - coords[:-1, 1])[same]
    )
    nv = int(vid.max()) + 1
    seg_key = np.minimum(va, vb) * nv + np.maximum(va, vb)
    order = np.argsort(seg_key, kind="stable")
    sk = seg_key[order]
    pair = np.flatnonzero(sk[:-1] == sk[1:])
    fa, fb = seg_face[order][pair], seg_face[order][pair + 1]
    ln = seg_len[order][pair]
    m = len(faces)
    mat = coo_matrix(
        (np.concatenate([ln, ln]), (np.concatenate([fa, fb]), np.concatenate([fb, fa]))),
        shape=(m, m),
    )
    out = mat.tocsr()
    out.sum_duplicates()
    return out


def _distance_graph(length_adj: csr_matrix, xy: np.ndarray) -> csr_matrix:
    """Same edges as ``length_adj``, weighted by the distance between the two cells' seeds
    (the metric for growing regions)."""
    coo = length_adj.tocoo()
    d = np.hypot(*(xy[coo.row] - xy[coo.col]).T)
    return csr_matrix((np.maximum(d, 1e-12), (coo.row, coo.col)), shape=length_adj.shape)


def _island_cells(rng: np.random.Generator) -> list[Polygon]:
    """Three small irregular islands (前三岛), one cell each."""
    out: list[Polygon] = []
    for _name, lon, lat, radius in _ISLANDS:
        ang = np.linspace(0, 2 * math.pi, 14, endpoint=False)
        r = radius * rng.uniform(0.7, 1.2, len(ang))
        ring = np.column_stack([lon + r * np.cos(ang) / KX, lat + r * np.sin(ang)])
        poly = _largest_valid(Polygon(_roughen(ring, rng, 1, 0.1)))
        out.append(_largest_valid(shapely.set_precision(poly, GRID_SIZE)))
    return out


# --------------------------------------------------------------------------------------------
# assigning cells to areas


def _assign_counties(
    seeds: np.ndarray, regions: list[tuple[str, Polygon]], county_codes: list[str]
) -> np.ndarray:
    """County index of each cell: the first rough region holding its seed, else 东港区."""
    index = {c: i for i, c in enumerate(county_codes)}
    out = np.full(len(seeds), index[_REST_COUNTY])
    free = np.ones(len(seeds), dtype=bool)
    for code, poly in regions:
        hit = free & shapely.contains_xy(poly, seeds[:, 0], seeds[:, 1])
        out[hit] = index[code]
        free &= ~hit
    return out


def _make_connected(labels: np.ndarray, length_adj: csr_matrix) -> np.ndarray:
    """Give every detached piece of a label (all but its largest connected part) to the
    neighbouring label it shares the longest border with, until every label is connected."""
    labels = labels.copy()
    for _ in range(20):
        changed = False
        for lab in np.unique(labels):
            members = np.flatnonzero(labels == lab)
            ncomp, comp = connected_components(length_adj[members][:, members], directed=False)
            if ncomp == 1:
                continue
            keep = int(np.argmax(np.bincount(comp)))
            for c in range(ncomp):
                if c == keep:
                    continue
                piece = members[comp == c]
                sub = length_adj[piece].tocoo()
                nb = labels[sub.col]
                other = nb != lab
                if not other.any():
                    continue
                totals = np.bincount(nb[other], weights=sub.data[other])
                labels[piece] = int(np.argmax(totals))
                changed = True
        if not changed:
            return labels
    raise RuntimeError("could not make the regions connected")


def _grow(dist_adj: csr_matrix, nodes: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Multi-source Dijkstra over the cells ``nodes``: index (into ``sources``) of the nearest
    source of each node. Each region is a shortest-path tree, hence connected."""
    sub = dist_adj[nodes][:, nodes]
    local = np.searchsorted(nodes, sources)
    _d, _p, src = dijkstra(
        sub, directed=False, indices=local, min_only=True, return_predecessors=True
    )
    lut = np.full(len(nodes), -1)
    lut[local] = np.arange(len(sources))
    if (src < 0).any():
        raise RuntimeError("region growth did not reach every cell")
    return lut[src]


def _grow_townships(
    mainland: list[_Township],
    county_codes: list[str],
    county_of: np.ndarray,
    xy: np.ndarray,
    dist_adj: csr_matrix,
) -> None:
    """Fill ``cells`` of each mainland township by growing townships within each county from
    the cell nearest each township seat (a township without a known seat starts as far as
    possible from the others)."""
    for ci, ccode in enumerate(county_codes):
        towns = [i for i, t in enumerate(mainland) if t.county == ccode]
        if not towns:
            continue
        nodes = np.flatnonzero(county_of == ci)
        if len(nodes) < len(towns):
            raise RuntimeError(f"county {ccode} has fewer cells than townships")
        taken: list[int] = []
        for i in towns:
            seat = mainland[i].seat
            if seat is None:
                continue
            d = np.hypot(*(xy[nodes] - _scaled(np.array(seat))).T)
            d[np.isin(nodes, taken)] = np.inf
            taken.append(int(nodes[np.argmin(d)]))
        sources: list[int] = []
        for i in towns:
            if mainland[i].seat is not None:
                sources.append(taken.pop(0))
            else:
                chosen = np.array(sources + taken) if (sources or taken) else nodes[:1]
                d = cKDTree(xy[chosen]).query(xy[nodes])[0]
                d[np.isin(nodes, chosen)] = -1
                sources.append(int(nodes[np.argmax(d)]))
        order = np.argsort(sources)
        lab = _grow(dist_adj, nodes, np.array(sources)[order])
        owner = np.array(towns)[order][lab]
        for i in towns:
            mainland[i].cells = [int(c) for c in nodes[owner == i]]


def _apportion(total: int, weights: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights``, each within [lo, hi], summing to ``total``
    (largest-remainder method after pinning the entries that hit a bound)."""
    w = np.asarray(weights, dtype=float)
    n = len(w)
    pinned = np.zeros(n, dtype=bool)
    value = np.zeros(n)
    for _ in range(n + 1):
        rest = total - value[pinned].sum()
        free = ~pinned
        q = np.zeros(n)
        q[free] = w[free] / w[free].sum() * rest
        low, high = free & (q < lo), free & (q > hi)
        if not (low.any() or high.any()):
            value[free] = q[free]
            break
        value[low], value[high] = lo[low], hi[high]
        pinned |= low | high
    out = np.floor(value).astype(np.int64)
    short = total - int(out.sum())
    frac = np.where(out < hi, value - out, -1.0)
    for i in np.argsort(-frac, kind="stable")[:short]:
        out[i] += 1
    return out


def _farthest_first(xy: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` indices of well-spread points (farthest-point sampling from a random start)."""
    chosen = [int(rng.integers(len(xy)))]
    d = np.hypot(*(xy - xy[chosen[0]]).T)
    for _ in range(k - 1):
        nxt = int(np.argmax(d))
        chosen.append(nxt)
        d = np.minimum(d, np.hypot(*(xy - xy[nxt]).T))
    return np.array(chosen)


def _grow_villages(
    rng: np.random.Generator,
    townships: list[_Township],
    xy: np.ndarray,
    dist_adj: csr_matrix,
) -> list[list[list[int]]]:
    """Villages of each township as lists of cell indices (ordered north to south, then west
    to east). The village count of each township follows its size and kind, TARGET_VILLAGES
    in all; villages are grown from spread seeds and re-centred twice (a graph k-means)."""
    mainland = [t for t in townships if t.code != QIANSANDAO_CODE]
    n_cells = np.array([len(t.cells) for t in mainland], dtype=float)
    want = n_cells / np.array([_CELLS_PER_VILLAGE[t.kind] for t in mainland])
    # Streets number their communities 001–199; villages use 200–999.
    cap = np.array([min(len(t.cells), 199 if _is_street(t) else 799) for t in mainland])
    counts = _apportion(TARGET_VILLAGES - 1, want, np.ones(len(mainland)), cap.astype(float))
    k_of = {t.code: int(k) for t, k in zip(mainland, counts, strict=True)}
    out: list[list[list[int]]] = []
    for t in townships:
        nodes = np.array(sorted(t.cells))
        if t.code == QIANSANDAO_CODE:
            out.append([[int(c) for c in nodes]])
            continue
        k = k_of[t.code]
        src = np.sort(nodes[_farthest_first(xy[nodes], k, rng)])
        lab = _grow(dist_adj, nodes, src)
        for _ in range(2):
            # Re-centre (farthest-point seeds hug the border): the cell nearest each village's
            # mean position becomes its seed, then grow again.
            for v in range(k):
                mem = nodes[lab == v]
                src[v] = mem[np.argmin(np.hypot(*(xy[mem] - xy[mem].mean(axis=0)).T))]
            src = np.sort(src)
            lab = _grow(dist_adj, nodes, src)
        villages = [[int(c) for c in nodes[lab == v]] for v in range(k)]
        out.append(_order_north_west(villages, xy))
    return out


def _order_north_west(groups: list[list[int]], xy: np.ndarray) -> list[list[int]]:
    """Groups and their members sorted north to south in ~1 km bands, then west to east."""

    def key(ix: Sequence[int]) -> tuple[float, float]:
        c = xy[list(ix)].mean(axis=0)
        return (-round(float(c[1]) / 0.01), float(c[0]))

    return [sorted(g, key=lambda i: key([i])) for g in sorted(groups, key=key)]


def _is_street(t: _Township) -> bool:
    return t.name.endswith("街道")


def _populate(
    rng: np.random.Generator, kind_of_cell: np.ndarray, county_of_cell: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Population and households of each cell: county totals from the census total and
    plausible shares, spread over cells by kind with log-normal noise."""
    n = len(kind_of_cell)
    weight = np.array([_POP_WEIGHT[k] for k in kind_of_cell]) * rng.lognormal(0.0, 0.35, n)
    shares = np.array([s for _c, _n, s in _COUNTIES])
    county_totals = _apportion(
        TOTAL_POPULATION, shares, np.ones(len(shares)), np.full(len(shares), np.inf)
    )
    pop = np.zeros(n, dtype=np.int64)
    for (code, _name, _s), total in zip(_COUNTIES, county_totals, strict=True):
        idx = np.flatnonzero(county_of_cell == code)
        pop[idx] = _apportion(int(total), weight[idx], np.ones(len(idx)), np.full(len(idx), np.inf))
    urban = np.isin(kind_of_cell, ["core", "street"])
    size = np.where(urban, 2.5, 2.85) + rng.normal(0.0, 0.15, n)
    households = np.clip(np.rint(pop / np.clip(size, 1.8, 4.0)), 1, pop).astype(np.int64)
    return pop, households


# --------------------------------------------------------------------------------------------
# features


def _multi(geom: BaseGeometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    raise RuntimeError(f"expected a polygon, got {geom.geom_type}")


def _short(name: str) -> str:
    for suffix in ("街道", "镇", "乡"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _assemble(
    townships: list[_Township],
    villages: list[list[list[int]]],
    cells: list[Polygon],
    population: np.ndarray,
    households: np.ndarray,
) -> list[BoundaryFeature]:
    """All features top-down; every parent's geometry is the coverage union of its children's
    and its population/households the sum of theirs."""

    def feature(
        code: str,
        name: str,
        level: str,
        parent: str | None,
        geom: BaseGeometry,
        pop: int,
        hh: int,
        extra: dict[str, object] | None = None,
    ) -> BoundaryFeature:
        return BoundaryFeature(
            code=code,
            name=name,
            level=level,
            parent_code=parent,
            geometry=_multi(geom),
            population=int(pop),
            households=int(hh),
            valid_from=VALID_FROM,
            synthetic=True,
            extra=extra or {},
        )

    cell_f: list[BoundaryFeature] = []
    village_f: list[BoundaryFeature] = []
    town_f: list[BoundaryFeature] = []
    town_geom: dict[str, list[BaseGeometry]] = {}
    for t, vlist in zip(townships, villages, strict=True):
        street = _is_street(t)
        short = _short(t.name)
        vgeoms: list[BaseGeometry] = []
        vpop = vhh = 0
        for vi, members in enumerate(vlist, start=1):
            vcode = f"{t.code}{vi:03d}" if street else f"{t.code}{199 + vi:03d}"
            vname = f"{short}第{vi}社区" if street else f"{short}第{vi}村"
            geoms = [cells[i] for i in members]
            for ci, i in enumerate(members, start=1):
                cell_f.append(
                    feature(
                        f"{vcode}{ci:03d}",
                        f"{vname}第{ci}网格（示例）",
                        "cell",
                        vcode,
                        cells[i],
                        population[i],
                        households[i],
                    )
                )
            g = geoms[0] if len(geoms) == 1 else shapely.coverage_union_all(geoms)
            p, h = int(population[members].sum()), int(households[members].sum())
            kind = "community" if street else "village"
            village_f.append(
                feature(vcode, f"{vname}（示例）", "village", t.code, g, p, h, {"kind": kind})
            )
            vgeoms.append(g)
            vpop, vhh = vpop + p, vhh + h
        extra: dict[str, object] = {}
        if t.county != t.nbs_county:
            extra["nbs_parent_code"] = t.nbs_county
        if t.code == QIANSANDAO_CODE:
            extra["islands"] = [name for name, *_rest in _ISLANDS]
        tg = shapely.coverage_union_all(vgeoms)
        town_f.append(feature(t.code, t.name, "township", t.county, tg, vpop, vhh, extra))
        town_geom.setdefault(t.county, []).append(tg)

    county_f: list[BoundaryFeature] = []
    for code, name, _share in _COUNTIES:
        mine = [f for f in town_f if f.parent_code == code]
        g = shapely.coverage_union_all([f.geometry for f in mine])
        extra = {"local_code": True} if code == SHANHAITIAN_CODE else {}
        county_f.append(
            feature(
                code,
                name,
                "county",
                CITY_CODE,
                g,
                sum(f.population or 0 for f in mine),
                sum(f.households or 0 for f in mine),
                extra,
            )
        )
    city = feature(
        CITY_CODE,
        CITY_NAME,
        "city",
        None,
        shapely.coverage_union_all([f.geometry for f in county_f]),
        sum(f.population or 0 for f in county_f),
        sum(f.households or 0 for f in county_f),
    )
    features = [city, *county_f, *town_f, *village_f, *cell_f]
    for i, f in enumerate(features):
        f.source_index = i
    return features
