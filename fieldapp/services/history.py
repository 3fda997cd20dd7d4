"""The report history generator: a year of plausible reports, cases and check-ins for demos and
benchmarks (`fieldapp demo history`; issue "Roll-ups … §6").

Two halves:

- **Planning** (pure numpy, no database): `plan_reports` → `inject_clusters` → `plan_workflow`
  → `plan_checkins`, or all of it at once with `plan_history`. It works on a `CityFrame` (cells
  with their chain, population, polygon and officer; coordinators, county staff, departments),
  read from the database by `read_city` or built from boundary features by
  `city_frame_from_features`, so the early-warning evaluation can plan and inject clusters
  without a database.
- **Loading** (`load_history`): PostgreSQL COPY through psycopg 3's `cursor.copy()`, in the
  caller's transaction (all or nothing), then `ANALYZE`.

The model, kept deliberately simple (every number below is a named constant in this module):

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

*The case.* Every report gets a path through `fieldapp.workflow.TRANSITIONS` chosen by a few
random flags (resolved on site — mostly yellow —, rejected, merged as a duplicate, accepted
late, returned by a wrong department, extension, escalation to the county, sent back, closing
late or stalling), with event times anchored on the `DeadlinePolicy` due times. The flags of a
report pick a fixed action sequence; each sequence is checked with `workflow.decide()` when it
is built. The sequence is then replayed with the same effects as `fieldapp.services.cases`
(acceptance clock at intake, handling clock from acceptance, a new clock on escalation, due
time + extension days, on-time flags against the due time in force), truncated at the end of
the period: recent reports stay open in whatever state they had reached. Red cases that
overrun are escalated by "the sweep" (actor NULL, as `services.sweep` does), so no red case is
left overdue. About 2 % of reports are merged into an earlier open report of the same cell and
category from the last 7 days (the earlier case also gets the service's `merged_in` event).
Actors: the township coordinator (the county's staff after escalation) for owner steps, one
handler per department for department steps.

*Check-ins.* Every officer, every day, except: ~3 % of officers are "silent" (miss 35–80 % of
days) and everyone misses a few (0.5–4 %). Missing is independent of reports filed that day.
The count is the officer's reports filed that day.

*Clusters* (`ClusterSpec`, `--cluster`): Poisson extra reports of one category in a cell and
its nearest cells for some days, for the hotspot and early-warning work; `inject_clusters` is
pure so an evaluation can use it on a plan without a database.

Not generated: parties, photos, supervision orders (督办), denied extensions, notifications and
the audit log. `notified_light` is the light at the end of the period, as the sweep would have
left it, so the first sweep after loading does not warn about every old case at once.

Deterministic: the same frame, parameters and seed give the same rows, ids included (ids come
from the seeded generator). With `--append` the ids come from the OS instead, so a second load
with the same seed never collides; the other columns stay deterministic.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from fieldapp.deadlines import CHINA_TZ, DeadlinePolicy
from fieldapp.workflow import (
    ESCALATION_LEVELS,
    OPEN_STATES,
    Action,
    Outcome,
    Relation,
    Satisfaction,
    State,
    decide,
)

Array = npt.NDArray[Any]

DEFAULT_REPORTS = 250_000
DEFAULT_DAYS = 365
DEFAULT_CLUSTER_CATEGORY = "wages_labour"
DEFAULT_CLUSTER_RADIUS = 6
"""Neighbours of a cluster's cell that share it: about the ring of cells around a cell."""

CHINA_OFFSET_S = 8 * 3600
DAY_S = 86_400
NO_TIME = -1
"""Stands for NULL in the int64 epoch-second arrays (no report is dated 1969)."""

# --- the report model ------------------------------------------------------------------------

CATEGORY_WEIGHTS: Mapping[str, float] = {
    # Shares in % of reports; neighbours and family lead, as in published 矛盾纠纷 statistics.
    "neighbours": 22,
    "marriage_family": 16,
    "housing_land": 11,
    "wages_labour": 9,
    "contract": 6,
    "damages": 6,
    "forest_land": 5,
    "property_management": 5,
    "traffic": 4,
    "consumer": 3,
    "business": 3,
    "village_affairs": 3,
    "expropriation": 2,
    "pollution": 2,
    "medical": 1.5,
    "mass_finance": 0.5,
    "other": 1,
}
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

SEVERITIES = ("yellow", "orange", "red")
SEVERITY_SHARES = (0.6, 0.3, 0.1)
PEOPLE_POISSON = np.array([0.9, 1.5, 2.6])  # people involved = 1 + Poisson(λ), by severity
GROUP_TAIL = np.array([0.01, 0.03, 0.15])  # share with a group of 5 + Geometric(0.08)
GROUP_INCIDENT_THRESHOLD = 5
"""The default of the app's GROUP_INCIDENT_THRESHOLD: the tail of group cases starts here."""

# --- the case model (shares per severity: yellow, orange, red) --------------------------------

ON_SITE = np.array([0.45, 0.06, 0.0])
REJECT = np.array([0.04, 0.03, 0.01])
LATE_ACCEPTANCE = np.array([0.05, 0.07, 0.04])
MANUAL_ESCALATION = np.array([0.02, 0.04, 0.10])
STABILISED = np.array([0.12, 0.15, 0.30])
ON_SITE_STABILISED = 0.05
RETURN_SHARE = 0.03
EXTENSION_SHARE = 0.04
EXTENSION_DAYS = np.array([7, 10, 15, 20, 30])
SEND_BACK_SHARE = 0.03
PROGRESS_NOTES = np.array([0.55, 0.35, 0.10])  # 1, 2 or 3 progress notes
CLOSE_LATE_SHARE = 0.08
STALLED_SHARE = 0.025
STALLED_DAYS = (20, 150)
FOLLOW_UP_SHARE = 0.85
SATISFACTION_SHARES = np.array([0.70, 0.22, 0.08])
MERGE_SHARE = 0.02
MERGE_WINDOW_S = 7 * DAY_S
SWEEP_LATENCY_S = 180
"""The deadline sweep runs every 3 minutes: automatic escalations come up to that late."""

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

DEPARTMENT_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    # Which departments (by a word in their name) a category is usually assigned to.
    "marriage_family": ("司法", "民政"),
    "neighbours": ("司法",),
    "housing_land": ("自然资源", "住房"),
    "contract": ("司法", "市场监督"),
    "business": ("市场监督",),
    "damages": ("司法", "公安"),
    "forest_land": ("自然资源", "农业农村"),
    "expropriation": ("自然资源", "住房"),
    "pollution": ("生态环境",),
    "wages_labour": ("人力资源", "人社"),
    "consumer": ("市场监督",),
    "medical": ("卫生健康",),
    "traffic": ("公安", "交通"),
    "property_management": ("住房",),
    "village_affairs": ("农业农村", "民政"),
    "mass_finance": ("公安", "金融"),
    "other": ("信访", "司法"),
}

REASONS: Mapping[Action, tuple[str, ...]] = {
    Action.REJECT: ("不属于矛盾纠纷排查范围", "经核实情况不属实", "信息不全，无法核实"),
    Action.RETURN: ("非本部门职责范围，请重新交办",),
    Action.SEND_BACK: ("办结材料不全，请补充调解协议", "当事人仍有异议，请继续化解"),
    Action.ESCALATE: ("涉及多个部门，需区县统筹协调", "矛盾复杂，镇街层面难以化解"),
    Action.REQUEST_EXTENSION: ("需等待鉴定结果，申请延期", "当事人外出务工，申请延期"),
    Action.PROGRESS: (
        "已约谈双方当事人，正在调解",
        "已现场核实情况，组织双方协商",
        "已联系相关部门联合调处",
    ),
    Action.REQUEST_CLOSING: ("双方已达成调解协议，申请办结", "矛盾已化解，申请办结"),
}
SWEEP_REASON = "红色预警逾期，按规定自动上交"
"""The reason `services.sweep` writes on its automatic escalations."""

DEPARTMENT_ACTIONS = frozenset(
    {
        Action.SIGN_FOR,
        Action.RETURN,
        Action.PROGRESS,
        Action.REQUEST_EXTENSION,
        Action.REQUEST_CLOSING,
    }
)


def actor_relation(action: Action) -> Relation:
    """How the generated actor of `action` stands to the case. The sweep's automatic
    escalation (actor NULL) acts for the owner."""
    return Relation.DEPARTMENT if action in DEPARTMENT_ACTIONS else Relation.OWNER


STATES: tuple[State, ...] = tuple(State)
ACTION_NAMES: tuple[str, ...] = (*(a.value for a in Action), "merged_in")
"""Event action codes: the workflow's actions, then the service's `merged_in` note on the case
a duplicate was merged into (not a transition: state unchanged, version not bumped)."""
MERGED_IN = len(ACTION_NAMES) - 1
OUTCOMES: tuple[Outcome, ...] = (Outcome.RESOLVED, Outcome.STABILISED)
SATISFACTIONS: tuple[Satisfaction, ...] = tuple(Satisfaction)
STEPS = (None, "acceptance", "handling")
LIGHTS = ("green", "yellow", "red")

_S = {s: i for i, s in enumerate(STATES)}
_A = {a: i for i, a in enumerate(Action)}
_REASON_TEXTS: tuple[str, ...] = (*(t for a in REASONS for t in REASONS[a]), SWEEP_REASON)
_REASON_BASE = {a: sum(len(REASONS[b]) for b in list(REASONS)[:i]) for i, a in enumerate(REASONS)}
_SWEEP_REASON = len(_REASON_TEXTS) - 1


class HistoryError(Exception):
    """The history cannot be generated or loaded as asked; the message says why and what to do."""


class HistoryExists(HistoryError):
    """Reports are already there and --append was not given."""


# --- the city the plan is made for -----------------------------------------------------------


@dataclass(frozen=True)
class DepartmentInfo:
    """A county-level department cases can be assigned to, and the user who handles them."""

    id: int
    code: str
    name: str
    county_id: int
    handler_id: int | None


