"""statistics: covering index for live roll-ups, partial index of key cases

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
    # Roll-ups of a window of days over the whole city: an index-only scan (see
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
        ],
    )
    op.create_index(
        "ix_reports_key_cases",
        "reports",
        ["county_id"],
        postgresql_where=sa.text("is_key_case"),
    )


def downgrade() -> None:
    op.drop_index("ix_reports_key_cases", table_name="reports")
    op.drop_index("ix_reports_reported_stats", table_name="reports")
