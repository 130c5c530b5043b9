"""Duplicates: a new request that repeats an open one nearby is linked to it at intake, and
supervisors confirm the link (a merge), undo it, or merge any two requests themselves.

Links always point at a root, a request that is not itself merged into another: intake links to
the root of what it found, a merge goes to the root of the parent it was given and brings the
merged request's own duplicates along. So a chain is at most one step long and there are no
cycles. A merge closes the duplicate through the workflow (its work orders are cancelled, the
citizen is told where to look instead) and tells the parent's followers that another report
joined it. Domain code flushes; the caller commits. Refusals raise InvalidInput and change
nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from open311.db import duplicate_queries
from open311.db.duplicate_queries import Nearby
from open311.db.models import Jurisdiction, ServiceRequest
from open311.domain import activity, publication, workflow
from open311.domain.public_notes import in_city_language
from open311.errors import InvalidInput
from open311.i18n import Text, _
from open311.values import ActivityKind, DuplicateState, Status, UpdateStatus

# Links are one step long (see the module docstring); this only guards against bad data.
MAX_CHAIN = 32
# A call-taker's look-up of open requests near a caller's point (the staff API's intake/nearby
# and the console's intake screen) reaches this many of the city's duplicate radii, a fixed
# distance where detection is off, and never further than the cap.
NEARBY_RADIUS_FACTOR = 5
NEARBY_RADIUS_WITHOUT_DETECTION_M = 200.0
MAX_NEARBY_RADIUS_M = 2000.0


def nearby_radius_m(jurisdiction: Jurisdiction) -> float:
    """How far a call-taker's look-up reaches by default in `jurisdiction`, in metres."""
    own = jurisdiction.duplicate_radius_m
    radius = own * NEARBY_RADIUS_FACTOR if own > 0 else NEARBY_RADIUS_WITHOUT_DETECTION_M
    return min(radius, MAX_NEARBY_RADIUS_M)


def suspected_notice(
    session: Session, parent: ServiceRequest, request: ServiceRequest, own_notice: str | None
) -> str:
    """What the citizen is told when their request looks like one already reported, in the
    city's language (public_notes), followed by the service's own notice (the city's words)."""
    notice = in_city_language(
        session,
        request,
        _(
            "This looks like request %(id)s, which was already reported nearby. Our staff will "
            "check and link the two reports.",
            id=parent.service_request_id,
        ),
    )
    return f"{notice} {own_notice}" if own_notice else notice


def merged_note(duplicate: ServiceRequest) -> Text:
    """The parent's public entry after a merge."""
    return _(
        "Another report of this problem (request %(id)s) was merged into this one.",
        id=duplicate.service_request_id,
    )


def duplicate_notes(parent: ServiceRequest) -> Text:
    """The status_notes of a merged (closed) duplicate."""
    return _(
        "Duplicate of request %(id)s: this problem was already reported. "
        "Follow that request for updates.",
        id=parent.service_request_id,
    )


def chain(request: ServiceRequest) -> list[ServiceRequest]:
    """The request, then what it is linked to, and so on."""
    found = [request]
    while found[-1].duplicate_of is not None and len(found) <= MAX_CHAIN:
        following = found[-1].duplicate_of
        if any(seen.id == following.id for seen in found):
            break
        found.append(following)
    return found


def root(request: ServiceRequest) -> ServiceRequest:
    """The request at the end of the links from `request`."""
    return chain(request)[-1]


def _merged_root(request: ServiceRequest) -> ServiceRequest:
    """`request`, or, if it was merged into another, the one it was merged into (and so on)."""
    while request.duplicate_state is DuplicateState.confirmed and request.duplicate_of:
        request = request.duplicate_of
    return request


def find_suspected_parent(
    session: Session, jurisdiction: Jurisdiction, request: ServiceRequest, *, now: datetime
) -> tuple[Nearby, ServiceRequest] | None:
    """The nearest open request of the same service within the jurisdiction's duplicate radius,
    filed within its window before `now`, and the root it should be linked to (locked FOR SHARE
    until the caller commits, see _locked_root); None when there is none, detection is off
    (radius 0) or the request has no point."""
    radius = jurisdiction.duplicate_radius_m
    point = request.point
    if point is None or not radius or radius <= 0:
        return None
    found = duplicate_queries.find_open_nearby(
        session,
        jurisdiction_pk=jurisdiction.id,
        service_pk=request.service_id,
        lat=point.y,
        long=point.x,
        radius_m=radius,
        since=now - timedelta(hours=jurisdiction.duplicate_window_hours),
        until=now,
        exclude_pk=request.id,
        limit=1,
    )
    if not found:
        return None
    nearest = found[0]
    parent = _locked_root(session, nearest.duplicate_of_pk or nearest.id)
    if parent is None:
        return None
    return nearest, parent


def _locked_root(session: Session, pk: int) -> ServiceRequest | None:
    """The root of the links from request `pk`, each step read under a share lock: a merge of
    one of them committed after the search is followed to where it went (linking to the
    merged request would make a chain two steps long), and none can be merged away until the
    new link is committed (a merge then finds it and moves it along)."""
    for _step in range(MAX_CHAIN):
        request = duplicate_queries.share_lock_request(session, pk)
        if request is None or request.duplicate_of_pk is None:
            return request
        pk = request.duplicate_of_pk
    return None


