"""`fieldapp geo validate` / `geo import` against PostGIS: bad files are refused whole, name
the offending code and leave the database unchanged; re-import changes nothing; a new version
updates in place and keeps the history of codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from shapely import affinity
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fieldapp.cli import geo_cli
from grid import queries
from grid.boundary_io import write_geojson
from grid.importer import BoundaryProblems, import_boundaries
from grid.models import Area, BoundaryHistory, BoundaryVersion, Cell
from tests import support

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "boundaries"

BAD_FILES = {  # file → (problem kind, the code the message must name)
    "self_intersection.geojson": ("invalid_geometry", "371102001001002"),
    "unclosed_ring.geojson": ("unclosed_ring", "371102001001001"),
    "too_few_points.geojson": ("too_few_points", "371102001002001"),
    "overlapping_cells.geojson": ("overlap", "371102001001001"),
    "gap_in_village.geojson": ("gap", "371102001002"),
    "cell_outside_village.geojson": ("outside_parent", "371102001001001"),
    "child_outside_parent.geojson": ("outside_parent", "371102001"),
    "duplicate_code.geojson": ("duplicate_code", "371102001002001"),
    "unknown_parent_code.geojson": ("missing_parent", "371102001002002"),
    "swapped_coordinates.geojson": ("swapped_coordinates", "371102001002002"),
    "outside_china.geojson": ("outside_china", "371102001002002"),
    "declared_crs.geojson": ("crs", "EPSG::3857"),
}


def _snapshot(session: Session) -> tuple[int, int, int]:
    return (
        session.execute(select(func.count()).select_from(Area)).scalar_one(),
        session.execute(select(func.count()).select_from(Cell)).scalar_one(),
        session.execute(select(func.count()).select_from(BoundaryVersion)).scalar_one(),
    )


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_is_refused_names_the_code_and_writes_nothing(
    app: Flask, db_session: Session, name: str
) -> None:
    kind, code = BAD_FILES[name]
    before = _snapshot(db_session)
    runner = app.test_cli_runner()
    for command in (["validate"], ["import"]):
        result = runner.invoke(geo_cli, [*command, str(FIXTURES / name)])
        assert result.exit_code == 1, result.output
        assert any(
            line.startswith(f"[{kind}]") and code in line for line in result.output.splitlines()
        ), result.output
        assert "nothing was written" in result.output
    assert _snapshot(db_session) == before


def test_good_file_imports_and_reimport_changes_nothing(app: Flask, db_session: Session) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(geo_cli, ["validate", str(FIXTURES / "good.geojson")]).exit_code == 0
    first = runner.invoke(geo_cli, ["import", str(FIXTURES / "good.geojson")])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output[first.output.index("{") :])
    assert summary["inserted"]["cell"] == 4 and summary["boundary_version"] is not None
    before = _snapshot(db_session)
    again = runner.invoke(geo_cli, ["import", str(FIXTURES / "good.geojson")])
    assert again.exit_code == 0
    summary = json.loads(again.output[again.output.index("{") :])
    assert summary["boundary_version"] is None
    assert sum(summary["inserted"].values()) == sum(summary["updated"].values()) == 0
    assert _snapshot(db_session) == before


def test_shapefile_imports_the_same_as_geojson(app: Flask, db_session: Session) -> None:
    runner = app.test_cli_runner()
    shp = next((FIXTURES / "good_shapefile").glob("*.shp"))
    assert runner.invoke(geo_cli, ["import", str(shp)]).exit_code == 0
    again = runner.invoke(geo_cli, ["import", str(FIXTURES / "good.geojson")])
    summary = json.loads(again.output[again.output.index("{") :])
    assert summary["boundary_version"] is None, again.output


def test_new_version_updates_in_place_and_keeps_code_history(
    db_session: Session, tmp_path: Path
) -> None:
    features = support.small_city()
    import_boundaries(db_session, features, source="v1")
    township = next(f for f in features if f.code == "991101002")
    area_id = db_session.execute(select(Area.id).where(Area.code == "991101002")).scalar_one()

    # The township becomes a street: new code, new name, same ground. Its villages follow.
    renamed = []
    for f in support.small_city():
        if f.code == "991101002":
            f.previous_code, f.code, f.name = f.code, "991101009", "测试新街道"
        elif f.parent_code == "991101002":
            f.parent_code = "991101009"
        renamed.append(f)
    path = tmp_path / "v2.geojson"
    write_geojson(renamed, path)
    summary = import_boundaries(db_session, renamed, source="v2")
    assert summary.renamed_codes == [("991101002", "991101009")]
    assert summary.updated["township"] == 1 and summary.updated["village"] == 6
    assert summary.inserted == dict.fromkeys(summary.inserted, 0)
    same = db_session.execute(select(Area).where(Area.id == area_id)).scalar_one()
    assert (same.code, same.name) == ("991101009", "测试新街道")
    history = db_session.execute(
        select(BoundaryHistory).where(BoundaryHistory.code == "991101002")
    ).scalar_one()
    assert history.new_code == "991101009" and history.name == township.name
    # Cells under the renamed township still roll up to it.
    cells = queries.rollup(db_session, select(Cell.id.label("cell_id")), "township")
    assert {r.code: r.count for r in cells} == {"991101001": 24, "991101009": 24}


def test_a_moved_boundary_is_refused_when_it_opens_a_gap(db_session: Session) -> None:
    before = _snapshot(db_session)
    features = support.small_city()
    cell = next(f for f in features if f.level == "cell")
    cell.geometry = affinity.scale(cell.geometry, 0.9, 0.9)
    with pytest.raises(BoundaryProblems) as refused:
        import_boundaries(db_session, features, source="shrunk")
    assert any(p.code in (cell.code, cell.parent_code) for p in refused.value.problems)
    assert _snapshot(db_session) == before


def test_repair_fixes_what_it_can_and_reports_each_change(app: Flask, db_session: Session) -> None:
    runner = app.test_cli_runner()
    path = str(FIXTURES / "self_intersection.geojson")
    assert runner.invoke(geo_cli, ["import", path]).exit_code == 1
    repaired = runner.invoke(geo_cli, ["import", path, "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert "repaired: 371102001001002" in repaired.output
    summary = json.loads(repaired.output[repaired.output.index("{") :])
    assert summary["inserted"]["cell"] == 4
