"""Planning the reports (pure numpy, no database): `plan_reports` → `inject_clusters`, and the
officers' check-ins (`plan_checkins`).

*Where and when.* The number of reports is Poisson with mean N. Each report's cell is drawn
with probability proportional to the cell's population, so every cell has a Poisson count with
rate ∝ population. Cells **without an officer get no reports** (nobody would have filed them;
the demo city has one officer per cell, the small test city only a few). Day and category are
drawn from a day × category weight table: category shares (`CATEGORY_WEIGHTS`), weekdays
busier than Saturdays and Sundays (`WEEKDAY_FACTOR`), the 28 days before the Spring Festival
busier (wage arrears ×2.5, family ×1.3: debts are settled and families meet before the new
year), the Festival week quieter, and the wheat (1–20 June) and autumn (20 Sep–20 Oct) harvests
with more land and neighbour disputes. Hour of day follows office-hours weights; the report is
filed minutes to hours after it happened (log-normal, median 45 min). China has used UTC+8 all
year since 1991, so local days are fixed offsets from UTC.

*What.* Severity ≈ 60 % yellow, 30 % orange, 10 % red; people involved 1 + Poisson (more for
red) with a tail of group cases (≥ 5); a point uniformly inside the cell polygon (rejection
sampling in the cell's bounds, vectorised over all reports); title and description from a
small set of templates per category, the description labelled 【示例】.

*Check-ins.* Every officer, every day, except: ~3 % of officers are "silent" (miss 35–80 % of
days) and everyone misses a few (0.5–4 %). Missing is independent of reports filed that day.
The count is the officer's reports filed that day.

*Clusters* (`ClusterSpec`, `--cluster`): Poisson extra reports of one category in a cell and
its nearest cells for some days, for the hotspot and early-warning work; `inject_clusters` is
pure so an evaluation can use it on a plan without a database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely

from fieldapp.demo.frame import (
    CATEGORY_WEIGHTS,
    DAY_S,
    DEFAULT_CLUSTER_CATEGORY,
    DEFAULT_CLUSTER_RADIUS,
    DEFAULT_DAYS,
    DEFAULT_REPORTS,
    NO_TIME,
    CityFrame,
    HistoryError,
    day_start,
)
from fieldapp.domain import SEVERITIES

Array = npt.NDArray[Any]

# --- the report model ------------------------------------------------------------------------


UNKNOWN_CATEGORY_WEIGHT = 1.0
"""A category added by an administrator gets the weight of 'other'."""

WEEKDAY_FACTOR = np.array([1.08, 1.08, 1.08, 1.08, 1.08, 0.85, 0.65])  # Monday … Sunday
PRE_FESTIVAL_DAYS = 28
PRE_FESTIVAL_FACTOR = 1.25
PRE_FESTIVAL_CATEGORY: Mapping[str, float] = {"wages_labour": 2.5, "marriage_family": 1.3}
FESTIVAL_WEEK_FACTOR = 0.7
HARVESTS = (((6, 1), (6, 20)), ((9, 20), (10, 20)))
HARVEST_FACTOR = 1.1
HARVEST_CATEGORY: Mapping[str, float] = {"forest_land": 1.8, "neighbours": 1.15}

SPRING_FESTIVAL: Mapping[int, date] = {
    # 春节 (first day of the lunar year). Years outside the table get no festival effect.
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
    2033: date(2033, 1, 31),
    2034: date(2034, 2, 19),
    2035: date(2035, 2, 8),
}

HOUR_WEIGHTS = np.array(
    [0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.6, 1.2, 2.2, 3.0, 3.2, 2.8]
    + [1.8, 1.6, 2.6, 3.0, 3.0, 2.6, 2.0, 1.6, 1.2, 0.8, 0.5, 0.3]
)
REPORT_DELAY_MEDIAN_S = 45 * 60
REPORT_DELAY_SIGMA = 1.0
REPORT_DELAY_RANGE_S = (120, 12 * 3600)

# The plan stores a severity as a code, least urgent first (0 = yellow): every per-severity
# array of the model (shares, people, group tail, case shares in `cases`) is in this order.
SEVERITY_BY_CODE: Final = SEVERITIES[::-1]
SEVERITY_SHARES = (0.6, 0.3, 0.1)
PEOPLE_POISSON = np.array([0.9, 1.5, 2.6])  # people involved = 1 + Poisson(λ), by severity
GROUP_TAIL = np.array([0.01, 0.03, 0.15])  # share with a group of 5 + Geometric(0.08)
GROUP_INCIDENT_THRESHOLD = 5
"""The default of the app's GROUP_INCIDENT_THRESHOLD: the tail of group cases starts here."""


