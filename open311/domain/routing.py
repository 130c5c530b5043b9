"""Routing: where a request is (its district in every layer), who answers for it, who works it.

Runs inside the transaction that stores the request, so a request is never stored unrouted.
The district rule itself (covering polygon, smallest on overlaps, nearest within the layer's
snap tolerance in gaps) lives in one SQL fragment in db/district_queries.py, shared with bulk
routing.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy.orm import Session

from open311.db import catalogue_queries, district_queries, work_queries
from open311.db.models import Jurisdiction, RequestDistrict, Service, ServiceRequest
from open311.domain import activity, workflow
from open311.errors import InvalidInput
from open311.i18n import _
from open311.values import ActivityKind


def check_in_service_area(
    session: Session, jurisdiction: Jurisdiction, lat: float, long: float
) -> None:
    if not district_queries.covers_point(session, jurisdiction, lat, long):
        raise InvalidInput(
            _(
                "the location %(lat)s,%(long)s is outside the service area of %(city)s",
                lat=lat,
                long=long,
                city=jurisdiction.name,
            )
        )


def place(
    session: Session, request: ServiceRequest, jurisdiction: Jurisdiction, lat: float, long: float
) -> dict[str, str]:
    """Record the request's district in each layer; returns {layer name: district name}."""
    found = district_queries.find_districts_at(session, jurisdiction, lat, long)
    request.districts = [
        RequestDistrict(service_request_pk=request.id, layer_id=layer_id, district_id=district_id)
        for layer_id, _layer, district_id, _district in found
    ]
    return {layer: district for _layer_id, layer, _district_id, district in found}


def route(
    session: Session,
    request: ServiceRequest,
    service: Service,
    jurisdiction: Jurisdiction,
    *,
    lat: float | None,
    long: float | None,
    actor: str,
    now: datetime,
) -> None:
    """Districts, agency, first work order. A request without a point goes to the agency's
    triage crew and is flagged as needing a location."""
    rule = catalogue_queries.get_routing_rule(session, service)
    districts = (
        {} if lat is None or long is None else place(session, request, jurisdiction, lat, long)
    )
    request.needs_location = lat is None or long is None
    if rule is not None:
        request.agency_responsible = rule.agency.name
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.routed,
        summary=(
            f"Routed to {request.agency_responsible or 'no agency'}"
            + (" (needs a location)" if request.needs_location else "")
        ),
        details={"districts": districts, "needs_location": request.needs_location},
        at=now,
    )
    session.flush()
    if rule is not None:
        workflow.start(session, request, rule, actor=actor, now=now)


def locate(
    session: Session,
    request: ServiceRequest,
    jurisdiction: Jurisdiction,
    lat: float,
    long: float,
    *,
    actor: str,
    now: datetime,
) -> dict[str, str]:
    """Give a request its point (staff, after an address-only report) and route it by place.

    Only a request that needs a location can be located (InvalidInput otherwise), decided on
    its row locked and read again: of two staff locating it at once, the second is refused
    rather than placing it in its districts twice.
    """
    check_in_service_area(session, jurisdiction, lat, long)
    request = work_queries.lock_request(session, request.id) or request
    if not request.needs_location:
        raise InvalidInput(
            f"request {request.service_request_id} already has a location; only requests that "
            "need one can be located"
        )
    request.location = from_shape(Point(long, lat), srid=4326)
    request.needs_location = False
    request.updated_datetime = now
    districts = place(session, request, jurisdiction, lat, long)
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.located,
        summary=f"Location set to {lat},{long}",
        details={"districts": districts},
        at=now,
    )
    session.flush()
    workflow.reroute_open_work_orders(session, request, actor=actor, now=now)
    return districts
