"""The selects of the staff API's work views: a crew's queue, one work order, a request's
work orders and districts, each in a single statement with what the view needs joined in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    and_,
    case,
    exists,
    func,
    nulls_last,
    or_,
    select,
)
from sqlalchemy.orm import Session, contains_eager, selectinload

from open311.db.models import (
    Activity,
    Agency,
    BoundaryLayer,
    Crew,
    District,
    RequestDistrict,
    Service,
    ServiceRequest,
    WorkflowStep,
    WorkOrder,
    crew_district,
)
from open311.values import OPEN_WORK_ORDER_STATES, CrewKind, WorkOrderState


@dataclass(frozen=True)
class QueueFilter:
    """What a queue asks for, already validated and scoped to what the caller may see.

    `crew_ids` None means every crew (administrators, supervisors). `overdue_at` set means
    only work orders open and due before it; `not_overdue_at` the opposite.
    """

    crew_ids: tuple[int, ...] | None
    states: tuple[WorkOrderState, ...]
    # The cities whose work orders are shown (a staff user's); None: every city.
    jurisdiction_ids: tuple[int, ...] | None = None
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


# What a queue item shows, as plain columns: a page of a hundred is read without building ORM
# entities (their identity map and relationships cost more than the query itself).
QUEUE_COLUMNS = (
    WorkOrder.id,
    WorkOrder.title,
    WorkOrder.state,
    WorkOrder.priority,
    WorkOrder.outcome,
    WorkOrder.not_before,
    WorkOrder.due_at,
    WorkOrder.escalated_at,
    WorkOrder.closed_at,
    WorkOrder.created_at,
    WorkOrder.updated_at,
    WorkOrder.parent_id,
    Crew.id.label("crew_id"),
    Crew.code.label("crew_code"),
    Crew.name.label("crew_name"),
    Agency.code.label("agency_code"),
    WorkflowStep.code.label("step_code"),
    ServiceRequest.service_request_id,
    Service.service_code,
    Service.service_name,
    ServiceRequest.status,
    ServiceRequest.address,
    func.ST_Y(ServiceRequest.location).label("lat"),
    func.ST_X(ServiceRequest.location).label("long"),
    ServiceRequest.description,
    ServiceRequest.requested_datetime,
)


def find_queue(session: Session, wanted: QueueFilter) -> Sequence[Row[Any]]:
    """A page of the queue: due soonest first (undated last), then higher priority, then id;
    rows of QUEUE_COLUMNS (by name)."""
    return session.execute(queue_statement(wanted)).all()


def queue_statement(wanted: QueueFilter) -> Select[Any]:
    """The select of a queue page. Open work is walked in due order on the partial indexes
    ix_work_order_open_crew_due (a crew's) and ix_work_order_open_due (every crew's, then
    narrowed by district, box or date); the page is the first rows of the walk (an
    incremental sort puts equal due times in priority order). A district is an index-only
    probe of ix_request_district_district_request; the box the `&&` operator on the request's
    point. Other states (done, cancelled) use ix_work_order_crew_state.
    """
    query = (
        select(*QUEUE_COLUMNS)
        .select_from(WorkOrder)
        .join(WorkOrder.service_request)
        .join(ServiceRequest.service)
        .join(WorkOrder.agency)
        .outerjoin(WorkOrder.crew)
        .outerjoin(WorkOrder.step)
        .where(WorkOrder.state.in_(wanted.states))
    )
    if wanted.crew_ids is not None:
        query = query.where(WorkOrder.crew_id.in_(wanted.crew_ids))
    if wanted.jurisdiction_ids is not None:
        # The request's city (the same as its service's: intake takes the service from the
        # city's catalogue), because the planner estimates it from service_request's own
        # statistics; through `service` it took a city of 13 of 70 services for a fifth of the
        # requests, when it is nearly all of them, and a box's page then sorted every open
        # work order instead of walking them in due order (issue 16).
        query = query.where(ServiceRequest.jurisdiction_id.in_(wanted.jurisdiction_ids))
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
        query = query.where(
            WorkOrder.state.in_(OPEN_WORK_ORDER_STATES), WorkOrder.due_at < wanted.overdue_at
        )
    if wanted.not_overdue_at is not None:
        query = query.where(
            or_(
                WorkOrder.state.not_in(OPEN_WORK_ORDER_STATES),
                WorkOrder.due_at.is_(None),
                WorkOrder.due_at >= wanted.not_overdue_at,
            )
        )
    return (
        query.order_by(nulls_last(WorkOrder.due_at.asc()), WorkOrder.priority.desc(), WorkOrder.id)
        .limit(wanted.limit)
        .offset(wanted.offset)
    )


def get_work_order_row(session: Session, work_order_id: int) -> QueueRow | None:
    """One work order as the queue shows it (request, crew, agency and step joined in)."""
    row = session.execute(
        _work_orders_joined()
        .where(WorkOrder.id == work_order_id)
        .execution_options(populate_existing=True)
    ).first()
    return QueueRow(row[0], row[1], row[2]) if row is not None else None


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


# --- work orders: crews, row locks, the escalation scan ------------------------------------------


def get_crew_of_kind(session: Session, agency_id: int, kind: CrewKind) -> Crew | None:
    """The agency's crew of that kind with the lowest id (its triage or supervisor queue)."""
    return session.scalar(
        select(Crew)
        .where(Crew.agency_id == agency_id, Crew.kind == kind)
        .order_by(Crew.id)
        .limit(1)
    )


