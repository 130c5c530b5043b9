"""Work orders: a request's workflow step by step, each step a work order for some crew.

A routed request gets the first work order of its rule's workflow (`start`). Staff move work
orders through their states (`transition`); finishing one opens the next step as a follow-up,
possibly for another agency, and finishing the last step closes the request. Every change is
appended to the activity log: internal entries for the back office, public ones (the request's
status and status_notes) for citizens. Domain code adds and flushes; the caller commits.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from open311.db import catalogue_queries, request_queries, work_queries
from open311.db.models import (
    Agency,
    Crew,
    Jurisdiction,
    RoutingRule,
    ServiceRequest,
    WorkflowStep,
    WorkOrder,
)
from open311.domain import activity
from open311.domain.public_notes import in_city_language
from open311.domain.sla import BusinessCalendar, add_business_hours, calendar_for, expected_by
from open311.errors import Forbidden, InvalidInput, NotFound
from open311.i18n import _
from open311.values import (
    CLOSING_UPDATE_STATUSES,
    FINAL_WORK_ORDER_STATES,
    ActivityKind,
    CrewKind,
    CrewRole,
    Status,
    UpdateStatus,
    WorkOrderState,
)

_S = WorkOrderState
_U = UpdateStatus
# The lifecycle of a work order; done and cancelled are final.
TRANSITIONS: dict[WorkOrderState, tuple[WorkOrderState, ...]] = {
    _S.new: (_S.assigned, _S.cancelled),
    _S.assigned: (_S.in_progress, _S.new, _S.cancelled),  # -> new: the crew gives it back
    _S.in_progress: (_S.done, _S.assigned, _S.cancelled),  # -> assigned: paused
    _S.done: (),
    _S.cancelled: (),
}
# The title of the one work order a rule without a workflow gets.
GENERIC_TITLE = "Resolve request"
OUTCOME_MAX_LENGTH = 64
# How a cancelled request may close: any closing status but fixed (nothing was fixed).
CANCELLING_STATUSES = tuple(s for s in CLOSING_UPDATE_STATUSES if s is not _U.fixed)
# Update statuses after which a crew starting work is news for citizens (in_progress).
STARTABLE = frozenset({_U.open, _U.for_triage, _U.investigating, _U.planned})


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _calendar(session: Session, request: ServiceRequest) -> BusinessCalendar:
    jurisdiction = session.get(Jurisdiction, request.jurisdiction_id)
    assert jurisdiction is not None  # a foreign key guarantees it
    return calendar_for(session, jurisdiction)


def resolve_crew(
    session: Session,
    request: ServiceRequest,
    agency: Agency,
    role: CrewRole | str,
    *,
    step_crew: Crew | None = None,
    rule: RoutingRule | None = None,
) -> Crew | None:
    """Which crew of `agency` works a step of `request`; None leaves the work order unassigned.

    fixed: the step's own crew. triage / supervisor: the agency's crew of that kind (lowest id).
    district: an address-only request goes to the agency's triage crew; a located one to the
    agency's field crew covering one of its recorded districts (the rule's layer first, then the
    lowest crew id), unless the rule has no layer (then, as RoutingRule says, always the
    fallback). Failing that: the rule's fallback crew if it is one of this agency's, else the
    agency's triage crew, else None.
    """
    role = CrewRole(role)
    if role is CrewRole.fixed:
        return step_crew
    if role is CrewRole.triage:
        return work_queries.get_crew_of_kind(session, agency.id, CrewKind.triage)
    if role is CrewRole.supervisor:
        return work_queries.get_crew_of_kind(session, agency.id, CrewKind.supervisor)
    if request.needs_location:
        triage = work_queries.get_crew_of_kind(session, agency.id, CrewKind.triage)
        if triage is not None:
            return triage
    elif rule is None or rule.layer_id is not None:
        layer_id = rule.layer_id if rule is not None else None
        crew = work_queries.find_district_crew(session, agency.id, request, layer_id)
        if crew is not None:
            return crew
    fallback = rule.fallback_crew if rule is not None else None
    if fallback is not None and fallback.agency_id == agency.id:
        return fallback
    return work_queries.get_crew_of_kind(session, agency.id, CrewKind.triage)


def _publish(
    session: Session,
    request: ServiceRequest,
    *,
    actor: str,
    now: datetime,
    notes: str | None,
    status: str,
    close: bool = False,
    work_order: WorkOrder | None = None,
    kind: ActivityKind | None = None,
) -> None:
    """Change what citizens see (status, status_notes) and log it as one public entry whose
    update status is `status` (values.ENTRY_STATUSES); `kind` names a note that is neither a
    closure nor a plain status note (the routing note: activity.AUTOMATIC_KINDS)."""
    closing = close and request.status is not Status.closed
    new_notes = notes is not None and notes != request.status_notes
    if not (closing or new_notes):
        return
    details: dict[str, Any] = {}
    if closing:
        details["status"] = {"from": request.status.value, "to": Status.closed.value}
        request.status = Status.closed
    if new_notes:
        details["status_notes"] = {"from": request.status_notes, "to": notes}
        request.status_notes = notes
    request.updated_datetime = now
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.request_closed if closing else kind or ActivityKind.status_notes,
        summary=(
            in_city_language(session, request, _("Closed: %(notes)s", notes=request.status_notes))
            if closing
            else str(notes)
        ),
        work_order=work_order,
        details=details,
        public=True,
        status=status,
        at=now,
    )


def current_status(session: Session, request: ServiceRequest) -> str:
    """The update status citizens last saw: that of the latest public entry, else open/closed."""
    latest = request_queries.latest_public_status(session, request.id)
    return latest or request.status.value


def add_note(
    session: Session,
    request: ServiceRequest,
    note: str,
    *,
    actor: str,
    public: bool,
    now: datetime,
    work_order: WorkOrder | None = None,
    crews: Collection[int] | None = None,
) -> None:
    """A staff note on a request: internal unless `public`, when citizens see it as an update
    (status unchanged) and as the request's status_notes.

    A note tied to `work_order` is refused unless the work order, locked and read again, is
    the request's and of one of `crews` (staff.crew_scope; None: any crew).
    """
    if not note or not note.strip():
        raise InvalidInput("a note needs some text")
    request = _lock_request(session, request.id)
    if work_order is not None:
        work_order = _lock(session, work_order, crews)
        if work_order.service_request_pk != request.id:
            raise InvalidInput(
                f"work_order_id: {work_order.id} is not a work order of request "
                f"{request.service_request_id}"
            )
    if public:
        status = current_status(session, request)
        request.status_notes = note
        request.updated_datetime = now
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.public_note if public else ActivityKind.internal_note,
        summary=note,
        work_order=work_order,
        public=public,
        status=status if public else None,
        at=now,
    )
    session.flush()


def closing_status(outcome: str | None) -> UpdateStatus:
    """The update status of a request closed by finishing its workflow: the outcome when it
    names a closing status (a crew may find a request not the city's responsibility), else
    fixed."""
    if outcome in CLOSING_UPDATE_STATUSES:
        return UpdateStatus(outcome)
    return _U.fixed


def _new_work_order(
    session: Session,
    request: ServiceRequest,
    *,
    step: WorkflowStep | None,
    rule: RoutingRule | None,
    fallback_agency: Agency,
    calendar: BusinessCalendar,
    parent: WorkOrder | None,
    now: datetime,
) -> WorkOrder:
    """Create and flush (for its id) the work order of `step`; the caller logs it."""
    rule_agency = rule.agency if rule is not None else fallback_agency
    if step is None:
        agency, title, role, step_crew = rule_agency, GENERIC_TITLE, CrewRole.district, None
        not_before, due_at = None, request.expected_datetime
    else:
        agency = step.agency if step.agency is not None else rule_agency
        title, role, step_crew = step.name, step.crew_role, step.crew
        # The waiting period is elapsed time (a legal "72 hours"), not business hours.
        not_before = now + timedelta(hours=step.wait_hours) if step.wait_hours else None
        due_at = add_business_hours(calendar, not_before or now, step.target_hours)
    crew = resolve_crew(session, request, agency, role, step_crew=step_crew, rule=rule)
    work_order = WorkOrder(
        service_request=request,
        step=step,
        parent_id=parent.id if parent is not None else None,
        agency=agency,
        crew=crew,
        title=title,
        state=_S.assigned if crew is not None else _S.new,
        priority=0,
        not_before=not_before,
        due_at=due_at,
        created_at=now,
        updated_at=now,
    )
    session.add(work_order)
    session.flush()
    return work_order


def _log_created(
    session: Session, request: ServiceRequest, work_order: WorkOrder, *, actor: str, now: datetime
) -> None:
    crew = work_order.crew
    summary = f"Work order {work_order.id} created: {work_order.title} for {work_order.agency.name}"
    summary += f", crew {crew.name}" if crew is not None else ", no crew yet"
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.work_order_created,
        summary=summary,
        work_order=work_order,
        details={
            "work_order_id": work_order.id,
            "step": work_order.step.code if work_order.step is not None else None,
            "agency": work_order.agency.code,
            "crew_id": crew.id if crew is not None else None,
            "crew": crew.code if crew is not None else None,
            "state": work_order.state.value,
            "parent_id": work_order.parent_id,
            "not_before": _iso(work_order.not_before),
            "due_at": _iso(work_order.due_at),
        },
        at=now,
    )


def start(
    session: Session, request: ServiceRequest, rule: RoutingRule, *, actor: str, now: datetime
) -> WorkOrder | None:
    """Open the first work order of a routed request that is already stored; call once per
    request.

    Also sets the request's expected_datetime from the rule's SLA (counted from when it was
    filed; None without an SLA) and its status_notes from the first step's public note. A rule
    without a workflow gets one generic work order due when the SLA says. Returns None when the
    rule's workflow has no steps. (Intake does the same in three parts, below, so that a new
    request's row is written once.)
    """
    calendar = _calendar(session, request)
    request.expected_datetime = _expected(request, rule, calendar)
    request.updated_datetime = now
    work_order = open_first(session, request, rule, calendar, now=now)
    if work_order is None:
        return None
    _log_created(session, request, work_order, actor=actor, now=now)
    step = work_order.step
    if step is not None and step.public_note:
        _publish(
            session,
            request,
            actor=actor,
            now=now,
            notes=step.public_note,
            status=_U.open,
            work_order=work_order,
            kind=ActivityKind.routed,  # written at filing: no news (activity.AUTOMATIC_KINDS)
        )
    return work_order


def _expected(
    request: ServiceRequest, rule: RoutingRule, calendar: BusinessCalendar
) -> datetime | None:
    if rule.sla_days is None:
        return None
    return expected_by(calendar, request.requested_datetime, rule.sla_days, rule.sla_clock)


def _first_step(rule: RoutingRule) -> WorkflowStep | None:
    return rule.workflow.steps[0] if rule.workflow is not None and rule.workflow.steps else None


# A routed request's workflow starts in three parts, so that its row is written once, whole:
# prepare (before its INSERT), open_first (after it: the work order needs its id) and
# log_start (the activity, added with the request's other first entries).


def prepare(request: ServiceRequest, rule: RoutingRule, calendar: BusinessCalendar) -> None:
    """Before a new request's INSERT: expected_datetime from the rule's SLA (counted from
    when it was filed; None without one) and status_notes from the first step's public note
    (log_start logs it)."""
    request.expected_datetime = _expected(request, rule, calendar)
    step = _first_step(rule)
    if step is not None and step.public_note:
        request.status_notes = step.public_note


def open_first(
    session: Session,
    request: ServiceRequest,
    rule: RoutingRule,
    calendar: BusinessCalendar,
    *,
    now: datetime,
) -> WorkOrder | None:
    """The first work order of a routed request, created and flushed (it is not logged: see
    log_start); None when the rule's workflow has no steps. A rule without a workflow gets one
    generic work order, due at the request's expected_datetime."""
    if rule.workflow is not None and not rule.workflow.steps:
        return None
    return _new_work_order(
        session,
        request,
        step=_first_step(rule),
        rule=rule,
        fallback_agency=rule.agency,
        calendar=calendar,
        parent=None,
        now=now,
    )


def log_start(
    session: Session,
    request: ServiceRequest,
    rule: RoutingRule,
    work_order: WorkOrder | None,
    *,
    actor: str,
    now: datetime,
) -> None:
    """The activity of a start made by prepare and open_first: the work order created and,
    when the first step has one, its public note, which prepare already made the request's
    status_notes (the entry _publish writes for a request that had none)."""
    if work_order is None:
        return
    _log_created(session, request, work_order, actor=actor, now=now)
    step = work_order.step
    if step is None or not step.public_note:
        return
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.routed,  # written at filing: no news (activity.AUTOMATIC_KINDS)
        summary=str(step.public_note),
        work_order=work_order,
        details={"status_notes": {"from": None, "to": step.public_note}},
        public=True,
        status=_U.open,
        at=now,
    )


