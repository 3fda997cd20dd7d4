"""Running it for real: outbox relay checkpoints, an index of outbox rows not done, and export
files stored in the database (every web node reads them)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_checkpoints",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "published_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_checkpoints")),
    )
    op.create_index(
        "ix_outbox_undone", "outbox", ["id"], postgresql_where=sa.text("done_at IS NULL")
    )
    op.create_table(
        "export_file_chunks",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["export_jobs.id"],
            name=op.f("fk_export_file_chunks_job_id_export_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_export_file_chunks")),
    )


def downgrade() -> None:
    op.drop_table("export_file_chunks")
    op.drop_index("ix_outbox_undone", table_name="outbox", postgresql_where="done_at IS NULL")
    op.drop_table("outbox_checkpoints")