@dataclass(frozen=True, eq=False)  # arrays: compare them with numpy
class CityFrame:
    """Everything the planner needs about the city, as arrays over cells (sorted by code).
    Ids are database ids when read by `read_city`, made-up ones for pure use."""

    cell_ids: Array  # int64
    cell_codes: tuple[str, ...]
    village_ids: Array  # int64
    township_ids: Array
    county_ids: Array
    population: Array  # float64; NULL populations filled with the median
    geometries: Array  # shapely polygons / multipolygons
    officer_of_cell: Array  # int64 user id of the cell's officer (lowest id), 0 = none
    officer_ids: Array  # int64, every active officer with a cell (they check in)
    coordinator_of_township: Mapping[int, int]
    staff_of_county: Mapping[int, int]
    departments: tuple[DepartmentInfo, ...]
    categories: tuple[str, ...]

    def __post_init__(self) -> None:
        # Prepared polygons make the point-in-polygon tests of rejection sampling fast.
        shapely.prepare(self.geometries)

    @property
    def bounds(self) -> Array:
        return shapely.bounds(self.geometries)

    def centroids(self) -> Array:
        """Cell centroids as (lon·cos φ, lat): Euclidean distance there is fair locally."""
        c = shapely.get_coordinates(shapely.centroid(self.geometries))
        return np.column_stack([c[:, 0] * math.cos(math.radians(float(c[:, 1].mean()))), c[:, 1]])

    def cell_index(self, code: str) -> int:
        try:
            return self.cell_codes.index(code)
        except ValueError:
            raise HistoryError(f"no cell with code {code!r}") from None


def city_frame_from_features(
    features: Sequence[Any],
    *,
    officer_cells: Mapping[str, Sequence[str]] | None = None,
    categories: Sequence[str] | None = None,
) -> CityFrame:
    """A frame from boundary features (e.g. `grid.demo.build_demo_city(...).features` or
    `tests.support.small_city()`), with made-up ids, for planning without a database.

    `officer_cells` maps an officer name to its cell codes; by default every cell has its own
    officer (as in the demo city). Each county gets one department per name in
    `_FRAME_DEPARTMENTS`, each township a coordinator, each county a staff member."""
    cells = sorted((f for f in features if f.level == "cell"), key=lambda f: f.code)
    areas = sorted((f for f in features if f.level != "cell"), key=lambda f: f.code)
    area_id = {f.code: i for i, f in enumerate(areas, start=1)}
    parent = {f.code: f.parent_code for f in features}
    village = [c.parent_code for c in cells]
    township = [parent[v] for v in village]
    county = [parent[t] for t in township]
    codes = tuple(c.code for c in cells)
    if officer_cells is None:
        officer_cells = {f"officer{i}": [code] for i, code in enumerate(codes, start=1)}
    position = {code: i for i, code in enumerate(codes)}
    officer_of_cell = np.zeros(len(cells), dtype=np.int64)
    next_user = 1
    officer_ids = []
    for _name, own in officer_cells.items():
        officer_ids.append(next_user)
        for code in own:
            if officer_of_cell[position[code]] == 0:
                officer_of_cell[position[code]] = next_user
        next_user += 1
    coordinators = {}
    for code in sorted(set(township)):
        coordinators[area_id[code]] = next_user
        next_user += 1
    staff = {}
    departments: list[DepartmentInfo] = []
    for code in sorted(set(county)):
        staff[area_id[code]] = next_user
        next_user += 1
        for i, name in enumerate(_FRAME_DEPARTMENTS, start=1):
            departments.append(
                DepartmentInfo(len(departments) + 1, f"{code}-D{i:02d}", name, area_id[code], None)
            )
    departments = [replace(d, handler_id=next_user + i) for i, d in enumerate(departments)]
    population = np.array([np.nan if c.population is None else c.population for c in cells])
    return CityFrame(
        cell_ids=np.arange(1, len(cells) + 1, dtype=np.int64),
        cell_codes=codes,
        village_ids=np.array([area_id[v] for v in village], dtype=np.int64),
        township_ids=np.array([area_id[t] for t in township], dtype=np.int64),
        county_ids=np.array([area_id[c] for c in county], dtype=np.int64),
        population=fill_population(population),
        geometries=np.array([c.geometry for c in cells], dtype=object),
        officer_of_cell=officer_of_cell,
        officer_ids=np.array(sorted(officer_ids), dtype=np.int64),
        coordinator_of_township=coordinators,
        staff_of_county=staff,
        departments=tuple(departments),
        categories=tuple(categories or CATEGORY_WEIGHTS),
    )


