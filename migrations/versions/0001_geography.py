"""geography

Revision ID: 0001
Revises:
Create Date: 2026-11-25 22:03:35.638767
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostGIS for geometry; pg_trgm for text similarity in duplicate detection later.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "areas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "level IN ('city','county','township','village')", name=op.f("ck_areas_level")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["areas.id"], name=op.f("fk_areas_parent_id_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
        sa.UniqueConstraint("code", name=op.f("uq_areas_code")),
    )
    op.create_index("ix_areas_geom", "areas", ["geom"], unique=False, postgresql_using="gist")
    op.create_index("ix_areas_level_parent", "areas", ["level", "parent_id"], unique=False)
    op.create_index(op.f("ix_areas_parent_id"), "areas", ["parent_id"], unique=False)
    op.create_table(
        "boundary_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("new_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("change", sa.String(length=200), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boundary_history")),
    )
    op.create_index(op.f("ix_boundary_history_code"), "boundary_history", ["code"], unique=False)
    op.create_index(
        op.f("ix_boundary_history_new_code"), "boundary_history", ["new_code"], unique=False
    )
    op.create_index(
        "ix_boundary_history_geom",
        "boundary_history",
        ["geom"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_table(
        "boundary_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "imported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boundary_versions")),
    )
    op.create_table(
        "cells",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("city_id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["city_id"], ["areas.id"], name=op.f("fk_cells_city_id_areas")),
        sa.ForeignKeyConstraint(["county_id"], ["areas.id"], name=op.f("fk_cells_county_id_areas")),
        sa.ForeignKeyConstraint(
            ["township_id"], ["areas.id"], name=op.f("fk_cells_township_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["village_id"], ["areas.id"], name=op.f("fk_cells_village_id_areas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cells")),
        sa.UniqueConstraint("code", name=op.f("uq_cells_code")),
    )
    op.create_index(op.f("ix_cells_county_id"), "cells", ["county_id"], unique=False)
    op.create_index("ix_cells_geom", "cells", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_cells_township_id"), "cells", ["township_id"], unique=False)
    op.create_index(op.f("ix_cells_village_id"), "cells", ["village_id"], unique=False)
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("level IN ('city','county')", name=op.f("ck_departments_level")),
        sa.ForeignKeyConstraint(
            ["area_id"], ["areas.id"], name=op.f("fk_departments_area_id_areas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_departments_code")),
    )
    op.create_index(op.f("ix_departments_area_id"), "departments", ["area_id"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('officer','coordinator','county','city','department','admin')",
            name=op.f("ck_users_role"),
        ),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_users_area_id_areas")),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_users_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_index(op.f("ix_users_area_id"), "users", ["area_id"], unique=False)
    op.create_table(
        "officer_cells",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cell_id"],
            ["cells.id"],
            name=op.f("fk_officer_cells_cell_id_cells"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_officer_cells_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officer_cells")),
        sa.UniqueConstraint("user_id", "cell_id", name="uq_officer_cells_user_cell"),
    )
    op.create_index(op.f("ix_officer_cells_cell_id"), "officer_cells", ["cell_id"], unique=False)
    op.create_index(op.f("ix_officer_cells_user_id"), "officer_cells", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_officer_cells_user_id"), table_name="officer_cells")
    op.drop_index(op.f("ix_officer_cells_cell_id"), table_name="officer_cells")
    op.drop_table("officer_cells")
    op.drop_index(op.f("ix_users_area_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_departments_area_id"), table_name="departments")
    op.drop_table("departments")
    op.drop_index(op.f("ix_cells_village_id"), table_name="cells")
    op.drop_index(op.f("ix_cells_township_id"), table_name="cells")
    op.drop_index("ix_cells_geom", table_name="cells", postgresql_using="gist")
    op.drop_index(op.f("ix_cells_county_id"), table_name="cells")
    op.drop_table("cells")
    op.drop_table("boundary_versions")
    op.drop_index(op.f("ix_boundary_history_new_code"), table_name="boundary_history")
    op.drop_index(op.f("ix_boundary_history_code"), table_name="boundary_history")
    op.drop_table("boundary_history")
    op.drop_index(op.f("ix_areas_parent_id"), table_name="areas")
    op.drop_index("ix_areas_level_parent", table_name="areas")
    op.drop_index("ix_areas_geom", table_name="areas", postgresql_using="gist")
    op.drop_table("areas")
