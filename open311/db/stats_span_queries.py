"""The span of a city's request statistics: the first and last local day the rollup has an
opening or a closing on, so that a page can offer the months there are figures for."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

# Every request is in exactly one service_code group, so this dimension's days are all of them;
# the primary key (jurisdiction, dimension, day, group) answers min and max from its ends.
_SPAN = text(
    "SELECT min(day), max(day) FROM stats_request_day"
    " WHERE jurisdiction_id = :j AND dimension = 'service_code'"
)


def find_span(session: Session, jurisdiction_pk: int) -> tuple[date, date] | None:
    """(first day, last day) with figures, or None before the first refresh or any request."""
    first, last = session.execute(_SPAN, {"j": jurisdiction_pk}).one()
    return None if first is None else (first, last)
