"""Statements of the outbox: who is told of an event, leasing due deliveries and recording
attempts, staff lists."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from geoalchemy2 import WKBElement
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    Update,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, joinedload

from open311.db.models import (
    Activity,
    ApiClient,
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

# A delivery's lane is its subscription; all e-mails share lane 0 (subscription ids start at 1).
# A lane has at most one delivery in flight, so one slow receiver (or a slow SMTP server) holds
# up only its own lane, and a subscription's deliveries go out in due order.
EMAIL_LANE = 0
# The first key of the transaction-level advisory locks (LANE_LOCK, lane) that claims take:
# two workers claiming in one lane at the same moment cannot both see the other's lease yet.
LANE_LOCK = 311_009
Timestamp = DateTime(timezone=True)


@dataclass(frozen=True)
class Leases:
    """How long a claimed delivery is leased, per channel: its deadline plus a margin."""

    webhook: timedelta
    email: timedelta


def _lane(columns: Any) -> ColumnElement[int]:
    return func.coalesce(columns.subscription_id, EMAIL_LANE)


# The worker's statements are built once, with parameters: building them (aliases above all)
# cost more than running them, and a statement built once is compiled once.


@cache
def _lease_next(passing_over: bool) -> Update:
    """Lease the first due delivery (:now) of the :channels that nobody holds, outside lanes
    with one in flight (and, `passing_over`, outside the lanes :passed_over); returns its id,
    its lane and whether this transaction got the lane's advisory lock."""
    delivery = Delivery.__table__
    candidate = delivery.alias("candidate")
    in_flight = delivery.alias("in_flight")
    now = bindparam("now", type_=Timestamp)
    busy_lanes = select(_lane(in_flight.c)).where(in_flight.c.leased_until > now)
    conditions = [
        candidate.c.state == DeliveryState.pending,
        candidate.c.next_attempt_at <= now,
        candidate.c.channel.in_(bindparam("channels", expanding=True)),
        # Free, or leased by a worker that died (its lease ran out).
        or_(candidate.c.leased_until.is_(None), candidate.c.leased_until <= now),
        _lane(candidate.c).not_in(busy_lanes),
    ]
    if passing_over:
        conditions.append(_lane(candidate.c).not_in(bindparam("passed_over", expanding=True)))
    due = (
        select(candidate.c.id)
        .where(*conditions)
        .order_by(candidate.c.next_attempt_at, candidate.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    until = case(
        (delivery.c.channel == DeliveryChannel.email, bindparam("email_until", type_=Timestamp)),
        else_=bindparam("webhook_until", type_=Timestamp),
    )
    return (
        update(delivery)
        .where(delivery.c.id == due)
        .values(leased_until=until)
        .returning(
            delivery.c.id,
            _lane(delivery.c),
            # Taken after the statement's snapshot: whoever held it has committed its lease,
            # which the next statement sees.
            func.pg_try_advisory_xact_lock(LANE_LOCK, _lane(delivery.c)),
        )
    )


@cache
def _load_leased() -> Select[tuple[Delivery, bool]]:
    """The delivery :pk with its event and subscription, and whether another delivery of its
    :lane is leased beyond :now (read after the lane's lock was taken)."""
    other = Delivery.__table__.alias("other")
    now = bindparam("now", type_=Timestamp)
    busy = exists().where(
        _lane(other.c) == bindparam("lane"),
        other.c.id != bindparam("pk"),
        other.c.leased_until > now,
    )
    return (
        select(Delivery, busy)
        .where(Delivery.id == bindparam("pk"))
        .options(joinedload(Delivery.event), joinedload(Delivery.subscription))
    )


@cache
def _give_back() -> Update:
    delivery = Delivery.__table__
    return update(delivery).where(delivery.c.id == bindparam("pk")).values(leased_until=None)


def claim_due(
    session: Session, now: datetime, channels: Collection[DeliveryChannel], leases: Leases
) -> Delivery | None:
    """Lease the next due pending delivery, with its event and subscription loaded; None when
    nothing is due or everything due waits behind a delivery in flight. The caller commits at
    once, sends with no transaction open, then records the attempt (record_attempt).

    Chosen in due order (next_attempt_at, then id) among deliveries that are not leased (or
    whose lease ran out: the worker that took them died) and whose lane has nothing in flight.
    The row is chosen and locked in a subquery that walks the partial index ix_delivery_due
    with FOR UPDATE SKIP LOCKED and stops at the first free row (joining first made every claim
    join and sort all pending rows), so two workers never lease the same delivery.

    Two workers may still pick two deliveries of one lane at the same moment, neither seeing
    the other's uncommitted lease: each also takes the lane's advisory lock and then looks
    again, with a snapshot taken after the lock; the one that loses gives its lease back (in
    this transaction) and looks in the other lanes."""
    parameters: dict[str, Any] = {
        "now": now,
        "channels": list(channels),
        "webhook_until": now + leases.webhook,
        "email_until": now + leases.email,
    }
    passed_over: list[int] = []
    while True:
        statement = _lease_next(bool(passed_over))
        row = session.execute(statement, parameters | {"passed_over": passed_over}).one_or_none()
        if row is None:
            return None
        delivery_pk, lane, alone = row
        if alone:
            delivery, busy = session.execute(
                _load_leased(), {"pk": delivery_pk, "lane": lane, "now": now}
            ).one()
            if not busy:
                return delivery
        session.execute(_give_back(), {"pk": delivery_pk})
        passed_over.append(lane)


@dataclass(frozen=True)
class Attempted:
    """What one attempt changes in its delivery; next_attempt_at None: left as it is."""

    state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    parked_at: datetime | None = None


@cache
def _record() -> Update:
    delivery = Delivery.__table__
    return (
        update(delivery)
        .where(
            delivery.c.id == bindparam("pk"),
            delivery.c.leased_until == bindparam("ours", type_=Timestamp),
        )
        .values(
            state=bindparam("state", type_=delivery.c.state.type),
            attempts=bindparam("attempts"),
            last_status=bindparam("last_status"),
            last_error=bindparam("last_error"),
            # Left as it is unless a retry is due.
            next_attempt_at=func.coalesce(
                bindparam("next_attempt_at", type_=Timestamp), delivery.c.next_attempt_at
            ),
            delivered_at=bindparam("delivered_at", type_=Timestamp),
            parked_at=bindparam("parked_at", type_=Timestamp),
            leased_until=None,
        )
    )


def record_attempt(
    session: Session, delivery_pk: int, leased_until: datetime, attempted: Attempted
) -> bool:
    """Write an attempt's result and end its lease, only if the lease is still the one taken
    for the attempt; False when it is not (it ran out and another worker leased the delivery,
    whose own record counts). A lease that ran out unclaimed is still ours."""
    result = session.execute(
        _record(),
        {
            "pk": delivery_pk,
            "ours": leased_until,
            "state": attempted.state,
            "attempts": attempted.attempts,
            "last_status": attempted.last_status,
            "last_error": attempted.last_error,
            "next_attempt_at": attempted.next_attempt_at,
            "delivered_at": attempted.delivered_at,
            "parked_at": attempted.parked_at,
        },
    )
    return result.rowcount == 1


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


def count_active_subscriptions(session: Session, api_client_id: int, *, lock: bool = False) -> int:
    """The client's active subscriptions. `lock` first locks the client's row (FOR NO KEY
    UPDATE) until the transaction ends, so of two subscriptions added at once the second counts
    the first: a cap checked on this count holds."""
    if lock:
        session.execute(
            select(ApiClient.id)
            .where(ApiClient.id == api_client_id)
            .with_for_update(key_share=True)
        )
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
    """Locked, so a replay waits for a worker recording an attempt of it right now (a worker
    holds no lock while it sends: a delivery in flight is pending, which a replay refuses)."""
    return session.scalar(select(Delivery).where(Delivery.id == delivery_id).with_for_update())
