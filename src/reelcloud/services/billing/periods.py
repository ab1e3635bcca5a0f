"""Billing periods and the arithmetic of money over time: calendar months from an anchor,
the dunning schedule, and the prorated price of an upgrade. Pure functions."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta


def utc(seconds: float) -> datetime:
    """A clock reading as an aware UTC datetime, to the microsecond PostgreSQL keeps."""
    return datetime.fromtimestamp(round(seconds, 6), UTC)


def add_months(anchor: datetime, months: int) -> datetime:
    """`anchor` moved by whole calendar months, its day clamped to the month's last: from
    31 January, one month is 28 (or 29) February and two are 31 March."""
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period(anchor: datetime, index: int) -> tuple[datetime, datetime]:
    """The `index`th monthly period from `anchor` (0 starts at the anchor)."""
    return add_months(anchor, index), add_months(anchor, index + 1)


def retry_at(failed_at: datetime, failures: int, schedule_days: tuple[int, ...]) -> datetime | None:
    """When to try again after the `failures`th failed charge of an invoice (days counted from
    the first failure), or None when the schedule is spent: the member goes on hold."""
    if failures < 1 or failures > len(schedule_days):
        return None
    return failed_at + timedelta(days=schedule_days[failures - 1])


def prorated(old_price: int, new_price: int, start: datetime, end: datetime, at: datetime) -> int:
    """What an upgrade at `at` costs for the rest of the period [start, end): the difference
    of the monthly prices times the share of the period left, rounded down (in the member's
    favour) to the minor unit. Integer arithmetic on microseconds: no float touches money."""
    if new_price <= old_price or at >= end:
        return 0
    left = _micros(end - max(at, start))
    whole = _micros(end - start)
    return (new_price - old_price) * left // whole


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
