"""locate / nearest / roll-up / layers against real PostGIS, on the small synthetic city."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import column, select, table, values
from sqlalchemy.orm import Session

from fieldapp.services import geography
from grid import queries
from grid.locator import CellIndex
from tests import support

pytestmark = pytest.mark.usefixtures("small_city_loaded")

LATTICE = support.lattice()


def test_locate_returns_the_cell_and_its_whole_chain(db_session: Session) -> None:
    # The centre of the first cell's quadrilateral lies inside it, whatever the jitter.
    corners = LATTICE[0:2, 0:2].reshape(-1, 2)
    lon, lat = corners.mean(axis=0)
    location = queries.locate(db_session, float(lon), float(lat))
    assert location is not None
    assert location.cell.code == "991101001001001"
    assert location.village.code == "991101001001"
    assert location.township.code == "991101001"
    assert location.county.code == "991101"
    assert location.city.code == "991100"
    assert location.as_dict()["cell"]["level"] == "cell"


def test_a_shared_vertex_resolves_to_the_lowest_code(db_session: Session) -> None:
    lon, lat = LATTICE[1, 1]  # shared by four cells
    location = queries.locate(db_session, float(lon), float(lat))
    assert location is not None
    candidates = {"991101001001001", "991101001001002", "991101001001003", "991101001001004"}
    assert location.cell.code == min(candidates)


def test_outside_every_cell_gives_none_and_the_nearest_cell_in_metres(db_session: Session) -> None:
    # 0.01° of longitude west of the straight western edge: about 900 m at 35.3°N.
    lon, lat = support.ORIGIN[0] - 0.01, float(LATTICE[0, 0:2, 1].mean())
    assert queries.locate(db_session, lon, lat) is None
    nearest = queries.nearest_cell(db_session, lon, lat)
    assert nearest is not None
    location, distance = nearest
    assert location.cell.code == "991101001001001"
    assert 880 < distance < 940


def test_rollup_counts_per_level_with_zero_areas(db_session: Session) -> None:
    cell_ids = dict(db_session.execute(select(queries.Cell.code, queries.Cell.id)).all())
    # Three reports in one cell, one in a cell of the other township.
    rows = [(cell_ids["991101001001001"],)] * 3 + [(cell_ids["991101002001001"],)]
    reports = values(column("cell_id"), name="reports").data(rows)
    by_township = queries.rollup(db_session, select(reports.c.cell_id), "township")
    assert [(r.code, r.count) for r in by_township] == [("991101001", 3), ("991101002", 1)]
    by_village = queries.rollup(db_session, select(reports.c.cell_id), "village")
    assert len(by_village) == 12 and sum(r.count for r in by_village) == 4
    assert sum(1 for r in by_village if r.count == 0) == 10
    by_cell = queries.rollup(db_session, select(reports.c.cell_id), "cell")
    assert len(by_cell) == 48
    city = queries.rollup(db_session, select(reports.c.cell_id), "city")
    assert [(r.code, r.count) for r in city] == [("991100", 4)]
    township_id = by_township[0].area_id
    within = queries.rollup(db_session, select(reports.c.cell_id), "village", within=township_id)
    assert len(within) == 6 and sum(r.count for r in within) == 3


def test_rollup_refuses_an_unknown_level(db_session: Session) -> None:
    with pytest.raises(ValueError, match="unknown level"):
        queries.rollup(db_session, table("x", column("cell_id")), "province")


def test_areas_in_a_bbox_and_coverage_simplified_layers_keep_shared_edges(
    db_session: Session,
) -> None:
    west = queries.areas_of_level(db_session, "township", (119.40, 35.30, 119.41, 35.31))
    assert [a.code for a in west] == ["991101001"]
    layer = geography.area_layer(db_session, "village")
    assert len(layer["features"]) == 12
    import shapely
    from shapely.geometry import shape

    polys = [shape(f["geometry"]) for f in layer["features"]]
    union_area = shapely.union_all(polys).area
    # A coverage stays a coverage: no overlaps (sum == union) and no gaps (== city area).
    assert sum(p.area for p in polys) == pytest.approx(union_area, rel=1e-9)
    assert union_area == pytest.approx(support.COLUMNS * support.ROWS * support.STEP**2, rel=1e-6)
    boxed = geography.area_layer(db_session, "village", (119.40, 35.30, 119.405, 35.305))
    assert 0 < len(boxed["features"]) < 12


# --- the property test: the STRtree twin agrees with PostGIS everywhere --------------------

_xs = LATTICE[:, :, 0]
_ys = LATTICE[:, :, 1]
_bounds = (
    float(_xs.min()) - 0.005,
    float(_ys.min()) - 0.005,
    float(_xs.max()) + 0.005,
    float(_ys.max()) + 0.005,
)


def _vertex(i: int, j: int) -> tuple[float, float]:
    return float(LATTICE[i, j, 0]), float(LATTICE[i, j, 1])


anywhere = st.tuples(
    st.floats(_bounds[0], _bounds[2], allow_nan=False),
    st.floats(_bounds[1], _bounds[3], allow_nan=False),
)
vertices = st.builds(_vertex, st.integers(0, support.COLUMNS), st.integers(0, support.ROWS))


@st.composite
def on_edges(draw: st.DrawFn) -> tuple[float, float]:
    """A point interpolated along a lattice edge: on (or within rounding of) a shared edge."""
    i, j = draw(st.integers(0, support.COLUMNS - 1)), draw(st.integers(0, support.ROWS - 1))
    a = LATTICE[i, j]
    b = LATTICE[i + 1, j] if draw(st.booleans()) else LATTICE[i, j + 1]
    t = draw(st.floats(0, 1))
    p = a + t * (b - a)
    return float(p[0]), float(p[1])


@pytest.fixture(scope="module")
def index(engine) -> CellIndex:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return CellIndex(queries.cell_index_entries(session))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(point=st.one_of(anywhere, vertices, on_edges()))
def test_strtree_locate_agrees_with_postgis(
    point: tuple[float, float], index: CellIndex, db_session: Session
) -> None:
    lon, lat = point
    in_db = queries.locate(db_session, lon, lat)
    in_memory = index.locate(lon, lat)
    assert (in_db.cell.id if in_db else None) == in_memory