def _lock_request(session: Session, request_pk: int) -> ServiceRequest:
    """The request's row, locked and read again (work_queries.lock_request): always taken
    before any of its work orders' rows."""
    locked = work_queries.lock_request(session, request_pk)
    if locked is None:
        raise NotFound(f"request {request_pk} not found")
    return locked


def _lock(
    session: Session, work_order: WorkOrder, crews: Collection[int] | None = None
) -> WorkOrder:
    """The work order's row, locked and read again after its request's row; the crew scope is
    checked on what was read under the lock, so a reassignment committed between an earlier
    check and this one cannot let another crew's member act on it."""
    _lock_request(session, work_order.service_request_pk)
    locked = work_queries.lock_work_order(session, work_order.id)
    if locked is None:
        raise NotFound(f"work order {work_order.id} not found")
    if crews is not None and locked.crew_id not in crews:
        raise Forbidden(f"work order {locked.id} is not one of your crews' work orders")
    return locked


def _next_step(step: WorkflowStep | None, outcome: str | None) -> WorkflowStep | None:
    """The step after `step` by WorkflowStep's rule; None finishes the workflow."""
    if step is None:
        return None
    steps = step.workflow.steps
    if outcome is not None and outcome in step.outcomes:
        code = step.outcomes[outcome]
    elif step.next_step:
        code = step.next_step
    else:
        later = [candidate for candidate in steps if candidate.position > step.position]
        return min(later, key=lambda candidate: candidate.position) if later else None
    if code is None:
        return None
    for candidate in steps:
        if candidate.code == code:
            return candidate
    # A configuration error, not the caller's: refuse before anything changes.
    raise ValueError(f"workflow {step.workflow.code}: step {step.code} leads to unknown {code}")


