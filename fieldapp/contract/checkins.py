"""Zero reporting (零报告): the check-in a grid officer sends each day, and the days the server
has for them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, ClassVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from fieldapp import bounds
from fieldapp.contract.base import AnswerModel, BodyModel, QueryModel
from fieldapp.domain import CHINA_TZ
from fieldapp.services.own_reports import MAX_CHECKIN_DAYS

#: A check-in may be sent late from a phone that was offline, but not for long-gone days.
MAX_DAYS_LATE = 7
MAX_COUNT = 10_000

Day = Annotated[dt.date, AfterValidator(bounds.check_day)]


class CheckinInput(BodyModel):
    """A zero reporting check-in (零报告)."""

    error_code: ClassVar[str] = "invalid_checkin"
    field_messages: ClassVar[dict[str, Any]] = {
        "nothing_to_report": lazy_gettext("true or false."),
        "count": lazy_gettext("A whole number, 0 or more."),
    }
    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "nothing": (
            "Nothing to report today",
            {"date": "2026-11-25", "nothing_to_report": True},
        ),
        "found": (
            "Two matters found and reported",
            {"date": "2026-11-25", "nothing_to_report": False, "count": 2},
        ),
    }

    date: Day | None = Field(
        default=None,
        description="The day (China Standard Time); default today. Not in the future, at "
        f"most {MAX_DAYS_LATE} days back.",
    )
    nothing_to_report: bool = Field(description="Nothing found today (无情况报告).")
    count: int = Field(
        default=0,
        ge=0,
        le=MAX_COUNT,
        description="How many matters were found that day; 0 with nothing_to_report.",
    )

    @field_validator("date")
    @classmethod
    def _recent(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        if value is None or not info.context:
            return value
        today = info.context["now"].astimezone(CHINA_TZ).date()
        if value > today:
            raise ValueError(_("This date is in the future. Check the phone's clock."))
        if value < today - dt.timedelta(days=MAX_DAYS_LATE):
            raise ValueError(_("Too late to check in for this day."))
        return value

    @field_validator("count")
    @classmethod
    def _nothing_means_zero(cls, value: int, info: ValidationInfo) -> int:
        if value and info.data.get("nothing_to_report") is True:
            raise ValueError(_("“Nothing to report” goes with a count of 0."))
        return value


class Checkin(AnswerModel):
    """The day's check-in as stored."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "nothing": ("Recorded", {"date": "2026-11-25", "nothing_to_report": True, "count": 0}),
    }

    date: dt.date
    nothing_to_report: bool
    count: int = Field(ge=0, le=MAX_COUNT)


class CheckinDaysQuery(QueryModel):
    """Which days to list."""

    field_messages: ClassVar[dict[str, Any]] = {
        "days": lazy_gettext("A whole number from 1 to %(n)s.", n=MAX_CHECKIN_DAYS),
    }

    days: int = Field(
        default=7,
        ge=1,
        le=MAX_CHECKIN_DAYS,
        description="How many days back to look, today included.",
    )


class CheckinDays(AnswerModel):
    """China days with a check-in, newest first."""

    examples: ClassVar[dict[str, tuple[str, Any]]] = {
        "two": ("Today and yesterday", {"days": ["2026-11-25", "2026-11-24"]}),
    }

    days: list[dt.date]