_FRAME_DEPARTMENTS = (
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


def fill_population(population: Array) -> Array:
    """Unknown (NaN) populations become the median of the known ones (1 if none is known)."""
    out = np.asarray(population, dtype=float).copy()
    known = ~np.isnan(out)
    out[~known] = float(np.median(out[known])) if known.any() else 1.0
    return np.clip(out, 0.0, None)


# --- the period --------------------------------------------------------------------------------


def china_today(now: datetime) -> date:
    return (now.astimezone(UTC) + timedelta(seconds=CHINA_OFFSET_S)).date()


def default_end_date(now: datetime) -> date:
    """Yesterday in China: the last complete day."""
    return china_today(now) - timedelta(days=1)


def day_start(day: date) -> int:
    """Epoch seconds of local (China) midnight starting `day`."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) - CHINA_OFFSET_S


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
    severity: Array  # int8 index into SEVERITIES
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
class Workflow:
    """The cases at the end of the period (report columns) and their events.

    Report arrays are aligned with the ReportPlan. Times are epoch seconds, NO_TIME for NULL;
    codes index STATES, ESCALATION_LEVELS, STEPS, LIGHTS, OUTCOMES, SATISFACTIONS; -1 is NULL.
    Events are sorted by report, then time."""

    ids: Array  # str uuid per report
    status: Array
    owner_level: Array
    owner_area_id: Array
    department: Array  # index into frame.departments
    step: Array
    step_started_at: Array
    due_at: Array
    notified_light: Array
    extension_days_requested: Array  # 0 = NULL
    extension_days_granted: Array
    accepted_at: Array
    accepted_on_time: Array  # -1 NULL, 0 false, 1 true
    closed_at: Array
    closed_on_time: Array
    outcome: Array
    satisfaction: Array
    merged_into: Array  # report index
    version: Array
    ev_report: Array  # report index
    ev_at: Array
    ev_action: Array  # index into ACTION_NAMES
    ev_from: Array
    ev_to: Array
    ev_actor: Array  # user id, 0 = NULL (the system)
    ev_reason: Array  # index into reason texts, -1 = NULL
    ev_value: Array  # department / days / level / outcome / satisfaction / other report
    ev_automatic: Array  # bool: the sweep's escalation

    def status_counts(self) -> dict[str, int]:
        counts = np.bincount(self.status, minlength=len(STATES))
        return {s.value: int(c) for s, c in zip(STATES, counts, strict=True) if c}


@dataclass(frozen=True, eq=False)  # arrays: compare them with numpy
class Checkins:
    """One row per officer and day checked in."""

    officer: Array  # user id
    day: Array  # index into the period
    count: Array
    checked_in_at: Array

    def __len__(self) -> int:
        return int(self.officer.size)


@dataclass(frozen=True, eq=False)  # arrays: compare them with numpy
class HistoryPlan:
    reports: ReportPlan
    workflow: Workflow
    checkins: Checkins | None
    group_threshold: int = GROUP_INCIDENT_THRESHOLD
    """People involved from which a report is a potential group incident (app config)."""
    case_numbers: Array | None = None
    """reports.case_number per report, given by the loader from the database's prefixes and
    counters (`number_cases`); None leaves them to the insert trigger (migration 0008)."""

    @functools.cached_property
    def prev_place_at(self) -> Array:
        """reports.prev_place_at, epoch seconds (NO_TIME for NULL)."""
        return previous_at_same_place(
            self.reports.cell,
            self.reports.category,
            self.reports.reported_at,
            self.workflow.ids,
            self.workflow.status == _S[State.MERGED],
        )

    def counts(self) -> dict[str, Any]:
        return {
            "reports": len(self.reports),
            "injected": int((self.reports.cluster >= 0).sum()),
            "by_status": self.workflow.status_counts(),
            "events": int(self.workflow.ev_report.size),
            "checkins": len(self.checkins) if self.checkins is not None else 0,
        }


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


_PLAN_ARRAYS = (
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
    severity = rng.choice(len(SEVERITIES), size=n, p=SEVERITY_SHARES).astype(np.int8)
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
    return _with_arrays(plan, {k: np.concatenate([getattr(plan, k), new[k]]) for k in _PLAN_ARRAYS})


def _sorted(plan: ReportPlan) -> ReportPlan:
    # Stable order by filing time, then by the draw: the load is in time order, so a duplicate
    # always comes after the case it is merged into.
    order = np.argsort(plan.reported_at, kind="stable")
    return _with_arrays(plan, {k: getattr(plan, k)[order] for k in _PLAN_ARRAYS})


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


# --- planning: the cases ---------------------------------------------------------------------


class _Deadlines:
    """`DeadlinePolicy.due` over arrays. Without a business-day calendar a limit is a fixed
    offset; with one, the offset depends only on the local date, computed once per date."""

    REF = datetime(2000, 1, 1, tzinfo=UTC)

    def __init__(self, policy: DeadlinePolicy) -> None:
        self.policy = policy

    def due(self, step: str, severity: Array, start: Array) -> Array:
        out = np.empty(start.shape, dtype=np.int64)
        for code, name in enumerate(SEVERITIES):
            mask = severity == code
            if not mask.any():
                continue
            limit = self.policy.limit(step, name)
            if not (self.policy.business_days and limit.days):
                offset = (self.policy.due(step, name, self.REF) - self.REF).total_seconds()
                out[mask] = start[mask] + int(offset)
                continue
            base = start[mask] + int(limit.hours * 3600)
            local_day = (base + CHINA_OFFSET_S) // DAY_S
            days, inverse = np.unique(local_day, return_inverse=True)
            shift = np.empty(days.size, dtype=np.int64)
            for i, d in enumerate(days):
                noon = datetime.fromtimestamp(int(d) * DAY_S + 4 * 3600, UTC)  # 12:00 in China
                shift[i] = int((self.policy.add_days(noon, limit.days) - noon).total_seconds())
            out[mask] = base + shift[inverse]
        return out


_BETWEEN = "~"


@dataclass(frozen=True)
class _Step:
    action: Action
    variant: str = ""  # assign: "wrong" | "primary"; escalate: "manual" | "system"
    anchor: str = _BETWEEN
    """The anchor time it happens at (t_sys, t_dec, t_xr, t_xa, t_h, t_c, t_f), or _BETWEEN:
    spread between the anchored steps before and after it."""


# Intake classes, escalation kinds and closing classes of the flags.
_ACCEPT, _REJECT, _ON_SITE, _MERGE = range(4)
_NO_ESC, _MANUAL_ESC, _SYSTEM_ESC = range(3)
_ON_TIME, _LATE, _STALLED = range(3)


def _steps(
    intake: int, e0: bool, ret: bool, ext: bool, esc: int, sb: bool, notes: int, follow: bool
) -> tuple[_Step, ...]:
    """The action sequence of a set of flags."""
    if intake == _MERGE:
        return (_Step(Action.MERGE, "", "t_dec"),)
    if intake == _REJECT:
        return (_Step(Action.REJECT, "", "t_dec"),)
    steps: list[_Step] = []
    if e0:
        steps.append(_Step(Action.ESCALATE, "system", "t_sys"))
    if intake == _ON_SITE:
        steps.append(_Step(Action.RESOLVE_ON_SITE, "", "t_dec"))
    else:
        steps.append(_Step(Action.ACCEPT, "", "t_dec"))
        if ret:
            steps += [_Step(Action.ASSIGN, "wrong"), _Step(Action.RETURN)]
        steps += [_Step(Action.ASSIGN, "primary"), _Step(Action.SIGN_FOR)]
        steps += [_Step(Action.PROGRESS)] * notes
        if ext:
            steps += [
                _Step(Action.REQUEST_EXTENSION, "", "t_xr"),
                _Step(Action.APPROVE_EXTENSION, "", "t_xa"),
            ]
        if esc != _NO_ESC:
            kind = "system" if esc == _SYSTEM_ESC else "manual"
            steps += [
                _Step(Action.ESCALATE, kind, "t_h"),
                _Step(Action.ASSIGN, "primary"),
                _Step(Action.SIGN_FOR),
                _Step(Action.PROGRESS),
                _Step(Action.REQUEST_CLOSING),
                _Step(Action.APPROVE_CLOSING, "", "t_c"),
            ]
        else:
            steps.append(_Step(Action.REQUEST_CLOSING))
            if sb:
                steps += [_Step(Action.SEND_BACK), _Step(Action.PROGRESS)]
                steps.append(_Step(Action.REQUEST_CLOSING))
            steps.append(_Step(Action.APPROVE_CLOSING, "", "t_h"))
    if follow:
        steps.append(_Step(Action.FOLLOW_UP, "", "t_f"))
    return tuple(steps)


def _states(steps: Sequence[_Step]) -> list[State]:
    """The state before each step and after the last, checked with the state machine: a
    sequence the table does not allow fails here, at planning time."""
    states = [State.REPORTED]
    for step in steps:
        states.append(
            decide(states[-1], step.action, frozenset({actor_relation(step.action)})).to_state
        )
    return states


class _Replay:
    """The report columns while a case's events are applied, with the effects of
    `fieldapp.services.cases` (and `services.sweep` for automatic escalations)."""

    def __init__(self, plan: ReportPlan, deadlines: _Deadlines, values: dict[str, Array]) -> None:
        n = len(plan)
        frame = plan.frame
        self.plan, self.deadlines, self.values = plan, deadlines, values
        self.severity = plan.severity
        self.status = np.full(n, _S[State.REPORTED], dtype=np.int8)
        self.owner_level = np.zeros(n, dtype=np.int8)
        self.owner_area_id = frame.township_ids[plan.cell].copy()
        self.county_id = frame.county_ids[plan.cell]
        self.department = np.full(n, -1, dtype=np.int32)
        self.step = np.ones(n, dtype=np.int8)  # intake starts the acceptance clock
        self.step_started_at = plan.reported_at.copy()
        self.due_at = deadlines.due("acceptance", plan.severity, plan.reported_at)
        self.ext_requested = np.zeros(n, dtype=np.int16)
        self.ext_granted = np.zeros(n, dtype=np.int16)
        self.accepted_at = np.full(n, NO_TIME, dtype=np.int64)
        self.accepted_on_time = np.full(n, -1, dtype=np.int8)
        self.closed_at = np.full(n, NO_TIME, dtype=np.int64)
        self.closed_on_time = np.full(n, -1, dtype=np.int8)
        self.outcome = np.full(n, -1, dtype=np.int8)
        self.satisfaction = np.full(n, -1, dtype=np.int8)
        self.merged_into = np.full(n, -1, dtype=np.int32)
        self.version = np.ones(n, dtype=np.int32)
        township = frame.township_ids[plan.cell]
        self.coordinator = _lookup(frame.coordinator_of_township, township)
        self.staff = _lookup(frame.staff_of_county, self.county_id)
        # Indexed by department position; the extra last entry answers -1 (none) with 0.
        self.handler = np.array([d.handler_id or 0 for d in frame.departments] + [0], np.int64)
        self.events: list[dict[str, Array]] = []

    def apply(
        self, step: _Step, before: State, after: State, r: Array, t: Array, rng: np.random.Generator
    ) -> None:
        action = step.action
        value = np.full(r.size, -1, dtype=np.int64)
        reason = np.full(r.size, -1, dtype=np.int16)
        automatic = np.zeros(r.size, dtype=bool)
        if action in REASONS:
            reason = (_REASON_BASE[action] + rng.integers(0, len(REASONS[action]), r.size)).astype(
                np.int16
            )
        if action in DEPARTMENT_ACTIONS:
            actor = self.handler[self.department[r]]
            if action is Action.RETURN:
                value = self.department[r].astype(np.int64)
                self.department[r] = -1
            elif action is Action.REQUEST_EXTENSION:
                value = self.values["ext_days"][r]
                self.ext_requested[r] = value
        else:
            actor = np.where(self.owner_level[r] == 0, self.coordinator[r], self.staff[r])
        if action is Action.ACCEPT:
            self.accepted_at[r] = t
            self.accepted_on_time[r] = (self.due_at[r] == NO_TIME) | (t <= self.due_at[r])
            self._clock(r, t, "handling")
        elif action in (Action.REJECT, Action.MERGE):
            if action is Action.MERGE:
                value = self.values["merge_into"][r]
                self.merged_into[r] = value
            self._stop(r)
            self.closed_at[r] = t
        elif action in (Action.RESOLVE_ON_SITE, Action.APPROVE_CLOSING):
            value = self.values["outcome"][r]
            self.outcome[r] = value
            self.closed_on_time[r] = (self.due_at[r] == NO_TIME) | (t <= self.due_at[r])
            self.closed_at[r] = t
            self._stop(r)
        elif action is Action.ASSIGN:
            value = self.values["dept_" + step.variant][r]
            self.department[r] = value
        elif action is Action.APPROVE_EXTENSION:
            value = self.ext_requested[r].astype(np.int64)
            self.ext_granted[r] += value.astype(np.int16)
            self.ext_requested[r] = 0
            has_due = self.due_at[r] != NO_TIME
            self.due_at[r] = np.where(has_due, self.due_at[r] + value * DAY_S, NO_TIME)
        elif action is Action.ESCALATE:
            self.owner_level[r] += 1
            value = self.owner_level[r].astype(np.int64)
            # Only county level is generated (escalations never start above a township).
            self.owner_area_id[r] = self.county_id[r]
            self.department[r] = -1
            self._clock(r, t, "acceptance" if before is State.REPORTED else "handling")
            if step.variant == "system":
                actor = np.zeros(r.size, dtype=np.int64)
                automatic[:] = True
                reason[:] = _SWEEP_REASON
        elif action is Action.FOLLOW_UP:
            value = self.values["satisfaction"][r]
            self.satisfaction[r] = value
        self.status[r] = _S[after]
        self.version[r] += 1
        self.events.append(
            {
                "report": r.astype(np.int32),
                "at": t,
                "action": np.full(r.size, _A[action], dtype=np.int8),
                "from": np.full(r.size, _S[before], dtype=np.int8),
                "to": np.full(r.size, _S[after], dtype=np.int8),
                "actor": actor.astype(np.int64),
                "reason": reason,
                "value": value,
                "automatic": automatic,
            }
        )

    def _clock(self, r: Array, t: Array, step: str) -> None:
        self.step[r] = STEPS.index(step)
        self.step_started_at[r] = t
        self.due_at[r] = self.deadlines.due(step, self.severity[r], t)

    def _stop(self, r: Array) -> None:
        self.step[r] = 0
        self.due_at[r] = NO_TIME


def _lookup(mapping: Mapping[int, int], keys: Array) -> Array:
    if not mapping:
        return np.zeros(keys.size, dtype=np.int64)
    table_keys = np.array(sorted(mapping), dtype=np.int64)
    table_values = np.array([mapping[k] for k in table_keys], dtype=np.int64)
    pos = np.clip(np.searchsorted(table_keys, keys), 0, table_keys.size - 1)
    return np.where(table_keys[pos] == keys, table_values[pos], 0)


def _choose_departments(plan: ReportPlan, rng: np.random.Generator) -> tuple[Array, Array]:
    """Per report: the department it is assigned to (one of its county whose name fits the
    category, else any of the county's) and a wrong one (for the 退办 path); -1 when the
    county has none (or only one, for the wrong one)."""
    frame = plan.frame
    n = len(plan)
    primary = np.full(n, -1, dtype=np.int64)
    wrong = np.full(n, -1, dtype=np.int64)
    county = frame.county_ids[plan.cell]
    by_county: dict[int, list[int]] = {}
    for i, d in enumerate(frame.departments):
        by_county.setdefault(d.county_id, []).append(i)
    for county_id, members in sorted(by_county.items()):
        in_county = county == county_id
        for c, name in enumerate(frame.categories):
            rows = np.flatnonzero(in_county & (plan.category == c))
            if not rows.size:
                continue
            words = DEPARTMENT_KEYWORDS.get(name, DEPARTMENT_KEYWORDS["other"])
            fits = [i for i in members if any(w in frame.departments[i].name for w in words)]
            pool = np.array(fits or members)
            primary[rows] = pool[rng.integers(0, pool.size, rows.size)]
            others = np.array(members)
            if others.size > 1:
                # Uniform among the county's other departments: skip over the primary.
                k = rng.integers(0, others.size - 1, rows.size)
                k += k >= np.searchsorted(others, primary[rows])
                wrong[rows] = others[k]
    return primary, wrong


def plan_workflow(
    plan: ReportPlan, *, policy: DeadlinePolicy | None = None, random_ids: bool = False
) -> Workflow:
    """Each report's case history up to the end of the period (see the module docstring)."""
    rng = np.random.default_rng([plan.seed, 2])
    n = len(plan)
    sev = plan.severity.astype(np.int64)
    red = sev == SEVERITIES.index("red")
    t0 = plan.reported_at
    as_of = plan.as_of
    deadlines = _Deadlines(policy or DeadlinePolicy())

    dept_primary, dept_wrong = _choose_departments(plan, rng)

    # --- flags ---
    u = rng.random(n)
    intake = np.full(n, _ACCEPT, dtype=np.int64)
    intake[u < ON_SITE[sev] + REJECT[sev]] = _REJECT
    intake[u < ON_SITE[sev]] = _ON_SITE
    # A county without departments has nowhere to assign to: its cases are handled on site.
    intake[(intake == _ACCEPT) & (dept_primary < 0)] = _ON_SITE
    late = (rng.random(n) < LATE_ACCEPTANCE[sev]) & (intake != _REJECT)
    # A red report not accepted in time is escalated by the sweep, then the county accepts.
    e0 = late & red & (intake == _ACCEPT)
    late &= ~(red & (intake == _ON_SITE))
    ret = (rng.random(n) < RETURN_SHARE) & (dept_wrong >= 0)
    ext = rng.random(n) < EXTENSION_SHARE
    sb = rng.random(n) < SEND_BACK_SHARE
    notes = 1 + rng.choice(3, size=n, p=PROGRESS_NOTES)
    follow = rng.random(n) < FOLLOW_UP_SHARE
    u = rng.random(n)
    close = np.where(
        u < STALLED_SHARE, _STALLED, np.where(u < STALLED_SHARE + CLOSE_LATE_SHARE, _LATE, _ON_TIME)
    )
    esc = np.where(rng.random(n) < MANUAL_ESCALATION[sev], _MANUAL_ESC, _NO_ESC)
    esc[e0] = _NO_ESC
    close[e0 | (esc == _MANUAL_ESC)] = _ON_TIME
    # The sweep escalates a red case the moment it is overdue; after that the county closes it.
    esc[red & (close != _ON_TIME)] = _SYSTEM_ESC
    close[esc == _SYSTEM_ESC] = _ON_TIME
    # Handling flags mean nothing for cases that are never accepted (fewer distinct groups).
    handled = intake == _ACCEPT
    ret &= handled
    ext &= handled
    sb &= handled
    esc[~handled] = _NO_ESC
    notes[~handled] = 1
    follow &= intake != _REJECT

    # --- anchor times ---
    due_acc = deadlines.due("acceptance", plan.severity, t0)
    acc_span = due_acc - t0
    t_dec = t0 + (acc_span * (0.03 + 0.87 * rng.random(n))).astype(np.int64)
    late_by = (np.maximum(acc_span, 12 * 3600) * (0.05 + 0.95 * rng.random(n))).astype(np.int64)
    t_dec = np.where(late & ~e0, due_acc + late_by, t_dec)
    t_sys = due_acc + rng.integers(0, SWEEP_LATENCY_S + 1, n)
    due_county = deadlines.due("acceptance", plan.severity, t_sys)
    t_e0 = t_sys + ((due_county - t_sys) * (0.05 + 0.85 * rng.random(n))).astype(np.int64)
    t_dec = np.where(e0, t_e0, t_dec)
    due_h = deadlines.due("handling", plan.severity, t_dec)
    ext_days = EXTENSION_DAYS[rng.integers(0, EXTENSION_DAYS.size, n)]
    ext_s = np.where(ext, ext_days * DAY_S, 0)
    span = due_h - t_dec
    # An extension is asked for and granted before the case is due (a red one would be
    # escalated by the sweep otherwise).
    t_xr = t_dec + (span * (0.4 + 0.5 * rng.random(n))).astype(np.int64)
    t_xa = t_xr + ((due_h - t_xr) * (0.05 + 0.45 * rng.random(n))).astype(np.int64)
    on_time = t_dec + (span * (0.02 + 0.93 * rng.beta(1.2, 2.8, n))).astype(np.int64)
    on_time_ext = due_h + (ext_s * (0.05 + 0.9 * rng.random(n))).astype(np.int64)
    late_close = due_h + ext_s + 3600 + rng.exponential(4 * DAY_S, n).astype(np.int64)
    stalled = due_h + ext_s + rng.integers(STALLED_DAYS[0] * DAY_S, STALLED_DAYS[1] * DAY_S, n)
    after = np.where(ext, t_xa, t_dec)
    manual = after + ((due_h + ext_s - after) * (0.1 + 0.7 * rng.random(n))).astype(np.int64)
    system = due_h + ext_s + rng.integers(0, SWEEP_LATENCY_S + 1, n)
    t_h = np.select(
        [esc == _MANUAL_ESC, esc == _SYSTEM_ESC, close == _LATE, close == _STALLED, ext],
        [manual, system, late_close, stalled, on_time_ext],
        on_time,
    )
    due_c = deadlines.due("handling", plan.severity, t_h)
    t_c = t_h + ((due_c - t_h) * (0.05 + 0.9 * rng.beta(1.5, 2.5, n))).astype(np.int64)
    t_close = np.where(intake == _ON_SITE, t_dec, np.where(esc != _NO_ESC, t_c, t_h))
    t_f = t_close + ((0.3 + 6.7 * rng.random(n)) * DAY_S).astype(np.int64)
    anchors = {
        "t_sys": t_sys,
        "t_dec": t_dec,
        "t_xr": t_xr,
        "t_xa": t_xa,
        "t_h": t_h,
        "t_c": t_c,
        "t_f": t_f,
    }

    # --- values the events carry ---
    stabilised = np.where(intake == _ON_SITE, ON_SITE_STABILISED, STABILISED[sev])
    values: dict[str, Array] = {
        "dept_primary": dept_primary,
        "dept_wrong": dept_wrong,
        "ext_days": ext_days.astype(np.int64),
        "outcome": (rng.random(n) < stabilised).astype(np.int64),
        "satisfaction": rng.choice(3, size=n, p=SATISFACTION_SHARES).astype(np.int64),
        "merge_into": np.full(n, -1, dtype=np.int64),
    }

    # --- sequences: one group per distinct set of flags, with its event times ---
    key = (
        intake
        + 4 * e0
        + 8 * ret
        + 16 * ext
        + 32 * esc
        + 128 * sb
        + 256 * (notes - 1)
        + 1024 * follow
    )
    groups = _groups(key, anchors, rng)

    # --- duplicates, merged into an earlier open case of the same cell and category ---
    t_merge = t0 + (acc_span * (0.02 + 0.78 * rng.random(n))).astype(np.int64)
    owner_stays = (esc == _NO_ESC) & ~e0
    dup, target = _choose_merges(plan, groups, owner_stays, t_merge, rng)
    target_state = _state_at(groups, target, t_merge[dup])
    values["merge_into"][dup] = target
    is_dup = np.zeros(n, dtype=bool)
    is_dup[dup] = True
    groups = [_Group(g.steps, g.rows[~is_dup[g.rows]], g.times[~is_dup[g.rows]]) for g in groups]
    merge_steps = _steps(_MERGE, False, False, False, _NO_ESC, False, 1, False)
    groups.append(_Group(merge_steps, dup, t_merge[dup][:, None]))

    replay = _Replay(plan, deadlines, values)
    for group in groups:
        states = _states(group.steps)
        for j, step in enumerate(group.steps):
            kept = group.times[:, j] <= as_of
            if not kept.any():
                break
            replay.apply(
                step, states[j], states[j + 1], group.rows[kept], group.times[kept, j], rng
            )

    # The case a duplicate went into records it, in the state it had then (cases._merge).
    done = t_merge[dup] <= as_of
    if done.any():
        into = target[done]
        replay.events.append(
            {
                "report": into.astype(np.int32),
                "at": t_merge[dup][done],
                "action": np.full(into.size, MERGED_IN, dtype=np.int8),
                "from": target_state[done],
                "to": target_state[done],
                "actor": replay.coordinator[into],
                "reason": np.full(into.size, -1, dtype=np.int16),
                "value": dup[done].astype(np.int64),
                "automatic": np.zeros(into.size, dtype=bool),
            }
        )
    events = _concat_events(replay.events)

    id_rng = np.random.default_rng(secrets.randbits(128) if random_ids else [plan.seed, 4])
    fraction = (policy or DeadlinePolicy()).warning_fraction
    return Workflow(
        ids=uuid_strings(id_rng.bytes(16 * n)),
        status=replay.status,
        owner_level=replay.owner_level,
        owner_area_id=replay.owner_area_id,
        department=replay.department,
        step=replay.step,
        step_started_at=replay.step_started_at,
        due_at=replay.due_at,
        notified_light=_lights(replay.step_started_at, replay.due_at, as_of, fraction),
        extension_days_requested=replay.ext_requested,
        extension_days_granted=replay.ext_granted,
        accepted_at=replay.accepted_at,
        accepted_on_time=replay.accepted_on_time,
        closed_at=replay.closed_at,
        closed_on_time=replay.closed_on_time,
        outcome=replay.outcome,
        satisfaction=replay.satisfaction,
        merged_into=replay.merged_into,
        version=replay.version,
        ev_report=events["report"],
        ev_at=events["at"],
        ev_action=events["action"],
        ev_from=events["from"],
        ev_to=events["to"],
        ev_actor=events["actor"],
        ev_reason=events["reason"],
        ev_value=events["value"],
        ev_automatic=events["automatic"],
    )


@dataclass(frozen=True, eq=False)  # arrays: compare them with numpy
class _Group:
    """Reports that share one action sequence, with their event times (rows × steps)."""

    steps: tuple[_Step, ...]
    rows: Array
    times: Array


def _groups(key: Array, anchors: Mapping[str, Array], rng: np.random.Generator) -> list[_Group]:
    if not key.size:
        return []
    uniq, inverse = np.unique(key, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(inverse))[:-1])
    out = []
    for k, rows in zip(uniq.tolist(), members, strict=True):
        steps = _steps(
            intake=k & 3,
            e0=bool(k >> 2 & 1),
            ret=bool(k >> 3 & 1),
            ext=bool(k >> 4 & 1),
            esc=k >> 5 & 3,
            sb=bool(k >> 7 & 1),
            notes=(k >> 8 & 3) + 1,
            follow=bool(k >> 10 & 1),
        )
        out.append(_Group(steps, rows, _times(steps, rows, anchors, rng)))
    return out


def _times(
    steps: Sequence[_Step], rows: Array, anchors: Mapping[str, Array], rng: np.random.Generator
) -> Array:
    """Event times: anchored steps at their anchor; each run of unanchored steps at sorted
    random fractions between the anchored steps around it, squared so they bunch at its start
    (assignment and sign-for within hours of acceptance, notes later); then made strictly
    increasing by at least a second."""
    times = np.empty((rows.size, len(steps)), dtype=np.int64)
    for j, step in enumerate(steps):
        if step.anchor != _BETWEEN:
            times[:, j] = anchors[step.anchor][rows]
    j = 0
    while j < len(steps):
        if steps[j].anchor != _BETWEEN:
            j += 1
            continue
        k = j
        while steps[k].anchor == _BETWEEN:  # every sequence starts and ends anchored
            k += 1
        frac = np.sort(rng.random((rows.size, k - j)), axis=1) ** 2
        lo, hi = times[:, j - 1], times[:, k]
        times[:, j:k] = lo[:, None] + (frac * (hi - lo)[:, None]).astype(np.int64)
        j = k
    offset = np.arange(len(steps))
    return np.maximum.accumulate(times - offset, axis=1) + offset


def _choose_merges(
    plan: ReportPlan,
    groups: Sequence[_Group],
    owner_stays: Array,
    t_merge: Array,
    rng: np.random.Generator,
) -> tuple[Array, Array]:
    """Pairs (duplicate, earlier case): the previous report of the same cell and category
    within MERGE_WINDOW_S, still open and owned by the township when the duplicate is merged;
    about MERGE_SHARE of all reports. A duplicate is never itself merged into."""
    n = len(plan)
    t0 = plan.reported_at
    order = np.lexsort((t0, plan.category, plan.cell))
    a, b = order[:-1], order[1:]
    candidate = (
        (plan.cell[a] == plan.cell[b])
        & (plan.category[a] == plan.category[b])
        & (t0[b] > t0[a])
        & (t0[b] - t0[a] <= MERGE_WINDOW_S)
        & owner_stays[a]
    )
    dup, target = b[candidate], a[candidate]
    state = _state_at(groups, target, t_merge[dup])
    open_codes = np.array([_S[s] for s in OPEN_STATES])
    ok = np.isin(state, open_codes)
    dup, target = dup[ok], target[ok]
    if not dup.size:
        return dup, target
    pick = rng.random(dup.size) < min(1.0, MERGE_SHARE * n / dup.size)
    dup, target = dup[pick], target[pick]
    keep = ~np.isin(target, dup)
    return dup[keep], target[keep]


def _state_at(groups: Sequence[_Group], reports: Array, at: Array) -> Array:
    """The state of each of `reports` at time `at` (aligned), from the full planned timelines."""
    if not reports.size:
        return np.zeros(0, dtype=np.int8)
    wanted = np.zeros(max(int(g.rows.max(initial=-1)) for g in groups) + 1, dtype=bool)
    wanted[reports] = True
    parts_r, parts_t, parts_s = [], [], []
    for g in groups:
        sel = wanted[g.rows]
        if not sel.any():
            continue
        after = np.array([_S[s] for s in _states(g.steps)[1:]], dtype=np.int8)
        rows = g.rows[sel]
        parts_r.append(np.repeat(rows, len(g.steps)))
        parts_t.append(g.times[sel].ravel())
        parts_s.append(np.tile(after, rows.size))
    if not parts_r:
        return np.full(reports.size, _S[State.REPORTED], dtype=np.int8)
    rep = np.concatenate(parts_r).astype(np.int64)
    tim = np.concatenate(parts_t)
    sta = np.concatenate(parts_s)
    base = min(int(tim.min()), int(at.min()))
    keys = (rep << 34) + (tim - base)  # times fit 34 bits (over 500 years of seconds)
    order = np.argsort(keys, kind="stable")
    keys, rep, sta = keys[order], rep[order], sta[order]
    pos = np.searchsorted(keys, (reports.astype(np.int64) << 34) + (at - base), side="right") - 1
    valid = (pos >= 0) & (rep[np.maximum(pos, 0)] == reports)
    return np.where(valid, sta[np.maximum(pos, 0)], _S[State.REPORTED]).astype(np.int8)


def _lights(started: Array, due: Array, as_of: int, fraction: float) -> Array:
    """The light the sweep would have notified by the end of the period (so the first sweep
    after loading does not warn about every old case at once)."""
    light = np.zeros(due.size, dtype=np.int8)
    running = due != NO_TIME
    light[running & (started + (due - started) * fraction <= as_of)] = 1
    light[running & (due <= as_of)] = 2
    return light


_EVENT_DTYPES = {
    "report": np.int32,
    "at": np.int64,
    "action": np.int8,
    "from": np.int8,
    "to": np.int8,
    "actor": np.int64,
    "reason": np.int16,
    "value": np.int64,
    "automatic": np.bool_,
}


def _concat_events(parts: Sequence[Mapping[str, Array]]) -> dict[str, Array]:
    if not parts:
        return {k: np.zeros(0, dtype=t) for k, t in _EVENT_DTYPES.items()}
    events: dict[str, Array] = {
        k: np.concatenate([p[k] for p in parts]).astype(t) for k, t in _EVENT_DTYPES.items()
    }
    # By report, then time; a merged_in note after a transition in the same second.
    order = np.lexsort(
        (events["action"] == MERGED_IN, events["at"], events["report"].astype(np.int64))
    )
    return {k: v[order] for k, v in events.items()}


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_POSITIONS = np.r_[0:8, 9:13, 14:18, 19:23, 24:36]


def _hex(raw: Array) -> Array:
    """(n, k) bytes → (n, 2k) ASCII hex digits."""
    out = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = _HEX[raw >> 4]
    out[:, 1::2] = _HEX[raw & 15]
    return out


def uuid_strings(raw: bytes) -> Array:
    """Version-4 UUID strings (as ASCII bytes, dtype S36) from 16 random bytes each."""
    n = len(raw) // 16
    b = np.frombuffer(raw, dtype=np.uint8).reshape(n, 16).copy()
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, _UUID_POSITIONS] = _hex(b)
    return out.view("S36").ravel()


