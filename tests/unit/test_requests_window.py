"""The GET requests window: 90 days by default, one bound opens 90 days, wider spans refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from open311.domain.requests_window import MAX_SPAN, standard_window
from open311.errors import InvalidInput

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_no_dates_is_the_last_90_days():
    assert standard_window(start=None, end=None, now=NOW) == (NOW - MAX_SPAN, NOW)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (NOW, None, (NOW, NOW + MAX_SPAN)),
        (None, NOW, (NOW - MAX_SPAN, NOW)),
        (NOW - MAX_SPAN, NOW, (NOW - MAX_SPAN, NOW)),
    ],
)
def test_one_bound_opens_90_days(start, end, expected):
    assert standard_window(start=start, end=end, now=NOW) == expected


def test_the_window_is_in_utc():
    pacific = timezone(timedelta(hours=-8))
    start, end = standard_window(start=datetime(2026, 1, 1, tzinfo=pacific), end=None, now=NOW)
    assert start == datetime(2026, 1, 1, 8, 0, tzinfo=UTC) and start.tzinfo is UTC
    assert end == start + MAX_SPAN


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (NOW, NOW - timedelta(seconds=1), "end_date is earlier than start_date"),
        (NOW, NOW + MAX_SPAN + timedelta(seconds=1), "may span at most 90 days"),
    ],
)
def test_reversed_or_wide_windows_are_refused(start, end, message):
    with pytest.raises(InvalidInput, match=message):
        standard_window(start=start, end=end, now=NOW)