# --- check-ins --------------------------------------------------------------------------------

SILENT_OFFICER_SHARE = 0.03
SILENT_MISS = (0.35, 0.80)
USUAL_MISS = (0.005, 0.04)
CHECKIN_HOURS = (17, 24)


# --- texts ------------------------------------------------------------------------------------

TEMPLATES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "marriage_family": (
        (
            "夫妻因家庭琐事争吵",
            "夫妻二人因家务分担和子女教育问题多次争吵，一方提出离婚，情绪激动。",
        ),
        (
            "赡养老人费用分担纠纷",
            "兄弟姐妹之间因老人赡养费用分担问题产生矛盾，老人请村里出面协调。",
        ),
        ("离婚后子女抚养纠纷", "双方离婚后因子女抚养费支付和探视时间发生争执。"),
    ),
    "neighbours": (
        ("排水沟堵塞引发邻里争执", "两户村民因房前排水沟堵塞、雨水倒灌发生争执，双方言语冲突。"),
        ("搭建棚屋影响邻居采光", "一户居民在院墙边搭建棚屋，邻居认为影响采光和通行，双方争吵。"),
        ("噪音扰民引发邻里矛盾", "楼上住户夜间噪音较大，楼下住户多次交涉未果，矛盾升级。"),
    ),
    "housing_land": (
        ("宅基地界址争议", "两户村民因宅基地界址不清，翻建房屋时发生争执。"),
        ("翻建房屋占用通道", "村民翻建房屋时占用公共通道，周边住户不满。"),
        ("房屋继承权属纠纷", "兄弟之间因父母遗留房屋的继承和分割问题发生纠纷。"),
    ),
    "contract": (
        ("土地流转合同纠纷", "村民与承包大户因土地流转租金支付问题发生争议。"),
        ("房屋租赁合同纠纷", "房东与租户因押金退还和房屋损坏赔偿问题发生争执。"),
        ("货款结算纠纷", "个体户之间因货款结算问题产生纠纷，一方拒绝付款。"),
    ),
    "business": (
        ("合伙经营利润分配纠纷", "合伙经营养殖场的双方因利润分配问题发生矛盾。"),
        ("市场摊位占道争执", "市场内相邻摊位商户因摊位占道问题发生争吵。"),
        ("渔船作业区域纠纷", "渔民之间因海上作业区域划分发生争执。"),
    ),
    "damages": (
        ("犬只伤人赔偿纠纷", "村民被邻居家犬只咬伤，双方就医疗费用赔偿协商未果。"),
        ("施工损坏房屋赔偿纠纷", "附近工地施工导致村民房屋墙体开裂，村民要求赔偿。"),
        ("牲畜毁坏庄稼赔偿纠纷", "一户村民的羊群进入邻户麦田啃食庄稼，双方就赔偿发生争执。"),
    ),
    "forest_land": (
        ("承包地边界纠纷", "两户村民因承包地界石移位，耕种时发生争执。"),
        ("山林权属争议", "两个村之间因一片山林的权属和林木收益发生争议。"),
        ("灌溉用水纠纷", "农忙时节村民因浇地用水先后顺序发生争吵。"),
    ),
    "expropriation": (
        ("征地补偿款分配纠纷", "村民对征地补偿款分配方案有异议，多人到村委会反映。"),
        ("拆迁安置纠纷", "拆迁户对安置房面积和位置不满，拒绝签订协议。"),
        ("青苗补偿争议", "村民对修路占地的青苗补偿标准有异议。"),
    ),
    "pollution": (
        ("企业排放异味扰民", "附近企业排放异味，周边居民多次投诉，情绪不满。"),
        ("养殖污水污染农田", "养殖户污水外排污染邻户农田，双方发生争执。"),
        ("施工扬尘噪音扰民", "工地夜间施工扬尘、噪音扰民，居民聚集反映。"),
    ),
    "wages_labour": (
        ("农民工讨要欠薪", "多名农民工反映工程完工后工资未结清，要求包工头支付。"),
        ("企业拖欠工资纠纷", "企业经营困难拖欠职工工资两个月，职工要求尽快支付。"),
        ("工伤赔偿劳动争议", "务工人员在工作中受伤，与雇主就工伤赔偿发生争议。"),
    ),
    "consumer": (
        ("预付卡退费纠纷", "健身房停业，会员要求退还预付卡余额。"),
        ("家电维修质量纠纷", "消费者与维修店因维修质量和费用发生争执。"),
        ("农资产品质量纠纷", "村民购买的种子出苗率低，与农资店协商赔偿未果。"),
    ),
    "medical": (
        ("诊疗费用争议", "患者家属对卫生院收取的诊疗费用有异议。"),
        ("医疗损害赔偿纠纷", "患者在诊所输液后出现不良反应，家属要求赔偿。"),
        ("候诊秩序纠纷", "患者家属与医护人员因候诊秩序发生争吵。"),
    ),
    "traffic": (
        ("交通事故赔偿纠纷", "两车发生剐蹭，双方就责任划分和赔偿金额争执不下。"),
        ("农用车剐蹭纠纷", "农用三轮车与电动车相撞，双方就医疗费用发生争议。"),
        ("停车占道纠纷", "居民因车辆长期占用他人门前通道发生争执。"),
    ),
    "property_management": (
        ("物业费收缴纠纷", "部分业主以服务质量差为由拒交物业费，与物业公司发生矛盾。"),
        ("小区停车管理纠纷", "业主对小区停车收费标准有异议，与物业发生争执。"),
        ("电梯维修费用分摊纠纷", "业主之间因电梯维修费用分摊问题产生矛盾。"),
    ),
    "village_affairs": (
        ("村务公开问题反映", "村民对村集体收支公开情况有疑问，要求查看账目。"),
        ("集体收益分配纠纷", "村民对村集体土地租金分配方案有异议。"),
        ("低保评定争议", "村民对低保评定结果不满，认为评定不公。"),
    ),
    "mass_finance": (
        ("民间集资兑付纠纷", "多名村民反映参与的民间集资无法兑付本息。"),
        ("高息揽储风险线索", "有人以高息为诱饵吸收村民资金，群众担心资金安全。"),
        ("合作社入股资金纠纷", "合作社社员要求退还入股资金，合作社无力兑付。"),
    ),
    "other": (
        ("其他矛盾纠纷", "群众反映的其他矛盾纠纷，需进一步核实。"),
        ("个人诉求反映", "群众就个人诉求到村委会反映，情绪较为激动。"),
        ("公共设施损坏争议", "村民因公共设施损坏责任认定发生争执。"),
    ),
}
TEMPLATES_PER_CATEGORY = 3


