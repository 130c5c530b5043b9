"""SLA clocks: business hours of a city (its zone, weekdays, holidays) and calendar time.

The rule, as staff and citizens read it:

- A city works from `business_day_start` to `business_day_end` local time on its
  `business_weekdays` (ISO numbers, 1 = Monday), except on public holidays of its country and
  subdivision (the `holidays` package) and on the extra days it declares (CityHoliday).
- A business interval is half-open, [start, end): a moment at or after the day's end belongs to
  the next business morning. So a start outside business hours (at night, on a Saturday, on a
  holiday) is first moved forward to the next business moment, then hours are consumed day by
  day. A target that uses up a day exactly ends at that day's end (17:00), not at the next
  morning: the crew had the whole day.
- Each day's start and end are built as local wall-clock times in the city's zone (zoneinfo), so
  a day after a DST change still opens at 08:00 local; elapsed time inside a day is measured in
  real (UTC) time.
- `expected_by` with the business clock counts `days` x the length of a business day in
  business hours; with the calendar clock it adds `days` x 24 hours of local wall-clock time, so
  "3 days" from 10:00 ends at 10:00 local even across a DST change (71 or 73 real hours).

Results are aware datetimes in UTC; callers must pass aware datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy.orm import Session

from open311.db import catalogue_queries
from open311.db.models import Jurisdiction
from open311.values import SlaClock

# A calendar whose every day is closed would loop for ever; no real city closes for ten years.
_MAX_CLOSED_DAYS_IN_A_ROW = 3660


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # Built once per (country, subdivision, year) and shared by every calendar of the process.
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def _parse_weekdays(weekdays: str) -> frozenset[int]:
    days = frozenset(int(c) for c in weekdays if c.isdigit())
    if not days or not days <= set(range(1, 8)) or len(days) != len(weekdays):
        raise ValueError(f"business weekdays must be ISO digits 1-7 (1 = Monday), not {weekdays!r}")
    return days


@dataclass(frozen=True)
class BusinessCalendar:
    """When a city works. Build it with `calendar_for` (or `from_jurisdiction` in pure code)."""

    time_zone: str = "UTC"
    day_start: time = time(8, 0)
    day_end: time = time(17, 0)
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    # Days the city declared closed on top of the public holidays (CityHoliday rows).
    closed_days: frozenset[date] = frozenset()
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.day_end <= self.day_start:
            raise ValueError("a business day must end after it starts")
        if not self.weekdays or not set(self.weekdays) <= set(range(1, 8)):
            raise ValueError("business weekdays must be a non-empty set of ISO days 1-7")
        object.__setattr__(self, "zone", ZoneInfo(self.time_zone))

    @classmethod
    def from_jurisdiction(
        cls, jurisdiction: Jurisdiction, closed_days: frozenset[date] | set[date] = frozenset()
    ) -> BusinessCalendar:
        """The calendar of a city; `closed_days` are its CityHoliday days."""
        # None: a row not yet flushed, before the column defaults apply; "" is bad data.
        weekdays = jurisdiction.business_weekdays
        return cls(
            time_zone=jurisdiction.time_zone or "UTC",
            day_start=jurisdiction.business_day_start or time(8, 0),
            day_end=jurisdiction.business_day_end or time(17, 0),
            weekdays=_parse_weekdays("12345" if weekdays is None else weekdays),
            holiday_country=jurisdiction.holiday_country,
            holiday_subdivision=jurisdiction.holiday_subdivision,
            closed_days=frozenset(closed_days),
        )

    @property
    def day_hours(self) -> float:
        """The nominal length of a business day in hours (wall clock, start to end)."""
        start = datetime.combine(date.min, self.day_start)
        end = datetime.combine(date.min, self.day_end)
        return (end - start) / timedelta(hours=1)

    def is_public_holiday(self, day: date) -> bool:
        """A holiday of the `holidays` package for the country/subdivision (none without one)."""
        if self.holiday_country is None:
            return False
        return day in _public_holidays(self.holiday_country, self.holiday_subdivision, day.year)

    def is_business_day(self, day: date) -> bool:
        """A working weekday that is neither a public holiday nor one of the city's days."""
        return (
            day.isoweekday() in self.weekdays
            and day not in self.closed_days
            and not self.is_public_holiday(day)
        )

    def opening(self, day: date) -> tuple[datetime, datetime]:
        """The day's business start and end as aware local wall-clock times."""
        return (
            datetime.combine(day, self.day_start, tzinfo=self.zone),
            datetime.combine(day, self.day_end, tzinfo=self.zone),
        )


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("SLA arithmetic needs an aware datetime (with a time zone)")


def add_business_hours(calendar: BusinessCalendar, start: datetime, hours: float) -> datetime:
    """The moment `hours` business hours after `start` (see the module docstring for the rule)."""
    _require_aware(start)
    if hours < 0:
        raise ValueError("business hours to add must not be negative")
    remaining = timedelta(hours=hours)
    # Python subtracts aware datetimes of one tzinfo as wall-clock times; UTC keeps it real.
    cursor = start.astimezone(UTC)
    day = cursor.astimezone(calendar.zone).date()
    closed_in_a_row = 0
    while True:
        if not calendar.is_business_day(day):
            closed_in_a_row += 1
            if closed_in_a_row > _MAX_CLOSED_DAYS_IN_A_ROW:
                raise ValueError("the business calendar has no working day in ten years")
            day += timedelta(days=1)
            continue
        closed_in_a_row = 0
        opens, closes = (moment.astimezone(UTC) for moment in calendar.opening(day))
        cursor = max(cursor, opens)
        if cursor < closes:
            available = closes - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
        day += timedelta(days=1)


def add_calendar_days(calendar: BusinessCalendar, start: datetime, days: float) -> datetime:
    """`days` x 24 hours of local wall-clock time after `start`, as an aware UTC datetime."""
    _require_aware(start)
    local = start.astimezone(calendar.zone)
    # Same-tzinfo arithmetic is wall-clock arithmetic: 10:00 + 1 day is 10:00 the next day.
    wall = local.replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=calendar.zone).astimezone(UTC)


def expected_by(
    calendar: BusinessCalendar, start: datetime, days: float, clock: SlaClock | str
) -> datetime:
    """When a request filed at `start` with an SLA of `days` on `clock` is expected done."""
    if days < 0:
        raise ValueError("SLA days must not be negative")
    if SlaClock(clock) is SlaClock.calendar:
        return add_calendar_days(calendar, start, days)
    return add_business_hours(calendar, start, days * calendar.day_hours)


def calendar_for(session: Session, jurisdiction: Jurisdiction) -> BusinessCalendar:
    """The jurisdiction's calendar with its CityHoliday days read from the database."""
    closed = {
        holiday.day for holiday in catalogue_queries.find_city_holidays(session, jurisdiction)
    }
    return BusinessCalendar.from_jurisdiction(jurisdiction, closed)
