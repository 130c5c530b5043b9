"""The transactional outbox: events of public activity, written in the transaction that made them,
with one delivery per receiver (subscriptions themselves: domain/subscriptions.py).

activity.record() notes every public entry here (no database work then). When the session
commits, the noted entries become events, in that same transaction (a `before_commit` hook):

- a request's `submitted` entry: `request.created`. Public entries of the same request in the
  same transaction (routing's first public note) are part of its creation, not updates;
- any other public entry: `request.update_added`, and `request.status_changed` when its status
  differs from the public status before it.

Payloads are built at commit from the objects in the session, so `request.created` shows the
request as GET shows it once routed (agency, expected_datetime, status_notes). Each event gets
one Delivery per active subscription that wants it and matches (`own`: filed with the
subscription's API client; `area`: its point lies in the area), and e-mail deliveries to the
requester who gave an address (`received` on creation, `closed` when a status change closes
the request), whatever the committing process's settings: the worker sends them when it has
an SMTP host and otherwise leaves them pending (notify/worker.channels), so the SMTP settings
belong to the worker alone. An event nobody receives is not written. A rolled-back transaction
writes nothing, having committed nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, SessionTransaction

from open311 import clock
from open311.db import outbox_queries as db
from open311.db.models import (
    Activity,
    Delivery,
    OutboxEvent,
    ServiceRequest,
)
from open311.domain import publication
from open311.values import (
    CLOSING_UPDATE_STATUSES,
    ActivityKind,
    DeliveryChannel,
    DeliveryState,
    EmailTemplate,
    EventKind,
    Status,
)
from open311.wire import webhooks as wire

PENDING = "open311.outbox.pending"
HOOKED = "open311.outbox.hooked"


def note(session: Session, request: ServiceRequest, entry: Activity) -> None:
    """Remember a public entry; its events are written when `session` commits."""
    if not session.info.get(HOOKED):
        event.listen(session, "before_commit", _before_commit)
        event.listen(session, "after_transaction_end", _after_transaction_end)
        session.info[HOOKED] = True
    session.info.setdefault(PENDING, []).append((request, entry))


def _before_commit(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    if pending:
        emit(session, pending)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # A rollback (or close) of the session's own transaction forgets what it noted.
    if transaction.parent is None:
        session.info.pop(PENDING, None)


@dataclass
class _Story:
    """The public entries of one request in one transaction."""

    request: ServiceRequest
    entries: list[Activity] = field(default_factory=list)

    @property
    def created(self) -> Activity | None:
        return next((entry for entry in self.entries if entry.kind == ActivityKind.submitted), None)


def emit(
    session: Session,
    pending: Sequence[tuple[ServiceRequest, Activity]],
    *,
    now: datetime | None = None,
) -> list[OutboxEvent]:
    """Write the events of these public entries and their deliveries (flushing first, for ids),
    e-mail ones for requesters who gave an address. Entries rolled back with a savepoint since
    they were noted are left out."""
    session.flush()
    stories: dict[int, _Story] = {}
    for request, entry in pending:
        if not inspect(entry).persistent:
            continue
        stories.setdefault(request.id, _Story(request)).entries.append(entry)
    if not stories:
        return []
    for story in stories.values():
        story.entries.sort(key=lambda entry: (entry.at, entry.id))
    may_email = [
        pk
        for pk, story in stories.items()
        if story.created is not None or story.request.status is Status.closed
    ]
    audience = db.audience(session, may_email)
    if not audience.any_subscription and not audience.emailable:
        return []
    moment = now or clock.now()
    written: list[OutboxEvent] = []
    for story in stories.values():
        request = story.request
        # Webhooks go to API clients, the public: none for a request the public reads leave
        # out (domain/publication.py); the requester's own e-mails still go.
        subscriptions = (
            db.matching_subscriptions(session, request.api_client_id, request.location)
            if audience.any_subscription and publication.is_published(session, request)
            else []
        )
        emailable = request.id in audience.emailable
        if not subscriptions and not emailable:
            continue
        fields = wire.request_fields(request)
        for kind, entry, previous, template in _events(session, story, subscriptions, emailable):
            receivers = [s.subscription_id for s in subscriptions if kind in s.events]
            if not receivers and template is None:
                continue
            payload = wire.event_payload(kind, fields, entry, previous_status=previous)
            outbox_event = OutboxEvent(
                kind=kind,
                service_request_pk=request.id,
                activity_id=entry.id,
                occurred_at=entry.at,
                payload=payload,
            )
            for subscription_id in receivers:
                session.add(
                    _delivery(outbox_event, DeliveryChannel.webhook, moment, subscription_id)
                )
            if template is not None:
                session.add(
                    _delivery(outbox_event, DeliveryChannel.email, moment, template=template)
                )
            written.append(outbox_event)
    return written


def _events(
    session: Session,
    story: _Story,
    subscriptions: list[db.Match],
    emailable: bool,
):
    """(kind, entry, previous status, e-mail template or None) of each event of a story."""
    request = story.request
    created = story.created
    if created is not None:
        yield (
            EventKind.request_created.value,
            created,
            None,
            (EmailTemplate.received if emailable else None),
        )
        return
    wants_changes = any(EventKind.status_changed in s.events for s in subscriptions)
    may_close = emailable and request.status is Status.closed
    previous = Status.open.value
    first = True
    closed_told = False
    for entry in story.entries:
        yield EventKind.update_added.value, entry, None, None
        if not (wants_changes or may_close):
            continue
        if first:
            # A request without an earlier public entry (imported) started open.
            previous = db.previous_public_status(session, entry) or Status.open.value
            first = False
        if entry.status != previous:
            template = None
            if (
                may_close
                and not closed_told
                and entry.status in CLOSING_UPDATE_STATUSES
                and previous not in CLOSING_UPDATE_STATUSES
            ):
                template, closed_told = EmailTemplate.closed, True
            yield EventKind.status_changed.value, entry, previous, template
        previous = entry.status


def _delivery(
    outbox_event: OutboxEvent,
    channel: DeliveryChannel,
    now: datetime,
    subscription_id: int | None = None,
    *,
    template: str | None = None,
) -> Delivery:
    return Delivery(
        delivery_id=str(uuid.uuid4()),
        event=outbox_event,
        channel=channel,
        subscription_id=subscription_id,
        template=template,
        state=DeliveryState.pending,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
