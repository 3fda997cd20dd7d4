"""Who may see what: the single place where every read of reports is narrowed by role and
area. Services build their queries on `visible_reports` and never filter by role themselves.

- officer: their own reports;
- coordinator: reports in their township;
- county staff: reports in their county;
- city staff and admin: everything;
- department handler: cases assigned to their department now."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, true

from fieldapp.models import Report, User

# Roles allowed to see parties' personal data unmasked (they handle the case).
UNMASKED_PARTY_ROLES = frozenset({"officer", "coordinator", "department", "admin"})


def report_filter(user: User) -> ColumnElement[bool]:
    """A WHERE clause restricting reports to those `user` may see."""
    role = user.role
    if role == "officer":
        return Report.officer_id == user.id
    if role == "coordinator":
        return Report.township_id == user.area_id
    if role == "county":
        return Report.county_id == user.area_id
    if role in ("city", "admin"):
        return true()
    if role == "department" and user.department_id is not None:
        return Report.department_id == user.department_id
    return false()


def visible_reports(stmt: Any, user: User) -> Any:
    """`stmt` (a select over reports) narrowed to what `user` may see."""
    return stmt.where(report_filter(user))


def sees_parties_unmasked(user: User) -> bool:
    return user.role in UNMASKED_PARTY_ROLES


def may_file_reports(user: User) -> bool:
    return user.role == "officer"
