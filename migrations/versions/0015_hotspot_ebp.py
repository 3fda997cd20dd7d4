"""Hotspot alerts of the expectation-based Poisson scan on each cell's own baseline
(method 'ebp', issue 13)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 22:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_hotspot_alerts_method"), "hotspot_alerts", type_="check")
    op.create_check_constraint(
        op.f("ck_hotspot_alerts_method"),
        "hotspot_alerts",
        "method IN ('gi_star','emerging','scan','ebp')",
    )


def downgrade() -> None:
    # Alerts of the EBP scan have no older form: they go with the method.
    op.execute("DELETE FROM hotspot_alerts WHERE method = 'ebp'")
    op.drop_constraint(op.f("ck_hotspot_alerts_method"), "hotspot_alerts", type_="check")
    op.create_check_constraint(
        op.f("ck_hotspot_alerts_method"),
        "hotspot_alerts",
        "method IN ('gi_star','emerging','scan')",
    )