def _check_outcome(work_order: WorkOrder, target: WorkOrderState, outcome: str | None) -> None:
    if outcome is None:
        return
    if target is not _S.done:
        raise InvalidInput(f"an outcome is only accepted when a work order is done, not {target}")
    if not outcome or len(outcome) > OUTCOME_MAX_LENGTH:
        raise InvalidInput(f"an outcome is 1 to {OUTCOME_MAX_LENGTH} characters")
    step = work_order.step
    if step is not None and step.outcomes and outcome not in step.outcomes:
        allowed = ", ".join(sorted(step.outcomes))
        raise InvalidInput(
            f"outcome {outcome!r} is not one of step {step.code}'s outcomes: {allowed}"
        )


def _other_open_orders(
    session: Session, request: ServiceRequest, work_order: WorkOrder
) -> list[WorkOrder]:
    return [
        other
        for other in work_queries.find_open_work_orders(session, request)
        if other.id != work_order.id
    ]


def transition(
    session: Session,
    work_order: WorkOrder,
    to_state: WorkOrderState | str,
    *,
    actor: str,
    note: str | None = None,
    public_note: str | None = None,
    outcome: str | None = None,
    closing: UpdateStatus = _U.cancelled,
    crews: Collection[int] | None = None,
    now: datetime,
) -> list[WorkOrder]:
    """Move a work order to `to_state` and return the follow-up work orders this created.

    The request's row and then the work order's are locked and re-read first: of two staff
    completing the same work order the second sees it done and is refused, and of two work
    orders of one request finishing at the same moment the second sees the first done, so
    exactly one closes the request. `crews` (staff.crew_scope; None: any crew) is checked on
    the locked row (Forbidden). A refused move raises InvalidInput and changes nothing. Going
    back to `new` takes the crew away; `assigned` needs a crew. Done opens the next step
    (WorkflowStep's rule) as a follow-up; with no next step, or on cancel, the request closes
    once no other work order of it is open.

    `note` stays internal; `public_note` is what citizens are told (status_notes and an update).
    The first start of work on an open request (in_progress) is told, with a default text. A
    request closed by a cancellation gets the update status `closing`.
    """
    target = _parse_state(to_state)
    locked = _lock(session, work_order, crews)
    source = locked.state
    _check_move(locked, target, outcome)
    next_step = _next_step(locked.step, outcome) if target is _S.done else None
    details = _apply_move(locked, target, outcome, note=note, now=now)
    follow_ups = [] if next_step is None else [_open_follow_up(session, locked, next_step, now)]
    details["follow_up_ids"] = [follow_up.id for follow_up in follow_ups]
    summary = f"Work order {locked.id} ({locked.title}): {source} -> {target}"
    if outcome is not None:
        summary += f", outcome {outcome}"
    activity.record(
        session,
        locked.service_request,
        actor=actor,
        kind=ActivityKind.work_order_state,
        summary=summary + (f": {note}" if note else ""),
        work_order=locked,
        details=details,
        at=now,
    )
    told = _announce_follow_ups(session, locked, follow_ups, public_note, actor=actor, now=now)
    _announce_move(
        session,
        locked,
        target,
        closes=not follow_ups,
        outcome=outcome,
        public_note=public_note,
        told=told,
        closing=closing,
        actor=actor,
        now=now,
    )
    session.flush()
    return follow_ups