#: The triggers of migration 0007, whose work the loader does itself — reports.prev_place_at
#: in the COPY text (previous_at_same_place), checkin_months recounted after the COPY — so a
#: COPY with triggers off loses nothing.
COPY_COMPUTED_TRIGGERS: Final = (
    "reports_place_before_insert",
    "reports_place_after_insert",
    "reports_place_after_update",
    "reports_place_after_delete",
    "checkins_months_after_write",
    "checkins_months_after_update",
)


#: Triggers that fire during the COPY anyway (ENABLE ALWAYS, so also with the per-row
#: foreign-key checks off): reports.case_number (migration 0008). The loader gives the
#: numbers itself (`number_cases`), so the trigger only sees them set and passes: numbering
#: row by row in one transaction would update each county's counter row hundreds of
#: thousands of times, and each update walks the row's growing chain of versions.
COPY_ALWAYS_TRIGGERS: Final = ("reports_case_number",)


def case_number_sequence(groups: Array, reported_at: Array, ids: Array, start: Array) -> Array:
    """Each report's number within its (prefix, year) group: `start[group] + 1` for the
    group's first in (reported_at, id) order, then 2, 3, … (as migration 0008 numbers the
    reports it finds)."""
    n = groups.size
    order = np.lexsort((ids, reported_at, groups))
    sorted_groups = groups[order]
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_groups[1:] != sorted_groups[:-1]
    starts = np.flatnonzero(first)
    rank = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    out = np.empty(n, dtype=np.int64)
    out[order] = start[sorted_groups] + rank + 1
    return out