def find_district_crew(
    session: Session, agency_id: int, request: ServiceRequest, prefer_layer_id: int | None
) -> Crew | None:
    """The agency's field crew covering one of the request's recorded districts: a district of
    `prefer_layer_id` first, then the lowest crew id."""
    preferred = (
        case((RequestDistrict.layer_id == prefer_layer_id, 0), else_=1)
        if prefer_layer_id is not None
        else None
    )
    query = (
        select(Crew)
        .join(crew_district, crew_district.c.crew_id == Crew.id)
        .join(RequestDistrict, RequestDistrict.district_id == crew_district.c.district_id)
        .where(
            RequestDistrict.service_request_pk == request.id,
            Crew.agency_id == agency_id,
            Crew.kind == CrewKind.field,
        )
    )
    order = [Crew.id] if preferred is None else [preferred, Crew.id]
    return session.scalar(query.order_by(*order).limit(1))


def lock_request(session: Session, request_pk: int) -> ServiceRequest | None:
    """SELECT ... FOR NO KEY UPDATE, reloading the row: decisions about a request (is its last
    work order finished, is it closed, does it still need a location) are taken one
    transaction at a time. Lock a request before its work orders, never after, so two
    transactions cannot wait for each other; NO KEY leaves rows that merely refer to it (an
    activity entry, a new work order) free to be inserted meanwhile."""
    return session.scalar(
        select(ServiceRequest)
        .where(ServiceRequest.id == request_pk)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def lock_work_order(session: Session, work_order_id: int) -> WorkOrder | None:
    """SELECT ... FOR UPDATE, reloading the row: whoever waited for the lock sees the state the
    other transaction committed, so two staff cannot complete the same work order twice."""
    return session.scalar(
        select(WorkOrder)
        .where(WorkOrder.id == work_order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def find_open_work_orders(
    session: Session, request: ServiceRequest, *, lock: bool = False
) -> Sequence[WorkOrder]:
    """The request's work orders that are not done or cancelled, oldest first."""
    query = (
        select(WorkOrder)
        .where(
            WorkOrder.service_request_pk == request.id,
            WorkOrder.state.in_(OPEN_WORK_ORDER_STATES),
        )
        .order_by(WorkOrder.id)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).all()


def claim_overdue_work_orders(
    session: Session, *, now: datetime, limit: int
) -> Sequence[WorkOrder]:
    """Open, overdue, never escalated work orders, locked for this transaction.

    SKIP LOCKED: rows another escalator holds are passed over rather than waited for, and a row
    it escalated and committed meanwhile fails the re-checked `escalated_at IS NULL`; so
    concurrent escalators never take the same work order. The WHERE clause repeats the predicate
    of the partial index ix_work_order_escalation_due so the planner can use it.
    """
    return session.scalars(
        select(WorkOrder)
        .where(
            WorkOrder.state.in_(OPEN_WORK_ORDER_STATES),
            WorkOrder.escalated_at.is_(None),
            WorkOrder.due_at < now,
        )
        .order_by(WorkOrder.due_at, WorkOrder.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
        .options(selectinload(WorkOrder.service_request), selectinload(WorkOrder.crew))
    ).all()


def find_work_order_activity(session: Session, work_order: WorkOrder) -> Sequence[Activity]:
    return session.scalars(
        select(Activity)
        .where(Activity.work_order_id == work_order.id)
        .order_by(Activity.at, Activity.id)
    ).all()
