"""Every table the app uses, on one shared metadata. The geography lives in `grid.models`;
the field-reporting and workflow work adds its models here."""

from grid.models import (  # noqa: F401  (re-exported for Alembic and the app)
    Area,
    Base,
    BoundaryHistory,
    BoundaryVersion,
    Cell,
    Department,
    OfficerCell,
    User,
)