# --- clusters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterSpec:
    """Extra reports in a cell and its `radius_cells` nearest cells (by centroid) for `days`
    days from `start`: Poisson with mean `extra_per_day` per day over the whole cluster,
    spread evenly over its cells."""

    cell_code: str
    start: date
    days: int
    extra_per_day: float
    radius_cells: int = DEFAULT_CLUSTER_RADIUS
    category: str = DEFAULT_CLUSTER_CATEGORY


def parse_cluster(spec: str, default_category: str = DEFAULT_CLUSTER_CATEGORY) -> ClusterSpec:
    """`CELLCODE:START:DAYS:EXTRA_PER_DAY[:RADIUS_CELLS[:CATEGORY]]` → ClusterSpec
    (ValueError with a readable message otherwise)."""
    parts = spec.split(":")
    if not 4 <= len(parts) <= 6:
        raise ValueError(
            f"{spec!r}: expected CELLCODE:START:DAYS:EXTRA_PER_DAY[:RADIUS_CELLS[:CATEGORY]], "
            "e.g. 371102001001001:2026-10-01:14:3:6"
        )
    try:
        start = date.fromisoformat(parts[1])
    except ValueError:
        raise ValueError(f"{spec!r}: START must be a date like 2026-10-01") from None
    try:
        days = int(parts[2])
        extra = float(parts[3])
        radius = int(parts[4]) if len(parts) > 4 and parts[4] else DEFAULT_CLUSTER_RADIUS
    except ValueError:
        raise ValueError(
            f"{spec!r}: DAYS and RADIUS_CELLS are whole numbers, EXTRA_PER_DAY a number"
        ) from None
    if days < 1 or extra <= 0 or radius < 0 or not math.isfinite(extra):
        raise ValueError(f"{spec!r}: DAYS ≥ 1, EXTRA_PER_DAY > 0 and RADIUS_CELLS ≥ 0")
    category = parts[5] if len(parts) > 5 and parts[5] else default_category
    return ClusterSpec(parts[0], start, days, extra, radius, category)


