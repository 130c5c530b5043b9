"""Which city a call is about: jurisdiction_id is optional while this server serves one city."""

from __future__ import annotations

from sqlalchemy.orm import Session

from open311.db import catalogue_queries
from open311.db.models import Jurisdiction
from open311.errors import InvalidInput, NotFound, UnknownJurisdiction


def resolve(session: Session, jurisdiction_id: str | None) -> Jurisdiction:
    """The named jurisdiction (404 if unknown), or the only one when none is named."""
    if jurisdiction_id:
        jurisdiction = catalogue_queries.get_jurisdiction(session, jurisdiction_id)
        if jurisdiction is None:
            raise UnknownJurisdiction(f"jurisdiction_id {jurisdiction_id} not found")
        return jurisdiction
    found = catalogue_queries.find_jurisdictions(session, limit=2)
    if not found:
        raise NotFound("no jurisdiction is configured on this server yet")
    if len(found) > 1:
        raise InvalidInput("jurisdiction_id is required: this server serves several jurisdictions")
    return found[0]
