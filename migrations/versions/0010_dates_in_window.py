"""Stored dates back inside the window every input is now held to (2000-01-01 .. 2100-12-31,
`fieldapp.bounds`)

Before #15 a deadline of 9999-12-31T20:00Z was accepted when assigning a case, and the case
page then failed for everyone (the date overflows when shown in China time). This repairs the
values a person could have typed; every other date is set by the server's clock.

- reports.due_at, reports.key_target_date, photos.exif_taken_at (may be empty): set to NULL.
  A case without a deadline has no warning light until the next step sets one; a key case
  without a target date shows none; a photo without a capture time says so.
- reports.occurred_at, supervision_orders.due_at (never empty): clamped to the nearest edge
  of the window (the first day at 00:00 China time, the last day at 18:00 China time).
- checkins.day was always held to the last few days; hotspot and export dates are computed.

The downgrade changes nothing (the bad values are not kept: they were never valid).

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fieldapp.bounds import EARLIEST_DAY, LATEST_DAY

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The window's edges as China-time instants (what the app shows and parses bare times as).
FIRST = f"{EARLIEST_DAY.isoformat()} 00:00:00+08"
LAST = f"{LATEST_DAY.isoformat()} 18:00:00+08"
OUTSIDE = "({col} < TIMESTAMPTZ '{first}' OR {col} >= TIMESTAMPTZ '{end}')"
END = f"{LATEST_DAY.isoformat()} 24:00:00+08"


def _outside(column: str) -> str:
    return OUTSIDE.format(col=column, first=FIRST, end=END)


def repair(connection: sa.Connection) -> dict[str, int]:
    """Bring every stored date a person could type back into the window; the number of rows
    repaired per column. Idempotent."""
    counts: dict[str, int] = {}
    day_outside = (
        f"(key_target_date < DATE '{EARLIEST_DAY}' OR key_target_date > DATE '{LATEST_DAY}')"
    )
    statements = {
        "reports.due_at": f"UPDATE reports SET due_at = NULL WHERE {_outside('due_at')}",
        "reports.key_target_date": (
            f"UPDATE reports SET key_target_date = NULL WHERE {day_outside}"
        ),
        "reports.occurred_at": (
            "UPDATE reports SET occurred_at = CASE WHEN occurred_at < TIMESTAMPTZ "
            f"'{FIRST}' THEN TIMESTAMPTZ '{FIRST}' ELSE TIMESTAMPTZ '{LAST}' END "
            f"WHERE {_outside('occurred_at')}"
        ),
        "supervision_orders.due_at": (
            "UPDATE supervision_orders SET due_at = CASE WHEN due_at < TIMESTAMPTZ "
            f"'{FIRST}' THEN TIMESTAMPTZ '{FIRST}' ELSE TIMESTAMPTZ '{LAST}' END "
            f"WHERE {_outside('due_at')}"
        ),
        "photos.exif_taken_at": (
            f"UPDATE photos SET exif_taken_at = NULL WHERE {_outside('exif_taken_at')}"
        ),
    }
    for name, sql in statements.items():
        counts[name] = connection.execute(sa.text(sql)).rowcount
    return counts


def upgrade() -> None:
    repair(op.get_bind())


def downgrade() -> None:
    pass
