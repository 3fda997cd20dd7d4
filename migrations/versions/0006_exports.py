"""exports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=12), server_default="queued", nullable=False),
        sa.Column("rows_done", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("file_path", sa.String(length=500), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('cases','kpis','assessment','areas_geojson')",
            name=op.f("ck_export_jobs_kind"),
        ),
        sa.CheckConstraint(
            "format IN ('xlsx','csv','geojson')", name=op.f("ck_export_jobs_format")
        ),
        sa.CheckConstraint(
            "status IN ('queued','running','done','failed','expired')",
            name=op.f("ck_export_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_export_jobs_requested_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_jobs")),
    )
    # "My exports", newest first (the list in the API and on the page).
    op.create_index(
        "ix_export_jobs_requested_by_created",
        "export_jobs",
        ["requested_by", "created_at"],
        unique=False,
    )
    # The expiry sweep reads only finished jobs still holding a file.
    op.create_index(
        "ix_export_jobs_expires",
        "export_jobs",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'done'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_export_jobs_expires",
        table_name="export_jobs",
        postgresql_where=sa.text("status = 'done'"),
    )
    op.drop_index("ix_export_jobs_requested_by_created", table_name="export_jobs")
    op.drop_table("export_jobs")
