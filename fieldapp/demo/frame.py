"""The city a report history is planned for (`CityFrame`: cells with their chain,
population, polygon and officer; coordinators, county staff, departments), read from the
database by `read_city` or built from boundary features by `city_frame_from_features`, so the
early-warning evaluation can plan without a database; and the units every stage shares (China
time as a fixed offset, epoch seconds, NO_TIME for NULL)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldapp.demo.accounts import ensure_department_handlers
from fieldapp.demo.city import COUNTY_DEPARTMENTS
from fieldapp.domain import CHINA_TZ

Array = npt.NDArray[Any]

DEFAULT_REPORTS = 250_000
DEFAULT_DAYS = 365
DEFAULT_CLUSTER_CATEGORY = "wages_labour"
DEFAULT_CLUSTER_RADIUS = 6
"""Neighbours of a cluster's cell that share it: about the ring of cells around a cell."""

# China has kept UTC+8 all year since 1991, so a local day is a fixed offset from UTC.
CHINA_OFFSET_S: Final = int(
    (datetime(2000, 1, 1, tzinfo=CHINA_TZ).utcoffset() or timedelta()).total_seconds()
)
DAY_S = 86_400
NO_TIME = -1
"""Stands for NULL in the int64 epoch-second arrays (no report is dated 1969)."""


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
    """A frame from boundary features (e.g. `fieldapp.demo.city.build_demo_city(...).features` or
    `tests.support.small_city()`), with made-up ids, for planning without a database.

    `officer_cells` maps an officer name to its cell codes; by default every cell has its own
    officer (as in the demo city). Each county gets one department per name in
    `fieldapp.demo.city.COUNTY_DEPARTMENTS` (the demo city's), each township a coordinator,
    each county a staff member."""
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
        for i, name in enumerate(COUNTY_DEPARTMENTS, start=1):
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
