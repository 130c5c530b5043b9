"""The SLA clocks: business hours across weekends, holidays and DST; calendar days across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from open311.db.models import Jurisdiction
from open311.domain.sla import (
    BusinessCalendar,
    add_business_hours,
    add_calendar_days,
    expected_by,
)
from open311.values import SlaClock

LA = ZoneInfo("America/Los_Angeles")

# Los Angeles as the demo sets it up: 08:00-17:00, Monday to Friday, US + California holidays.
LOS_ANGELES = BusinessCalendar(
    time_zone="America/Los_Angeles",
    day_start=time(8, 0),
    day_end=time(17, 0),
    holiday_country="US",
    holiday_subdivision="CA",
)
# Federal holidays only.
FEDERAL = BusinessCalendar(time_zone="America/Los_Angeles", holiday_country="US")


def la(*args: int) -> datetime:
    return datetime(*args, tzinfo=LA)


def local(moment: datetime, zone: ZoneInfo = LA) -> datetime:
    """The result as the city's wall clock shows it (naive, for readable comparisons)."""
    return moment.astimezone(zone).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("calendar", "start", "hours", "expected"),
    [
        # Within a day.
        (LOS_ANGELES, la(2026, 10, 20, 9, 0), 3, datetime(2026, 10, 20, 12, 0)),
        # Friday afternoon to Monday morning: the weekend does not count.
        (LOS_ANGELES, la(2026, 10, 16, 15, 0), 4, datetime(2026, 10, 19, 10, 0)),
        # Landing exactly at the end of a day is that end, not the next morning.
        (LOS_ANGELES, la(2026, 10, 20, 10, 0), 7, datetime(2026, 10, 20, 17, 0)),
        (LOS_ANGELES, la(2026, 10, 20, 8, 0), 9, datetime(2026, 10, 20, 17, 0)),
        (LOS_ANGELES, la(2026, 10, 16, 8, 0), 18, datetime(2026, 10, 19, 17, 0)),
        # One hour more is the first hour of the next business day.
        (LOS_ANGELES, la(2026, 10, 20, 10, 0), 8, datetime(2026, 10, 21, 9, 0)),
        # Filed at night, early in the morning, on a Saturday, on a Sunday.
        (LOS_ANGELES, la(2026, 10, 20, 22, 30), 1, datetime(2026, 10, 21, 9, 0)),
        (LOS_ANGELES, la(2026, 10, 21, 5, 0), 1, datetime(2026, 10, 21, 9, 0)),
        (LOS_ANGELES, la(2026, 10, 17, 10, 0), 1, datetime(2026, 10, 19, 9, 0)),
        (LOS_ANGELES, la(2026, 10, 18, 23, 59), 2.5, datetime(2026, 10, 19, 10, 30)),
        # Filed at closing time: the clock starts the next business morning.
        (LOS_ANGELES, la(2026, 10, 20, 17, 0), 1, datetime(2026, 10, 21, 9, 0)),
        (LOS_ANGELES, la(2026, 10, 20, 17, 0), 0, datetime(2026, 10, 21, 8, 0)),
        # Zero hours inside business hours: now.
        (LOS_ANGELES, la(2026, 10, 20, 11, 15), 0, datetime(2026, 10, 20, 11, 15)),
        # Thanksgiving (federal) and the day after (a California state holiday).
        (FEDERAL, la(2026, 11, 25, 16, 0), 2, datetime(2026, 11, 27, 9, 0)),
        (LOS_ANGELES, la(2026, 11, 25, 16, 0), 2, datetime(2026, 11, 30, 9, 0)),
        # Christmas on a Friday, then the weekend.
        (LOS_ANGELES, la(2026, 12, 24, 16, 0), 2, datetime(2026, 12, 28, 9, 0)),
        # Into the next year: New Year's Day 2027 (a Friday) comes from that year's holidays.
        (LOS_ANGELES, la(2026, 12, 31, 16, 0), 2, datetime(2027, 1, 4, 9, 0)),
        # Cesar Chavez Day (Tuesday 2026-03-31) is a California holiday, not a federal one.
        (LOS_ANGELES, la(2026, 3, 30, 16, 0), 2, datetime(2026, 4, 1, 9, 0)),
        (FEDERAL, la(2026, 3, 30, 16, 0), 2, datetime(2026, 3, 31, 9, 0)),
        # Multi-day: 30 hours from Monday 08:00 are three full days and three hours.
        (LOS_ANGELES, la(2026, 10, 19, 8, 0), 30, datetime(2026, 10, 22, 11, 0)),
        # Two weeks of hours across Thanksgiving week (Thu and Fri closed in California).
        (LOS_ANGELES, la(2026, 11, 16, 9, 0), 90, datetime(2026, 12, 2, 9, 0)),
    ],
)
def test_add_business_hours(
    calendar: BusinessCalendar, start: datetime, hours: float, expected: datetime
):
    result = add_business_hours(calendar, start, hours)
    assert result.tzinfo is not None
    assert local(result) == expected


