"""Statements of the outbox: who is told of an event, claiming due deliveries, staff lists."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from geoalchemy2 import WKBElement
from sqlalchemy import exists, func, literal, select, tuple_
from sqlalchemy.orm import Session, joinedload

from open311.db.models import (
    Activity,
    Delivery,
    OutboxEvent,
    Requester,
    ServiceRequest,
    WebhookSubscription,
)
from open311.values import DeliveryChannel, DeliveryState, SubscriptionScope


@dataclass(frozen=True)
class Audience:
    """Whether anyone at all may want events of a commit: any active subscription, and which of
    the requests asked about have a requester with an e-mail address."""

    any_subscription: bool
    emailable: frozenset[int]


def audience(session: Session, request_pks: Collection[int]) -> Audience:
    """One statement per commit with public entries; when it says nobody listens, emitting
    costs nothing more."""
    subscribed = exists().where(WebhookSubscription.active)
    if not request_pks:
        return Audience(bool(session.scalar(select(subscribed))), frozenset())
    with_email = (
        select(func.array_agg(Requester.service_request_pk))
        .where(
            Requester.service_request_pk.in_(list(request_pks)),
            func.coalesce(Requester.email, "") != "",
        )
        .scalar_subquery()
    )
    row = session.execute(select(subscribed, with_email)).one()
    return Audience(bool(row[0]), frozenset(row[1] or ()))


@dataclass(frozen=True)
class Match:
    subscription_id: int
    events: Sequence[str]


def matching_subscriptions(
    session: Session, api_client_id: int | None, location: WKBElement | None
) -> list[Match]:
    """Active subscriptions a request's events go to, in one statement: `own` ones of the client
    that filed it, and `area` ones whose area covers its point (the GiST index on area)."""
    parts = []
    columns = (WebhookSubscription.id, WebhookSubscription.events)
    if api_client_id is not None:
        parts.append(
            select(*columns).where(
                WebhookSubscription.active,
                WebhookSubscription.scope == SubscriptionScope.own,
                WebhookSubscription.api_client_id == api_client_id,
            )
        )
    if location is not None:
        parts.append(
            select(*columns).where(
                WebhookSubscription.active,
                WebhookSubscription.scope == SubscriptionScope.area,
                func.ST_Covers(WebhookSubscription.area, location),
            )
        )
    if not parts:
        return []
    statement = parts[0] if len(parts) == 1 else parts[0].union_all(parts[1])
    return [Match(row[0], row[1]) for row in session.execute(statement)]


def previous_public_status(session: Session, entry: Activity) -> str | None:
    """The update status citizens saw before `entry` (in the (at, id) order of
    request_queries.latest_public_status), None if it is the request's first public entry."""
    return session.scalar(
        select(Activity.status)
        .where(
            Activity.service_request_pk == entry.service_request_pk,
            Activity.public,
            tuple_(Activity.at, Activity.id) < tuple_(literal(entry.at), literal(entry.id)),
        )
        .order_by(Activity.at.desc(), Activity.id.desc())
        .limit(1)
    )


# --- the worker -----------------------------------------------------------------------------


def claim_due(
    session: Session, now: datetime, channels: Collection[DeliveryChannel]
) -> Delivery | None:
    """Lock the oldest due pending delivery no other worker holds (FOR UPDATE SKIP LOCKED), with
    its event and subscription; the lock lasts until the caller's transaction ends.

    The row is chosen and locked in a subquery that walks the partial index ix_delivery_due and
    stops at the first free row; only that row is then joined to its event and subscription.
    (Joining first made every claim join and sort all pending rows: 0.15 of the floor's
    deliveries per second in bench/deliveries.py.)"""
    due = (
        select(Delivery.id)
        .where(
            Delivery.state == DeliveryState.pending,
            Delivery.next_attempt_at <= now,
            Delivery.channel.in_(list(channels)),
        )
        .order_by(Delivery.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return session.scalar(
        select(Delivery)
        .where(Delivery.id == due)
        .options(joinedload(Delivery.event), joinedload(Delivery.subscription))
    )


# --- subscriptions and deliveries for the APIs ----------------------------------------------


def find_subscriptions(
    session: Session, api_client_id: int | None = None, *, active_only: bool = False
) -> Sequence[WebhookSubscription]:
    statement = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if api_client_id is not None:
        statement = statement.where(WebhookSubscription.api_client_id == api_client_id)
    if active_only:
        statement = statement.where(WebhookSubscription.active)
    return session.scalars(statement).all()


def count_active_subscriptions(session: Session, api_client_id: int) -> int:
    return session.scalar(
        select(func.count()).where(
            WebhookSubscription.api_client_id == api_client_id, WebhookSubscription.active
        )
    )


def get_subscription(session: Session, subscription_id: int) -> WebhookSubscription | None:
    return session.get(WebhookSubscription, subscription_id)


@dataclass(frozen=True)
class DeliveryRow:
    delivery: Delivery
    event_kind: str
    service_request_id: str


def find_deliveries(
    session: Session,
    *,
    state: DeliveryState | None = None,
    subscription_id: int | None = None,
    before_id: int | None = None,
    delivery_pk: int | None = None,
    limit: int = 100,
) -> list[DeliveryRow]:
    """Deliveries newest first (by id), with their event kind and public request id."""
    statement = (
        select(Delivery, OutboxEvent.kind, ServiceRequest.service_request_id)
        .join(OutboxEvent, Delivery.event_id == OutboxEvent.id)
        .join(ServiceRequest, OutboxEvent.service_request_pk == ServiceRequest.id)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if state is not None:
        statement = statement.where(Delivery.state == state)
    if subscription_id is not None:
        statement = statement.where(Delivery.subscription_id == subscription_id)
    if before_id is not None:
        statement = statement.where(Delivery.id < before_id)
    if delivery_pk is not None:
        statement = statement.where(Delivery.id == delivery_pk)
    return [DeliveryRow(*row) for row in session.execute(statement)]


def get_delivery_for_update(session: Session, delivery_id: int) -> Delivery | None:
    """Locked, so a replay waits for a worker that is sending it right now."""
    return session.scalar(select(Delivery).where(Delivery.id == delivery_id).with_for_update())
