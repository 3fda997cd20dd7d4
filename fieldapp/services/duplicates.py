"""Duplicate detection: earlier open reports of the same category nearby and recent, ranked by
text similarity (PostgreSQL pg_trgm). The coordinator sees the candidates and merges."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from fieldapp.models import Report, User
from fieldapp.services import scope

DEFAULT_RADIUS_M = 300
DEFAULT_WINDOW_DAYS = 7

# Raw SQL because it pairs a report with its neighbours on three axes at once. `&&` with a box
# of about 0.005° lets the GiST index on geometry find neighbours; ST_DWithin on geography then
# measures metres exactly. similarity() is pg_trgm's (the cluster is UTF-8 with a C.UTF-8
# collation, under which trigrams include Chinese characters).
# For each report t of :ids, its best :limit candidates (a LATERAL subquery per t).
_CANDIDATES = text(
    """
    SELECT t.id AS for_id, c.*
    FROM reports t
    CROSS JOIN LATERAL (
        SELECT r.id, r.case_number, r.title, r.reported_at, r.status, r.severity,
               ST_Distance(r.geom::geography, t.geom::geography) AS distance_m,
               similarity(r.title || ' ' || r.description,
                          t.title || ' ' || t.description) AS score
        FROM reports r
        WHERE r.id <> t.id
          AND r.category = t.category
          AND r.geom && ST_Expand(t.geom, :box)
          AND ST_DWithin(r.geom::geography, t.geom::geography, :radius)
          AND r.reported_at <= t.reported_at
          AND r.reported_at >= t.reported_at - make_interval(days => :days)
          AND r.status IN ('reported', 'accepted', 'assigned', 'signed_for', 'in_progress',
                           'closing_requested')
          AND r.id IN (SELECT id FROM visible)
        ORDER BY score DESC, distance_m ASC
        LIMIT :limit
    ) AS c
    WHERE t.id = ANY(:ids)
    ORDER BY t.id, c.score DESC, c.distance_m ASC
    """
)


@dataclass(frozen=True)
class Candidate:
    id: uuid.UUID
    case_number: str
    title: str
    distance_m: float
    score: float
    status: str
    severity: str
    reported_at: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "case_number": self.case_number,
            "title": self.title,
            "distance_m": round(self.distance_m, 1),
            "score": round(self.score, 3),
            "status": self.status,
            "severity": self.severity,
            "reported_at": self.reported_at.isoformat(),
        }


def candidates(
    session: Session,
    report_id: uuid.UUID,
    viewer: User | None = None,
    *,
    radius_m: float = DEFAULT_RADIUS_M,
    days: int = DEFAULT_WINDOW_DAYS,
    limit: int = 10,
) -> list[Candidate]:
    """Earlier open reports that may describe the same dispute; `viewer` scopes them (None:
    the system, which sees everything)."""
    rows = _rows(session, [report_id], viewer, radius_m=radius_m, days=days, limit=limit)
    return [
        Candidate(
            r.id,
            r.case_number,
            r.title,
            float(r.distance_m),
            float(r.score),
            r.status,
            r.severity,
            r.reported_at,
        )
        for r in rows
    ]


def suspected(
    session: Session, report_ids: list[uuid.UUID], viewer: User | None = None
) -> set[uuid.UUID]:
    """Which of these reports have at least one candidate (a queue page's 疑似重复 marks, in
    one query)."""
    if not report_ids:
        return set()
    rows = _rows(
        session,
        report_ids,
        viewer,
        radius_m=DEFAULT_RADIUS_M,
        days=DEFAULT_WINDOW_DAYS,
        limit=1,
    )
    return {r.for_id for r in rows}


def _rows(
    session: Session,
    report_ids: list[uuid.UUID],
    viewer: User | None,
    *,
    radius_m: float,
    days: int,
    limit: int,
) -> list[Any]:
    visible = select(Report.id)
    if viewer is not None:
        visible = scope.visible_reports(visible, viewer)
    compiled = visible.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    stmt = text(f"WITH visible AS ({compiled}) " + str(_CANDIDATES.text))
    return list(
        session.execute(
            stmt,
            {
                "ids": list(report_ids),
                "box": radius_m / 60_000,
                "radius": radius_m,
                "days": days,
                "limit": limit,
            },
        )
    )