@dataclass(frozen=True)
class InjectedCluster:
    """A cluster as injected: its spec, the cells that got reports and how many."""

    spec: ClusterSpec
    cell_codes: tuple[str, ...]
    first_day: date | None
    last_day: date | None
    reports: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "cell": self.spec.cell_code,
            "start": self.spec.start.isoformat(),
            "days": self.spec.days,
            "extra_per_day": self.spec.extra_per_day,
            "radius_cells": self.spec.radius_cells,
            "category": self.spec.category,
            "cells": list(self.cell_codes),
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "reports": self.reports,
        }


# --- plans -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # arrays: compare them with numpy
class ReportPlan:
    """The reports, sorted by reported_at: one entry per report in each array."""

    frame: CityFrame
    seed: int
    start: date
    days: int
    cell: Array  # int32 index into frame cells
    day: Array  # int32 index of the occurrence day
    occurred_at: Array  # int64 epoch seconds
    reported_at: Array
    category: Array  # int16 index into frame.categories
    severity: Array  # int8 index into SEVERITY_BY_CODE
    people: Array  # int32
    lon: Array  # float64
    lat: Array
    accuracy_m: Array  # float64
    text: Array  # int8 template index within the category
    cluster: Array  # int16 index into clusters, -1 for the base rate
    clusters: tuple[InjectedCluster, ...] = ()

    def __len__(self) -> int:
        return int(self.cell.size)

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    @property
    def as_of(self) -> int:
        """The end of the period (local midnight after the last day): the history's "now"."""
        return day_start(self.start) + self.days * DAY_S

    @property
    def officer(self) -> Array:
        return self.frame.officer_of_cell[self.cell]


@dataclass(frozen=True, eq=False)  # arrays: compare them with numpy
class Checkins:
    """One row per officer and day checked in."""

    officer: Array  # user id
    day: Array  # index into the period
    count: Array
    checked_in_at: Array

    def __len__(self) -> int:
        return int(self.officer.size)


# --- planning: reports -------------------------------------------------------------------------


def plan_reports(
    frame: CityFrame,
    *,
    reports: int = DEFAULT_REPORTS,
    days: int = DEFAULT_DAYS,
    end_date: date,
    seed: int = 1,
) -> ReportPlan:
    """About `reports` reports (Poisson) over the `days` days ending `end_date`."""
    if days < 1:
        raise HistoryError("--days must be at least 1")
    if reports < 0:
        raise HistoryError("--reports cannot be negative")
    weights = frame.population * (frame.officer_of_cell > 0)
    if not weights.sum() > 0:
        raise HistoryError("no cell has an officer (or any population): nobody files reports")
    rng = np.random.default_rng([seed, 0])
    start = end_date - timedelta(days=days - 1)
    table = day_category_weights(start, days, frame.categories)
    n = int(rng.poisson(reports))
    flat = table.ravel() / table.sum()
    day_category = rng.choice(flat.size, size=n, p=flat)
    day, category = np.divmod(day_category, len(frame.categories))
    cell = rng.choice(weights.size, size=n, p=weights / weights.sum())
    base = _empty_plan(frame, seed, start, days)
    new = _draw_reports(base, rng, cell, day, category, cluster=-1)
    return _sorted(_concat(base, new))


def day_category_weights(start: date, days: int, categories: Sequence[str]) -> Array:
    """Relative report rate per (day, category): category share × weekday × Spring Festival
    × harvest (see the module docstring)."""
    base = np.array([CATEGORY_WEIGHTS.get(c, UNKNOWN_CATEGORY_WEIGHT) for c in categories])
    column = {c: i for i, c in enumerate(categories)}
    table = np.tile(base, (days, 1)).astype(float)
    for d in range(days):
        today = start + timedelta(days=d)
        row = table[d]
        row *= WEEKDAY_FACTOR[today.weekday()]
        for year in (today.year, today.year + 1):
            festival = SPRING_FESTIVAL.get(year)
            if festival is None:
                continue
            until = (festival - today).days
            if 0 < until <= PRE_FESTIVAL_DAYS:
                row *= PRE_FESTIVAL_FACTOR
                for name, factor in PRE_FESTIVAL_CATEGORY.items():
                    if name in column:
                        row[column[name]] *= factor
            elif -7 < until <= 0:
                row *= FESTIVAL_WEEK_FACTOR
        if any(first <= (today.month, today.day) <= last for first, last in HARVESTS):
            row *= HARVEST_FACTOR
            for name, factor in HARVEST_CATEGORY.items():
                if name in column:
                    row[column[name]] *= factor
    return table


