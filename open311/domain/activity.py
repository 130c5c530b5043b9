"""The activity log: every change to a request, with who, when and why. Only ever appended to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from open311.db.models import Activity, ServiceRequest, WorkOrder

SYSTEM = "system"


def record(
    session: Session,
    request: ServiceRequest,
    *,
    actor: str,
    kind: str,
    summary: str,
    work_order: WorkOrder | None = None,
    details: dict[str, Any] | None = None,
    public: bool = False,
    at: datetime | None = None,
) -> Activity:
    """Append one entry. `actor` names who acted ("api:<client>", "staff:<user>", "system");
    never put personal data of the requester in `summary` or `details`."""
    entry = Activity(
        service_request_pk=request.id,
        work_order_id=work_order.id if work_order is not None else None,
        at=at or datetime.now(UTC),
        actor=actor,
        kind=kind,
        summary=summary,
        details=details or {},
        public=public,
    )
    session.add(entry)
    return entry