def _parse_state(to_state: WorkOrderState | str) -> WorkOrderState:
    try:
        return WorkOrderState(to_state)
    except ValueError:
        states = ", ".join(state.value for state in WorkOrderState)
        raise InvalidInput(f"unknown work order state {to_state!r}; states: {states}") from None


def _check_move(locked: WorkOrder, target: WorkOrderState, outcome: str | None) -> None:
    """Refuse a move the lifecycle does not allow, `assigned` without a crew, or a wrong
    outcome, before anything is changed."""
    source = locked.state
    allowed = TRANSITIONS[source]
    if target not in allowed:
        choices = ", ".join(state.value for state in allowed) or f"none, {source} is final"
        raise InvalidInput(
            f"work order {locked.id} cannot go from {source} to {target}; allowed: {choices}"
        )
    if target is _S.assigned and locked.crew_id is None:
        raise InvalidInput(f"work order {locked.id} has no crew: reassign it to a crew instead")
    _check_outcome(locked, target, outcome)


def _apply_move(
    locked: WorkOrder,
    target: WorkOrderState,
    outcome: str | None,
    *,
    note: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Change the work order (and its request's updated time); the details for the log."""
    details: dict[str, Any] = {"from": locked.state.value, "to": target.value, "note": note}
    locked.state = target
    locked.updated_at = now
    locked.service_request.updated_datetime = now
    if target is _S.new:
        details["crew_id"] = {"from": locked.crew_id, "to": None}
        locked.crew = None
    if target in FINAL_WORK_ORDER_STATES:
        locked.closed_at = now
    if target is _S.done:
        locked.outcome = outcome
        details["outcome"] = outcome
    return details


def _open_follow_up(
    session: Session, locked: WorkOrder, step: WorkflowStep, now: datetime
) -> WorkOrder:
    """The work order of the workflow's next step, from the rule of the request's service."""
    request = locked.service_request
    return _new_work_order(
        session,
        request,
        step=step,
        rule=catalogue_queries.get_routing_rule(session, request.service),
        fallback_agency=locked.agency,
        calendar=_calendar(session, request),
        parent=locked,
        now=now,
    )


def _announce_follow_ups(
    session: Session,
    locked: WorkOrder,
    follow_ups: list[WorkOrder],
    public_note: str | None,
    *,
    actor: str,
    now: datetime,
) -> bool:
    """Log each follow-up's creation and tell citizens of it when there is something to say
    (the public note, else the step's own); True when something was told."""
    request = locked.service_request
    told = False
    for follow_up in follow_ups:
        _log_created(session, request, follow_up, actor=actor, now=now)
        notes = public_note or (follow_up.step.public_note if follow_up.step else None)
        if notes:
            status = _U.action_scheduled if follow_up.not_before is not None else _U.in_progress
            _publish(
                session,
                request,
                actor=actor,
                now=now,
                notes=notes,
                status=status,
                work_order=follow_up,
            )
            told = True
    return told


def _announce_move(
    session: Session,
    locked: WorkOrder,
    target: WorkOrderState,
    *,
    closes: bool,
    outcome: str | None,
    public_note: str | None,
    told: bool,
    closing: UpdateStatus,
    actor: str,
    now: datetime,
) -> None:
    """What citizens are told of the move: the request closes when this was its last open work
    order (`closes`: no follow-up was opened); the first start of work is news; otherwise a
    public note, if any and not told already, keeps the current update status."""
    request = locked.service_request
    if (
        target in FINAL_WORK_ORDER_STATES
        and closes
        and not _other_open_orders(session, request, locked)
    ):
        if target is _S.done:
            finished = locked.step.name if locked.step is not None else locked.title
            notes = public_note or in_city_language(
                session, request, _("Completed: %(step)s", step=finished)
            )
            status = closing_status(outcome)
        else:
            notes = public_note or in_city_language(session, request, _("Cancelled"))
            status = closing
        _publish(
            session,
            request,
            actor=actor,
            now=now,
            notes=notes,
            status=status,
            close=True,
            work_order=locked,
        )
    elif target is _S.in_progress and current_status(session, request) in STARTABLE:
        notes = public_note or in_city_language(
            session, request, _("Work in progress: %(title)s", title=locked.title)
        )
        _publish(
            session,
            request,
            actor=actor,
            now=now,
            notes=notes,
            status=_U.in_progress,
            work_order=locked,
        )
    elif public_note and not told and request.status is Status.open:
        _publish(
            session,
            request,
            actor=actor,
            now=now,
            notes=public_note,
            status=current_status(session, request),
            work_order=locked,
        )


def cancel_request(
    session: Session,
    request: ServiceRequest,
    *,
    actor: str,
    reason: str,
    now: datetime,
    status: UpdateStatus = _U.cancelled,
    notes: str | None = None,
) -> list[WorkOrder]:
    """Cancel every open work order of the request and close it.

    Citizens are told `notes` (default "Cancelled: <reason>", so the reason is public) with the
    update status `status`, one of CLOSING_UPDATE_STATUSES except fixed (nothing was fixed).
    Returns the work orders cancelled. A request already closed with nothing open is refused.
    """
    if not reason or not reason.strip():
        raise InvalidInput("a reason is required to cancel a request")
    if status not in CANCELLING_STATUSES:
        choices = ", ".join(CANCELLING_STATUSES)
        raise InvalidInput(f"status {status!r} cannot close a cancelled request; use {choices}")
    notes = notes or in_city_language(session, request, _("Cancelled: %(reason)s", reason=reason))
    # The request first, then all its open work orders up front, in id order, so two
    # cancellations (or a cancellation and a transition) cannot deadlock.
    request = _lock_request(session, request.id)
    open_orders = list(work_queries.find_open_work_orders(session, request, lock=True))
    if not open_orders and request.status is Status.closed:
        raise InvalidInput(f"request {request.service_request_id} is already closed")
    for work_order in open_orders:
        transition(
            session,
            work_order,
            _S.cancelled,
            actor=actor,
            note=reason,
            public_note=notes,
            closing=status,
            now=now,
        )
    # Without open work orders no transition closed it.
    _publish(session, request, actor=actor, now=now, notes=notes, status=status, close=True)
    session.flush()
    return open_orders


REOPEN_TITLE = "Review reopened request"


def reopen(
    session: Session, request: ServiceRequest, *, actor: str, reason: str, now: datetime
) -> WorkOrder | None:
    """Open a closed request again (a citizen says the problem is back or was not fixed).

    The request is open again at once, told to citizens as an `open` update, and a work order
    for the supervisors of the service's agency asks someone to decide what happens next:
    finishing it closes the request again, or they open further work. An open request is
    refused. Returns that work order (None when the agency has no supervisor crew: it waits,
    unassigned, in the agency's queue). Decided on the request's row locked and read again:
    of two reopens at once, the second finds it open.
    """
    request = _lock_request(session, request.id)
    if request.status is not Status.closed:
        raise InvalidInput(f"request {request.service_request_id} is open: nothing to reopen")
    rule = catalogue_queries.get_routing_rule(session, request.service)
    if rule is None:
        raise InvalidInput(f"service {request.service.service_code} has no routing rule")
    crew = resolve_crew(session, request, rule.agency, CrewRole.supervisor, rule=rule)
    calendar = _calendar(session, request)
    work_order = WorkOrder(
        service_request=request,
        agency=rule.agency,
        crew=crew,
        title=REOPEN_TITLE,
        state=_S.assigned if crew is not None else _S.new,
        priority=1,
        due_at=add_business_hours(calendar, now, 8.0),
        created_at=now,
        updated_at=now,
    )
    session.add(work_order)
    session.flush()
    request.status = Status.open
    request.status_notes = in_city_language(
        session, request, _("Reopened: %(reason)s", reason=reason)
    )
    request.updated_datetime = now
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.request_reopened,
        summary=request.status_notes,
        work_order=work_order,
        details={"status": {"from": Status.closed, "to": Status.open}},
        public=True,
        status=_U.open,
        at=now,
    )
    _log_created(session, request, work_order, actor=actor, now=now)
    session.flush()
    return work_order


TITLE_MAX_LENGTH = 255
# An added work order without a due time is due one business day (9 business hours) later.
ADDED_TARGET_HOURS = 9.0


def add_work_order(
    session: Session,
    request: ServiceRequest,
    crew: Crew,
    *,
    title: str,
    actor: str,
    now: datetime,
    due_at: datetime | None = None,
    note: str | None = None,
    priority: int = 0,
) -> WorkOrder:
    """Give an open request a work order outside its workflow ("other tasks can be added when
    necessary"): for any crew of the request's jurisdiction, assigned to it at once.

    It is a work order like the others: in its crew's queue, due at `due_at` (default one
    business day from `now`) and escalated when overdue, worked within the crew's scope. It
    belongs to no step, so finishing it opens nothing; but while it is open the request stays
    open (transition closes a request only once no other work order of it is open), and when
    the workflow is already finished, finishing it closes the request. A closed request is
    refused (reopening is its own act). `note` is internal; citizens are told nothing.
    Decided on the request's row locked and read again, so a transition closing the request
    at the same moment either sees this work order open or closes the request first, and then
    this is refused.
    """
    title = (title or "").strip()
    if not title or len(title) > TITLE_MAX_LENGTH:
        raise InvalidInput(f"title: a work order's title is 1 to {TITLE_MAX_LENGTH} characters")
    request = _lock_request(session, request.id)
    if request.status is Status.closed:
        raise InvalidInput(
            f"request {request.service_request_id} is closed: work cannot be added to it"
        )
    agency = crew.agency
    if agency.jurisdiction_id != request.jurisdiction_id:
        raise InvalidInput(f"crew_id: crew {crew.id} is not a crew of the request's city")
    if due_at is None:
        due_at = add_business_hours(_calendar(session, request), now, ADDED_TARGET_HOURS)
    elif due_at.tzinfo is None or due_at <= now:
        raise InvalidInput("due_at: a due time is a moment with a zone, later than now")
    work_order = WorkOrder(
        service_request=request,
        agency=agency,
        crew=crew,
        title=title,
        state=_S.assigned,
        priority=priority,
        due_at=due_at,
        created_at=now,
        updated_at=now,
    )
    session.add(work_order)
    session.flush()
    request.updated_datetime = now
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.work_order_created,
        summary=(
            f"Work order {work_order.id} added: {title} for {agency.name}, crew {crew.name}"
            + (f": {note}" if note else "")
        ),
        work_order=work_order,
        details={
            "work_order_id": work_order.id,
            "step": None,
            "added": True,
            "agency": agency.code,
            "crew_id": crew.id,
            "crew": crew.code,
            "state": work_order.state.value,
            "priority": priority,
            "due_at": _iso(due_at),
            "note": note,
        },
        at=now,
    )
    session.flush()
    return work_order


