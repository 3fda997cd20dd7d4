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

# A copy of fieldapp.models.KPI_CODE_SQL as of this revision (a migration does not import the
# app's current code).
KPI_CODE_SQL = (
    "CASE WHEN status = 'merged' THEN 0 "
    "WHEN accepted_at IS NOT NULL THEN CASE WHEN accepted_on_time IS TRUE THEN 1 ELSE 2 END "
    "WHEN status = 'closed' THEN CASE WHEN closed_on_time IS TRUE THEN 1 ELSE 2 END "
    "WHEN status = 'reported' AND due_at IS NOT NULL THEN 3 ELSE 0 END "
    "+ CASE WHEN status = 'closed' THEN CASE WHEN closed_on_time IS TRUE THEN 4 ELSE 8 END "
    "WHEN status IN ('reported', 'accepted', 'assigned', 'signed_for', 'in_progress', "
    "'closing_requested') AND step = 'handling' AND due_at IS NOT NULL THEN 12 ELSE 0 END "
    "+ CASE WHEN status = 'closed' AND outcome = 'resolved' THEN 16 ELSE 0 END "
    "+ CASE WHEN status = 'closed' AND outcome IS NOT NULL THEN 32 ELSE 0 END "
    "+ CASE WHEN satisfaction IN ('satisfied', 'basically_satisfied') THEN 64 ELSE 0 END "
    "+ CASE WHEN satisfaction IS NOT NULL THEN 128 ELSE 0 END"
)


def upgrade() -> None:
    # The per-report KPI results that do not depend on the time of asking (bits: the model's
    # KPI_CODE_SQL and fieldapp.kpi), kept by PostgreSQL on every write, so the KPI table
    # groups by one small number instead of evaluating the rules per row per request.
    # Adding a stored generated column rewrites the table: done before the first release,
    # while it is still small.
    op.add_column(
        "reports",
        sa.Column(
            "kpi_code",
            sa.SmallInteger(),
            sa.Computed(KPI_CODE_SQL, persisted=True),
            nullable=False,
        ),
    )
    # Roll-ups and KPI counts of a window of days: an index-only scan (see
    # fieldapp.services.rollups), holding only what they read (every included column is
    # decoded for every row of the window). Built plainly, not CONCURRENTLY: Alembic runs in
    # a transaction, and on a live 10-million-row table the build takes about a minute.
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
            "due_at",
            "kpi_code",
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
    op.drop_column("reports", "kpi_code")
