"""SQLAlchemy models of the geography. Plain SQLAlchemy 2 (no Flask), so that the geography core
can be used from the CLI, the workers and the tests alike; the Flask app shares this metadata."""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so Alembic migrations are reproducible.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Area(Base):
    """An administrative area above the cell: city, county-level unit, township/street,
    village/community. Codes are text: NBS codes have leading structure and change over time."""

    __tablename__ = "areas"
    __table_args__ = (
        CheckConstraint("level IN ('city','county','township','village')", name="level"),
        Index("ix_areas_geom", "geom", postgresql_using="gist"),
        Index("ix_areas_level_parent", "level", "parent_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    population: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[date | None] = mapped_column(Date)
    synthetic: Mapped[bool] = mapped_column(default=False)
    """True for demo geometry: generated, not a real boundary. Shown as such in the UI."""

    parent: Mapped[Area | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<Area {self.level} {self.code} {self.name}>"


class Cell(Base):
    """A grid cell (网格). The chain of ancestors is stored on the cell, because every report is
    counted up that chain and the hierarchy changes rarely (re-import rewrites it)."""

    __tablename__ = "cells"
    __table_args__ = (Index("ix_cells_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    village_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    county_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    city_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    population: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[date | None] = mapped_column(Date)
    synthetic: Mapped[bool] = mapped_column(default=False)

    village: Mapped[Area] = relationship(foreign_keys=[village_id])


class BoundaryHistory(Base):
    """What an area or cell looked like before an import changed it (codes change over time:
    高泽镇 371121109 became 高泽街道 371121002). Append-only."""

    __tablename__ = "boundary_history"
    __table_args__ = (Index("ix_boundary_history_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32), index=True)
    new_code: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(100))
    parent_code: Mapped[str | None] = mapped_column(String(32))
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    change: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class BoundaryVersion(Base):
    """One row per import that changed anything; caches of the geometry (the STRtree twin of
    locate, simplified coverages) are keyed on the latest id and rebuilt when it moves."""

    __tablename__ = "boundary_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Department(Base):
    """A responsible department (责任部门): 21 at city level, 78 at county level."""

    __tablename__ = "departments"
    __table_args__ = (CheckConstraint("level IN ('city','county')", name="level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)


class User(Base):
    """A person who signs in. Minimal here; the field-reporting work adds credentials and
    scoping. `area_id` is the area a coordinator / county / city user is responsible for."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('officer','coordinator','county','city','department','admin')", name="role"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    # Encrypted by the application (fieldapp.services.party_data.USER_PHONE_COLUMN).
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Set for a one-time password (roster import, reset): the web sends the user to the
    password page and the API answers 403 ``password_change_required`` until it is changed."""


class OfficerCell(Base):
    """Which cells an officer watches (usually one, sometimes more)."""

    __tablename__ = "officer_cells"
    __table_args__ = (UniqueConstraint("user_id", "cell_id", name="uq_officer_cells_user_cell"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id", ondelete="CASCADE"), index=True)
