"""Bodies, arguments and answers of the staff views of webhooks and deliveries."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from open311.api.schemas import W3CDateTime, comma_list_pattern, one_of
from open311.api.smorest import StaffBody
from open311.db.outbox_queries import DeliveryRow
from open311.values import DeliveryState
from open311.wire.webhooks import ALL_EVENTS

STATES = [state.value for state in DeliveryState]


EVENT_KINDS = comma_list_pattern(one_of(ALL_EVENTS))
EVENTS_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": EVENT_KINDS},
        {"type": "array", "items": {"type": "string", "pattern": EVENT_KINDS}},
    ],
    "description": "Event kinds, as a list or a comma-separated string; none means all.",
}


class EventsField(fields.Field):
    """A list of event kinds, or one comma-separated string of them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata=EVENTS_SCHEMA, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise validate.ValidationError("a list of event kinds or a comma-separated string")


class NewWebhookBody(StaffBody):
    api_client_id = fields.Integer(required=True)
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    events = EventsField(load_default=list)
    scope = fields.String(validate=validate.OneOf(["own", "area"]))
    area = fields.Raw(metadata={"description": "GeoJSON Polygon/MultiPolygon, or a bbox"})


class WebhookChangeBody(StaffBody):
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


class DeliveryOut(Schema):
    """A delivery, dumped from a DeliveryRow: the delivery's fields, and beside them the kind
    of its event and the request it is about."""

    id = fields.Integer()
    delivery_id = fields.String()
    channel = fields.String()
    subscription_id = fields.Integer(allow_none=True)
    template = fields.String(allow_none=True)
    event = fields.String(attribute="event_kind")
    service_request_id = fields.String()
    state = fields.String()
    attempts = fields.Integer()
    last_status = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = W3CDateTime()
    next_attempt_at = W3CDateTime()
    delivered_at = W3CDateTime(allow_none=True)
    parked_at = W3CDateTime(allow_none=True)

    def get_attribute(self, obj: DeliveryRow, attr: str, default: Any) -> Any:
        source = obj if attr in ("event_kind", "service_request_id") else obj.delivery
        return super().get_attribute(source, attr, default)