def _empty_plan(frame: CityFrame, seed: int, start: date, days: int) -> ReportPlan:
    i64, f64 = np.zeros(0, np.int64), np.zeros(0, np.float64)
    return ReportPlan(
        frame=frame,
        seed=seed,
        start=start,
        days=days,
        cell=np.zeros(0, np.int32),
        day=np.zeros(0, np.int32),
        occurred_at=i64,
        reported_at=i64,
        category=np.zeros(0, np.int16),
        severity=np.zeros(0, np.int8),
        people=np.zeros(0, np.int32),
        lon=f64,
        lat=f64,
        accuracy_m=f64,
        text=np.zeros(0, np.int8),
        cluster=np.zeros(0, np.int16),
    )


PLAN_ARRAYS = (
    "cell",
    "day",
    "occurred_at",
    "reported_at",
    "category",
    "severity",
    "people",
    "lon",
    "lat",
    "accuracy_m",
    "text",
    "cluster",
)


def _draw_reports(
    plan: ReportPlan,
    rng: np.random.Generator,
    cell: Array,
    day: Array,
    category: Array,
    cluster: int,
) -> dict[str, Array]:
    """Times, severity, people, point and text of new reports in the given cells, days and
    categories."""
    n = cell.size
    frame = plan.frame
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    occurred = (
        day_start(plan.start)
        + day.astype(np.int64) * DAY_S
        + hour * 3600
        + rng.integers(0, 3600, n)
    )
    delay = np.clip(
        rng.lognormal(math.log(REPORT_DELAY_MEDIAN_S), REPORT_DELAY_SIGMA, n),
        *REPORT_DELAY_RANGE_S,
    ).astype(np.int64)
    # Nothing is filed after the end of the period (a report at 23:50 of the last day).
    reported = np.minimum(occurred + delay, plan.as_of - 1)
    occurred = np.minimum(occurred, reported)
    severity = rng.choice(len(SEVERITY_BY_CODE), size=n, p=SEVERITY_SHARES).astype(np.int8)
    people = 1 + rng.poisson(PEOPLE_POISSON[severity])
    group = rng.random(n) < GROUP_TAIL[severity]
    people[group] = GROUP_INCIDENT_THRESHOLD + rng.geometric(0.08, int(group.sum())) - 1
    lon, lat = _points_in_cells(frame, rng, cell)
    accuracy = np.round(np.clip(rng.lognormal(math.log(12.0), 0.5, n), 3.0, 80.0), 1)
    return {
        "cell": cell.astype(np.int32),
        "day": day.astype(np.int32),
        "occurred_at": occurred.astype(np.int64),
        "reported_at": reported.astype(np.int64),
        "category": category.astype(np.int16),
        "severity": severity,
        "people": np.minimum(people, 300).astype(np.int32),
        "lon": lon,
        "lat": lat,
        "accuracy_m": accuracy,
        "text": rng.integers(0, TEMPLATES_PER_CATEGORY, n).astype(np.int8),
        "cluster": np.full(n, cluster, dtype=np.int16),
    }


def _points_in_cells(
    frame: CityFrame, rng: np.random.Generator, cell: Array
) -> tuple[Array, Array]:
    """Uniform points inside each report's cell: draw in the cell's bounding box, keep those
    inside the polygon, redraw the rest (vectorised over all reports; cells fill half or more
    of their box, so a handful of rounds suffice)."""
    bounds = frame.bounds
    lon = np.empty(cell.size)
    lat = np.empty(cell.size)
    todo = np.arange(cell.size)
    for _round in range(1000):
        if not todo.size:
            break
        b = bounds[cell[todo]]
        x = b[:, 0] + rng.random(todo.size) * (b[:, 2] - b[:, 0])
        y = b[:, 1] + rng.random(todo.size) * (b[:, 3] - b[:, 1])
        inside = shapely.contains_xy(frame.geometries[cell[todo]], x, y)
        lon[todo[inside]] = x[inside]
        lat[todo[inside]] = y[inside]
        todo = todo[~inside]
    else:
        raise HistoryError("could not place points in some cells (degenerate polygons?)")
    return lon, lat


def _with_arrays(plan: ReportPlan, arrays: Mapping[str, Array]) -> ReportPlan:
    changes: dict[str, Any] = dict(arrays)
    return replace(plan, **changes)