def number_cases(cur: Any, h: HistoryPlan) -> tuple[Array, dict[tuple[str, int], int]]:
    """The case numbers of a history about to be loaded, continuing the database's counters
    (locked until the load commits, so intake meanwhile waits rather than collides), and
    each counter's new last number."""
    p = h.reports
    county = p.frame.county_ids[p.cell]
    # Raw SQL on the loader's cursor: the prefix rule is the database's (migration 0008).
    cur.execute("LOCK TABLE case_number_counters IN EXCLUSIVE MODE")
    unique_counties = np.unique(county)
    prefixes = dict(
        cur.execute(
            "SELECT c, case_number_prefix(c) FROM unnest(%s::int[]) AS c",
            (unique_counties.tolist(),),
        ).fetchall()
    )
    counters = {
        (prefix, int(year)): int(last)
        for prefix, year, last in cur.execute(
            "SELECT prefix, year, last_number FROM case_number_counters"
        ).fetchall()
    }
    years = (p.reported_at + CHINA_OFFSET_S).astype("datetime64[s]").astype("datetime64[Y]")
    year = years.astype(np.int64) + 1970
    prefix_of = np.asarray([prefixes[int(c)] for c in unique_counties], dtype=object)
    prefix_index = np.searchsorted(unique_counties, county)
    keys = sorted({(prefix_of[i], int(y)) for i, y in zip(prefix_index, year, strict=True)})
    key_index = {k: i for i, k in enumerate(keys)}
    groups = np.asarray(
        [key_index[(prefix_of[i], int(y))] for i, y in zip(prefix_index, year, strict=True)],
        dtype=np.int64,
    )
    start = np.asarray([counters.get(k, 0) for k in keys], dtype=np.int64)
    seq = case_number_sequence(groups, p.reported_at, h.workflow.ids, start)
    numbers = np.asarray(
        [
            f"{keys[g][0]}-{keys[g][1]}-{n:06d}"
            for g, n in zip(groups.tolist(), seq.tolist(), strict=True)
        ],
        dtype=object,
    )
    last = {k: int(seq[groups == i].max()) for i, k in enumerate(keys)}
    return numbers, last


def _save_counters(cur: Any, last: Mapping[tuple[str, int], int]) -> None:
    for (prefix, year), number in last.items():
        cur.execute(
            "INSERT INTO case_number_counters AS c (prefix, year, last_number) "
            "VALUES (%s, %s, %s) ON CONFLICT (prefix, year) "
            "DO UPDATE SET last_number = greatest(c.last_number, EXCLUDED.last_number)",
            (prefix, year, number),
        )


def previous_at_same_place(
    cell: Array, category: Array, reported_at: Array, ids: Array, merged: Array
) -> Array:
    """reports.prev_place_at for a whole history (migration 0007 keeps it by triggers, which
    COPY skips): per report, the reported_at of the previous report of the same cell and
    category, merged duplicates left out and ties ordered by id (uuid order is the order of
    its lowercase hex text); NO_TIME for a place's first report and for merged ones."""
    out = np.full(cell.size, NO_TIME, dtype=np.int64)
    kept = np.flatnonzero(~merged)
    # Sorted by place, then time, then id: each report's predecessor is the entry before it
    # when that entry is of the same place.
    order = kept[np.lexsort((ids[kept], reported_at[kept], category[kept], cell[kept]))]
    same_place = (cell[order[1:]] == cell[order[:-1]]) & (
        category[order[1:]] == category[order[:-1]]
    )
    out[order[1:][same_place]] = reported_at[order[:-1][same_place]]
    return out


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


