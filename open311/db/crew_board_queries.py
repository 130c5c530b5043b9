"""The crew board's queue: the staff API's queue statement, ordered by distance from where the
crew member stands instead of by due date when the board knows that place."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import Row, cast, func, null, nulls_last, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from open311.db.models import ServiceRequest, WorkOrder
from open311.db.work_queries import QueueFilter, queue_statement

# How many open work orders an address typed in "near" is looked for among: a crew's queue is
# tens of work orders, a supervisor's whole city's is not, and this is a convenience.
ADDRESS_SEARCH_LIMIT = 2000


def _point(lat: float, long: float) -> Any:
    return cast(func.ST_SetSRID(func.ST_MakePoint(long, lat), 4326), Geography(srid=4326))


def board_statement(wanted: QueueFilter, near: tuple[float, float] | None) -> Select[Any]:
    """The queue page of `wanted` (work_queries.queue_statement: the same filters and scope)
    with a `distance_m` column: metres on the ground from `near` (lat, long), nearest first,
    requests without a point last, then the queue's own order. Without `near` the queue's
    order stands (due soonest first, so overdue first) and `distance_m` is null.

    The crew's queue is small (tens of open work orders), so the sort by ST_Distance over
    geography of the filtered rows is cheap; a KNN (`<->`) index walk would not narrow by crew.
    """
    query = queue_statement(wanted)
    if near is None:
        return query.add_columns(null().label("distance_m"))
    distance = func.ST_Distance(cast(ServiceRequest.location, Geography(srid=4326)), _point(*near))
    return (
        query.add_columns(distance.label("distance_m"))
        .order_by(None)
        .order_by(
            nulls_last(distance.asc()),
            nulls_last(WorkOrder.due_at.asc()),
            WorkOrder.priority.desc(),
            WorkOrder.id,
        )
    )


def find_board(
    session: Session, wanted: QueueFilter, near: tuple[float, float] | None
) -> list[Row[Any]]:
    """A page of the board: rows of work_queries.QUEUE_COLUMNS and `distance_m`."""
    return list(session.execute(board_statement(wanted, near)).all())


def find_address_point(
    session: Session, wanted: QueueFilter, address: str
) -> tuple[float, float] | None:
    """The point (lat, long) of the first open work order in `wanted`'s scope whose request's
    address contains `address` (case-insensitive): the city has no geocoder of its own, and a
    crew member naming "where I am" usually names one of their own jobs or the street of one."""
    scope = replace(wanted, limit=ADDRESS_SEARCH_LIMIT, offset=0)
    rows = queue_statement(scope).subquery()
    pattern = "%" + address.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found = session.execute(
        select(rows.c.lat, rows.c.long)
        .where(rows.c.address.ilike(pattern, escape="\\"), rows.c.lat.is_not(None))
        .limit(1)
    ).first()
    return (found.lat, found.long) if found is not None else None
