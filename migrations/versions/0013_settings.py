"""Settings without a deploy: versioned deadline policy, group-incident threshold, the
business-day calendar (holidays and make-up working days), a settings revision every process
checks, the policy version each case was given, and the audit log's time index

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 22:00:00.000000
"""

from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04): each range is the days off
# (放假调休), weekends inside it included; the single days are the make-up working days
# (调休上班), weekends that are working days. Editable at /admin/settings/calendar.
_NOTICE = "国务院办公厅关于2026年部分节假日安排的通知"
_HOLIDAYS_2026 = (
    ("元旦", date(2026, 1, 1), date(2026, 1, 3)),
    ("春节", date(2026, 2, 15), date(2026, 2, 23)),
    ("清明节", date(2026, 4, 4), date(2026, 4, 6)),
    ("劳动节", date(2026, 5, 1), date(2026, 5, 5)),
    ("端午节", date(2026, 6, 19), date(2026, 6, 21)),
    ("中秋节", date(2026, 9, 25), date(2026, 9, 27)),
    ("国庆节", date(2026, 10, 1), date(2026, 10, 7)),
)
_WORKDAYS_2026 = (
    ("元旦调休上班", date(2026, 1, 4)),
    ("春节调休上班", date(2026, 2, 14)),
    ("春节调休上班", date(2026, 2, 28)),
    ("劳动节调休上班", date(2026, 5, 9)),
    ("国庆节调休上班", date(2026, 9, 20)),
    ("国庆节调休上班", date(2026, 10, 10)),
)


def upgrade() -> None:
    # One row whose number goes up with every settings change (categories, policy,
    # threshold, calendar), in the same transaction: each process compares it with the
    # number its caches were built at (fieldapp.services.settings).
    op.create_table(
        "settings_revision",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("id = 1", name="single_row"),
    )
    op.execute("INSERT INTO settings_revision (id, revision) VALUES (1, 0)")

    # Append-only: a policy is never edited, a change is a new version.
    op.create_table(
        "deadline_policy_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("policy", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("note", sa.String(200), nullable=True),
    )
    op.add_column(
        "reports",
        sa.Column(
            "deadline_policy_version",
            sa.Integer,
            sa.ForeignKey("deadline_policy_versions.version"),
            nullable=True,
        ),
    )

    op.create_table(
        "app_settings",
        sa.Column("key", sa.String(60), primary_key=True),
        sa.Column("value", JSONB, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("updated_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    )

    calendar = op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(60), nullable=False, server_default=""),
        sa.Column("source", sa.String(120), nullable=False, server_default=""),
        sa.CheckConstraint("kind IN ('holiday','workday')", name="kind"),
    )
    rows = []
    for name, first, last in _HOLIDAYS_2026:
        day = first
        while day <= last:
            rows.append({"day": day, "kind": "holiday", "name": name, "source": _NOTICE})
            day += timedelta(days=1)
    for name, day in _WORKDAYS_2026:
        rows.append({"day": day, "kind": "workday", "name": name, "source": _NOTICE})
    op.bulk_insert(calendar, rows)

    # The audit viewer pages newest first over a period.
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_action_at", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("calendar_days")
    op.drop_table("app_settings")
    op.drop_column("reports", "deadline_policy_version")
    op.drop_table("deadline_policy_versions")
    op.drop_table("settings_revision")
