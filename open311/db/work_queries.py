"""The selects of the staff API's work views: a crew's queue, one work order, a request's
work orders and districts, each in a single statement with what the view needs joined in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, nulls_last, or_, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from open311.db.models import (
    BoundaryLayer,
    Crew,
    District,
    RequestDistrict,
    ServiceRequest,
    WorkOrder,
    WorkOrderState,
)

OPEN_STATES = (WorkOrderState.new, WorkOrderState.assigned, WorkOrderState.in_progress)


@dataclass(frozen=True)
class QueueFilter:
    """What a queue asks for, already validated and scoped to what the caller may see.

    `crew_ids` None means every crew (administrators, supervisors). `overdue_at` set means
    only work orders open and due before it; `not_overdue_at` the opposite.
    """

    crew_ids: tuple[int, ...] | None
    states: tuple[WorkOrderState, ...]
    district_id: int | None = None
    bbox: tuple[float, float, float, float] | None = None  # min long, min lat, max long, max lat
    due_before: datetime | None = None
    overdue_at: datetime | None = None
    not_overdue_at: datetime | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class QueueRow:
    """A work order with its request, service, crew, agency and step loaded, and its point."""

    work_order: WorkOrder
    lat: float | None
    long: float | None


def _work_orders_joined() -> Select[Any]:
    """Work orders with everything an item shows, loaded by joins in the same statement:
    listing 500 of them costs one round trip, not one per work order."""
    return (
        select(
            WorkOrder,
            func.ST_Y(ServiceRequest.location).label("lat"),
            func.ST_X(ServiceRequest.location).label("long"),
        )
        .join(WorkOrder.service_request)
        .join(ServiceRequest.service)
        .join(WorkOrder.agency)
        .outerjoin(WorkOrder.crew)
        .outerjoin(WorkOrder.step)
        .options(
            contains_eager(WorkOrder.service_request).contains_eager(ServiceRequest.service),
            contains_eager(WorkOrder.agency),
            contains_eager(WorkOrder.crew),
            contains_eager(WorkOrder.step),
        )
    )


def find_queue(session: Session, wanted: QueueFilter) -> list[QueueRow]:
    """A page of the queue: due soonest first (undated last), then higher priority, then id.

    Crew and state use ix_work_order_crew_state; the bounding box is the GiST operator
    (`location && ST_MakeEnvelope`) on the request's point; a district is an index-only probe
    of ix_request_district_district_request.
    """
    query = _work_orders_joined().where(WorkOrder.state.in_(wanted.states))
    if wanted.crew_ids is not None:
        query = query.where(WorkOrder.crew_id.in_(wanted.crew_ids))
    if wanted.district_id is not None:
        query = query.where(
            exists().where(
                RequestDistrict.district_id == wanted.district_id,
                RequestDistrict.service_request_pk == WorkOrder.service_request_pk,
            )
        )
    if wanted.bbox is not None:
        west, south, east, north = wanted.bbox
        query = query.where(
            ServiceRequest.location.op("&&")(func.ST_MakeEnvelope(west, south, east, north, 4326))
        )
    if wanted.due_before is not None:
        query = query.where(WorkOrder.due_at < wanted.due_before)
    if wanted.overdue_at is not None:
        query = query.where(WorkOrder.state.in_(OPEN_STATES), WorkOrder.due_at < wanted.overdue_at)
    if wanted.not_overdue_at is not None:
        query = query.where(
            or_(
                WorkOrder.state.not_in(OPEN_STATES),
                WorkOrder.due_at.is_(None),
                WorkOrder.due_at >= wanted.not_overdue_at,
            )
        )
    query = (
        query.order_by(nulls_last(WorkOrder.due_at.asc()), WorkOrder.priority.desc(), WorkOrder.id)
        .limit(wanted.limit)
        .offset(wanted.offset)
    )
    return [QueueRow(row[0], row[1], row[2]) for row in session.execute(query)]


def get_work_order_row(session: Session, work_order_id: int) -> QueueRow | None:
    """One work order as the queue shows it (request, crew, agency and step joined in)."""
    row = session.execute(
        _work_orders_joined()
        .where(WorkOrder.id == work_order_id)
        .execution_options(populate_existing=True)
    ).first()
    return QueueRow(row[0], row[1], row[2]) if row is not None else None


def get_request_by_id(session: Session, service_request_id: str) -> ServiceRequest | None:
    """A request by its public id (unique across jurisdictions), with its service and the
    request it may duplicate."""
    return session.scalar(
        select(ServiceRequest)
        .where(ServiceRequest.service_request_id == service_request_id)
        .options(selectinload(ServiceRequest.service), selectinload(ServiceRequest.duplicate_of))
    )


def find_request_work_orders(session: Session, request: ServiceRequest) -> Sequence[WorkOrder]:
    """The request's work orders, oldest first, with crew, agency and step."""
    return session.scalars(
        select(WorkOrder)
        .join(WorkOrder.agency)
        .outerjoin(WorkOrder.crew)
        .outerjoin(WorkOrder.step)
        .where(WorkOrder.service_request_pk == request.id)
        .options(
            contains_eager(WorkOrder.agency),
            contains_eager(WorkOrder.crew),
            contains_eager(WorkOrder.step),
        )
        .order_by(WorkOrder.id)
        .execution_options(populate_existing=True)
    ).all()


def find_request_districts(session: Session, request: ServiceRequest) -> list[tuple[str, str]]:
    """(layer name, district name) of every layer the request was placed in, by layer id."""
    rows = session.execute(
        select(BoundaryLayer.name, District.name)
        .select_from(RequestDistrict)
        .join(District, District.id == RequestDistrict.district_id)
        .join(BoundaryLayer, BoundaryLayer.id == RequestDistrict.layer_id)
        .where(RequestDistrict.service_request_pk == request.id)
        .order_by(RequestDistrict.layer_id)
    )
    return [(layer, district) for layer, district in rows]


def request_has_crew_work(
    session: Session, request: ServiceRequest, crew_ids: Sequence[int]
) -> bool:
    """Whether any work order of the request (in any state) is for one of `crew_ids`."""
    if not crew_ids:
        return False
    return bool(
        session.scalar(
            select(
                exists().where(
                    and_(
                        WorkOrder.service_request_pk == request.id,
                        WorkOrder.crew_id.in_(crew_ids),
                    )
                )
            )
        )
    )


def get_crew_by_id(session: Session, crew_id: int) -> Crew | None:
    return session.get(Crew, crew_id)
