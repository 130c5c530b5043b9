"""The transactional outbox: events of public activity, written in the transaction that made them,
with one delivery per receiver; and the rules of webhook subscriptions and replays.

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
requester (`received` on creation, `closed` when a status change closes the request) when
an SMTP server is configured (OPEN311_SMTP_HOST). An event
nobody receives is not written. A rolled-back transaction writes nothing, having committed
nothing.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, SessionTransaction

from open311.config import Settings
from open311.db import outbox_queries as db
from open311.db.models import (
    Activity,
    ApiClient,
    Delivery,
    DeliveryChannel,
    DeliveryState,
    EventKind,
    OutboxEvent,
    ServiceRequest,
    Status,
    SubscriptionScope,
    WebhookSubscription,
)
from open311.errors import InvalidInput
from open311.notify.destinations import private_destination
from open311.wire import webhooks as wire

PENDING = "open311.outbox.pending"
HOOKED = "open311.outbox.hooked"
SUBMITTED = "submitted"
RECEIVED_TEMPLATE = "received"
CLOSED_TEMPLATE = "closed"


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
        return next((entry for entry in self.entries if entry.kind == SUBMITTED), None)


def emit(
    session: Session,
    pending: Sequence[tuple[ServiceRequest, Activity]],
    now: datetime | None = None,
) -> list[OutboxEvent]:
    """Write the events of these public entries and their deliveries (flushing first, for ids).
    Entries rolled back with a savepoint since they were noted are left out."""
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
    closing = _closing_statuses()
    may_email = [
        pk
        for pk, story in stories.items()
        if story.created is not None or story.request.status is Status.closed
    ]
    if not Settings().smtp_host:
        # Without an SMTP server nothing is queued: a "received" e-mail sent months later,
        # once one is configured, would be worse than none.
        may_email = []
    audience = db.audience(session, may_email)
    if not audience.any_subscription and not audience.emailable:
        return []
    moment = now or datetime.now(UTC)
    written: list[OutboxEvent] = []
    for story in stories.values():
        request = story.request
        subscriptions = (
            db.matching_subscriptions(session, request.api_client_id, request.location)
            if audience.any_subscription
            else []
        )
        emailable = request.id in audience.emailable
        if not subscriptions and not emailable:
            continue
        fields = wire.request_fields(request)
        for kind, entry, previous, template in _events(
            session, story, subscriptions, emailable, closing
        ):
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


def _closing_statuses() -> tuple[str, ...]:
    # Imported late: activity imports this module to note its entries.
    from open311.domain.activity import CLOSING_STATUSES

    return CLOSING_STATUSES


def _events(
    session: Session,
    story: _Story,
    subscriptions: list[db.Match],
    emailable: bool,
    closing: tuple[str, ...],
):
    """(kind, entry, previous status, e-mail template or None) of each event of a story."""
    request = story.request
    created = story.created
    if created is not None:
        yield (
            EventKind.request_created.value,
            created,
            None,
            (RECEIVED_TEMPLATE if emailable else None),
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
                and entry.status in closing
                and previous not in closing
            ):
                template, closed_told = CLOSED_TEMPLATE, True
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


# --- subscriptions ----------------------------------------------------------------------------

ALLOWED_SCHEMES = ("http", "https")
MAX_SUBSCRIPTIONS = 25
MAX_URL_LENGTH = 2000


@dataclass
class SubscriptionRequest:
    """What a client (or an administrator for it) asks to be told of."""

    url: str
    events: list[str]
    scope: SubscriptionScope = SubscriptionScope.own
    area: MultiPolygon | None = None


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise InvalidInput("url: an absolute http or https URL is required")
    if not Settings().webhook_allow_private and private_destination(
        url, unresolved_is_private=False
    ):
        raise InvalidInput("url: webhooks go to public internet addresses only")
    return url


def parse_subscription(
    url: str | None, events: list[str], scope: str | None, area: Any
) -> SubscriptionRequest:
    """Check a subscription's arguments; InvalidInput names the wrong one."""
    if not url or not url.strip():
        raise InvalidInput("url: required")
    try:
        kinds = wire.parse_events(events)
    except ValueError as error:
        raise InvalidInput(f"events: {error}") from None
    try:
        chosen = SubscriptionScope(scope or SubscriptionScope.own.value)
    except ValueError:
        raise InvalidInput("scope: must be own or area") from None
    shape = None
    if chosen is SubscriptionScope.area:
        if area is None or (isinstance(area, str) and not area.strip()):
            raise InvalidInput("area: required when scope is area")
        try:
            shape = wire.parse_area(area)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
    elif area is not None and not (isinstance(area, str) and not area.strip()):
        raise InvalidInput("area: only for scope area")
    return SubscriptionRequest(check_url(url), kinds, chosen, shape)


def subscribe(
    session: Session,
    client: ApiClient,
    wish: SubscriptionRequest,
    *,
    actor: str,
    now: datetime,
) -> tuple[WebhookSubscription, str]:
    """A new active subscription and its signing secret (the caller shows it once). A client
    has at most MAX_SUBSCRIPTIONS active ones: each costs work on every matching event."""
    if db.count_active_subscriptions(session, client.id) >= MAX_SUBSCRIPTIONS:
        raise InvalidInput(
            f"this client has {MAX_SUBSCRIPTIONS} active subscriptions already; delete one first"
        )
    secret = secrets.token_urlsafe(32)
    subscription = WebhookSubscription(
        api_client_id=client.id,
        url=wish.url,
        secret=secret,
        events=wish.events,
        scope=wish.scope,
        area=from_shape(wish.area, srid=4326) if wish.area is not None else None,
        active=True,
        created_at=now,
        created_by=actor,
    )
    session.add(subscription)
    session.flush()
    return subscription, secret


def change(
    subscription: WebhookSubscription,
    *,
    active: bool | None = None,
    url: str | None = None,
    events: list[str] | None = None,
) -> None:
    """Staff changes: switch a subscription off or on, point it elsewhere, choose its events.
    Deliveries already written keep going to the subscription (to its new URL)."""
    if url is not None:
        subscription.url = check_url(url)
    if events is not None:
        try:
            subscription.events = wire.parse_events(events)
        except ValueError as error:
            raise InvalidInput(f"events: {error}") from None
    if active is not None:
        subscription.active = active


def deactivate(subscription: WebhookSubscription) -> None:
    """No new deliveries; pending ones are parked by the worker instead of sent."""
    subscription.active = False


def replay(session: Session, delivery: Delivery, *, now: datetime) -> None:
    """Send a parked or delivered delivery again, from a fresh count of attempts (same
    delivery_id: a receiver that processed it may drop it)."""
    if delivery.state is DeliveryState.pending:
        raise InvalidInput(f"delivery {delivery.id} is pending already")
    delivery.state = DeliveryState.pending
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.parked_at = None
    delivery.delivered_at = None
    delivery.last_error = None
    delivery.last_status = None
    session.flush()