def plan_history(
    frame: CityFrame,
    *,
    reports: int = DEFAULT_REPORTS,
    days: int = DEFAULT_DAYS,
    end_date: date,
    seed: int = 1,
    clusters: Sequence[ClusterSpec] = (),
    checkins: bool = True,
    policy: DeadlinePolicy | None = None,
    random_ids: bool = False,
    group_threshold: int = GROUP_INCIDENT_THRESHOLD,
) -> HistoryPlan:
    """Reports (with clusters), their cases and the check-ins, without a database."""
    plan = plan_reports(frame, reports=reports, days=days, end_date=end_date, seed=seed)
    if clusters:
        plan = inject_clusters(plan, clusters)
    workflow = plan_workflow(plan, policy=policy, random_ids=random_ids)
    ck = plan_checkins(plan) if checkins else None
    return HistoryPlan(plan, workflow, ck, group_threshold)


# --- COPY text ---------------------------------------------------------------------------------

NULL = "\\N"
REPORT_COLUMNS = (
    "id",
    "officer_id",
    "cell_id",
    "village_id",
    "township_id",
    "county_id",
    "geom",
    "input_lon",
    "input_lat",
    "input_crs",
    "accuracy_m",
    "outside_own_cells",
    "distance_to_own_cells_m",
    "occurred_at",
    "reported_at",
    "category",
    "severity",
    "people_involved",
    "potential_group_incident",
    "title",
    "description",
    "status",
    "version",
    "owner_level",
    "owner_area_id",
    "department_id",
    "step",
    "step_started_at",
    "due_at",
    "notified_light",
    "extension_days_requested",
    "extension_days_granted",
    "accepted_at",
    "accepted_on_time",
    "closed_at",
    "closed_on_time",
    "outcome",
    "satisfaction",
    "merged_into_id",
    "body_hash",
    "prev_place_at",
    "case_number",
)
EVENT_COLUMNS = (
    "report_id",
    "actor_id",
    "at",
    "action",
    "from_status",
    "to_status",
    "reason",
    "data",
)
CHECKIN_COLUMNS = ("officer_id", "day", "nothing_to_report", "count", "checked_in_at")
_EWKB_POINT_4326 = "0101000020e6100000"  # little-endian, Point with SRID, 4326


def _strings(values: Sequence[str], index: Array, null: Array | None = None) -> list[str]:
    out = np.asarray(values, dtype=object)[np.maximum(index, 0)]
    if null is not None:
        out[null] = NULL
    return list(out.tolist())


def _ints(a: Array, null: Array | None = None) -> list[str]:
    out = a.astype(str).astype(object)
    if null is not None:
        out[null] = NULL
    return list(out.tolist())


def _floats(a: Array) -> list[str]:
    return [repr(x) for x in a.tolist()]


def _times_text(a: Array) -> list[str]:
    """Epoch seconds → 'YYYY-MM-DD HH:MM:SS+00' (NULL for NO_TIME), from a table of the days
    in range and one of the 86,400 times of day: five times faster than formatting each."""
    out = np.full(a.size, NULL, dtype=object)
    valid = a != NO_TIME
    if valid.any():
        days, seconds = np.divmod(a[valid], DAY_S)
        first, last = int(days.min()), int(days.max())
        epoch = date(1970, 1, 1).toordinal()
        names = np.array(
            [date.fromordinal(epoch + d).isoformat() for d in range(first, last + 1)], dtype=object
        )
        out[valid] = names[days - first] + _times_of_day()[seconds]
    return list(out.tolist())


@functools.cache
def _times_of_day() -> Array:
    return np.array(
        [f" {h:02d}:{m:02d}:{s:02d}+00" for h in range(24) for m in range(60) for s in range(60)],
        dtype=object,
    )


def _flags(a: Array) -> list[str]:
    """-1/0/1 → NULL/f/t."""
    return _strings(("f", "t"), a.astype(np.int64), a < 0)


def _ids(ids: Array) -> list[str]:
    return list(ids.astype("U36").tolist())


def _report_text(h: HistoryPlan, lo: int, hi: int) -> str:
    p, w = h.reports, h.workflow
    f = p.frame
    cell = p.cell[lo:hi]
    m = hi - lo
    ids = _ids(w.ids[lo:hi])
    xy = np.column_stack([p.lon[lo:hi], p.lat[lo:hi]]).astype("<f8")
    geom_hex = _hex(xy.view(np.uint8).reshape(m, 16)).view("S32").ravel().astype("U32")
    category = p.category[lo:hi]
    names = [TEMPLATES.get(c, TEMPLATES["other"]) for c in f.categories]
    text_index = category.astype(np.int64) * TEMPLATES_PER_CATEGORY + p.text[lo:hi]
    titles = [t for per in names for t, _d in per]
    bodies = [d for per in names for _t, d in per]
    people = p.people[lo:hi]
    description = [
        f"【示例】{body}（涉及{n}人）"
        for body, n in zip(_strings(bodies, text_index), people.tolist(), strict=True)
    ]
    dept = w.department[lo:hi]
    dept_ids = np.array([d.id for d in f.departments] + [0], dtype=np.int64)
    merged = w.merged_into[lo:hi]
    columns: list[list[str]] = [
        ids,
        _ints(p.officer[lo:hi]),
        _ints(f.cell_ids[cell]),
        _ints(f.village_ids[cell]),
        _ints(f.township_ids[cell]),
        _ints(f.county_ids[cell]),
        [_EWKB_POINT_4326 + g for g in geom_hex.tolist()],
        _floats(p.lon[lo:hi]),
        _floats(p.lat[lo:hi]),
        _repeat("wgs84", m),
        _floats(p.accuracy_m[lo:hi]),
        _repeat("f", m),
        _repeat("0", m),
        _times_text(p.occurred_at[lo:hi]),
        _times_text(p.reported_at[lo:hi]),
        _strings(f.categories, category.astype(np.int64)),
        _strings(SEVERITIES, p.severity[lo:hi].astype(np.int64)),
        _ints(people),
        _flags((people >= h.group_threshold).astype(np.int8)),
        _strings(titles, text_index),
        description,
        _strings([s.value for s in STATES], w.status[lo:hi].astype(np.int64)),
        _ints(w.version[lo:hi]),
        _strings(ESCALATION_LEVELS, w.owner_level[lo:hi].astype(np.int64)),
        _ints(w.owner_area_id[lo:hi]),
        _ints(dept_ids[dept], dept < 0),
        _strings([s or "" for s in STEPS], w.step[lo:hi].astype(np.int64), w.step[lo:hi] == 0),
        _times_text(w.step_started_at[lo:hi]),
        _times_text(w.due_at[lo:hi]),
        _strings(LIGHTS, w.notified_light[lo:hi].astype(np.int64)),
        _ints(w.extension_days_requested[lo:hi], w.extension_days_requested[lo:hi] == 0),
        _ints(w.extension_days_granted[lo:hi]),
        _times_text(w.accepted_at[lo:hi]),
        _flags(w.accepted_on_time[lo:hi]),
        _times_text(w.closed_at[lo:hi]),
        _flags(w.closed_on_time[lo:hi]),
        _strings([o.value for o in OUTCOMES], w.outcome[lo:hi], w.outcome[lo:hi] < 0),
        _strings(
            [s.value for s in SATISFACTIONS], w.satisfaction[lo:hi], w.satisfaction[lo:hi] < 0
        ),
        _strings(_ids(w.ids[np.maximum(merged, 0)]), np.arange(m), merged < 0),
        # The body hash is SHA-256 of the phone's request; here a digest of the random id.
        [hashlib.sha256(i.encode()).hexdigest() for i in ids],
        _times_text(h.prev_place_at[lo:hi]),
        _repeat(NULL, m) if h.case_numbers is None else list(h.case_numbers[lo:hi].tolist()),
    ]
    return _lines(columns)


def _repeat(value: str, n: int) -> list[str]:
    return [value] * n


def _lines(columns: Sequence[Sequence[str]]) -> str:
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


def _event_text(h: HistoryPlan, lo: int, hi: int) -> str:
    w, f = h.workflow, h.reports.frame
    action = w.ev_action[lo:hi].astype(np.int64)
    value = w.ev_value[lo:hi]
    data = np.full(hi - lo, "{}", dtype=object)

    def put(codes: Sequence[int], texts: Array) -> None:
        mask = np.isin(action, codes)
        if mask.any():
            data[mask] = texts[mask]

    def lookup(table: Sequence[str], index: Array) -> Array:
        return np.asarray(table, dtype=object)[np.clip(index, 0, len(table) - 1)]

    # The same data the services write (cases._assign, _return, …, sweep._escalate).
    put([_A[Action.ASSIGN]], lookup([_json(department=d.code) for d in f.departments], value))
    put([_A[Action.RETURN]], lookup([_json(department_id=d.id) for d in f.departments], value))
    extension = np.isin(action, [_A[Action.REQUEST_EXTENSION], _A[Action.APPROVE_EXTENSION]])
    days = [_json(days=d) for d in range(int(value[extension].max(initial=0)) + 1)]
    put([_A[Action.REQUEST_EXTENSION], _A[Action.APPROVE_EXTENSION]], lookup(days, value))
    manual = lookup([_json(to_level=level) for level in ESCALATION_LEVELS], value)
    automatic = lookup(
        [_json(automatic=True, to_level=level) for level in ESCALATION_LEVELS], value
    )
    put([_A[Action.ESCALATE]], np.where(w.ev_automatic[lo:hi], automatic, manual))
    outcomes = lookup([_json(outcome=o.value) for o in OUTCOMES], value)
    put([_A[Action.RESOLVE_ON_SITE], _A[Action.APPROVE_CLOSING]], outcomes)
    put([_A[Action.FOLLOW_UP]], lookup([_json(satisfaction=s.value) for s in SATISFACTIONS], value))
    for code, name in ((_A[Action.MERGE], "into"), (MERGED_IN, "duplicate")):
        mask = action == code
        if mask.any():
            others = _ids(w.ids[value[mask]])
            data[mask] = np.asarray([_json(**{name: o}) for o in others], dtype=object)
    reason = w.ev_reason[lo:hi].astype(np.int64)
    columns = [
        _ids(w.ids[w.ev_report[lo:hi]]),
        _ints(w.ev_actor[lo:hi], w.ev_actor[lo:hi] == 0),
        _times_text(w.ev_at[lo:hi]),
        _strings(ACTION_NAMES, action),
        _strings([s.value for s in STATES], w.ev_from[lo:hi].astype(np.int64)),
        _strings([s.value for s in STATES], w.ev_to[lo:hi].astype(np.int64)),
        _strings(_REASON_TEXTS, reason, reason < 0),
        list(data.tolist()),
    ]
    return _lines(columns)


