"""statistics: covering index for live roll-ups and KPIs, key cases, check-ins by day

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Roll-ups and KPI counts of a window of days: an index-only scan (see
    # fieldapp.services.rollups). Built plainly, not CONCURRENTLY: Alembic runs in a
    # transaction, and on a live 10-million-row table the build takes about a minute.
    op.create_index(
        "ix_reports_reported_stats",
        "reports",
        ["reported_at"],
        postgresql_include=[
            "cell_id",
            "village_id",
            "township_id",
            "county_id",
            "category",
            "severity",
            "status",
            "step",
            "due_at",
            "accepted_at",
            "accepted_on_time",
            "closed_on_time",
            "outcome",
            "satisfaction",
        ],
    )
    op.create_index(
        "ix_reports_key_cases",
        "reports",
        ["county_id"],
        postgresql_where=sa.text("is_key_case"),
    )

    # 零报告 compliance counts check-ins per officer over a period's days: (day, officer_id)
    # answers that from the index alone and does everything the plain day index did.
    op.create_index("ix_checkins_day_officer", "checkins", ["day", "officer_id"])
    op.drop_index("ix_checkins_day", table_name="checkins")


def downgrade() -> None:
    op.create_index("ix_checkins_day", "checkins", ["day"])
    op.drop_index("ix_checkins_day_officer", table_name="checkins")
    op.drop_index("ix_reports_key_cases", table_name="reports")
    op.drop_index("ix_reports_reported_stats", table_name="reports")
