from datetime import UTC, datetime, timedelta

import pytest

from reelcloud.services.billing.periods import add_months, period, prorated, retry_at


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (at(2025, 1, 15), 1, at(2025, 2, 15)),
        (at(2025, 1, 31), 1, at(2025, 2, 28)),
        (at(2024, 1, 31), 1, at(2024, 2, 29)),  # a leap year
        (at(2025, 1, 31), 2, at(2025, 3, 31)),  # back to the 31st, no drift
        (at(2025, 11, 30), 3, at(2026, 2, 28)),  # across a year
        (at(2025, 3, 31, 10, 30), -1, at(2025, 2, 28, 10, 30)),
    ],
)
def test_months_clamp_to_the_last_day_and_keep_the_anchor(anchor, months, expected):
    assert add_months(anchor, months) == expected


def test_periods_follow_each_other_without_gaps():
    anchor = at(2025, 1, 31, 8)
    previous_end = None
    for index in range(14):
        start, end = period(anchor, index)
        assert start < end
        if previous_end is not None:
            assert start == previous_end
        previous_end = end
    assert period(anchor, 12) == (at(2026, 1, 31, 8), at(2026, 2, 28, 8))


def test_retries_after_one_three_and_seven_days_then_none():
    failed = at(2025, 5, 1, 12)
    schedule = (1, 3, 7)
    assert retry_at(failed, 1, schedule) == failed + timedelta(days=1)
    assert retry_at(failed, 2, schedule) == failed + timedelta(days=3)
    assert retry_at(failed, 3, schedule) == failed + timedelta(days=7)
    assert retry_at(failed, 4, schedule) is None  # on hold
    assert retry_at(failed, 0, schedule) is None


def test_an_upgrade_costs_the_price_difference_for_the_time_left():
    start, end = at(2025, 4, 1), at(2025, 5, 1)  # 30 days
    assert prorated(999, 1549, start, end, start) == 550  # the whole period
    assert prorated(999, 1549, start, end, start + timedelta(days=15)) == 275  # half
    # A third of 550 is 183.33: rounded down, in the member's favour.
    assert prorated(999, 1549, start, end, start + timedelta(days=20)) == 183
    assert prorated(999, 1549, start, end, end) == 0
    assert prorated(1549, 999, start, end, start) == 0  # a downgrade costs nothing now


def test_proration_is_exact_integer_arithmetic_for_any_instant():
    start, end = at(2025, 2, 1), at(2025, 3, 1)
    for seconds in (1, 59, 3_600, 86_399, 1_000_000, 2_419_199):
        when = start + timedelta(seconds=seconds)
        amount = prorated(0, 2_419_200, start, end, when)  # one minor unit per second left
        assert amount == 2_419_200 - seconds
