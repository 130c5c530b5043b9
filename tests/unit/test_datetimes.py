"""parse_w3c and format_w3c: a zone required unless a local one is given; fractions tolerated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from open311.wire.datetimes import format_w3c, parse_w3c


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-04-12T09:14:03Z", datetime(2024, 4, 12, 9, 14, 3, tzinfo=UTC)),
        ("2024-04-12T09:14:03+00:00", datetime(2024, 4, 12, 9, 14, 3, tzinfo=UTC)),
        ("2024-04-12T09:14:03-05:00", datetime(2024, 4, 12, 14, 14, 3, tzinfo=UTC)),
        ("2024-04-12T09:14:03+05:30", datetime(2024, 4, 12, 3, 44, 3, tzinfo=UTC)),
        ("2024-04-12T00:30:00+14:00", datetime(2024, 4, 11, 10, 30, tzinfo=UTC)),
        ("2024-04-12T09:14Z", datetime(2024, 4, 12, 9, 14, tzinfo=UTC)),
        ("2024-02-29T23:59:59-01:00", datetime(2024, 3, 1, 0, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_names_the_right_instant(text, expected):
    parsed = parse_w3c(text)

    assert parsed.tzinfo is not None
    assert parsed == expected


def test_parse_keeps_the_given_offset():
    parsed = parse_w3c("2014-03-02T09:05:00-05:00")

    assert parsed.utcoffset() == timedelta(hours=-5)
    assert parsed == parse_w3c("2014-03-02T14:05:00Z")


@pytest.mark.parametrize(
    ("text", "microsecond"),
    [
        ("2024-04-12T09:14:03.5Z", 500000),
        ("2024-04-12T09:14:03.123Z", 123000),
        ("2024-04-12T09:14:03.123456Z", 123456),
        ("2024-04-12T09:14:03.123456789Z", 123456),
        ("2024-04-12T09:14:03.999999999-05:00", 999999),
    ],
)
def test_parse_accepts_fractional_seconds(text, microsecond):
    assert parse_w3c(text).microsecond == microsecond


def test_parse_ignores_surrounding_whitespace():
    assert parse_w3c("  2024-04-12T09:14:03Z\n") == datetime(2024, 4, 12, 9, 14, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2024-04-12T09:14:03",  # naive
        "2024-04-12T09:14:03.5",  # naive with a fraction
        "2024-04-12",  # date only
        "2024-04",
        "09:14:03Z",  # time only
        "2024-04-12 09:14:03Z",  # space instead of T
        "2024-04-12T09:14:03+0500",  # offset without colon
        "2024-04-12T09:14:03+05",
        "2024-04-12T09:14:03 Z",
        "2024-04-12T09:14:03.Z",
        "2024-04-12T9:14:03Z",
        "20240412T091403Z",  # basic format
        "2024-02-30T00:00:00Z",  # no such day
        "2024-04-12T24:00:01Z",
        "2024-04-12T09:60:00Z",
        "2024-13-12T09:14:03Z",
        "2024-04-12T09:14:03+24:00",
        "yesterday",
        "",
        "   ",
        "1712913243",
        "2024-04-12T09:14:03Z; DROP TABLE x",
    ],
)
def test_parse_rejects_anything_else(text):
    with pytest.raises(ValueError):
        parse_w3c(text)


def test_rejection_message_shows_the_expected_shape():
    with pytest.raises(ValueError, match="2024-04-12T09:14:03Z"):
        parse_w3c("2024-04-12")


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 4, 12, 9, 14, 3, tzinfo=UTC), "2024-04-12T09:14:03Z"),
        (
            datetime(2024, 4, 12, 9, 14, 3, tzinfo=timezone(timedelta(hours=-4))),
            "2024-04-12T13:14:03Z",
        ),
        (
            datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2023-12-31T19:30:00Z",
        ),
        (datetime(2024, 4, 12, 9, 14, 3, 999999, tzinfo=UTC), "2024-04-12T09:14:03Z"),
        (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05Z"),
    ],
)
def test_format_is_utc_to_the_second(moment, text):
    assert format_w3c(moment) == text


@pytest.mark.parametrize(
    "text",
    ["2024-04-12T09:14:03Z", "2014-03-02T09:05:00-05:00", "2024-04-12T09:14:03.75+02:00"],
)
def test_format_then_parse_is_the_same_second(text):
    moment = parse_w3c(text)

    again = parse_w3c(format_w3c(moment))

    assert again == moment.replace(microsecond=0)
    assert format_w3c(again) == format_w3c(moment)


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-12-05T07:23", datetime(2026, 12, 5, 15, 23, tzinfo=UTC)),  # datetime-local
        ("2026-12-03T15:20:11.609737", datetime(2026, 12, 3, 23, 20, 11, 609737, tzinfo=UTC)),
        ("2026-07-01T00:00:00.5", datetime(2026, 7, 1, 7, 0, 0, 500000, tzinfo=UTC)),
        ("2026-07-01T00:00:00Z", datetime(2026, 7, 1, tzinfo=UTC)),  # a zone given wins
    ],
)
def test_parse_reads_a_zone_less_value_in_the_local_zone_given(text, utc):
    from zoneinfo import ZoneInfo

    assert parse_w3c(text, ZoneInfo("America/Los_Angeles")) == utc


@pytest.mark.parametrize("text", ["2026-12-05", "2026-12-05T07", "tomorrow", "2026-02-30T07:23"])
def test_a_local_zone_does_not_make_other_text_a_datetime(text):
    from zoneinfo import ZoneInfo

    with pytest.raises(ValueError):
        parse_w3c(text, ZoneInfo("America/Los_Angeles"))
