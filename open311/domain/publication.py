"""Which requests the public reads show: one rule for every public surface.

A blackbox service answers its filer with neither a service_request_id nor a token (digest
§5): what is filed there (FEEDBACK: complaints, tips, with their descriptions and addresses)
is meant for the city, not for the public. So, unless OPEN311_PUBLISH_BLACKBOX is on, requests
of a service whose type is blackbox are in no public read: GET requests (lists, by id,
X-Total-Count), tokens, the exports, the updates feed, nor webhook events. The statements
apply it as one condition on the request's service (db.search_queries, db.update_queries,
db.request_queries); the outbox asks `is_published`. Staff reads (/api/v1) see every request.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from open311.db.models import ServiceRequest
from open311.db.session import settings_of
from open311.values import ServiceType


def publishes_blackbox(session: Session) -> bool:
    """Whether public reads include requests of blackbox services (the settings' choice)."""
    return settings_of(session).publish_blackbox


def is_published(session: Session, request: ServiceRequest) -> bool:
    """Whether `request` may appear in public reads and webhook events."""
    return publishes_blackbox(session) or request.service.type is not ServiceType.blackbox
