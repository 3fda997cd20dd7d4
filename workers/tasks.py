"""Thin, idempotent tasks: they take ids or plain values and call services."""

from __future__ import annotations

from celery import shared_task

from fieldapp.db import db
from fieldapp.services import geography
from grid import queries


@shared_task(name="workers.tasks.boundary_stats")
def boundary_stats() -> dict[str, int]:
    """Counts per level, as `fieldapp geo stats` prints them."""
    return queries.level_counts(db.session)


@shared_task(name="workers.tasks.warm_geography_caches")
def warm_geography_caches() -> int:
    """Rebuild this worker's cell index if the boundaries changed; returns the version."""
    return geography.cell_index(db.session).version or 0
