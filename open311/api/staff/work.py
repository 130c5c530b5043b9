"""Working requests: crew queues, work orders, notes, locating and cancelling requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app
from marshmallow import RAISE
from sqlalchemy.orm import Session

from open311 import clock
from open311.api import database, links
from open311.api.staff.auth import (
    StaffBlueprint,
    actor,
    audit_read,
    current_user,
    staff_jurisdiction,
    staff_required,
)
from open311.api.staff.work_schemas import (
    AddWorkOrderBody,
    CancelBody,
    LocationBody,
    NoteBody,
    QueueArgs,
    QueueItemOut,
    ReassignBody,
    StaffRequestOut,
    TransitionBody,
    TransitionOut,
    WorkOrderDetailOut,
    queue_item,
)
from open311.db import request_queries, work_queries
from open311.db.models import Activity, Crew, Jurisdiction, ServiceRequest
from open311.db.work_queries import QueueRow
from open311.domain import queue, routing, staff, workflow
from open311.errors import InvalidInput, NotFound
from open311.values import StaffRole
from open311.wire.georeport import request_item

blp = StaffBlueprint("staff_work", __name__, "Staff API: queues, work orders and requests.")

_R = StaffRole
WORKERS = (_R.administrator, _R.supervisor, _R.crew_member)
MANAGERS = (_R.administrator, _R.supervisor)
LOCATORS = (_R.administrator, _R.supervisor, _R.call_taker)
# Everyone who works requests; not editors, who write the knowledge base and nothing else.
REQUEST_STAFF = (_R.administrator, _R.supervisor, _R.call_taker, _R.crew_member)


@dataclass(frozen=True)
class WorkOrderDetail:
    """A work order as its queue shows it, with its whole log."""

    row: QueueRow
    activity: Sequence[Activity]


@dataclass(frozen=True)
class Transition:
    """A work order after a move, and the follow-ups the move opened."""

    work_order: QueueRow
    follow_ups: list[QueueRow]


def _request_view(session: Session, request: ServiceRequest) -> dict[str, Any]:
    """Everything staff see of a request: its public item as GeoReport shows it, and beside it
    routing, work and the log; the requester's contact only for the roles that call
    requesters back (queue.CONTACT_ROLES)."""
    duplicate_of = request.duplicate_of
    view = request_item(request) | {
        "update_status": workflow.current_status(session, request),
        "attributes": request.attribute_values,
        "needs_location": request.needs_location,
        "channel": request.channel,
        "districts": dict(work_queries.find_request_districts(session, request)),
        "duplicate_of": duplicate_of.service_request_id if duplicate_of is not None else None,
        "duplicate_state": request.duplicate_state,
        "work_orders": work_queries.find_request_work_orders(session, request),
        "activity": request_queries.find_activity(session, request),
    }
    if queue.may_see_contact(current_user()):
        view["requester"] = request.requester
    return view


# --- look-ups with their scope checks --------------------------------------------------------


def _work_order_row(session: Session, work_order_id: int) -> QueueRow:
    """The work order (404 if unknown), if the caller's crews may see it (403 otherwise)."""
    row = work_queries.get_work_order_row(session, work_order_id)
    if row is None:
        raise NotFound(f"work order {work_order_id} not found")
    staff.check_work_order_scope(current_user(), row.work_order)
    return row


def _reloaded(session: Session, work_order_id: int) -> QueueRow:
    """A work order just changed, read again as its queue shows it (crew, step, state)."""
    row = work_queries.get_work_order_row(session, work_order_id)
    assert row is not None  # changed, never deleted
    return row


def _request(session: Session, service_request_id: str) -> ServiceRequest:
    """The request (404 if unknown), if the caller may see it (403 otherwise)."""
    found = request_queries.get_request_by_public_id(session, service_request_id)
    if found is None:
        raise NotFound(f"service_request_id {service_request_id} not found")
    queue.check_request_scope(session, current_user(), found)
    return found


# --- work orders -----------------------------------------------------------------------------