def _json(**values: Any) -> str:
    return json.dumps(values, ensure_ascii=False)


def _checkin_text(h: HistoryPlan, lo: int, hi: int) -> str:
    c = h.checkins
    assert c is not None
    days = [(h.reports.start + timedelta(days=d)).isoformat() for d in range(h.reports.days)]
    count = c.count[lo:hi]
    columns = [
        _ints(c.officer[lo:hi]),
        _strings(days, c.day[lo:hi].astype(np.int64)),
        _flags((count == 0).astype(np.int8)),
        _ints(count),
        _times_text(c.checked_in_at[lo:hi]),
    ]
    return _lines(columns)


def copy_pieces(h: HistoryPlan, table: str, piece_rows: int = 20_000) -> Iterator[tuple[int, str]]:
    """(rows, COPY text) pieces of one table's rows, in load order (reports by filing time,
    so a case is always loaded before a duplicate merged into it)."""
    if table == "reports":
        total, render = len(h.reports), _report_text
    elif table == "case_events":
        total, render = int(h.workflow.ev_report.size), _event_text
        piece_rows *= 5  # events are narrow rows
    elif table == "checkins":
        total, render = (len(h.checkins) if h.checkins else 0), _checkin_text
        piece_rows *= 5
    else:
        raise ValueError(table)
    for lo in range(0, total, piece_rows):
        hi = min(lo + piece_rows, total)
        yield hi - lo, render(h, lo, hi)


COPY_COLUMNS = {
    "reports": REPORT_COLUMNS,
    "case_events": EVENT_COLUMNS,
    "checkins": CHECKIN_COLUMNS,
}


# --- loading -----------------------------------------------------------------------------------


def read_city(session: Session) -> CityFrame:
    """The frame of the city in the database: cells, officers, coordinators, county staff,
    county departments (creating a handler for each department that has none), categories."""
    from fieldapp.models import Category, Cell, Department, OfficerCell, User
    from grid import queries

    rows = session.execute(
        select(
            Cell.id, Cell.code, Cell.village_id, Cell.township_id, Cell.county_id, Cell.population
        ).order_by(Cell.code)
    ).all()
    if not rows:
        raise HistoryError("there are no grid cells: load the geography first (fieldapp geo demo)")
    geometry = {c.id: c.geometry for c in queries.cell_index_entries(session)}
    active_officer = (User.id == OfficerCell.user_id) & (User.role == "officer") & User.active
    officer_of = dict(
        session.execute(
            select(OfficerCell.cell_id, func.min(OfficerCell.user_id))
            .join(User, active_officer)
            .group_by(OfficerCell.cell_id)
        ).all()
    )
    officers = sorted(
        session.execute(select(OfficerCell.user_id).join(User, active_officer).distinct()).scalars()
    )

    def first_user_by_area(role: str) -> dict[int, int]:
        return {
            int(area or 0): int(user)
            for area, user in session.execute(
                select(User.area_id, func.min(User.id))
                .where(User.role == role, User.active, User.area_id.is_not(None))
                .group_by(User.area_id)
            ).all()
        }

    handlers = ensure_department_handlers(session)
    departments = tuple(
        DepartmentInfo(d.id, d.code, d.name, d.area_id, handlers.get(d.id))
        for d in session.execute(
            select(Department).where(Department.level == "county").order_by(Department.code)
        ).scalars()
    )
    categories = tuple(
        session.execute(
            select(Category.code)
            .where(Category.active.is_(True))
            .order_by(Category.sort_order, Category.code)
        ).scalars()
    )
    population = np.array([np.nan if r.population is None else r.population for r in rows])
    return CityFrame(
        cell_ids=np.array([r.id for r in rows], dtype=np.int64),
        cell_codes=tuple(r.code for r in rows),
        village_ids=np.array([r.village_id for r in rows], dtype=np.int64),
        township_ids=np.array([r.township_id for r in rows], dtype=np.int64),
        county_ids=np.array([r.county_id for r in rows], dtype=np.int64),
        population=fill_population(population),
        geometries=np.array([geometry[r.id] for r in rows], dtype=object),
        officer_of_cell=np.array([officer_of.get(r.id, 0) for r in rows], dtype=np.int64),
        officer_ids=np.array(officers, dtype=np.int64),
        coordinator_of_township=first_user_by_area("coordinator"),
        staff_of_county=first_user_by_area("county"),
        departments=departments,
        categories=categories,
    )


def ensure_department_handlers(session: Session) -> dict[int, int]:
    """department id → the user who handles its cases (the lowest active `department` user),
    creating `dept_<department code>` with the demo password where a department has none."""
    from fieldapp.models import Department, User
    from fieldapp.services.accounts import hash_password
    from fieldapp.services.demo import DEMO_PASSWORD

    def current() -> dict[int, int]:
        return {
            int(d or 0): int(u)
            for d, u in session.execute(
                select(User.department_id, func.min(User.id))
                .where(User.role == "department", User.active, User.department_id.is_not(None))
                .group_by(User.department_id)
            ).all()
        }

    found = current()
    missing = [
        d
        for d in session.execute(select(Department).order_by(Department.code)).scalars()
        if d.id not in found
    ]
    if missing:
        demo_hash = hash_password(DEMO_PASSWORD)  # once: Argon2 is slow on purpose
        session.execute(
            pg_insert(User)
            .values(
                [
                    {
                        "username": f"dept_{d.code}",
                        "display_name": f"{d.name}经办人（示例）",
                        "role": "department",
                        "department_id": d.id,
                        "password_hash": demo_hash,
                        "active": True,
                    }
                    for d in missing
                ]
            )
            # A username already taken (say, a deactivated handler) is left alone: that
            # department's steps then have no actor.
            .on_conflict_do_nothing(index_elements=["username"])
        )
        found = current()
    return found


def load_history(
    session: Session,
    *,
    reports: int = DEFAULT_REPORTS,
    days: int = DEFAULT_DAYS,
    seed: int = 1,
    end_date: date | None = None,
    clusters: Sequence[ClusterSpec] = (),
    append: bool = False,
    checkins: bool = True,
    policy: DeadlinePolicy | None = None,
    group_threshold: int = GROUP_INCIDENT_THRESHOLD,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    analyze: bool = True,
    fast_foreign_keys: bool = True,
) -> dict[str, Any]:
    """Plan and load a report history in the caller's transaction (commit = all of it,
    rollback = none of it); returns a summary (counts, clusters, timings).

    Pass the app's `DEADLINE_POLICY` and `GROUP_INCIDENT_THRESHOLD` so the history follows
    the deployment's rules. Refuses (HistoryExists) when reports exist, unless `append`.
    With `fast_foreign_keys` and a superuser connection, the referenced rows are locked and
    checked once and the per-row foreign-key triggers are off during COPY (see
    `_guard_foreign_keys`)."""
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    end_date = end_date or default_end_date(now)
    if end_date >= china_today(now):
        raise HistoryError(
            f"--end-date {end_date} is not in the past: the history runs to the midnight after "
            "it, which must not be in the future (China time)"
        )
    if not append and session.execute(text("SELECT EXISTS (SELECT 1 FROM reports)")).scalar():
        count: int = session.execute(text("SELECT count(*) FROM reports")).scalar_one()
        raise HistoryExists(
            f"the database already has {count:,} reports, so no history was generated. Run "
            "again with --append to add to them (new ids, nothing overwritten), or load into "
            "a database without reports."
        )
    frame = read_city(session)
    session.flush()
    with_officer = int((frame.officer_of_cell > 0).sum())
    say(
        f"planning ~{reports:,} reports over {days} days to {end_date} (seed {seed}) in "
        f"{with_officer:,} of {len(frame.cell_codes):,} cells (cells without an officer get none)"
    )
    h = plan_history(
        frame,
        reports=reports,
        days=days,
        end_date=end_date,
        seed=seed,
        clusters=clusters,
        checkins=checkins,
        policy=policy,
        random_ids=append,
        group_threshold=group_threshold,
    )
    planned = time.perf_counter()
    counts = h.counts()
    say(
        f"planned {counts['reports']:,} reports ({counts['injected']:,} from clusters), "
        f"{counts['events']:,} events, {counts['checkins']:,} check-ins "
        f"in {planned - started:.1f} s"
    )

    # COPY runs on the session's own connection, so it is inside the caller's transaction.
    raw: Any = session.connection().connection.driver_connection
    cur = raw.cursor()
    numbers, last_numbers = number_cases(cur, h)
    h = replace(h, case_numbers=numbers)
    fast = fast_foreign_keys and _guard_foreign_keys(cur, h)
    say(
        "foreign keys: referenced rows locked and checked once, per-row checks off"
        if fast
        else "foreign keys: checked per row"
    )
    copy_started = time.perf_counter()
    try:
        _copy(cur, h, "reports", say, statement_rows=100_000)
        _copy(cur, h, "case_events", say, statement_rows=500_000)
        if h.checkins is not None and len(h.checkins):
            if append and _checkins_overlap(cur, h):
                _merge_checkins(cur, h, say)
            else:
                _copy(cur, h, "checkins", say, statement_rows=500_000)
    finally:
        if fast:
            cur.execute("SET LOCAL session_replication_role TO DEFAULT")
    _save_counters(cur, last_numbers)
    if fast and h.checkins is not None and len(h.checkins):
        _recount_checkin_months(cur, h.reports.start, h.reports.end)
    key_cases = _flag_key_cases(cur, h.reports.start, h.reports.end + timedelta(days=1))
    say(f"key backlog cases (重点积案) flagged: {key_cases:,}")
    copied = time.perf_counter()
    if analyze:
        cur.execute("ANALYZE reports, case_events, checkins")
        say(f"analyzed in {time.perf_counter() - copied:.1f} s")
    seconds = time.perf_counter() - started
    summary: dict[str, Any] = {
        "period": {"from": h.reports.start.isoformat(), "to": h.reports.end.isoformat()},
        "seed": seed,
        **counts,
        "clusters": [c.as_dict() for c in h.reports.clusters],
        "plan_seconds": round(planned - started, 2),
        "copy_seconds": round(copied - copy_started, 2),
        "seconds": round(seconds, 2),
        "reports_per_s": round(counts["reports"] / max(seconds, 1e-9)),
        "fast_foreign_keys": fast,
        "key_cases": key_cases,
    }
    summary["events"] += key_cases  # each flag is on the case's record
    status = ", ".join(f"{k} {v:,}" for k, v in counts["by_status"].items())
    say(
        f"done: {counts['reports']:,} reports ({status}); {counts['events']:,} events; "
        f"{counts['checkins']:,} check-ins; {summary['reports_per_s']:,} reports/s overall"
    )
    return summary


