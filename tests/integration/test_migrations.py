"""The migration history creates exactly what the models describe (no drift)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import fieldapp.models  # noqa: F401  (registers every table)
from grid.models import Base

POSTGIS_TABLES = {"spatial_ref_sys"}


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, reflected, compare_to: (
                    not (type_ == "table" and name in POSTGIS_TABLES)
                ),
            },
        )
        assert compare_metadata(context, Base.metadata) == []