@blp.route("/work-orders", methods=["GET"])
@staff_required(*WORKERS)
@blp.arguments(QueueArgs, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, QueueItemOut(many=True))
def list_work_orders(
    page: int, page_size: int, crew: tuple[int, ...] = (), **args: Any
) -> Response:
    """A crew queue: due soonest first (undated last), then higher priority, then id.

    Without `crew`, a crew member gets all of their crews' work orders and administrators and
    supervisors every crew's, in every city the user works for (`jurisdiction_id`: one of
    them). `state` defaults to the open states. When a next page exists the `Link` header
    points to it (rel="next")."""
    city = args.get("jurisdiction_id")
    wanted = queue.queue_filter(
        current_user(),
        now=clock.now(),
        crews=crew,
        states=args.get("state", ()),
        district_id=args.get("district"),
        bbox=args.get("bbox"),
        due_before=args.get("due_before"),
        overdue=args.get("overdue"),
        page=page,
        page_size=page_size,
        jurisdiction_ids=(staff_jurisdiction(city).id,) if city else None,
    )
    rows = work_queries.find_queue(database.session(), wanted)
    more = len(rows) > page_size
    # The items are built here rather than dumped by QueueItemOut (which documents them): a
    # page of a hundred through marshmallow took longer than its query.
    response = current_app.json.response([queue_item(row) for row in rows[:page_size]])
    if more:
        response.headers["Link"] = links.next_page_link(("page",), page=str(page + 1))
    return response


@blp.route("/work-orders/<int:work_order_id>", methods=["GET"])
@staff_required(*WORKERS)
@blp.response(200, WorkOrderDetailOut)
def get_work_order(work_order_id: int) -> WorkOrderDetail:
    """One work order with its whole activity log, internal entries included."""
    session = database.session()
    row = _work_order_row(session, work_order_id)
    return WorkOrderDetail(row, work_queries.find_work_order_activity(session, row.work_order))


@blp.route("/work-orders/<int:work_order_id>/transitions", methods=["POST"])
@staff_required(*WORKERS)
@blp.arguments(TransitionBody)
@blp.response(200, TransitionOut)
def transition_work_order(body: dict[str, Any], work_order_id: int) -> Transition:
    """Move a work order to another state (new, assigned, in_progress, done, cancelled).

    `note` stays internal; `public_note` is what citizens are told. Done opens the workflow's
    next step as a follow-up work order (returned in `follow_ups`) or, after the last step,
    closes the request. A move the lifecycle does not allow is a 400 and changes nothing."""
    session = database.session()
    row = _work_order_row(session, work_order_id)
    follow_ups = workflow.transition(
        session,
        row.work_order,
        body["to"],
        actor=actor(),
        note=body.get("note"),
        public_note=body.get("public_note"),
        outcome=body.get("outcome"),
        crews=staff.crew_scope(current_user()),  # checked again on the locked row
        now=clock.now(),
    )
    session.commit()
    return Transition(
        _reloaded(session, work_order_id),
        [_reloaded(session, follow_up.id) for follow_up in follow_ups],
    )


@blp.route("/work-orders/<int:work_order_id>/reassign", methods=["POST"])
@staff_required(*MANAGERS)
@blp.arguments(ReassignBody)
@blp.response(200, QueueItemOut)
def reassign_work_order(body: dict[str, Any], work_order_id: int) -> QueueRow:
    """Give an open work order to another crew of its agency; a `new` one becomes assigned."""
    session = database.session()
    row = _work_order_row(session, work_order_id)
    crew = session.get(Crew, body["crew_id"])
    if crew is None:
        raise InvalidInput(f"crew_id: no crew {body['crew_id']}")
    workflow.reassign(
        session, row.work_order, crew, actor=actor(), note=body.get("note"), now=clock.now()
    )
    session.commit()
    return _reloaded(session, work_order_id)


# --- requests as staff see them ----------------------------------------------------------------


@blp.route("/requests/<service_request_id>", methods=["GET"])
@staff_required(*REQUEST_STAFF)
@blp.response(200, StaffRequestOut)
def get_request(service_request_id: str) -> dict[str, Any]:
    """A request with its routing, work orders and whole activity log. The requester's contact
    is shown to administrators, supervisors and call takers (and each such read is written to
    the audit); crew members see only requests their crews have work orders of, and never the
    requester."""
    session = database.session()
    view = _request_view(session, _request(session, service_request_id))
    if view.get("requester") is not None:
        # Reading someone's contact is audited like a change (who, when, which request).
        audit_read("requester")
        session.commit()
    return view