def _concat(plan: ReportPlan, new: Mapping[str, Array]) -> ReportPlan:
    return _with_arrays(plan, {k: np.concatenate([getattr(plan, k), new[k]]) for k in PLAN_ARRAYS})


def _sorted(plan: ReportPlan) -> ReportPlan:
    # Stable order by filing time, then by the draw: the load is in time order, so a duplicate
    # always comes after the case it is merged into.
    order = np.argsort(plan.reported_at, kind="stable")
    return _with_arrays(plan, {k: getattr(plan, k)[order] for k in PLAN_ARRAYS})


def inject_clusters(plan: ReportPlan, clusters: Sequence[ClusterSpec]) -> ReportPlan:
    """A new plan with each cluster's extra reports added (pure; deterministic per plan seed
    and cluster position). Days outside the plan's period are dropped; cells without an
    officer get none. The returned plan's `clusters` lists what was injected, and `cluster`
    marks the injected reports."""
    out = plan
    records = list(plan.clusters)
    frame = plan.frame
    centroids = frame.centroids() if clusters else np.zeros((0, 2))
    for spec in clusters:
        index = len(records)
        rng = np.random.default_rng([plan.seed, 1, index])
        if spec.category not in frame.categories:
            raise HistoryError(
                f"cluster category {spec.category!r} is not an active category "
                f"({', '.join(frame.categories)})"
            )
        centre = frame.cell_index(spec.cell_code)
        distance = np.hypot(*(centroids - centroids[centre]).T)
        # The centre first (distance 0), then its nearest cells, ties by code order.
        nearest = np.lexsort((np.arange(distance.size), distance))[: spec.radius_cells + 1]
        cells = nearest[frame.officer_of_cell[nearest] > 0]
        first = max((spec.start - plan.start).days, 0)
        last = min((spec.start - plan.start).days + spec.days, plan.days) - 1
        if not cells.size or last < first:
            records.append(InjectedCluster(spec, (), None, None, 0))
            continue
        n_days = last - first + 1
        counts = rng.poisson(spec.extra_per_day / cells.size, size=(n_days, cells.size))
        day = np.repeat(np.arange(first, last + 1), counts.sum(axis=1))
        cell = np.concatenate([np.repeat(cells, row) for row in counts]) if counts.size else day
        category = np.full(day.size, frame.categories.index(spec.category))
        new = _draw_reports(out, rng, cell.astype(np.int64), day, category, cluster=index)
        out = _concat(out, new)
        records.append(
            InjectedCluster(
                spec,
                tuple(frame.cell_codes[i] for i in cells),
                plan.start + timedelta(days=first),
                plan.start + timedelta(days=last),
                int(day.size),
            )
        )
    return replace(_sorted(out), clusters=tuple(records))


# --- planning: check-ins -----------------------------------------------------------------------


def plan_checkins(plan: ReportPlan) -> Checkins:
    """Every officer's daily check-in, with silent officers and a few misses (module
    docstring); count = the officer's reports filed that day."""
    rng = np.random.default_rng([plan.seed, 3])
    officers = np.asarray(plan.frame.officer_ids, dtype=np.int64)
    n_off, days = officers.size, plan.days
    silent = rng.random(n_off) < SILENT_OFFICER_SHARE
    miss = np.where(silent, rng.uniform(*SILENT_MISS, n_off), rng.uniform(*USUAL_MISS, n_off))
    present = rng.random((n_off, days)) >= miss[:, None]
    first = day_start(plan.start)
    day_of = (plan.reported_at - first) // DAY_S
    who = np.searchsorted(officers, plan.officer)
    ok = (who < n_off) & (officers[np.minimum(who, max(n_off - 1, 0))] == plan.officer)
    flat = who[ok] * days + day_of[ok]
    counts = np.bincount(flat, minlength=n_off * days)
    last = np.full(n_off * days, NO_TIME, dtype=np.int64)
    np.maximum.at(last, flat, plan.reported_at[ok])
    officer_i, day = np.nonzero(present)
    cell = officer_i * days + day
    evening = first + day * DAY_S + CHECKIN_HOURS[0] * 3600
    at = evening + rng.integers(0, (CHECKIN_HOURS[1] - CHECKIN_HOURS[0]) * 3600, day.size)
    # Checked in after the day's last report, and still on that day.
    at = np.minimum(np.maximum(at, last[cell] + 60), first + (day + 1) * DAY_S - 1)
    return Checkins(officers[officer_i], day.astype(np.int32), counts[cell], at)
