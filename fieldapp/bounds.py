"""The limits every input value is held to, and the parsers that hold it there, written once
(pure: no database, no Flask request).

Every date or time the app takes — a JSON field, a query parameter, a web form, an export
filter — goes through `parse_day` or `parse_instant`, so a date outside the window can neither
be stored (a deadline in year 9999 overflowed when shown in China time and broke the case page
for everyone) nor reach a query (`to=9999-12-31` overflowed adding a day). Numbers go through
`is_db_id` before they reach an id column. The typed request models of the API (#18) are
meant to call these same functions as their validators."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from flask_babel import gettext as _

from fieldapp.domain import CHINA_TZ

#: The window every stored or queried date lies in: the platform's records begin after 2000
#: and no deadline or filter reaches past this century. Both days included.
EARLIEST_DAY: Final = date(2000, 1, 1)
LATEST_DAY: Final = date(2100, 12, 31)
#: Time-zone offsets in use on Earth run from -12:00 to +14:00; anything else is a typo.
MAX_OFFSET: Final = timedelta(hours=14)
MIN_OFFSET: Final = timedelta(hours=-12)
#: PostgreSQL `integer` (every id column and most counts); JSON numbers beyond it are refused.
MAX_INT: Final = 2**31 - 1

_DAY_EXAMPLE: Final = "2026-11-25"
_TIME_EXAMPLE: Final = "2026-11-25T09:30:00+08:00"


def window_message() -> str:
    """What a person reads when a date lies outside the window."""
    return _(
        "Out of range: a date between %(first)s and %(last)s.",
        first=EARLIEST_DAY.isoformat(),
        last=LATEST_DAY.isoformat(),
    )


def check_day(value: date) -> date:
    """`value` when it lies in the window; ValueError with the message otherwise."""
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise ValueError(window_message())
    return value


def parse_day(raw: Any) -> date | None:
    """An ISO date (`2026-11-25`) inside the window, None when absent or blank; ValueError
    carrying the message a person sees otherwise."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise ValueError(_("A date like %(example)s.", example=_DAY_EXAMPLE))
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(_("A date like %(example)s.", example=_DAY_EXAMPLE)) from None
    return check_day(value)


def check_instant(value: datetime) -> datetime:
    """`value` (aware) as UTC when it lies in the window, ValueError otherwise. The offset is
    checked before converting: converting year 9999 at -12:00 to UTC overflows."""
    offset = value.utcoffset()
    if offset is not None and not MIN_OFFSET <= offset <= MAX_OFFSET:
        raise ValueError(
            _("The time-zone offset must lie between -12:00 and +14:00, e.g. +08:00 for China.")
        )
    if not EARLIEST_DAY <= value.date() <= LATEST_DAY:
        raise ValueError(window_message())
    return value.astimezone(UTC)


def parse_instant(raw: Any, *, required: bool = False) -> datetime | None:
    """An ISO date and time inside the window, normalised to UTC; a time without an offset
    is China time (phones and forms run on it). None when absent (ValueError when
    `required`); ValueError carrying the message a person sees otherwise."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            message = _("Required: a date and time, e.g. %(example)s.", example=_TIME_EXAMPLE)
            raise ValueError(message)
        return None
    if not isinstance(raw, str):
        raise ValueError(_("A date and time, e.g. %(example)s.", example=_TIME_EXAMPLE))
    try:
        value = datetime.fromisoformat(raw.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(_("A date and time, e.g. %(example)s.", example=_TIME_EXAMPLE)) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=CHINA_TZ)
    return check_instant(value)


def day_end(value: date, hour: int = 18) -> datetime:
    """`hour` o'clock China time on `value` (a deadline chosen as a day), in UTC."""
    return check_instant(datetime.combine(check_day(value), time(hour, 0), tzinfo=CHINA_TZ))


def is_db_id(value: Any) -> bool:
    """Whether `value` is a whole number an id column can hold (a larger one is refused by
    PostgreSQL with an error, not found missing: check before querying)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_INT