def test_a_day_the_city_closes_is_skipped():
    closed = BusinessCalendar(
        time_zone="America/Los_Angeles",
        holiday_country="US",
        holiday_subdivision="CA",
        closed_days=frozenset({date(2026, 10, 20)}),
    )
    start = la(2026, 10, 19, 16, 0)
    assert local(add_business_hours(LOS_ANGELES, start, 2)) == datetime(2026, 10, 20, 9, 0)
    assert local(add_business_hours(closed, start, 2)) == datetime(2026, 10, 21, 9, 0)


def test_dst_starts_next_morning_is_still_nine_local():
    # Friday 2026-03-06 16:00 PST + 2 h: one hour Friday, one Monday 2026-03-09, now in PDT.
    result = add_business_hours(LOS_ANGELES, la(2026, 3, 6, 16, 0), 2)
    assert local(result) == datetime(2026, 3, 9, 9, 0)
    assert result.astimezone(LA).utcoffset() == timedelta(hours=-7)
    assert result == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


def test_dst_ends_next_morning_is_still_nine_local():
    # Friday 2026-10-30 16:00 PDT + 2 h: one hour Friday, one Monday 2026-11-02, now in PST.
    result = add_business_hours(LOS_ANGELES, la(2026, 10, 30, 16, 0), 2)
    assert local(result) == datetime(2026, 11, 2, 9, 0)
    assert result.astimezone(LA).utcoffset() == timedelta(hours=-8)
    assert result == datetime(2026, 11, 2, 17, 0, tzinfo=UTC)


def test_a_utc_start_is_read_in_the_city_zone():
    # 2026-10-20 01:00 UTC is Monday 18:00 in Los Angeles: after hours, so Tuesday 08:00 + 1 h.
    result = add_business_hours(LOS_ANGELES, datetime(2026, 10, 20, 1, 0, tzinfo=UTC), 1)
    assert local(result) == datetime(2026, 10, 20, 9, 0)


def test_results_are_utc():
    assert add_business_hours(LOS_ANGELES, la(2026, 10, 20, 9, 0), 1).tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "days", "expected", "real_hours"),
    [
        # DST starts Sunday 2026-03-08: a calendar day is 23 real hours then.
        (la(2026, 3, 7, 10, 0), 1, datetime(2026, 3, 8, 10, 0), 23),
        (la(2026, 3, 6, 12, 0), 3, datetime(2026, 3, 9, 12, 0), 71),
        # DST ends Sunday 2026-11-01: 25 real hours.
        (la(2026, 10, 31, 10, 0), 1, datetime(2026, 11, 1, 10, 0), 25),
        (la(2026, 10, 30, 12, 0), 5, datetime(2026, 11, 4, 12, 0), 121),
        # Weekends and holidays count on the calendar clock.
        (la(2026, 11, 25, 16, 0), 2, datetime(2026, 11, 27, 16, 0), 48),
        (la(2026, 10, 20, 9, 0), 0.5, datetime(2026, 10, 20, 21, 0), 12),
    ],
)
def test_calendar_clock_counts_local_days(
    start: datetime, days: float, expected: datetime, real_hours: int
):
    result = expected_by(LOS_ANGELES, start, days, SlaClock.calendar)
    assert local(result) == expected
    assert result - start == timedelta(hours=real_hours)
    assert add_calendar_days(LOS_ANGELES, start, days) == result