# Key backlog cases (重点积案) of the history: about one in a hundred of the serious reports
# (red, or a potential group incident) filed at least a month before its end, each with a
# responsible leader (包案领导) and a target date 90 days after its report, flagged by the
# system three days after it came in. Chosen by a hash of the id, so the same seed gives the
# same cases.
_KEY_LEADERS = ("分管副县长", "政法委副书记", "信访局局长", "镇党委书记", "镇长", "司法所所长")
_FLAG_KEY_CASES = """
WITH chosen AS (
    SELECT r.id, r.status, r.reported_at,
        (%(leaders)s::text[])[1 + abs(hashtext(r.id::text || 'leader')) %% %(n_leaders)s]
            AS leader,
        ((r.reported_at AT TIME ZONE 'Asia/Shanghai')::date + 90) AS target
    FROM reports r
    WHERE r.reported_at >= %(start)s AND r.reported_at < %(end)s - interval '30 days'
      AND (r.severity = 'red' OR r.potential_group_incident)
      AND r.status NOT IN ('merged', 'rejected') AND NOT r.is_key_case
      AND abs(hashtext(r.id::text)) %% 100 = 0
), flagged AS (
    UPDATE reports r
    SET is_key_case = true, key_leader = c.leader, key_target_date = c.target
    FROM chosen c WHERE r.id = c.id
    RETURNING r.id
)
INSERT INTO case_events (report_id, actor_id, at, action, from_status, to_status, data)
SELECT c.id, NULL, c.reported_at + interval '3 days', 'key_case', c.status, c.status,
    jsonb_build_object(
        'before', jsonb_build_object('is_key_case', false, 'leader', NULL, 'target_date', NULL),
        'after', jsonb_build_object(
            'is_key_case', true, 'leader', c.leader, 'target_date', c.target::text))
FROM chosen c JOIN flagged f ON f.id = c.id
"""


def _flag_key_cases(cur: Any, start: date, end: date) -> int:
    """Flag the key backlog cases among the reports filed from `start` to before `end`
    (China-time days; see _FLAG_KEY_CASES); returns how many."""
    cur.execute(
        _FLAG_KEY_CASES,
        {
            "leaders": list(_KEY_LEADERS),
            "n_leaders": len(_KEY_LEADERS),
            "start": datetime(start.year, start.month, start.day, tzinfo=CHINA_TZ),
            "end": datetime(end.year, end.month, end.day, tzinfo=CHINA_TZ),
        },
    )
    return int(cur.rowcount)


def _copy(
    cur: Any, h: HistoryPlan, table: str, say: Callable[[str], None], statement_rows: int
) -> int:
    """COPY a table's rows in statements of about `statement_rows` rows (bounded server
    memory for the after-row trigger queue when FK checks run per row). A writer thread sends
    while the next piece is rendered, so Python and the server work at the same time."""
    from psycopg.copy import QueuedLibpqWriter

    sql = f"COPY {table} ({', '.join(COPY_COLUMNS[table])}) FROM STDIN"
    pieces = copy_pieces(h, table)
    total = {
        "reports": len(h.reports),
        "case_events": int(h.workflow.ev_report.size),
        "checkins": len(h.checkins) if h.checkins else 0,
    }[table]
    sent = 0
    started = time.perf_counter()
    piece = next(pieces, None)
    while piece is not None:
        in_statement = 0
        with cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
            while piece is not None and in_statement < statement_rows:
                rows, data = piece
                copy.write(data)
                in_statement += rows
                piece = next(pieces, None)
        sent += in_statement
        elapsed = time.perf_counter() - started
        say(f"{table}: {sent:,}/{total:,} rows ({sent / max(elapsed, 1e-9):,.0f} rows/s)")
    return sent


def _guard_foreign_keys(cur: Any, h: HistoryPlan) -> bool:
    """Per-row FK checks during COPY cost more than the COPY itself (an index probe per key
    and row, and a queue of after-row triggers). Instead: lock every referenced row FOR KEY
    SHARE — what those triggers do — and check they all exist, in one query per table; the
    rows the history points to among its own (cases, duplicates) are consistent by
    construction. Then, if the role may (superuser) and the tables have no triggers of their
    own, switch the FK triggers off for this transaction only. Returns whether it did."""
    f, p, w = h.reports.frame, h.reports, h.workflow
    users = set(p.officer.tolist()) | set(w.ev_actor[w.ev_actor > 0].tolist())
    if h.checkins is not None:
        users |= set(h.checkins.officer.tolist())
    cells = np.unique(p.cell)
    areas = {
        *f.village_ids[cells].tolist(),
        *f.township_ids[cells].tolist(),
        *f.county_ids[cells].tolist(),
        *w.owner_area_id.tolist(),
    }
    departments = {f.departments[i].id for i in np.unique(w.department[w.department >= 0])}
    departments |= {
        f.departments[i].id
        for i in np.unique(w.ev_value[np.isin(w.ev_action, [_A[Action.ASSIGN]])]).tolist()
    }
    checks = [
        ("users", "id", sorted(users)),
        ("cells", "id", sorted(f.cell_ids[cells].tolist())),
        ("areas", "id", sorted(areas)),
        ("departments", "id", sorted(departments)),
        ("categories", "code", sorted({f.categories[i] for i in np.unique(p.category).tolist()})),
    ]
    for table, key, values in checks:
        if not values:
            continue
        # Raw SQL: one locking read per table (the ORM has no FOR KEY SHARE over ANY()).
        found = cur.execute(
            f"SELECT {key} FROM {table} WHERE {key} = ANY(%s) FOR KEY SHARE", (values,)
        ).fetchall()
        if len(found) != len(values):
            raise HistoryError(
                f"{len(values) - len(found)} {table} rows the history refers to have gone "
                "(changed while it was planned?); nothing was written"
            )
    superuser = cur.execute("SELECT current_setting('is_superuser') = 'on'").fetchone()[0]
    # Triggers whose work the COPY text already holds (reports.prev_place_at) may be skipped;
    # any other would be silently lost.
    own_triggers = cur.execute(
        "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = ANY("
        "ARRAY['reports'::regclass, 'case_events'::regclass, 'checkins'::regclass]) "
        "AND tgname <> ALL(%s)",
        ([*COPY_COMPUTED_TRIGGERS, *COPY_ALWAYS_TRIGGERS],),
    ).fetchone()[0]
    if not superuser or own_triggers:
        return False
    cur.execute("SET LOCAL session_replication_role = replica")
    return True


def _recount_checkin_months(cur: Any, first: date, last: date) -> None:
    """checkin_months for the months of [first, last], counted afresh from checkins: its
    triggers were off during the COPY (COPY_COMPUTED_TRIGGERS)."""
    # Raw SQL: a set-based recount on the loader's cursor, inside its transaction.
    cur.execute(
        "DELETE FROM checkin_months WHERE month >= date_trunc('month', %(a)s::date) "
        "AND month <= %(b)s",
        {"a": first, "b": last},
    )
    cur.execute(
        "INSERT INTO checkin_months (officer_id, month, days) "
        "SELECT officer_id, date_trunc('month', day)::date, count(*) FROM checkins "
        "WHERE day >= date_trunc('month', %(a)s::date) "
        "AND day < date_trunc('month', %(b)s::date) + interval '1 month' GROUP BY 1, 2",
        {"a": first, "b": last},
    )


def _checkins_overlap(cur: Any, h: HistoryPlan) -> bool:
    assert h.checkins is not None
    row = cur.execute(
        "SELECT EXISTS (SELECT 1 FROM checkins WHERE day BETWEEN %s AND %s "
        "AND officer_id = ANY(%s))",
        (h.reports.start, h.reports.end, sorted(set(h.checkins.officer.tolist()))),
    ).fetchone()
    return bool(row[0])


def _merge_checkins(cur: Any, h: HistoryPlan, say: Callable[[str], None]) -> None:
    """Appending over days that already have check-ins: add the counts to the existing rows
    (one per officer and day) instead of failing on the unique key."""
    cur.execute(
        "CREATE TEMP TABLE IF NOT EXISTS history_checkins "
        "(officer_id int, day date, nothing_to_report bool, count int, "
        "checked_in_at timestamptz) ON COMMIT DROP"
    )
    cur.execute("TRUNCATE history_checkins")
    with cur.copy(f"COPY history_checkins ({', '.join(CHECKIN_COLUMNS)}) FROM STDIN") as copy:
        for _rows, data in copy_pieces(h, "checkins"):
            copy.write(data)
    # Raw SQL: a set-based upsert of the staged rows.
    cur.execute(
        "INSERT INTO checkins (officer_id, day, nothing_to_report, count, checked_in_at) "
        "SELECT officer_id, day, nothing_to_report, count, checked_in_at FROM history_checkins "
        "ON CONFLICT ON CONSTRAINT uq_checkins_officer_day DO UPDATE SET "
        "count = checkins.count + EXCLUDED.count, "
        "nothing_to_report = checkins.count + EXCLUDED.count = 0, "
        "checked_in_at = greatest(checkins.checked_in_at, EXCLUDED.checked_in_at)"
    )
    say(f"checkins: {len(h.checkins or ()):,} rows merged into the existing days")


def save_clusters(path: Path, clusters: Sequence[Mapping[str, Any]], *, append: bool) -> Path:
    """Write the injected clusters as JSON for the demo (a list; with `append`, added to what
    the file already lists). Written to a temporary file and renamed: never half a file."""
    previous: list[Any] = []
    if append and path.exists():
        try:
            loaded = json.loads(path.read_text("utf-8"))
            previous = loaded if isinstance(loaded, list) else []
        except (OSError, ValueError):
            previous = []
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps([*previous, *clusters], ensure_ascii=False, indent=2) + "\n", "utf-8")
    tmp.replace(path)
    return path
