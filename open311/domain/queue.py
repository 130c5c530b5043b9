"""What a staff user may see of the crews' work: a queue narrowed to their crews, the requests
their crews work on, and whose eyes the requester's contact is for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from open311.db import work_queries
from open311.db.models import ServiceRequest, StaffUser
from open311.db.work_queries import QueueFilter
from open311.domain import staff
from open311.errors import Forbidden, NotFound
from open311.values import OPEN_WORK_ORDER_STATES, StaffRole, WorkOrderState

# A queue without `state` shows what is still to do.
DEFAULT_STATES = OPEN_WORK_ORDER_STATES
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
# Who may read the requester's name, e-mail and phone: the people who call them back. Crews
# work the place, not the person.
CONTACT_ROLES = frozenset({StaffRole.administrator, StaffRole.supervisor, StaffRole.call_taker})


def queue_crews(user: StaffUser, asked: Sequence[int]) -> tuple[int, ...] | None:
    """The crews a queue covers: those asked for, or all of the caller's (None: every crew).

    A crew member asking for a crew that is not theirs is refused (403) rather than shown an
    empty list, so a typo in a crew id cannot pass for a quiet day.
    """
    asked = tuple(dict.fromkeys(asked))
    scope = staff.crew_scope(user)
    if scope is None:
        return asked or None
    if not asked:
        return tuple(scope)
    foreign = [crew_id for crew_id in asked if crew_id not in scope]
    if foreign:
        names = ", ".join(map(str, foreign))
        raise Forbidden(f"crew {names}: you may only see the queues of your own crews")
    return asked


def queue_filter(
    user: StaffUser,
    *,
    now: datetime,
    crews: Sequence[int] = (),
    states: Sequence[WorkOrderState | str] = (),
    district_id: int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    due_before: datetime | None = None,
    overdue: bool | None = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
    jurisdiction_ids: Sequence[int] | None = None,
) -> QueueFilter:
    """The filter of one page of `user`'s queue. One more row than `page_size` is asked for,
    so the caller can tell whether a next page exists without counting. The queue covers the
    user's cities, or `jurisdiction_ids` (already checked to be the user's)."""
    return QueueFilter(
        crew_ids=queue_crews(user, crews),
        jurisdiction_ids=tuple(jurisdiction_ids or staff.jurisdiction_scope(user)),
        states=tuple(WorkOrderState(state) for state in states) or DEFAULT_STATES,
        district_id=district_id,
        bbox=bbox,
        due_before=due_before,
        overdue_at=now if overdue is True else None,
        not_overdue_at=now if overdue is False else None,
        limit=page_size + 1,
        offset=(page - 1) * page_size,
    )


def check_request_scope(session: Session, user: StaffUser, request: ServiceRequest) -> None:
    """Crew members see and annotate only requests one of their crews has (or had) a work
    order of (403 otherwise); every other role sees every request of the user's cities. A
    request of another city is not found (404), as the queue and lookups are per city."""
    if request.service.jurisdiction_id not in staff.jurisdiction_scope(user):
        raise NotFound(f"service_request_id {request.service_request_id} not found")
    if user.role is not StaffRole.crew_member:
        return
    scope = staff.crew_scope(user) or []
    if not work_queries.request_has_crew_work(session, request, scope):
        raise Forbidden(f"request {request.service_request_id} has no work order of your crews")


def may_see_contact(user: StaffUser) -> bool:
    return user.role in CONTACT_ROLES
