"""Webhook subscriptions of any client, and deliveries: parked ones and their replay."""

from __future__ import annotations

from typing import Any

from open311 import clock
from open311.api import database
from open311.api.staff.auth import StaffBlueprint, actor, staff_required
from open311.api.staff.deliveries_schemas import (
    DeliveriesArgs,
    DeliveryOut,
    NewWebhookBody,
    WebhookChangeBody,
    WebhooksArgs,
)
from open311.db import outbox_queries as db
from open311.db.models import ApiClient, WebhookSubscription
from open311.domain import subscriptions
from open311.errors import NotFound
from open311.values import DeliveryState, StaffRole
from open311.wire import webhooks as wire

blp = StaffBlueprint("staff_deliveries", __name__, "Staff API: webhooks and deliveries.")


def _subscription(subscription_id: int) -> WebhookSubscription:
    found = db.get_subscription(database.session(), subscription_id)
    if found is None:
        raise NotFound(f"no webhook {subscription_id}")
    return found


# Subscriptions are shown as the public webhooks.json shows them, with their client and creator
# added (wire.webhooks.subscription_item): one definition for both APIs, so no schema here.


@blp.route("/webhooks", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.arguments(WebhooksArgs, location="query")
def list_webhooks(args: dict[str, Any]) -> list[dict[str, Any]]:
    """Every webhook subscription (or one client's), without secrets."""
    found = db.find_subscriptions(database.session(), args.get("api_client_id"))
    return [wire.subscription_item(subscription, staff=True) for subscription in found]


@blp.route("/webhooks", methods=["POST"])
@staff_required(StaffRole.administrator)
@blp.arguments(NewWebhookBody)
def create_webhook(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Subscribe an API client (fields as in the public POST webhooks.json); the answer holds
    the signing secret, shown this once: pass it on to the client's operator."""
    session = database.session()
    client = session.get(ApiClient, body["api_client_id"])
    if client is None:
        raise NotFound(f"no API client {body['api_client_id']}")
    wish = subscriptions.parse_subscription(
        body["url"],
        body["events"],
        body.get("scope"),
        body.get("area"),
        allow_private=database.settings().webhook_allow_private,
    )
    subscription, secret = subscriptions.subscribe(
        session, client, wish, actor=actor(), now=clock.now()
    )
    session.commit()
    return wire.subscription_item(subscription, secret=secret, staff=True), 201


@blp.route("/webhooks/<int:subscription_id>", methods=["PATCH"])
@staff_required(StaffRole.administrator)
@blp.arguments(WebhookChangeBody)
def change_webhook(body: dict[str, Any], subscription_id: int) -> dict[str, Any]:
    """Switch a subscription off or on, change its URL or its events."""
    subscription = _subscription(subscription_id)
    subscriptions.change(
        subscription,
        active=body.get("active"),
        url=body.get("url"),
        events=body.get("events"),
        allow_private=database.settings().webhook_allow_private,
    )
    database.session().commit()
    return wire.subscription_item(subscription, staff=True)


@blp.route("/deliveries", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.arguments(DeliveriesArgs, location="query")
@blp.response(200, DeliveryOut(many=True))
def list_deliveries(args: dict[str, Any]) -> list[db.DeliveryRow]:
    """Deliveries newest first, with attempts and the last error: `state=parked` lists those
    that failed too often (replay them once the receiver is fixed)."""
    return db.find_deliveries(
        database.session(),
        state=DeliveryState(args["state"]) if "state" in args else None,
        subscription_id=args.get("subscription_id"),
        before_id=args.get("before_id"),
        limit=args["limit"],
    )


@blp.route("/deliveries/<int:delivery_id>/replay", methods=["POST"])
@staff_required(StaffRole.administrator)
@blp.response(200, DeliveryOut)
def replay_delivery(delivery_id: int) -> db.DeliveryRow:
    """Send a parked (or delivered) delivery again, from a fresh count of attempts and with the
    same delivery_id; a pending one is a 400."""
    session = database.session()
    delivery = db.get_delivery_for_update(session, delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    subscriptions.replay(session, delivery, now=clock.now())
    session.commit()
    (row,) = db.find_deliveries(session, delivery_pk=delivery.id)
    return row
