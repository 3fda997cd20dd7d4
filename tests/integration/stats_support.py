"""Making reports and check-ins directly in the database for the statistics tests (the API
would stamp them with the current time; statistics need reports at chosen times and states)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fieldapp.models import Cell, Checkin, Report

CELLS = {
    # township 991101001 (west)
    "c1": "991101001001001",
    "c2": "991101001001002",
    # township 991101002 (east)
    "d1": "991101002001001",
}


def cell_ids(session: Session, codes: list[str] | None = None) -> dict[str, Cell]:
    stmt = select(Cell)
    if codes is not None:
        stmt = stmt.where(Cell.code.in_(codes))
    return {c.code: c for c in session.execute(stmt).scalars()}


def add_report(
    session: Session,
    cell: Cell,
    reported_at: datetime,
    officer_id: int,
    *,
    category: str = "neighbours",
    severity: str = "yellow",
    status: str = "reported",
    **fields: Any,
) -> Report:
    report = Report(
        id=fields.pop("id", None) or uuid.uuid4(),
        officer_id=officer_id,
        cell_id=cell.id,
        village_id=cell.village_id,
        township_id=cell.township_id,
        county_id=cell.county_id,
        geom="SRID=4326;POINT(119.405 35.305)",
        input_lon=119.405,
        input_lat=35.305,
        input_crs="wgs84",
        occurred_at=reported_at,
        reported_at=reported_at,
        category=category,
        severity=severity,
        people_involved=1,
        title="测试",
        description="统计测试",
        status=status,
        body_hash="x",
        owner_area_id=cell.township_id,
        **fields,
    )
    session.add(report)
    return report


def add_checkins(session: Session, officer_id: int, days: list[date]) -> None:
    session.add_all(Checkin(officer_id=officer_id, day=d, nothing_to_report=True) for d in days)
