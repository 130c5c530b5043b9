"""The words the product is made of: statuses, states, roles and kinds, as enums every layer shares.

A leaf module (it imports nothing of open311), so the models, the rules, the wire formats and the
API all speak of the same values without importing one another. Each enum is a StrEnum: its
members compare equal to the strings stored in the database and sent on the wire.
"""

from __future__ import annotations

import enum


class ServiceType(enum.StrEnum):
    realtime = "realtime"
    batch = "batch"
    blackbox = "blackbox"


class Datatype(enum.StrEnum):
    string = "string"
    number = "number"
    datetime = "datetime"
    text = "text"
    singlevaluelist = "singlevaluelist"
    multivaluelist = "multivaluelist"


class Status(enum.StrEnum):
    """A request's GeoReport status: the standard has only these two."""

    open = "open"
    closed = "closed"


class UpdateStatus(enum.StrEnum):
    """The extended statuses of updates (FixMyStreet's servicerequestupdates, digest §8.4).

    Core GeoReport keeps open/closed; these words describe updates. Every public activity entry
    carries one of OPEN_UPDATE_STATUSES or CLOSING_UPDATE_STATUSES; `reopen` and `unchanged` are
    only ever sent by clients (upper-cased on POST), never stored."""

    open = "open"
    closed = "closed"
    fixed = "fixed"
    in_progress = "in_progress"
    planned = "planned"
    action_scheduled = "action_scheduled"
    investigating = "investigating"
    duplicate = "duplicate"
    not_councils_responsibility = "not_councils_responsibility"
    no_further_action = "no_further_action"
    internal_referral = "internal_referral"
    cancelled = "cancelled"
    reopen = "reopen"
    for_triage = "for_triage"
    unchanged = "unchanged"


_U = UpdateStatus
# Statuses a public entry of an open request may carry, in the order error messages list them.
OPEN_UPDATE_STATUSES: tuple[UpdateStatus, ...] = (
    _U.open,
    _U.in_progress,
    _U.action_scheduled,
    _U.investigating,
    _U.planned,
    _U.for_triage,
)
# Statuses a public entry that closes its request may carry.
CLOSING_UPDATE_STATUSES: tuple[UpdateStatus, ...] = (
    _U.fixed,
    _U.closed,
    _U.duplicate,
    _U.not_councils_responsibility,
    _U.no_further_action,
    _U.internal_referral,
    _U.cancelled,
)
ENTRY_STATUSES = OPEN_UPDATE_STATUSES + CLOSING_UPDATE_STATUSES


class ActivityKind(enum.StrEnum):
    """What an entry of a request's activity log records."""

    submitted = "submitted"  # filed, by an app or a call-taker
    located = "located"  # an address-only request given its point by staff
    routed = "routed"  # districts, agency and crew chosen
    status_notes = "status_notes"  # a public note that changes nothing else
    request_closed = "request_closed"
    request_reopened = "request_reopened"
    public_note = "public_note"
    internal_note = "internal_note"
    work_order_created = "work_order_created"
    work_order_state = "work_order_state"
    work_order_reassigned = "work_order_reassigned"
    work_order_rerouted = "work_order_rerouted"
    escalated = "escalated"
    duplicate_suspected = "duplicate_suspected"
    duplicate_relinked = "duplicate_relinked"
    duplicate_confirmed = "duplicate_confirmed"
    duplicate_merged = "duplicate_merged"
    duplicate_undone = "duplicate_undone"
    app_update = "app_update"  # an update an app sent, waiting for staff to publish it
    update_published = "update_published"  # staff published an app's update


class CrewKind(enum.StrEnum):
    field = "field"  # covers districts of a layer
    triage = "triage"  # takes what cannot be routed by place (address-only requests)
    supervisor = "supervisor"  # the queue escalations land in


class CrewRole(enum.StrEnum):
    """Which crew of a step's agency does a work order."""

    district = "district"  # the crew covering the request's district, else the rule's fallback
    triage = "triage"
    supervisor = "supervisor"
    fixed = "fixed"  # the step names its crew


class WorkOrderState(enum.StrEnum):
    new = "new"
    assigned = "assigned"
    in_progress = "in_progress"
    done = "done"
    cancelled = "cancelled"


# A work order in one of these states still has work to do; done and cancelled are final.
OPEN_WORK_ORDER_STATES: tuple[WorkOrderState, ...] = (
    WorkOrderState.new,
    WorkOrderState.assigned,
    WorkOrderState.in_progress,
)
FINAL_WORK_ORDER_STATES: tuple[WorkOrderState, ...] = (
    WorkOrderState.done,
    WorkOrderState.cancelled,
)


class StaffRole(enum.StrEnum):
    """What a staff user may do; README "Staff API" has the table of endpoints per role."""

    administrator = "administrator"  # everything, including the catalogue, users and API clients
    supervisor = "supervisor"  # every crew's work: reassign, cancel, merge duplicates, locate
    call_taker = "call_taker"  # files requests for callers, looks requests up, adds notes
    crew_member = "crew_member"  # the work orders of the crews they belong to, nothing else
    editor = "editor"  # the knowledge base and the translations of their cities, nothing else


class ContactChannel(enum.StrEnum):
    """How someone reached the 311 centre (a contact: issue 15's call statistics)."""

    phone = "phone"
    tty = "tty"  # a text telephone, for deaf and hard-of-hearing callers
    walk_in = "walk_in"
    email = "email"
    chat = "chat"
    web = "web"
    app = "app"


class ContactOutcome(enum.StrEnum):
    """What a contact ended in."""

    information = "information"  # answered from the knowledge base
    request = "request"  # a service request filed (or found)
    transfer = "transfer"  # handed to another agency (transfer_agency names it)
    complaint = "complaint"
    feedback = "feedback"
    other = "other"


class ArticleState(enum.StrEnum):
    """Where a knowledge-base article is in its life; only published ones are public."""

    draft = "draft"  # being written or translated; staff see it, the public does not
    published = "published"  # public, and offered to call-takers
    retired = "retired"  # kept with its revisions and the calls it answered, shown to no one


class DuplicateState(enum.StrEnum):
    suspected = "suspected"  # linked at intake by place, service and time; a supervisor decides
    confirmed = "confirmed"  # merged into its parent: closed, pointing to it


class EventKind(enum.StrEnum):
    """What webhooks announce (README "Webhooks")."""

    request_created = "request.created"
    status_changed = "request.status_changed"  # a public update changed the update status
    update_added = "request.update_added"  # any public update (notes, status changes, ...)


class SubscriptionScope(enum.StrEnum):
    own = "own"  # requests filed with the subscribing client's API key
    area = "area"  # requests whose point lies in the subscription's area


class DeliveryChannel(enum.StrEnum):
    webhook = "webhook"
    email = "email"


class DeliveryState(enum.StrEnum):
    pending = "pending"  # waiting for its next attempt
    delivered = "delivered"  # acknowledged (2xx; for e-mail, accepted by the SMTP server)
    parked = "parked"  # failed too often; an administrator may replay it


class EmailTemplate(enum.StrEnum):
    """The messages a requester may get (notify/templates/<language>/<template>)."""

    received = "received"
    closed = "closed"


class SlaClock(enum.StrEnum):
    business = "business"  # business hours of the jurisdiction, skipping weekends and holidays
    calendar = "calendar"


class ScheduledJob(enum.StrEnum):
    """The jobs `open311 worker` runs on a schedule (each also a command, for cron users)."""

    escalation = "escalation"
    media_sweep = "media_sweep"
    retention = "retention"
    statistics = "statistics"  # the request statistics' rollups (`open311 stats refresh`)
