"""Escalation: open work orders past their due time go to their agency's supervisor, once each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from open311.db import work_queries
from open311.db.models import Crew
from open311.domain import activity
from open311.values import ActivityKind, CrewKind

ACTOR = "system:escalation"


def escalate_overdue(
    session: Session, *, now: datetime, actor: str = ACTOR, limit: int = 500
) -> list[int]:
    """Escalate up to `limit` overdue work orders and return their ids.

    Each one claimed (FOR UPDATE SKIP LOCKED, see work_queries.claim_overdue_work_orders) gets
    escalated_at = now, one step more priority and the agency's supervisor crew (its crew stays
    when the agency has none), and an internal "escalated" activity entry naming the previous
    crew and due time. escalated_at marks it done for good, so it is escalated exactly once even
    with several escalators at once; they must each commit their own transaction. The request
    itself is left alone: escalation is internal and changes nothing a citizen sees.
    """
    if now.tzinfo is None:
        raise ValueError("escalate_overdue needs an aware `now`")
    supervisors: dict[int, Crew | None] = {}
    escalated: list[int] = []
    for work_order in work_queries.claim_overdue_work_orders(session, now=now, limit=limit):
        if work_order.agency_id not in supervisors:
            supervisors[work_order.agency_id] = work_queries.get_crew_of_kind(
                session, work_order.agency_id, CrewKind.supervisor
            )
        supervisor = supervisors[work_order.agency_id]
        previous = work_order.crew
        # Claimed rows have one: the scan asks for due_at < now.
        due_at = work_order.due_at
        assert due_at is not None
        work_order.escalated_at = now
        work_order.priority += 1
        if supervisor is not None:
            work_order.crew = supervisor
        work_order.updated_at = now
        activity.record(
            session,
            work_order.service_request,
            actor=actor,
            kind=ActivityKind.escalated,
            summary=(
                f"Work order {work_order.id} ({work_order.title}) overdue since "
                f"{due_at.isoformat()}: escalated to "
                f"{work_order.crew.name if work_order.crew is not None else 'no crew'}"
            ),
            work_order=work_order,
            details={
                "previous_crew_id": previous.id if previous is not None else None,
                "previous_crew": previous.code if previous is not None else None,
                "crew_id": work_order.crew.id if work_order.crew is not None else None,
                "due_at": due_at.isoformat(),
                "priority": work_order.priority,
            },
            at=now,
        )
        escalated.append(work_order.id)
    session.flush()
    return escalated
