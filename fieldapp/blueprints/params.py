"""Parsing query parameters into typed values, with field-level messages a person can act on."""

from __future__ import annotations

from datetime import date
from typing import Final

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from fieldapp.bounds import parse_day
from fieldapp.errors import ApiError

#: Days a from/to window (map layers, roll-ups, KPIs) may span at most: ten years of reports
#: is already more than anyone reads.
MAX_WINDOW_DAYS: Final = 3660


def invalid(summary: str, field: str, message: str) -> ApiError:
    """A 400 naming the field: `summary` says what to check, `message` what is wrong."""
    return ApiError(400, "invalid_parameters", summary, {field: message})


def choice(
    args: MultiDict[str, str], name: str, allowed: tuple[str, ...], default: str, summary: str
) -> str:
    """One of `allowed` (default when absent)."""
    value = args.get(name) or default
    if value not in allowed:
        raise invalid(summary, name, _("One of: %(values)s.", values=", ".join(allowed)))
    return value


def day(args: MultiDict[str, str], name: str, summary: str) -> date | None:
    """An ISO date, or None when absent."""
    try:
        return parse_day(args.get(name))
    except ValueError as exc:
        raise invalid(summary, name, str(exc)) from None


def date_window(args: MultiDict[str, str], summary: str) -> tuple[date | None, date | None]:
    """from/to (ISO dates, both included, either may be absent): in order, at most
    MAX_WINDOW_DAYS apart."""
    first, last = day(args, "from", summary), day(args, "to", summary)
    if first and last:
        if last < first:
            raise invalid(summary, "to", _("The end date is before the start date."))
        if (last - first).days > MAX_WINDOW_DAYS:
            raise invalid(summary, "from", _("At most ten years at a time."))
    return first, last
