"""The selects behind the monthly report's request figures, read from the requests themselves.

A report covers one closed month, read once when it is made, so it counts the requests
themselves rather than the statistics' rollups (which the worker refreshes): it is exact
whenever it is run, and a month of one city is a small range for the request indexes.
Definitions are those of the public statistics (db/request_stats_queries.py): a request counts
as closed at its updated_datetime when its status is closed, never before it was requested;
it is on time when it closed by its expected_datetime. Unlike the public statistics, the
director's report counts every request, blackbox services included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Float, and_, case, cast, extract, func, literal, or_, select
from sqlalchemy.orm import Session

from open311.db.models import Service, ServiceRequest
from open311.values import Status

_CLOSED_AT = case(
    (
        ServiceRequest.status == Status.closed,
        func.greatest(ServiceRequest.updated_datetime, ServiceRequest.requested_datetime),
    ),
    else_=None,
)
_GROUP = func.coalesce(Service.group, Service.service_name)


@dataclass(frozen=True)
class RequestSums:
    """One service group's (None: the whole city's) figures for a month and the one before."""

    group: str | None
    opened: int
    opened_previous: int
    closed: int
    closed_previous: int
    closed_with_deadline: int
    closed_on_time: int
    backlog: int  # open at the month's end
    backlog_median_age_days: float | None


def request_sums(
    session: Session,
    jurisdiction_pk: int,
    previous_start: datetime,
    start: datetime,
    end: datetime,
    by_group: bool,
) -> list[RequestSums]:
    """Per service group (the service's group, else its name) or for the whole city: opened and
    closed in [start, end) and in [previous_start, start), on-time closings in [start, end),
    and the backlog at `end` with its median age in days."""
    requested = ServiceRequest.requested_datetime
    in_month = and_(requested >= start, requested < end)
    closed_in = and_(start <= _CLOSED_AT, end > _CLOSED_AT)
    open_at_end = and_(requested < end, or_(_CLOSED_AT.is_(None), end <= _CLOSED_AT))
    age_days = cast(extract("epoch", literal(end) - requested), Float) / 86400.0
    group = _GROUP if by_group else literal(None)
    statement = (
        select(
            group.label("group"),
            func.count().filter(in_month),
            func.count().filter(requested >= previous_start, requested < start),
            func.count().filter(closed_in),
            func.count().filter(previous_start <= _CLOSED_AT, start > _CLOSED_AT),
            func.count().filter(closed_in, ServiceRequest.expected_datetime.is_not(None)),
            func.count().filter(closed_in, ServiceRequest.expected_datetime >= _CLOSED_AT),
            func.count().filter(open_at_end),
            func.percentile_cont(0.5).within_group(age_days).filter(open_at_end),
        )
        .select_from(ServiceRequest)
        .join(Service, Service.id == ServiceRequest.service_id)
        .where(
            ServiceRequest.jurisdiction_id == jurisdiction_pk,
            requested < end,
            or_(_CLOSED_AT.is_(None), previous_start <= _CLOSED_AT),
        )
    )
    if by_group:
        statement = statement.group_by(_GROUP)
    return [
        RequestSums(row[0], *(int(v) for v in row[1:8]), _float(row[8]))
        for row in session.execute(statement)
    ]


def requests_per_day(
    session: Session, jurisdiction_pk: int, zone: str, start: datetime, end: datetime
) -> dict[date, tuple[int, int]]:
    """Requests opened and closed on each local day of [start, end) that had any."""
    opened_day = func.date(func.timezone(zone, ServiceRequest.requested_datetime))
    closed_day = func.date(func.timezone(zone, _CLOSED_AT))
    city = ServiceRequest.jurisdiction_id == jurisdiction_pk
    days: dict[date, list[int]] = {}
    opened = (
        select(opened_day, func.count())
        .where(city, ServiceRequest.requested_datetime >= start)
        .where(ServiceRequest.requested_datetime < end)
        .group_by(opened_day)
    )
    for day, count in session.execute(opened):
        days.setdefault(day, [0, 0])[0] = count
    closed = (
        select(closed_day, func.count())
        .where(city, start <= _CLOSED_AT, end > _CLOSED_AT)
        .group_by(closed_day)
    )
    for day, count in session.execute(closed):
        days.setdefault(day, [0, 0])[1] = count
    return {day: (pair[0], pair[1]) for day, pair in sorted(days.items())}


def service_names(session: Session, jurisdiction_pk: int) -> dict[str, str]:
    """The city's service names by service_code, retired services included."""
    statement = select(Service.service_code, Service.service_name).where(
        Service.jurisdiction_id == jurisdiction_pk
    )
    return dict(session.execute(statement).all())


def _float(value: object) -> float | None:
    return None if value is None else float(value)
