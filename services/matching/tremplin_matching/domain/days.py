"""Days are days in metropolitan France (as participants' `today()` counts them); instants are
stored in UTC. `period_bounds` turns a period of Paris days into the UTC instants to compare with."""

from datetime import UTC, date, datetime, time, timedelta

from tremplin_shared.calendar import PARIS


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), PARIS).astimezone(UTC)


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[first instant of `start`, first instant after `end`), Paris days, as UTC datetimes.

    Total over every date: midnight of 0001-01-01 in Paris (local mean time, +0:09:21) is before
    datetime's first UTC instant, so it is clamped there; the day after 9999-12-31 does not exist,
    but that day has no change of offset, so it ends 24 hours after it starts."""
    lower = _midnight(start) if start > date.min else datetime.min.replace(tzinfo=UTC)
    upper = _midnight(end + timedelta(days=1)) if end < date.max else _midnight(end) + timedelta(days=1)
    return lower, upper
