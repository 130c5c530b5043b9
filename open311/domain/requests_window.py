"""The GET requests window: the spec's 90 days and 1000 results, made exact (digest §11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from open311.errors import InvalidInput
from open311.i18n import _

MAX_SPAN = timedelta(days=90)
MAX_RESULTS = 1000
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """In UTC, since PostgreSQL refuses the offsets beyond ±15:59 that the W3C format allows;
    an instant past either end of the calendar (0001-01-01T00:00:00+23:59) becomes that end."""
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return EARLIEST if moment.year == 1 else LATEST


def _shift(moment: datetime, delta: timedelta) -> datetime:
    """moment + delta, stopping at the ends of the calendar instead of overflowing."""
    try:
        return moment + delta
    except OverflowError:
        return LATEST if delta > timedelta(0) else EARLIEST


def standard_window(
    *, start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The standard query's window, in UTC: no dates mean the last 90 days before `now`, one
    bound 90 days from or to it; a reversed or wider span is refused."""
    start, end = as_utc(start), as_utc(end)
    if start is None and end is None:
        end = now
        start = _shift(end, -MAX_SPAN)
    elif start is None:
        assert end is not None
        start = _shift(end, -MAX_SPAN)
    elif end is None:
        end = _shift(start, MAX_SPAN)
    if end < start:
        raise InvalidInput(_("end_date is earlier than start_date"))
    if end - start > MAX_SPAN:
        raise InvalidInput(_("start_date and end_date may span at most 90 days"))
    return start, end
