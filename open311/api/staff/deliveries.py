"""Webhook subscriptions of any client, and deliveries: parked ones and their replay (issue 6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields, validate

from open311.api import database
from open311.api.staff.auth import StaffBlueprint, actor, staff_required
from open311.db import outbox_queries as db
from open311.db.models import ApiClient, WebhookSubscription
from open311.domain import subscriptions
from open311.errors import NotFound
from open311.values import DeliveryState, StaffRole
from open311.wire import webhooks as wire
from open311.wire.datetimes import format_w3c

blp = StaffBlueprint("staff_deliveries", __name__, "Staff API: webhooks and deliveries.")

STATES = [state.value for state in DeliveryState]


class EventsField(fields.Field):
    """A list of event kinds, or one comma-separated string of them."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise validate.ValidationError("a list of event kinds or a comma-separated string")


class NewWebhookSchema(Schema):
    api_client_id = fields.Integer(required=True)
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    events = EventsField(load_default=list)
    scope = fields.String(validate=validate.OneOf(["own", "area"]))
    area = fields.Raw(metadata={"description": "GeoJSON Polygon/MultiPolygon, or a bbox"})


class WebhookChangeSchema(Schema):
    active = fields.Boolean()
    url = fields.String(validate=validate.Length(min=1, max=2000))
    events = EventsField()


class WebhooksArgs(Schema):
    api_client_id = fields.Integer()


class DeliveriesArgs(Schema):
    state = fields.String(validate=validate.OneOf(STATES))
    subscription_id = fields.Integer()
    before_id = fields.Integer(metadata={"description": "paging: ids below this one"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


def now() -> datetime:
    return datetime.now(UTC)


def _subscription(subscription_id: int) -> WebhookSubscription:
    found = db.get_subscription(database.session(), subscription_id)
    if found is None:
        raise NotFound(f"no webhook {subscription_id}")
    return found


def _when(moment: datetime | None) -> str | None:
    return format_w3c(moment) if moment is not None else None


def delivery_item(row: db.DeliveryRow) -> dict[str, Any]:
    delivery = row.delivery
    return {
        "id": delivery.id,
        "delivery_id": delivery.delivery_id,
        "channel": delivery.channel.value,
        "subscription_id": delivery.subscription_id,
        "template": delivery.template,
        "event": row.event_kind,
        "service_request_id": row.service_request_id,
        "state": delivery.state.value,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "created_at": _when(delivery.created_at),
        "next_attempt_at": _when(delivery.next_attempt_at),
        "delivered_at": _when(delivery.delivered_at),
        "parked_at": _when(delivery.parked_at),
    }


@blp.route("/webhooks", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.arguments(WebhooksArgs, location="query")
def list_webhooks(args: dict[str, Any]) -> list[dict[str, Any]]:
    """Every webhook subscription (or one client's), without secrets."""
    found = db.find_subscriptions(database.session(), args.get("api_client_id"))
    return [wire.subscription_item(subscription, staff=True) for subscription in found]


@blp.route("/webhooks", methods=["POST"])
@staff_required(StaffRole.administrator)
@blp.arguments(NewWebhookSchema)
def create_webhook(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Subscribe an API client (fields as in the public POST webhooks.json); the answer holds
    the signing secret, shown this once: pass it on to the client's operator."""
    session = database.session()
    client = session.get(ApiClient, body["api_client_id"])
    if client is None:
        raise NotFound(f"no API client {body['api_client_id']}")
    wish = subscriptions.parse_subscription(
        body["url"], body["events"], body.get("scope"), body.get("area")
    )
    subscription, secret = subscriptions.subscribe(session, client, wish, actor=actor(), now=now())
    session.commit()
    return wire.subscription_item(subscription, secret=secret, staff=True), 201


@blp.route("/webhooks/<int:subscription_id>", methods=["PATCH"])
@staff_required(StaffRole.administrator)
@blp.arguments(WebhookChangeSchema)
def change_webhook(body: dict[str, Any], subscription_id: int) -> dict[str, Any]:
    """Switch a subscription off or on, change its URL or its events."""
    subscription = _subscription(subscription_id)
    subscriptions.change(
        subscription, active=body.get("active"), url=body.get("url"), events=body.get("events")
    )
    database.session().commit()
    return wire.subscription_item(subscription, staff=True)


@blp.route("/deliveries", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.arguments(DeliveriesArgs, location="query")
def list_deliveries(args: dict[str, Any]) -> list[dict[str, Any]]:
    """Deliveries newest first, with attempts and the last error: `state=parked` lists those
    that failed too often (replay them once the receiver is fixed)."""
    rows = db.find_deliveries(
        database.session(),
        state=DeliveryState(args["state"]) if "state" in args else None,
        subscription_id=args.get("subscription_id"),
        before_id=args.get("before_id"),
        limit=args["limit"],
    )
    return [delivery_item(row) for row in rows]


@blp.route("/deliveries/<int:delivery_id>/replay", methods=["POST"])
@staff_required(StaffRole.administrator)
def replay_delivery(delivery_id: int) -> dict[str, Any]:
    """Send a parked (or delivered) delivery again, from a fresh count of attempts and with the
    same delivery_id; a pending one is a 400."""
    session = database.session()
    delivery = db.get_delivery_for_update(session, delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    subscriptions.replay(session, delivery, now=now())
    session.commit()
    (row,) = db.find_deliveries(session, delivery_pk=delivery.id)
    return delivery_item(row)