def test_business_clock_counts_business_days():
    # 2 business days of 9 hours from Monday 10:00: 7 + 9 + 2 hours, Wednesday 10:00.
    result = expected_by(LOS_ANGELES, la(2026, 10, 19, 10, 0), 2, "business")
    assert local(result) == datetime(2026, 10, 21, 10, 0)
    # 10 business days filed on a Monday morning cross the DST change and end in PST.
    result = expected_by(LOS_ANGELES, la(2026, 10, 19, 9, 0), 10, SlaClock.business)
    assert local(result) == datetime(2026, 11, 2, 9, 0)


def test_other_weekdays_and_hours():
    # A European city open 09:00-13:00 Monday to Saturday, with Berlin's holidays.
    berlin = BusinessCalendar(
        time_zone="Europe/Berlin",
        day_start=time(9, 0),
        day_end=time(13, 0),
        weekdays=frozenset({1, 2, 3, 4, 5, 6}),
        holiday_country="DE",
        holiday_subdivision="BE",
    )
    zone = ZoneInfo("Europe/Berlin")
    friday = datetime(2026, 10, 16, 12, 0, tzinfo=zone)
    assert local(add_business_hours(berlin, friday, 3), zone) == datetime(2026, 10, 17, 11, 0)
    # Saturday, Sunday closed, then Monday after Berlin's DST change (2026-10-25).
    saturday = datetime(2026, 10, 24, 12, 0, tzinfo=zone)
    assert local(add_business_hours(berlin, saturday, 2), zone) == datetime(2026, 10, 26, 10, 0)
    # German Unity Day, Saturday 2026-10-03, is a holiday there.
    friday = datetime(2026, 10, 2, 12, 0, tzinfo=zone)
    assert local(add_business_hours(berlin, friday, 2), zone) == datetime(2026, 10, 5, 10, 0)
    assert berlin.day_hours == 4
    assert local(expected_by(berlin, friday, 1, "business"), zone) == datetime(2026, 10, 5, 12, 0)

    # Sunday to Thursday, 07:30-15:30, no public holidays.
    week = BusinessCalendar(
        time_zone="Asia/Jerusalem",
        day_start=time(7, 30),
        day_end=time(15, 30),
        weekdays=frozenset({7, 1, 2, 3, 4}),
    )
    zone = ZoneInfo("Asia/Jerusalem")
    thursday = datetime(2026, 10, 15, 14, 0, tzinfo=zone)
    assert local(add_business_hours(week, thursday, 3), zone) == datetime(2026, 10, 18, 9, 0)


def test_from_jurisdiction():
    jurisdiction = Jurisdiction(
        time_zone="America/Los_Angeles",
        business_day_start=time(7, 0),
        business_day_end=time(16, 0),
        business_weekdays="12345",
        holiday_country="US",
        holiday_subdivision="CA",
    )
    calendar = BusinessCalendar.from_jurisdiction(jurisdiction, {date(2026, 12, 24)})
    assert calendar.weekdays == frozenset({1, 2, 3, 4, 5})
    assert calendar.day_hours == 9
    assert not calendar.is_business_day(date(2026, 12, 24))  # the city's own day
    assert not calendar.is_business_day(date(2026, 11, 27))  # California's
    assert calendar.is_business_day(date(2026, 12, 23))
    # Wednesday 15:00 + 2 h: one hour, then Thursday (Christmas Eve) and Friday are closed.
    result = add_business_hours(calendar, la(2026, 12, 23, 15, 0), 2)
    assert local(result) == datetime(2026, 12, 28, 8, 0)


@pytest.mark.parametrize("weekdays", ["", "89", "1x", "112"])
def test_bad_weekdays_are_refused(weekdays: str):
    jurisdiction = Jurisdiction(time_zone="UTC", business_weekdays=weekdays)
    with pytest.raises(ValueError, match="weekdays"):
        BusinessCalendar.from_jurisdiction(jurisdiction)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="aware"):
        add_business_hours(LOS_ANGELES, datetime(2026, 10, 20, 9, 0), 1)
    with pytest.raises(ValueError, match="negative"):
        add_business_hours(LOS_ANGELES, la(2026, 10, 20, 9, 0), -1)
    with pytest.raises(ValueError, match="negative"):
        expected_by(LOS_ANGELES, la(2026, 10, 20, 9, 0), -1, "calendar")
    with pytest.raises(ValueError, match="end after"):
        BusinessCalendar(day_start=time(17, 0), day_end=time(8, 0))