@blp.route("/requests/<service_request_id>/notes", methods=["POST"])
@staff_required(*REQUEST_STAFF)
@blp.arguments(NoteBody)
@blp.response(201, StaffRequestOut)
def add_note(body: dict[str, Any], service_request_id: str) -> dict[str, Any]:
    """Add a note to a request: internal by default; `public: true` tells citizens (an update
    and the request's status_notes). `work_order_id` ties it to one of the request's work
    orders."""
    session = database.session()
    found = _request(session, service_request_id)
    work_order = None
    if body.get("work_order_id") is not None:
        row = work_queries.get_work_order_row(session, body["work_order_id"])
        if row is None or row.work_order.service_request_pk != found.id:
            raise InvalidInput(
                f"work_order_id: {body['work_order_id']} is not a work order of request "
                f"{found.service_request_id}"
            )
        staff.check_work_order_scope(current_user(), row.work_order)
        work_order = row.work_order
    workflow.add_note(
        session,
        found,
        body["note"],
        actor=actor(),
        public=body["public"],
        now=clock.now(),
        work_order=work_order,
        crews=staff.crew_scope(current_user()),
    )
    session.commit()
    return _request_view(session, found)


@blp.route("/requests/<service_request_id>/work-orders", methods=["POST"])
@staff_required(*MANAGERS)
@blp.arguments(AddWorkOrderBody)
@blp.response(201, QueueItemOut)
def add_work_order(body: dict[str, Any], service_request_id: str) -> QueueRow:
    """Add a work order outside the request's workflow, for any crew of the city.

    It goes to the crew's queue at once (assigned), due at `due_at` (default one business day
    from now), and is escalated when overdue like any other. While it is open the request stays
    open; it opens no follow-up. `note` stays internal. A closed request is a 400."""
    session = database.session()
    found = _request(session, service_request_id)
    crew = session.get(Crew, body["crew_id"])
    if crew is None:
        raise InvalidInput(f"crew_id: no crew {body['crew_id']}")
    work_order = workflow.add_work_order(
        session,
        found,
        crew,
        title=body["title"],
        actor=actor(),
        now=clock.now(),
        due_at=body.get("due_at"),
        note=body.get("note"),
        priority=body["priority"],
    )
    session.commit()
    return _reloaded(session, work_order.id)


@blp.route("/requests/<service_request_id>/location", methods=["POST"])
@staff_required(*LOCATORS)
@blp.arguments(LocationBody)
@blp.response(200, StaffRequestOut)
def locate_request(body: dict[str, Any], service_request_id: str) -> dict[str, Any]:
    """Give an address-only request (needs_location) its point: its districts are recorded and
    its open work orders move from triage to the crew of its district. A point outside the
    service area is a 400 and changes nothing."""
    session = database.session()
    found = _request(session, service_request_id)
    if not found.needs_location:
        raise InvalidInput(
            f"request {found.service_request_id} already has a location; only requests that "
            "need one can be located"
        )
    jurisdiction = session.get(Jurisdiction, found.jurisdiction_id)
    assert jurisdiction is not None  # a foreign key guarantees it
    routing.locate(
        session, found, jurisdiction, body["lat"], body["long"], actor=actor(), now=clock.now()
    )
    session.commit()
    return _request_view(session, found)


@blp.route("/requests/<service_request_id>/cancel", methods=["POST"])
@staff_required(*MANAGERS)
@blp.arguments(CancelBody)
@blp.response(200, StaffRequestOut)
def cancel_request(body: dict[str, Any], service_request_id: str) -> dict[str, Any]:
    """Cancel every open work order of a request and close it. Citizens are told
    `public_note` (default "Cancelled: <reason>") with the update status `status`
    (default cancelled; any closing status but fixed)."""
    session = database.session()
    found = _request(session, service_request_id)
    workflow.cancel_request(
        session,
        found,
        actor=actor(),
        reason=body["reason"],
        now=clock.now(),
        status=body["status"],
        notes=body.get("public_note"),
    )
    session.commit()
    return _request_view(session, found)
