"""Webhook subscriptions of an API client, with its own key.

JSON only. Like POST requests, a missing or unknown api_key is a 403. The answers are lists, as
GeoReport's are; the signing secret is in the POST answer only.
"""

from __future__ import annotations

from flask import Response, request
from werkzeug.datastructures import MultiDict

from open311 import clock
from open311.api import database, ratelimits
from open311.api.forms import FORM_TYPES, reject_forbidden
from open311.api.georeport_base import GeoReportBlueprint, api_key, respond
from open311.db import outbox_queries as db
from open311.db.models import ApiClient, WebhookSubscription
from open311.domain import activity, apikeys, subscriptions
from open311.errors import InvalidInput, NotFound
from open311.i18n import _
from open311.wire import webhooks as wire

blp = GeoReportBlueprint(
    "webhooks",
    __name__,
    description="Webhook subscriptions of the API client whose api_key is given.",
    error_format="json",
)
blp.before_request(ratelimits.limit_calls)
# The routes end in a fixed .json, so answers are JSON; this would be their XML root.
ROOT = "webhooks"


def _body() -> MultiDict:
    """The body's fields, repeated ones kept (events may be repeated); JSON values may also be
    lists (events) or an object (area)."""
    if request.mimetype == "application/json":
        document = request.get_json(silent=True)
        if not isinstance(document, dict):
            raise InvalidInput(_("the JSON body must be an object"))
        fields: MultiDict = MultiDict()
        for key, value in document.items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    reject_forbidden(str(key), item)
                elif not (isinstance(item, dict) and key == "area") and item is not None:
                    raise InvalidInput(_("%(field)s: must be a string", field=str(key)[:40]))
                fields.add(key, item)
        return fields
    if request.mimetype in FORM_TYPES or not request.content_length:
        for key, value in request.form.items(multi=True):
            reject_forbidden(key, value)
        return request.form
    raise InvalidInput(_("send application/x-www-form-urlencoded, multipart/form-data or JSON"))


def _client(fields: MultiDict) -> ApiClient:
    return apikeys.authenticate(database.session(), api_key(fields, query=True))


def _own(client: ApiClient, subscription_id: int) -> WebhookSubscription:
    subscription = db.get_subscription(database.session(), subscription_id)
    if subscription is None or subscription.api_client_id != client.id:
        # Another client's subscription is as unknown as a missing one.
        raise NotFound(_("webhook %(id)s not found", id=subscription_id))
    return subscription


@blp.route("/webhooks.json", methods=["POST"])
def create_webhook() -> Response:
    """Subscribe to events (request.created, request.status_changed, request.update_added) of
    the client's own requests (scope=own) or of all requests in an area (scope=area, with area
    as a GeoJSON Polygon/MultiPolygon or a bbox minLng,minLat,maxLng,maxLat). The answer holds
    the signing secret, shown this once."""
    fields = _body()
    session = database.session()
    client = _client(fields)
    wish = subscriptions.parse_subscription(
        fields.get("url"),
        fields.getlist("events"),
        fields.get("scope"),
        fields.get("area"),
        allow_private=database.settings().webhook_allow_private,
    )
    subscription, secret = subscriptions.subscribe(
        session, client, wish, actor=activity.client_actor(client.name), now=clock.now()
    )
    session.commit()
    return respond([wire.subscription_item(subscription, secret=secret)], ROOT, 201)


@blp.route("/webhooks.json", methods=["GET"])
def list_webhooks() -> Response:
    """The client's subscriptions, active or not (without secrets)."""
    client = _client(MultiDict())
    found = db.find_subscriptions(database.session(), client.id)
    return respond([wire.subscription_item(subscription) for subscription in found], ROOT)


@blp.route("/webhooks/<int:subscription_id>.json", methods=["DELETE"])
def delete_webhook(subscription_id: int) -> Response:
    """Stop a subscription (api_key in the query or the body); deliveries not yet sent are
    dropped (parked). Only the client's own subscriptions can be deleted."""
    fields = _body() if request.content_length else MultiDict()
    client = _client(fields)
    subscription = _own(client, subscription_id)
    subscriptions.deactivate(subscription)
    database.session().commit()
    return respond([wire.subscription_item(subscription)], ROOT)
