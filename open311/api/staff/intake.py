"""Call-taker intake (a look-up nearby, then filing for a caller) and duplicate links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from open311 import clock
from open311.api import database
from open311.api.staff import auth
from open311.api.staff.auth import StaffBlueprint, staff_required
from open311.api.staff.intake_schemas import (
    NEARBY_LIMIT,
    DuplicateResultOut,
    IntakeRequestBody,
    IntakeResultOut,
    MergeBody,
    NearbyArgs,
    NearbyOut,
    submission_of,
)
from open311.db import duplicate_queries, request_queries
from open311.db.duplicate_queries import Nearby
from open311.db.models import Service, ServiceRequest
from open311.domain import catalogue, contacts, duplicates, intake
from open311.errors import InvalidInput, UnknownRequest
from open311.values import StaffRole

blp = StaffBlueprint("staff_intake", __name__, "Staff API: intake for callers and duplicates.")

_R = StaffRole
INTAKE_ROLES = (_R.administrator, _R.supervisor, _R.call_taker)
DUPLICATE_ROLES = (_R.administrator, _R.supervisor)


def _request(service_request_id: str) -> ServiceRequest:
    found = request_queries.get_request_by_public_id(database.session(), service_request_id)
    if found is None:
        raise UnknownRequest(f"service_request_id {service_request_id} not found")
    return auth.check_request_city(found)


@dataclass(frozen=True)
class NearbyLookup:
    """What a call taker's look-up found: open requests of `service` within `radius_m`."""

    service: Service
    radius_m: float
    requests: list[Nearby]


@blp.route("/intake/nearby", methods=["GET"])
@staff_required(*INTAKE_ROLES)
@blp.arguments(NearbyArgs, location="query")
@blp.response(200, NearbyOut)
def nearby(args: dict[str, Any]) -> NearbyLookup:
    """Open requests of a service near a point, nearest first: what a call taker checks before
    filing a new one. `radius_m` defaults to 5 duplicate radii of the city (200 m when
    detection is off), at most 2000."""
    session = database.session()
    jurisdiction = auth.staff_jurisdiction(args.get("jurisdiction_id"))
    service = catalogue.get_service(session, jurisdiction, args["service_code"])
    radius = args.get("radius_m")
    if radius is None:
        radius = duplicates.nearby_radius_m(jurisdiction)
    found = duplicate_queries.find_open_nearby(
        session,
        jurisdiction_pk=jurisdiction.id,
        service_pk=service.id,
        lat=args["lat"],
        long=args["long"],
        radius_m=radius,
        limit=NEARBY_LIMIT,
    )
    return NearbyLookup(service, radius, found)


@blp.route("/intake/requests", methods=["POST"])
@staff_required(*INTAKE_ROLES)
@blp.arguments(IntakeRequestBody)
@blp.response(201, IntakeResultOut)
def file_request(body: dict[str, Any]) -> ServiceRequest:
    """File a request for a caller (phone, walk_in, email or tty). Checked as a public POST
    is; the caller's details stay private; a likely duplicate is linked and named. The call is
    recorded as a contact of the signed-in user in the same transaction (outcome `request`,
    linked to it), with the times of `contact` if given, else answered now."""
    session = database.session()
    jurisdiction = auth.staff_jurisdiction(body.get("jurisdiction_id"))
    submission = submission_of(body)
    now = clock.now()
    stored = intake.submit(session, jurisdiction, None, submission, now, actor=auth.actor())
    call = body.get("contact") or {}
    given = contacts.ContactFields(
        queued_at=call.get("queued_at"),
        answered_at=call.get("answered_at"),
        hold_seconds=call.get("hold_seconds"),
        language=call.get("language"),
        interpreter=call.get("interpreter"),
    )
    contacts.record(
        session,
        jurisdiction,
        auth.current_user(),
        contacts.for_intake(given, body["channel"]),
        now,
        contacts.Links(requests=[stored]),
    )
    session.commit()
    return stored


@blp.route("/requests/<service_request_id>/duplicate/confirm", methods=["POST"])
@staff_required(*DUPLICATE_ROLES)
@blp.response(200, DuplicateResultOut)
def confirm_duplicate(service_request_id: str) -> ServiceRequest:
    """Confirm a duplicate found at intake: merge it into its parent (it closes, pointing
    there)."""
    session = database.session()
    request = _request(service_request_id)
    duplicates.confirm(session, request, actor=auth.actor(), now=clock.now())
    session.commit()
    return request


@blp.route("/requests/<service_request_id>/duplicate/undo", methods=["POST"])
@staff_required(*DUPLICATE_ROLES)
@blp.response(200, DuplicateResultOut)
def undo_duplicate(service_request_id: str) -> ServiceRequest:
    """Drop a duplicate link found at intake; merged requests stay merged."""
    session = database.session()
    request = _request(service_request_id)
    duplicates.undo(session, request, actor=auth.actor(), now=clock.now())
    session.commit()
    return request


@blp.route("/requests/<service_request_id>/merge", methods=["POST"])
@staff_required(*DUPLICATE_ROLES)
@blp.arguments(MergeBody)
@blp.response(200, DuplicateResultOut)
def merge(body: dict[str, Any], service_request_id: str) -> ServiceRequest:
    """Merge this request into `parent` (or into what that was merged into): it closes as a
    duplicate pointing there, and the parent notes it."""
    session = database.session()
    request = _request(service_request_id)
    parent = request_queries.get_request_by_public_id(session, body["parent"])
    if parent is None or parent.service.jurisdiction_id != request.service.jurisdiction_id:
        raise InvalidInput(f"parent: no request {body['parent']}")
    duplicates.merge(
        session, request, parent, actor=auth.actor(), now=clock.now(), reason=body.get("reason")
    )
    session.commit()
    return request
