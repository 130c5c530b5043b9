"""Open requests of a service near the caller's point, as the intake screen lists and maps them.

The same look-up as GET /api/v1/intake/nearby (duplicate_queries.find_open_nearby within
duplicates.nearby_radius_m), with each request's point added for the map's markers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from open311.api.staff.intake_schemas import NEARBY_LIMIT
from open311.db import duplicate_queries
from open311.db.models import Jurisdiction, Service, ServiceRequest
from open311.domain import duplicates
from open311.web.staff.intake_form import IntakeForm


@dataclass(frozen=True)
class Near:
    """An open request near the point: what the call-taker reads to the caller, and where."""

    service_request_id: str
    distance_m: float
    address: str | None
    description: str | None
    requested: datetime
    duplicates: int
    lat: float | None
    long: float | None


@dataclass(frozen=True)
class Lookup:
    radius_m: float
    requests: list[Near]


def look_up(
    session: Session, city: Jurisdiction, service: Service, form: IntakeForm
) -> Lookup | None:
    """The open requests of `service` near the form's point, nearest first; None without one."""
    if form.lat is None or form.long is None:
        return None
    radius = duplicates.nearby_radius_m(city)
    found = duplicate_queries.find_open_nearby(
        session,
        jurisdiction_pk=city.id,
        service_pk=service.id,
        lat=form.lat,
        long=form.long,
        radius_m=radius,
        limit=NEARBY_LIMIT,
    )
    zone = ZoneInfo(city.time_zone or "UTC")
    items = []
    for row in found:
        point = session.get_one(ServiceRequest, row.id).point
        items.append(
            Near(
                service_request_id=row.service_request_id,
                distance_m=round(row.distance_m),
                address=row.address,
                description=row.description,
                requested=row.requested_datetime.astimezone(zone),
                duplicates=row.duplicates,
                lat=point.y if point is not None else None,
                long=point.x if point is not None else None,
            )
        )
    return Lookup(radius, items)
