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

from open311.db import district_queries, work_queries
from open311.db.models import Jurisdiction, RequestDistrict, RoutingRule, ServiceRequest
from open311.domain import activity, workflow
from open311.domain.sla import BusinessCalendar
from open311.errors import InvalidInput
from open311.i18n import _
from open311.values import ActivityKind, UpdateStatus


def check_in_service_area(
    session: Session, jurisdiction: Jurisdiction, lat: float, long: float
) -> None:
    if not district_queries.covers_point(session, jurisdiction, lat, long):
        raise _outside(jurisdiction, lat, long)


def _outside(jurisdiction: Jurisdiction, lat: float, long: float) -> InvalidInput:
    return InvalidInput(
        _(
            "the location %(lat)s,%(long)s is outside the service area of %(city)s",
            lat=lat,
            long=long,
            city=jurisdiction.name,
        )
    )


Places = list[tuple[int, str, int, str]]


def find_places(session: Session, jurisdiction: Jurisdiction, lat: float, long: float) -> Places:
    """The point's district in each layer, as place() finds them, after checking that the
    service area holds it (InvalidInput otherwise, as check_in_service_area): one statement."""
    found = district_queries.find_places_at(session, jurisdiction, lat, long)
    if found is None:
        raise _outside(jurisdiction, lat, long)
    return found


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


def prepare(
    request: ServiceRequest,
    rule: RoutingRule | None,
    places: Places | None,
    calendar: BusinessCalendar,
) -> dict[str, str]:
    """Before a new request's INSERT: its districts (`places`, from find_places; None for a
    request without a point), agency, needs_location and what workflow.prepare sets, so that
    the row goes in whole rather than updated right after. Returns {layer name: district}."""
    request.districts = [
        RequestDistrict(layer_id=layer_id, district_id=district_id)
        for layer_id, _layer, district_id, _district in places or ()
    ]
    request.needs_location = places is None
    if rule is not None:
        request.agency_responsible = rule.agency.name
        workflow.prepare(request, rule, calendar)
    return {layer: district for _layer_id, layer, _district_id, district in places or ()}


def route(
    session: Session,
    request: ServiceRequest,
    rule: RoutingRule | None,
    districts: dict[str, str],
    calendar: BusinessCalendar,
    *,
    actor: str,
    now: datetime,
    received: str,
) -> None:
    """After a request prepared by prepare() was flushed: its first work order, then its
    activity entries in order: `received` (the public receipt), the routing, the work order and
    the workflow's first public note. A request without a point goes to the agency's triage
    crew and is flagged as needing a location.

    The entries are added after the work order's flush (their summary names its id), so they
    all go to the database in one INSERT, with the next flush."""
    work_order = workflow.open_first(session, request, rule, calendar, now=now) if rule else None
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.submitted,
        summary=received,
        public=True,
        status=UpdateStatus.open,
        at=now,
    )
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
    if rule is not None:
        workflow.log_start(session, request, rule, work_order, actor=actor, now=now)


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
