"""Dates as the Netherlands counts them: a melding's date, and so an age, is the calendar
date in Europe/Amsterdam, not in UTC (issue 9, item 1)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from pydantic_core import PydanticCustomError

DUTCH_TIME = ZoneInfo("Europe/Amsterdam")
OLDEST_BIRTH_DATE_YEARS = 120
"""A birth date more than this many years before the melding is refused as a typing error."""


def dutch_date(moment: datetime) -> date:
    """The calendar date of `moment` in Europe/Amsterdam; a naive moment is taken to be UTC."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(DUTCH_TIME).date()


def dutch_today() -> date:
    return dutch_date(datetime.now(UTC))


def years_before(day: date, years: int) -> date:
    """`day`, `years` earlier; 29 February becomes 1 March in a year without one."""
    if day.year <= years:
        return date.min
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 3, 1)


def birth_date_problem(birth_date: date, day: date) -> PydanticCustomError | None:
    """Why `birth_date` cannot be right for a melding dated `day` (its Dutch date): after
    that day, or more than 120 years before it. None when it is plausible."""
    if birth_date > day:
        return PydanticCustomError(
            "birth_date_in_future", "geboortedatum ligt na de datum van de melding"
        )
    if birth_date < years_before(day, OLDEST_BIRTH_DATE_YEARS):
        return PydanticCustomError(
            "birth_date_too_old",
            "geboortedatum ligt meer dan {years} jaar voor de datum van de melding",
            {"years": OLDEST_BIRTH_DATE_YEARS},
        )
    return None
