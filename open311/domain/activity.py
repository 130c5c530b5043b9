"""The activity log: every change to a request, with who, when and why. Only ever appended to.

Public entries are what citizens see (notes with `extensions=true`, servicerequestupdates); each
carries the request's status after it, in the extended set FixMyStreet's updates use (digest
§8.4). Core GeoReport keeps open/closed; these words only describe updates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from open311 import clock
from open311.db.models import Activity, ServiceRequest, WorkOrder
from open311.domain import outbox
from open311.values import ENTRY_STATUSES, ActivityKind, UpdateStatus

SYSTEM = "system"

# Public entries written automatically when a request is filed: its receipt ("Request received
# via api") and the note of the workflow's first step (routing). They carry no news for the
# citizen, who just filed it, so the updates feed leaves them out (FixMyStreet posts each update
# as a council comment on the report) unless OPEN311_PUBLISH_AUTOMATIC_UPDATES keeps them.
# They stay public entries: the request's notes, its status_notes and webhooks still show them.
AUTOMATIC_KINDS = frozenset({ActivityKind.submitted, ActivityKind.routed})


def staff_actor(username: str) -> str:
    return f"staff:{username}"


def client_actor(client_name: str) -> str:
    return f"api:{client_name}"


def record(
    session: Session,
    request: ServiceRequest,
    *,
    actor: str,
    kind: ActivityKind,
    summary: str,
    work_order: WorkOrder | None = None,
    details: dict[str, Any] | None = None,
    public: bool = False,
    status: UpdateStatus | None = None,
    at: datetime | None = None,
) -> Activity:
    """Append one entry. `actor` names who acted ("api:<client>", "staff:<user>", "system");
    never put personal data of the requester in `summary` or `details`. A public entry needs
    its `status` (values.ENTRY_STATUSES); an internal one has none.

    A public entry becomes webhook events (and requester e-mails) when the session commits, in
    the same transaction (domain/outbox.py)."""
    if public != (status is not None):
        raise ValueError("a public entry carries a status, an internal one none")
    if status is not None and status not in ENTRY_STATUSES:
        raise ValueError(f"unknown update status {status!r}")
    entry = Activity(
        service_request_pk=request.id,
        work_order_id=work_order.id if work_order is not None else None,
        at=at or clock.now(),
        actor=actor,
        kind=kind,
        summary=summary,
        details=details or {},
        public=public,
        status=status,
    )
    session.add(entry)
    if public:
        outbox.note(session, request, entry)
    return entry
