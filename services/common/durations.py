"""ISO 8601 durations as the policies write them (`retention:P2Y`): one reading for sharing
(when a disclosure expires) and audit (when a melding's data key is destroyed)."""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

_DURATION = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)


def add_duration(start: datetime, duration: str) -> datetime:
    """`start` plus an ISO 8601 duration `PnYnMnWnDTnHnMnS` (whole numbers, calendar-aware)."""
    parts = _parts(duration)
    months = start.month - 1 + parts["months"] + 12 * parts["years"]
    year, month = start.year + months // 12, months % 12 + 1
    try:
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day) + timedelta(
            weeks=parts["weeks"],
            days=parts["days"],
            hours=parts["hours"],
            minutes=parts["minutes"],
            seconds=parts["seconds"],
        )
    except (ValueError, OverflowError):
        raise ValueError(f"ISO 8601-duur reikt voorbij het jaar 9999: {duration!r}") from None


_DUTCH_UNITS = (
    ("years", "jaar", "jaar"),
    ("months", "maand", "maanden"),
    ("weeks", "week", "weken"),
    ("days", "dag", "dagen"),
    ("hours", "uur", "uur"),
    ("minutes", "minuut", "minuten"),
    ("seconds", "seconde", "seconden"),
)


def in_dutch(duration: str) -> str:
    """An ISO 8601 duration as a person reads it: `P1Y6M` is `1 jaar en 6 maanden`."""
    parts = _parts(duration)
    words = [
        f"{parts[name]} {one if parts[name] == 1 else many}"
        for name, one, many in _DUTCH_UNITS
        if parts[name]
    ]
    return " en ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def _parts(duration: str) -> dict[str, int]:
    match = _DURATION.fullmatch(duration)
    if match is None or not any(match.groups()):
        raise ValueError(f"ongeldige ISO 8601-duur: {duration!r}")
    return {name: int(value or 0) for name, value in match.groupdict().items()}