def detect(
    session: Session,
    jurisdiction: Jurisdiction,
    request: ServiceRequest,
    *,
    actor: str,
    now: datetime,
) -> ServiceRequest | None:
    """At intake (same transaction, after the request was flushed): link `request` as a
    suspected duplicate of the open request it most likely repeats, tell the citizen in its
    service_notice and log it internally. Returns the parent, or None."""
    found = find_suspected_parent(session, jurisdiction, request, now=now)
    if found is None:
        return None
    nearest, parent = found
    request.duplicate_of = parent
    request.duplicate_state = DuplicateState.suspected
    request.service_notice = suspected_notice(session, parent, request, request.service_notice)
    distance = round(nearest.distance_m, 1)
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.duplicate_suspected,
        summary=(
            f"Looks like a duplicate of request {parent.service_request_id} "
            f"({distance} m away); a supervisor confirms or undoes the link"
        ),
        details={
            "parent": parent.service_request_id,
            "nearest": nearest.service_request_id,
            "distance_m": distance,
        },
        at=now,
    )
    session.flush()
    return parent


def _lock(session: Session, *requests: ServiceRequest) -> None:
    duplicate_queries.lock_requests(session, sorted({request.id for request in requests}))


def merge(
    session: Session,
    request: ServiceRequest,
    parent: ServiceRequest,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> ServiceRequest:
    """Merge `request` into `parent` (or into what `parent` was itself merged into): the
    duplicate closes with the update status `duplicate` and status_notes pointing to the
    parent, the parent gets a public entry naming it, and requests linked to the duplicate are
    linked to the parent instead. Both must be of one jurisdiction; the duplicate must be open
    and not merged already. Returns the parent merged into."""
    if request.jurisdiction_id != parent.jurisdiction_id:
        raise InvalidInput(
            f"request {parent.service_request_id} is not of the jurisdiction of request "
            f"{request.service_request_id}"
        )
    # Where `parent` went is guessed before locking, so that all three rows are locked in one
    # id-ordered statement (two merges cannot wait for each other); it is read again under the
    # locks, and only a merge committed in between costs a second, later lock.
    _lock(session, request, parent, _merged_root(parent))
    target = _merged_root(parent)
    if target.id != parent.id:
        _lock(session, request, target)
    sid = request.service_request_id
    if target.id == request.id:
        raise InvalidInput(f"request {sid} cannot be merged into itself")
    if request.duplicate_state is DuplicateState.confirmed:
        into = request.duplicate_of.service_request_id if request.duplicate_of else "another"
        raise InvalidInput(f"request {sid} was already merged into request {into}")
    if request.status is Status.closed:
        raise InvalidInput(f"request {sid} is closed: only an open request can be merged")
    if publication.is_published(session, request) != publication.is_published(session, target):
        # Each side's public notes name the other: a blackbox request's id would be published.
        raise InvalidInput(
            f"request {sid} and request {target.service_request_id} cannot be merged: one is "
            "of a blackbox service, which is not published, and the other is published"
        )
    if any(linked.id == request.id for linked in chain(target)[1:]):
        raise InvalidInput(
            f"request {target.service_request_id} is linked as a duplicate of request {sid}: "
            "undo that link first"
        )
    previous = request.duplicate_of.service_request_id if request.duplicate_of else None
    request.duplicate_of = target
    request.duplicate_state = DuplicateState.confirmed
    for child in duplicate_queries.find_duplicates_of(session, request.id):
        child.duplicate_of = target
        activity.record(
            session,
            child,
            actor=actor,
            kind=ActivityKind.duplicate_relinked,
            summary=(
                f"Request {sid}, of which this is a duplicate, was merged into request "
                f"{target.service_request_id}: linked to that one now"
            ),
            details={"from": sid, "to": target.service_request_id},
            at=now,
        )
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.duplicate_confirmed,
        summary=f"Merged into request {target.service_request_id}"
        + (f": {reason}" if reason else ""),
        details={"parent": target.service_request_id, "previous_parent": previous},
        at=now,
    )
    workflow.cancel_request(
        session,
        request,
        actor=actor,
        reason=reason or f"duplicate of request {target.service_request_id}",
        now=now,
        status=UpdateStatus.duplicate,
        notes=in_city_language(session, request, duplicate_notes(target)),
    )
    target.updated_datetime = now
    activity.record(
        session,
        target,
        actor=actor,
        kind=ActivityKind.duplicate_merged,
        summary=in_city_language(session, target, merged_note(request)),
        details={"duplicate": sid},
        public=True,
        status=workflow.current_status(session, target),
        at=now,
    )
    session.flush()
    return target


def confirm(
    session: Session, request: ServiceRequest, *, actor: str, now: datetime
) -> ServiceRequest:
    """Confirm a link found at intake: merge the request into its suspected parent."""
    _lock(session, request)
    if request.duplicate_state is not DuplicateState.suspected or request.duplicate_of is None:
        raise InvalidInput(
            f"request {request.service_request_id} is not a suspected duplicate: nothing to confirm"
        )
    return merge(session, request, request.duplicate_of, actor=actor, now=now)


def undo(session: Session, request: ServiceRequest, *, actor: str, now: datetime) -> None:
    """Drop a link found at intake (not a duplicate after all): the request stands alone again
    and its service_notice is the service's own. Merges are final and are not undone."""
    _lock(session, request)
    sid = request.service_request_id
    if request.duplicate_state is DuplicateState.confirmed:
        raise InvalidInput(f"request {sid} was merged: a merge is not undone")
    if request.duplicate_state is not DuplicateState.suspected or request.duplicate_of is None:
        raise InvalidInput(f"request {sid} is not linked as a duplicate: nothing to undo")
    parent = request.duplicate_of.service_request_id
    request.duplicate_of = None
    request.duplicate_state = None
    request.service_notice = request.service.service_notice
    request.updated_datetime = now
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.duplicate_undone,
        summary=f"Not a duplicate of request {parent} after all: link removed",
        details={"parent": parent},
        at=now,
    )
    session.flush()
