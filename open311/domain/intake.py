"""Filing a service request: the checks the spec asks for, then one row and its requester."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy.orm import Session

from open311 import clock
from open311.db.models import ApiClient, Jurisdiction, Requester, ServiceRequest
from open311.domain import activity, catalogue_cache, duplicates, routing
from open311.domain.answers import ignored_notice, validate_answers
from open311.domain.public_notes import in_language_of
from open311.errors import InvalidInput, UnknownService
from open311.i18n import _
from open311.values import ServiceType, Status

log = logging.getLogger(__name__)

PERSONAL_FIELDS = ("email", "first_name", "last_name", "phone", "device_id", "account_id")


@dataclass
class Submission:
    """A POST requests body after its fields were parsed and typed."""

    service_code: str
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    address_id: str | None = None
    description: str | None = None
    media_url: str | None = None
    # Every URL linked when a client sent several (FixMyStreet repeats media_url), in order.
    media_urls: tuple[str, ...] = ()
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    # BCP 47; stored only with a Requester, i.e. when some personal field came too.
    language: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    channel: str = "api"


def check_location(submission: Submission) -> None:
    has_lat, has_long = submission.lat is not None, submission.long is not None
    if has_lat != has_long:
        raise InvalidInput(_("lat and long must be sent together"))
    if not (has_lat or submission.address_string or submission.address_id):
        raise InvalidInput(_("a location is required: lat+long, address_string or address_id"))


def submit(
    session: Session,
    jurisdiction: Jurisdiction,
    client: ApiClient | None,
    submission: Submission,
    now: datetime | None = None,
    *,
    actor: str | None = None,
) -> ServiceRequest:
    """Validate and store; nothing is written unless every check passed (the caller commits).

    `actor` is who the activity log names; by default the API client (staff filing for a caller
    pass their own). A located request that repeats an open one nearby is linked to it as a
    suspected duplicate (duplicates.detect), which its service_notice then says."""
    catalogue = catalogue_cache.current(session, jurisdiction)
    service = catalogue.service(session, submission.service_code)
    if service is None:
        raise UnknownService(_("service_code %(code)s not found", code=submission.service_code))
    check_location(submission)
    answers = validate_answers(service, submission.attributes, ZoneInfo(jurisdiction.time_zone))
    notice = service.service_notice
    if answers.ignored:
        # The codes only, never the values (they may be personal, e.g. a uprn).
        log.info("ignored unknown attributes of %s: %s", service.service_code, answers.ignored)
        ignored = in_language_of(jurisdiction, ignored_notice(answers.ignored))
        notice = f"{notice} {ignored}" if notice else ignored
    places = location = None
    if submission.lat is not None and submission.long is not None:
        places = routing.find_places(session, jurisdiction, submission.lat, submission.long)
        location = from_shape(Point(submission.long, submission.lat), srid=4326)
    now = now or clock.now()
    request = ServiceRequest(
        jurisdiction_id=jurisdiction.id,
        service=service,
        status=Status.open,
        description=submission.description,
        agency_responsible=service.agency_responsible,
        service_notice=notice,
        requested_datetime=now,
        updated_datetime=now,
        address=submission.address_string,
        address_id=submission.address_id,
        location=location,
        media_url=submission.media_url,
        media_urls=list(submission.media_urls) if len(submission.media_urls) > 1 else None,
        attribute_values=answers.values,
        channel=submission.channel,
        api_client_id=client.id if client else None,
        token=secrets.token_urlsafe(12) if service.type == ServiceType.batch else None,
    )
    personal = {name: getattr(submission, name) for name in PERSONAL_FIELDS}
    if any(personal.values()):
        request.requester = Requester(**personal, language=submission.language)
    # Routed before the INSERT, so that the row goes in whole (with its districts) and is not
    # updated right after; the work order and the activity follow, once it has its id.
    rule = catalogue.rule(session, service)
    calendar = catalogue.calendar(jurisdiction)
    districts = routing.prepare(request, rule, places, calendar)
    session.add(request)
    session.flush()
    if actor is None:
        actor = activity.client_actor(client.name) if client else activity.SYSTEM
    routing.route(
        session,
        request,
        rule,
        districts,
        calendar,
        actor=actor,
        now=now,
        received=f"Request received via {submission.channel}",
    )
    duplicates.detect(session, jurisdiction, request, actor=actor, now=now)
    return request
