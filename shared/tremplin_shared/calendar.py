"""Days as metropolitan France counts them. Instants are stored in UTC; a day (a registration day, a
funnel's period, a flag's computation, a transfer's execution date) is a day in Europe/Paris."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

try:
    PARIS = ZoneInfo("Europe/Paris")
except ZoneInfoNotFoundError:  # a container without tzdata: UTC is at most two hours off
    PARIS = UTC


def today_in_france() -> date:
    return datetime.now(PARIS).date()


def day_in_france(at: datetime) -> date:
    """The day an instant falls on in France (a naive instant is taken as UTC, as stored)."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(PARIS).date()
