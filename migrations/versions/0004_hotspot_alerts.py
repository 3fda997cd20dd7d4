"""hotspot alerts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 23:17:24.470330
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hotspot_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("cell_ids", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("centre_cell_id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("statistic", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("pattern", sa.String(length=40), nullable=True),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column(
            "categories",
            postgresql.ARRAY(sa.String(length=32)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("recurrence_interval_days", sa.Float(), nullable=True),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("expected", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("first_detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("supervised_by", sa.Integer(), nullable=True),
        sa.Column("supervised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "method IN ('gi_star','emerging','scan')", name=op.f("ck_hotspot_alerts_method")
        ),
        sa.CheckConstraint(
            "status IN ('new','acknowledged','supervised','expired')",
            name=op.f("ck_hotspot_alerts_status"),
        ),
        sa.CheckConstraint("period_from <= period_to", name=op.f("ck_hotspot_alerts_period")),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["users.id"], name=op.f("fk_hotspot_alerts_acknowledged_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["centre_cell_id"], ["cells.id"], name=op.f("fk_hotspot_alerts_centre_cell_id_cells")
        ),
        sa.ForeignKeyConstraint(
            ["county_id"], ["areas.id"], name=op.f("fk_hotspot_alerts_county_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["supervised_by"], ["users.id"], name=op.f("fk_hotspot_alerts_supervised_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["township_id"], ["areas.id"], name=op.f("fk_hotspot_alerts_township_id_areas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotspot_alerts")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_hotspot_alerts_fingerprint")),
    )
    # The recomputation and the map read only the alerts that are still active.
    op.create_index(
        "ix_hotspot_alerts_active",
        "hotspot_alerts",
        ["method", "last_detected_at"],
        unique=False,
        postgresql_where=sa.text("status <> 'expired'"),
    )
    # GIN on the cell ids: "which alerts touch these cells?" is an array overlap (&&).
    op.create_index(
        "ix_hotspot_alerts_cell_ids",
        "hotspot_alerts",
        ["cell_ids"],
        unique=False,
        postgresql_using="gin",
    )
    # County staff list their county's alerts by status.
    op.create_index(
        "ix_hotspot_alerts_county_status", "hotspot_alerts", ["county_id", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_hotspot_alerts_county_status", table_name="hotspot_alerts")
    op.drop_index("ix_hotspot_alerts_cell_ids", table_name="hotspot_alerts", postgresql_using="gin")
    op.drop_index(
        "ix_hotspot_alerts_active",
        table_name="hotspot_alerts",
        postgresql_where=sa.text("status <> 'expired'"),
    )
    op.drop_table("hotspot_alerts")
