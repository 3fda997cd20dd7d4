"""Writing a validated boundary set into the database: new areas are inserted, changed ones are
updated in place (their previous state kept in `boundary_history`), unchanged ones are left
alone, so re-importing the same file changes nothing.

The whole import is one transaction owned by the caller: validation runs first and any problem
aborts before the first write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from grid import LEVELS
from grid import queries as q
from grid.features import BoundaryFeature, Problem
from grid.validation import validate


class BoundaryProblems(Exception):
    """The boundary set has problems; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the boundary set; nothing was written")
        self.problems = problems


@dataclass
class ImportSummary:
    inserted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    unchanged: int = 0
    renamed_codes: list[tuple[str, str]] = field(default_factory=list)
    version: int | None = None

    @property
    def changed(self) -> bool:
        return bool(sum(self.inserted.values()) or sum(self.updated.values()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "renamed_codes": self.renamed_codes,
            "boundary_version": self.version,
        }


# Geometry comparison tolerance in degrees (~1 mm): coordinates that round-trip through a file
# format should not count as a change.
_SAME_GEOMETRY_TOLERANCE = 1e-8


def import_boundaries(
    session: Session,
    features: list[BoundaryFeature],
    *,
    source: str,
    progress: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Validate `features` against themselves and the areas already stored, then write them.
    Raises `BoundaryProblems` (having written nothing) when anything is wrong."""
    say = progress or (lambda _msg: None)
    stored = q.stored_boundaries(session)
    say(f"validating {len(features):,} features")
    problems = validate(features, known_codes=frozenset(stored))
    problems += _problems_against_stored(features, stored)
    if problems:
        raise BoundaryProblems(problems)

    summary = ImportSummary()
    today = date.today()
    ids = q.area_ids_by_code(session)
    history: list[dict[str, Any]] = []
    by_level: dict[str, list[BoundaryFeature]] = {level: [] for level in LEVELS}
    for feature in features:
        by_level[feature.level].append(feature)

    for level in LEVELS:
        new_rows: list[dict[str, Any]] = []
        say(f"writing {len(by_level[level]):,} {level} features")
        for feature in by_level[level]:
            current_code = feature.code
            old = stored.get(current_code)
            if old is None and feature.previous_code and feature.previous_code in stored:
                old = stored[feature.previous_code]
            values = _values(feature, ids)
            if old is None:
                new_rows.append(values)
                summary.inserted[level] += 1
                continue
            change = _describe_change(old, feature)
            if not change:
                summary.unchanged += 1
                continue
            history.append(_history_row(old, feature.code, change, today))
            if old.code != feature.code:
                summary.renamed_codes.append((old.code, feature.code))
                if level != "cell":
                    ids[feature.code] = ids.pop(old.code)
            if level == "cell":
                q.update_cell(session, old.id, values)
            else:
                q.update_area(session, old.id, values)
            summary.updated[level] += 1
        if level == "cell":
            q.insert_cells(session, [_cell_chain(row) for row in new_rows])
        else:
            ids.update(q.insert_areas(session, new_rows))

    q.record_history(session, history)
    if summary.changed:
        q.refresh_cell_chains(session)
        summary.version = q.record_version(session, source, _summary_line(summary))
    return summary


def _values(feature: BoundaryFeature, ids: dict[str, int]) -> dict[str, Any]:
    parent_id = ids.get(feature.parent_code) if feature.parent_code else None
    values: dict[str, Any] = {
        "code": feature.code,
        "name": feature.name,
        "geometry": feature.geometry,
        "population": feature.population,
        "households": feature.households,
        "valid_from": feature.valid_from,
        "synthetic": feature.synthetic,
    }
    if feature.level == "cell":
        values["village_id"] = parent_id
    else:
        values["level"] = feature.level
        values["parent_id"] = parent_id
    return values


def _cell_chain(values: dict[str, Any]) -> dict[str, Any]:
    # Placeholder chain ids (the village's) satisfy the NOT NULL foreign keys until
    # refresh_cell_chains rewrites them from the hierarchy in one statement.
    village_id = values["village_id"]
    return {**values, "township_id": village_id, "county_id": village_id, "city_id": village_id}


def _describe_change(old: q.StoredBoundary, new: BoundaryFeature) -> str:
    changes = []
    if old.code != new.code:
        changes.append(f"code {old.code} → {new.code}")
    if old.name != new.name:
        changes.append(f"name {old.name} → {new.name}")
    if (old.parent_code or None) != (new.parent_code or None):
        changes.append(f"parent {old.parent_code} → {new.parent_code}")
    if old.population != new.population or old.households != new.households:
        changes.append("population")
    if not old.geometry.equals_exact(
        q.as_multipolygon(new.geometry), tolerance=_SAME_GEOMETRY_TOLERANCE
    ):
        changes.append("geometry")
    return ", ".join(changes)


def _history_row(old: q.StoredBoundary, new_code: str, change: str, today: date) -> dict[str, Any]:
    return {
        "level": old.level,
        "code": old.code,
        "new_code": new_code,
        "name": old.name,
        "parent_code": old.parent_code,
        "geometry": old.geometry,
        "valid_from": old.valid_from,
        "valid_to": today,
        "change": change[:200],
    }


def _problems_against_stored(
    features: list[BoundaryFeature], stored: dict[str, q.StoredBoundary]
) -> list[Problem]:
    """Checks that need the database: a code may not change level, and a stored area cannot
    take a new code that another stored area already has."""
    problems = []
    for f in features:
        old = stored.get(f.code)
        if old is not None and old.level != f.level:
            point = f.geometry.representative_point()
            problems.append(
                Problem(
                    "level_changed",
                    f.code,
                    f"{f.code} is stored as a {old.level} but the file makes it a {f.level}",
                    (point.x, point.y),
                )
            )
    return problems


def _summary_line(summary: ImportSummary) -> str:
    ins = ", ".join(f"{k} {v}" for k, v in summary.inserted.items() if v)
    upd = ", ".join(f"{k} {v}" for k, v in summary.updated.items() if v)
    return f"inserted: {ins or 'none'}; updated: {upd or 'none'}; unchanged: {summary.unchanged}"
