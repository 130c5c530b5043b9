"""Webhook subscriptions: what a client asks to be told of, checked; and staff's changes and
replays of deliveries. The events and deliveries themselves are written by domain/outbox.py."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy.orm import Session

from open311.db import outbox_queries as db
from open311.db.models import (
    ApiClient,
    Delivery,
    WebhookSubscription,
)
from open311.errors import InvalidInput
from open311.i18n import _
from open311.notify.destinations import private_destination
from open311.values import (
    DeliveryState,
    SubscriptionScope,
)
from open311.wire import webhooks as wire

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


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL stripped, if it may receive webhooks: absolute http(s), and a public internet
    address unless `allow_private` (OPEN311_WEBHOOK_ALLOW_PRIVATE: intranets, tests)."""
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise InvalidInput(_("url: an absolute http or https URL is required"))
    try:
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError:
        raise InvalidInput(_("url: the port must be a number from 0 to 65535")) from None
    if not allow_private and private_destination(url, unresolved_is_private=False):
        raise InvalidInput(_("url: webhooks go to public internet addresses only"))
    return url


def parse_subscription(
    url: str | None,
    events: list[str],
    scope: str | None,
    area: Any,
    *,
    allow_private: bool,
) -> SubscriptionRequest:
    """Check a subscription's arguments; InvalidInput names the wrong one. `allow_private`:
    see check_url."""
    if not url or not url.strip():
        raise InvalidInput(_("url: required"))
    try:
        kinds = wire.parse_events(events)
    except ValueError as error:
        raise InvalidInput(f"events: {error}") from None
    try:
        chosen = SubscriptionScope(scope or SubscriptionScope.own.value)
    except ValueError:
        raise InvalidInput(_("scope: must be own or area")) from None
    shape = None
    if chosen is SubscriptionScope.area:
        if area is None or (isinstance(area, str) and not area.strip()):
            raise InvalidInput(_("area: required when scope is area"))
        try:
            shape = wire.parse_area(area)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
    elif area is not None and not (isinstance(area, str) and not area.strip()):
        raise InvalidInput(_("area: only for scope area"))
    return SubscriptionRequest(check_url(url, allow_private=allow_private), kinds, chosen, shape)


def subscribe(
    session: Session,
    client: ApiClient,
    wish: SubscriptionRequest,
    *,
    actor: str,
    now: datetime,
) -> tuple[WebhookSubscription, str]:
    """A new active subscription and its signing secret (the caller shows it once). A client
    has at most MAX_SUBSCRIPTIONS active ones: each costs work on every matching event. The
    count is taken with the client's row locked, so parallel requests cannot each see room for
    one more."""
    if db.count_active_subscriptions(session, client.id, lock=True) >= MAX_SUBSCRIPTIONS:
        raise InvalidInput(
            _(
                "this client has %(count)s active subscriptions already; delete one first",
                count=MAX_SUBSCRIPTIONS,
            )
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
    allow_private: bool,
) -> None:
    """Staff changes: switch a subscription off or on, point it elsewhere (`allow_private`: see
    check_url), choose its events. Deliveries already written keep going to the subscription
    (to its new URL)."""
    if url is not None:
        subscription.url = check_url(url, allow_private=allow_private)
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
