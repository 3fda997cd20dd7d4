"""Sign-in throttling counters in PostgreSQL (replacing login_attempts), and parties' ID
numbers and phones encrypted at the field level with keyed hashes for lookups (issue #15)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signin_throttle",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_signin_throttle")),
    )
    op.drop_index("ix_login_attempts_username_at", table_name="login_attempts")
    op.drop_table("login_attempts")

    op.alter_column("report_parties", "id_number", type_=sa.Text(), existing_nullable=True)
    op.alter_column("report_parties", "phone", type_=sa.Text(), existing_nullable=True)
    # Staff's phones too (users.phone, read to send SMS): the stored form is longer.
    op.alter_column(
        "users", "phone", type_=sa.Text(), existing_type=sa.String(32), existing_nullable=True
    )
    op.add_column("report_parties", sa.Column("id_number_hmac", sa.String(64), nullable=True))
    op.add_column("report_parties", sa.Column("phone_hmac", sa.String(64), nullable=True))
    op.create_index(op.f("ix_report_parties_id_number_hmac"), "report_parties", ["id_number_hmac"])
    op.create_index(op.f("ix_report_parties_phone_hmac"), "report_parties", ["phone_hmac"])
    _encrypt_existing()


def _encrypt_existing() -> None:
    """Encrypt the plain values already stored (fieldapp.services.party_data). The keys are
    only needed, and the key file only created, when there is something to convert."""
    bind = op.get_bind()
    from fieldapp.services import party_data

    if party_data.has_plain_rows(bind) or party_data.has_plain_user_phones(bind):
        from fieldapp.crypto import keyring_outside_app

        ring = keyring_outside_app()
        party_data.encrypt_plain_rows(bind, ring)
        party_data.encrypt_plain_user_phones(bind, ring)


def downgrade() -> None:
    # Personal data is not decrypted back into plain columns by a downgrade.
    op.drop_index(op.f("ix_report_parties_phone_hmac"), table_name="report_parties")
    op.drop_index(op.f("ix_report_parties_id_number_hmac"), table_name="report_parties")
    op.drop_column("report_parties", "phone_hmac")
    op.drop_column("report_parties", "id_number_hmac")
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column(
            "attempted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_login_attempts"),
    )
    op.create_index("ix_login_attempts_username_at", "login_attempts", ["username", "attempted_at"])
    op.drop_table("signin_throttle")
