"""field reporting

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:25:41.980286
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The default taxonomy (DESIGN §1). Codes are stable; labels can be edited in the table.
DEFAULT_CATEGORIES = [
    ("marriage_family", "婚姻家庭", "Marriage and family"),
    ("neighbours", "邻里纠纷", "Neighbours"),
    ("housing_land", "房屋宅基地", "Housing and homestead land"),
    ("contract", "合同纠纷", "Contracts"),
    ("business", "生产经营", "Production and business"),
    ("damages", "损害赔偿", "Damages"),
    ("forest_land", "山林土地", "Forest and farmland"),
    ("expropriation", "征地拆迁", "Land expropriation and demolition"),
    ("pollution", "环境污染", "Environmental pollution"),
    ("wages_labour", "劳资欠薪/劳动争议", "Unpaid wages and labour disputes"),
    ("consumer", "消费纠纷", "Consumer disputes"),
    ("medical", "医疗纠纷", "Medical disputes"),
    ("traffic", "道路交通", "Road traffic"),
    ("property_management", "物业纠纷", "Property management"),
    ("village_affairs", "村务管理", "Village affairs"),
    ("mass_finance", "涉众金融", "Mass-involvement finance"),
    ("other", "其他", "Other"),
]


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=50), nullable=False),
        sa.Column("name_en", sa.String(length=80), nullable=False),
        sa.Column("sort_order", sa.SmallInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_categories")),
    )
    categories = sa.table(
        "categories",
        sa.column("code", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String),
        sa.column("sort_order", sa.SmallInteger),
        sa.column("active", sa.Boolean),
    )
    op.bulk_insert(
        categories,
        [
            {"code": code, "name_zh": zh, "name_en": en, "sort_order": i, "active": True}
            for i, (code, zh, en) in enumerate(DEFAULT_CATEGORIES, start=1)
        ],
    )
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(
        "ix_login_attempts_username_at",
        "login_attempts",
        ["username", "attempted_at"],
        unique=False,
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("task", sa.String(length=100), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where="dispatched_at IS NULL",
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=100), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_log_actor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_actor_id"), "audit_log", ["actor_id"], unique=False)
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"], unique=False)
    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("nothing_to_report", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column(
            "checked_in_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("count >= 0", name=op.f("ck_checkins_count")),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["users.id"], name=op.f("fk_checkins_officer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkins")),
        sa.UniqueConstraint("officer_id", "day", name="uq_checkins_officer_day"),
    )
    op.create_index(op.f("ix_checkins_day"), "checkins", ["day"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("user_id", "kind", "subject_id", name="uq_notifications_once"),
    )
    op.create_index(op.f("ix_notifications_user_id"), "notifications", ["user_id"], unique=False)
    op.create_table(
        "reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("input_lon", sa.Float(), nullable=False),
        sa.Column("input_lat", sa.Float(), nullable=False),
        sa.Column("input_crs", sa.String(length=8), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("outside_own_cells", sa.Boolean(), nullable=False),
        sa.Column("distance_to_own_cells_m", sa.Float(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "reported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("people_involved", sa.Integer(), nullable=False),
        sa.Column("potential_group_incident", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "input_crs IN ('wgs84','gcj02','bd09')", name=op.f("ck_reports_input_crs")
        ),
        sa.CheckConstraint(
            "severity IN ('red','orange','yellow')", name=op.f("ck_reports_severity")
        ),
        sa.CheckConstraint("people_involved >= 0", name=op.f("ck_reports_people_involved")),
        sa.ForeignKeyConstraint(
            ["category"], ["categories.code"], name=op.f("fk_reports_category_categories")
        ),
        sa.ForeignKeyConstraint(["cell_id"], ["cells.id"], name=op.f("fk_reports_cell_id_cells")),
        sa.ForeignKeyConstraint(
            ["county_id"], ["areas.id"], name=op.f("fk_reports_county_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["users.id"], name=op.f("fk_reports_officer_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["township_id"], ["areas.id"], name=op.f("fk_reports_township_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["village_id"], ["areas.id"], name=op.f("fk_reports_village_id_areas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_index("ix_reports_cell_reported", "reports", ["cell_id", "reported_at"], unique=False)
    op.create_index(
        "ix_reports_county_reported", "reports", ["county_id", "reported_at"], unique=False
    )
    op.create_index("ix_reports_geom", "reports", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(
        "ix_reports_officer_reported", "reports", ["officer_id", "reported_at"], unique=False
    )
    op.create_index(op.f("ix_reports_status"), "reports", ["status"], unique=False)
    op.create_index(
        "ix_reports_township_reported", "reports", ["township_id", "reported_at"], unique=False
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("exif_lon", sa.Float(), nullable=True),
        sa.Column("exif_lat", sa.Float(), nullable=True),
        sa.Column("exif_taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=True),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_photos_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_photos_uploaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("report_id", "sha256", name="uq_photos_report_sha"),
    )
    op.create_index(op.f("ix_photos_report_id"), "photos", ["report_id"], unique=False)
    op.create_table(
        "report_parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("role", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_report_parties_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_parties")),
    )
    op.create_index(
        op.f("ix_report_parties_report_id"), "report_parties", ["report_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_report_parties_report_id"), table_name="report_parties")
    op.drop_table("report_parties")
    op.drop_index(op.f("ix_photos_report_id"), table_name="photos")
    op.drop_table("photos")
    op.drop_index("ix_reports_township_reported", table_name="reports")
    op.drop_index(op.f("ix_reports_status"), table_name="reports")
    op.drop_index("ix_reports_officer_reported", table_name="reports")
    op.drop_index("ix_reports_geom", table_name="reports", postgresql_using="gist")
    op.drop_index("ix_reports_county_reported", table_name="reports")
    op.drop_index("ix_reports_cell_reported", table_name="reports")
    op.drop_table("reports")
    op.drop_index(op.f("ix_notifications_user_id"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_checkins_day"), table_name="checkins")
    op.drop_table("checkins")
    op.drop_index("ix_audit_log_object", table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index(
        "ix_outbox_pending", table_name="outbox", postgresql_where="dispatched_at IS NULL"
    )
    op.drop_table("outbox")
    op.drop_index("ix_login_attempts_username_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_table("categories")
