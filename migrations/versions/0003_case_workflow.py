"""case workflow

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:55:22.714102
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=False),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_case_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_case_events_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index("ix_case_events_report_at", "case_events", ["report_id", "at"], unique=False)
    op.create_table(
        "supervision_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["issued_by"], ["users.id"], name=op.f("fk_supervision_orders_issued_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_supervision_orders_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_orders")),
    )
    op.create_index(
        op.f("ix_supervision_orders_report_id"), "supervision_orders", ["report_id"], unique=False
    )
    op.add_column(
        "reports",
        sa.Column("owner_level", sa.String(length=16), nullable=False, server_default="township"),
    )
    op.add_column("reports", sa.Column("owner_area_id", sa.Integer(), nullable=True))
    op.add_column("reports", sa.Column("department_id", sa.Integer(), nullable=True))
    op.add_column("reports", sa.Column("step", sa.String(length=16), nullable=True))
    op.add_column(
        "reports", sa.Column("step_started_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("reports", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "reports",
        sa.Column("notified_light", sa.String(length=8), nullable=False, server_default="green"),
    )
    op.add_column(
        "reports", sa.Column("extension_days_requested", sa.SmallInteger(), nullable=True)
    )
    op.add_column(
        "reports",
        sa.Column("extension_days_granted", sa.SmallInteger(), nullable=False, server_default="0"),
    )
    op.add_column("reports", sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("reports", sa.Column("accepted_on_time", sa.Boolean(), nullable=True))
    op.add_column("reports", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("reports", sa.Column("closed_on_time", sa.Boolean(), nullable=True))
    op.add_column("reports", sa.Column("outcome", sa.String(length=16), nullable=True))
    op.add_column("reports", sa.Column("satisfaction", sa.String(length=24), nullable=True))
    op.add_column("reports", sa.Column("merged_into_id", sa.Uuid(), nullable=True))
    op.add_column(
        "reports", sa.Column("is_key_case", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("reports", sa.Column("key_leader", sa.String(length=50), nullable=True))
    op.add_column("reports", sa.Column("key_target_date", sa.Date(), nullable=True))
    op.create_index(op.f("ix_reports_department_id"), "reports", ["department_id"], unique=False)
    op.create_index(op.f("ix_reports_merged_into_id"), "reports", ["merged_into_id"], unique=False)
    op.create_index(op.f("ix_reports_owner_area_id"), "reports", ["owner_area_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_reports_department_id_departments"),
        "reports",
        "departments",
        ["department_id"],
        ["id"],
    )
    op.create_foreign_key(
        op.f("fk_reports_owner_area_id_areas"), "reports", "areas", ["owner_area_id"], ["id"]
    )
    op.create_foreign_key(
        op.f("fk_reports_merged_into_id_reports"), "reports", "reports", ["merged_into_id"], ["id"]
    )
    # Reports filed before the workflow existed start their acceptance clock at intake.
    op.execute(
        "UPDATE reports SET owner_area_id = township_id, step = 'acceptance', "
        "step_started_at = reported_at WHERE owner_area_id IS NULL"
    )
    # Outbound delivery of notifications (email / SMS), once.
    op.add_column("notifications", sa.Column("delivered_at", sa.DateTime(timezone=True)))
    op.add_column("users", sa.Column("email", sa.String(length=120), nullable=True))
    # The deadline sweep reads only open cases by due time.
    op.create_index(
        "ix_reports_open_due", "reports", ["due_at"], postgresql_where=sa.text("due_at IS NOT NULL")
    )
    # Triage queues: a township's (or county's) open cases.
    op.create_index("ix_reports_owner_status", "reports", ["owner_area_id", "status"])


def downgrade() -> None:
    op.drop_column("users", "email")
    op.drop_column("notifications", "delivered_at")
    op.drop_index("ix_reports_owner_status", table_name="reports")
    op.drop_index("ix_reports_open_due", table_name="reports")
    op.drop_constraint(op.f("fk_reports_merged_into_id_reports"), "reports", type_="foreignkey")
    op.drop_constraint(op.f("fk_reports_owner_area_id_areas"), "reports", type_="foreignkey")
    op.drop_constraint(op.f("fk_reports_department_id_departments"), "reports", type_="foreignkey")
    op.drop_index(op.f("ix_reports_owner_area_id"), table_name="reports")
    op.drop_index(op.f("ix_reports_merged_into_id"), table_name="reports")
    op.drop_index(op.f("ix_reports_department_id"), table_name="reports")
    op.drop_column("reports", "key_target_date")
    op.drop_column("reports", "key_leader")
    op.drop_column("reports", "is_key_case")
    op.drop_column("reports", "merged_into_id")
    op.drop_column("reports", "satisfaction")
    op.drop_column("reports", "outcome")
    op.drop_column("reports", "closed_on_time")
    op.drop_column("reports", "closed_at")
    op.drop_column("reports", "accepted_on_time")
    op.drop_column("reports", "accepted_at")
    op.drop_column("reports", "extension_days_granted")
    op.drop_column("reports", "extension_days_requested")
    op.drop_column("reports", "notified_light")
    op.drop_column("reports", "due_at")
    op.drop_column("reports", "step_started_at")
    op.drop_column("reports", "step")
    op.drop_column("reports", "department_id")
    op.drop_column("reports", "owner_area_id")
    op.drop_column("reports", "owner_level")
    op.drop_index(op.f("ix_supervision_orders_report_id"), table_name="supervision_orders")
    op.drop_table("supervision_orders")
    op.drop_index("ix_case_events_report_at", table_name="case_events")
    op.drop_table("case_events")