def reassign(
    session: Session,
    work_order: WorkOrder,
    crew: Crew,
    *,
    actor: str,
    note: str | None = None,
    now: datetime,
) -> WorkOrder:
    """Give an open work order to another crew of its agency; a `new` one becomes assigned.

    Done and cancelled work orders cannot be reassigned, and a work order stays with its agency
    (a crew of another agency is refused). Reassigning to the current crew changes nothing.
    """
    locked = _lock(session, work_order)
    if locked.state in FINAL_WORK_ORDER_STATES:
        raise InvalidInput(f"work order {locked.id} is {locked.state}: it cannot be reassigned")
    if crew.agency_id != locked.agency_id:
        raise InvalidInput(
            f"crew {crew.code} is not a crew of {locked.agency.code}, which has work order "
            f"{locked.id}"
        )
    if crew.id == locked.crew_id:
        return locked
    previous = locked.crew
    details: dict[str, Any] = {
        "crew_id": {"from": locked.crew_id, "to": crew.id},
        "crew": {"from": previous.code if previous is not None else None, "to": crew.code},
        "note": note,
    }
    if locked.state is _S.new:
        details["state"] = {"from": _S.new.value, "to": _S.assigned.value}
        locked.state = _S.assigned
    locked.crew = crew
    locked.updated_at = now
    request = locked.service_request
    request.updated_datetime = now
    activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.work_order_reassigned,
        summary=(
            f"Work order {locked.id} ({locked.title}) reassigned from "
            f"{previous.name if previous is not None else 'no crew'} to {crew.name}"
            + (f": {note}" if note else "")
        ),
        work_order=locked,
        details=details,
        at=now,
    )
    session.flush()
    return locked


