"""The statements behind /metrics' gauges: each cheap (a partial index or a small group), run at
scrape time under the web request's statement timeout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from open311.db.models import Agency, Delivery, WorkOrder
from open311.values import OPEN_WORK_ORDER_STATES, DeliveryState


@dataclass(frozen=True)
class Backlog:
    """Deliveries waiting (pending) and parked, and the age of the oldest pending one."""

    pending: int
    parked: int
    oldest_pending_s: float


def delivery_backlog(session: Session, now: datetime) -> Backlog:
    """One statement over the partial indexes of pending and parked deliveries (delivered rows,
    the great majority, are never read)."""
    pending = Delivery.state == DeliveryState.pending
    row = session.execute(
        select(
            select(func.count()).where(pending).scalar_subquery(),
            select(func.count()).where(Delivery.state == DeliveryState.parked).scalar_subquery(),
            select(func.min(Delivery.created_at)).where(pending).scalar_subquery(),
        )
    ).one()
    oldest = row[2]
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return Backlog(pending=row[0], parked=row[1], oldest_pending_s=age)


def overdue_work_orders_by_agency(session: Session, now: datetime) -> dict[str, int]:
    """Open work orders past their due time, per agency code (every agency, 0 included, so that
    a series does not vanish when its last overdue work order is done)."""
    overdue = (
        select(WorkOrder.agency_id, func.count().label("n"))
        .where(WorkOrder.state.in_(OPEN_WORK_ORDER_STATES), WorkOrder.due_at < now)
        .group_by(WorkOrder.agency_id)
        .subquery()
    )
    rows = session.execute(
        select(Agency.code, func.coalesce(func.sum(overdue.c.n), 0))
        .outerjoin(overdue, overdue.c.agency_id == Agency.id)
        .group_by(Agency.code)
        .order_by(Agency.code)
    )
    return {code: int(count) for code, count in rows}
