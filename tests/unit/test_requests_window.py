"""The GET requests window: 90 days by default, one bound opens 90 days, ids override all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from open311.domain.requests_window import MAX_RESULTS, MAX_SPAN, request_filter
from open311.errors import InvalidInput
from open311.values import Status

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_ids_override_every_other_filter():
    wanted = request_filter(
        service_request_ids=("1", "2"),
        service_codes=("POT",),
        statuses=(Status.open,),
        start=NOW,
        end=NOW - timedelta(days=400),  # reversed and oversized: ignored with ids
        now=NOW,
    )
    assert wanted.service_request_ids == ("1", "2")
    assert (wanted.service_codes, wanted.statuses, wanted.start, wanted.end) == ((), (), None, None)


def test_no_dates_is_the_last_90_days():
    wanted = request_filter(now=NOW)
    assert (wanted.start, wanted.end, wanted.limit) == (NOW - MAX_SPAN, NOW, MAX_RESULTS)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (NOW, None, (NOW, NOW + MAX_SPAN)),
        (None, NOW, (NOW - MAX_SPAN, NOW)),
    ],
)
def test_one_bound_opens_90_days(start, end, expected):
    wanted = request_filter(start=start, end=end, now=NOW)
    assert (wanted.start, wanted.end) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [(NOW, NOW - timedelta(seconds=1)), (NOW, NOW + MAX_SPAN + timedelta(seconds=1))],
)
def test_reversed_or_wide_windows_are_refused(start, end):
    with pytest.raises(InvalidInput):
        request_filter(start=start, end=end, now=NOW)