def reroute_open_work_orders(
    session: Session,
    request: ServiceRequest,
    *,
    actor: str,
    now: datetime,
    rule: RoutingRule | None = None,
) -> list[WorkOrder]:
    """After an address-only request got its point and districts, move its open district-role
    work orders from the triage crew (or from no crew) to the crew of its district.

    Returns the work orders moved. One that triage had started goes back to `assigned`: the new
    crew has not started it. `rule` defaults to the request's service's routing rule.
    """
    if request.needs_location:
        return []
    if rule is None:
        rule = catalogue_queries.get_routing_rule(session, request.service)
    moved: list[WorkOrder] = []
    for work_order in work_queries.find_open_work_orders(session, request, lock=True):
        step = work_order.step
        role = step.crew_role if step is not None else CrewRole.district
        previous = work_order.crew
        if role is not CrewRole.district:
            continue
        if previous is not None and previous.kind is not CrewKind.triage:
            continue
        crew = resolve_crew(session, request, work_order.agency, role, rule=rule)
        if crew is None or (previous is not None and crew.id == previous.id):
            continue
        details: dict[str, Any] = {
            "crew_id": {"from": previous.id if previous is not None else None, "to": crew.id},
            "crew": {"from": previous.code if previous is not None else None, "to": crew.code},
        }
        if work_order.state is not _S.assigned:
            details["state"] = {"from": work_order.state.value, "to": _S.assigned.value}
            work_order.state = _S.assigned
        work_order.crew = crew
        work_order.updated_at = now
        request.updated_datetime = now
        activity.record(
            session,
            request,
            actor=actor,
            kind=ActivityKind.work_order_rerouted,
            summary=(
                f"Work order {work_order.id} ({work_order.title}) rerouted by location from "
                f"{previous.name if previous is not None else 'no crew'} to {crew.name}"
            ),
            work_order=work_order,
            details=details,
            at=now,
        )
        moved.append(work_order)
    session.flush()
    return moved
