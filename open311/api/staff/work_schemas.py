"""Arguments, bodies and answers of the staff API's queues, work orders and requests."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from open311.api.schemas import BBox, CommaList, W3CDateTime, comma_list_pattern
from open311.api.smorest import BaseSchema, StaffBody
from open311.db.work_queries import QueueRow
from open311.domain.queue import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from open311.domain.workflow import CANCELLING_STATUSES, TITLE_MAX_LENGTH
from open311.values import UpdateStatus, WorkOrderState

STATES = tuple(state.value for state in WorkOrderState)
NOTE_MAX_LENGTH = 4000


ID = re.compile("[0-9]{1,18}")
ID_LIST = comma_list_pattern(ID.pattern)


class IdList(fields.Field):
    """Ids given as a repeated argument, a comma list, or both: crew=3&crew=4 or crew=3,4."""

    # webargs hands over every occurrence of the argument, not only the first.
    is_multiple = True

    def __init__(self, **kwargs: Any) -> None:
        documented = {"type": "array", "items": {"type": "string", "pattern": ID_LIST}}
        super().__init__(**{**kwargs, "metadata": {**documented, **kwargs.get("metadata", {})}})

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> tuple[int, ...]:
        values = value if isinstance(value, list) else [value]
        ids: list[int] = []
        for item in values:
            if not isinstance(item, str | int):
                raise ValidationError("must be ids (whole numbers), repeated or comma-separated")
            for part in str(item).split(","):
                part = part.strip()
                if not part:
                    continue
                if not ID.fullmatch(part):
                    raise ValidationError(f"{part!r} is not an id (a whole number)")
                ids.append(int(part))
        return tuple(dict.fromkeys(ids))


class QueueArgs(BaseSchema):
    """A queue's query string. The view loads it with unknown=RAISE: a misspelt filter is a 400,
    not a queue silently left unfiltered."""

    crew = IdList(metadata={"description": "crew ids, repeated or comma-separated"})
    state = CommaList(STATES, metadata={"description": "default new,assigned,in_progress"})
    district = fields.Integer(strict=False, validate=validate.Range(min=1))
    bbox = BBox(metadata={"description": "minLng,minLat,maxLng,maxLat of the request's point"})
    due_before = W3CDateTime(metadata={"description": "due before this W3C datetime"})
    overdue = fields.Boolean(metadata={"description": "true: open and past due; false: not"})
    jurisdiction_id = fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "one of the user's cities (default: all of them)"},
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE)
    )


def _text(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(max=NOTE_MAX_LENGTH), **kwargs)


class TransitionBody(StaffBody):
    to = fields.String(required=True, validate=validate.OneOf(STATES))
    note = _text(allow_none=True, metadata={"description": "internal: never shown to citizens"})
    public_note = _text(allow_none=True, metadata={"description": "what citizens are told"})
    outcome = fields.String(allow_none=True, metadata={"description": "only with to=done"})


class ReassignBody(StaffBody):
    crew_id = fields.Integer(required=True)
    note = _text(allow_none=True)


class AddWorkOrderBody(StaffBody):
    crew_id = fields.Integer(required=True, metadata={"description": "any crew of the city"})
    title = fields.String(required=True, validate=validate.Length(min=1, max=TITLE_MAX_LENGTH))
    due_at = W3CDateTime(
        allow_none=True, metadata={"description": "default: one business day from now"}
    )
    note = _text(allow_none=True, metadata={"description": "internal: never shown to citizens"})
    priority = fields.Integer(load_default=0, validate=validate.Range(min=0, max=9))


class NoteBody(StaffBody):
    note = fields.String(required=True, validate=validate.Length(min=1, max=NOTE_MAX_LENGTH))
    public = fields.Boolean(load_default=False)
    work_order_id = fields.Integer(allow_none=True)


class LocationBody(StaffBody):
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90))
    long = fields.Float(required=True, validate=validate.Range(min=-180, max=180))


class CancelBody(StaffBody):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=NOTE_MAX_LENGTH))
    status = fields.String(
        load_default=UpdateStatus.cancelled, validate=validate.OneOf(CANCELLING_STATUSES)
    )
    public_note = _text(allow_none=True)


# --- responses -----------------------------------------------------------------------------------


class CrewRefOut(Schema):
    """The crew a work order is assigned to."""

    id = fields.Integer()
    code = fields.String()
    name = fields.String()


class QueueRequestOut(Schema):
    """The request of a queue item, dumped from its QueueRow: the point as the queue's query
    read it, the rest from the request."""

    service_request_id = fields.String()
    service_code = fields.String(attribute="service.service_code")
    service_name = fields.String(attribute="service.service_name")
    status = fields.String()
    address = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    long = fields.Float(allow_none=True)
    description = fields.String(allow_none=True)
    requested_datetime = fields.DateTime()

    def get_attribute(self, obj: QueueRow, attr: str, default: Any) -> Any:
        source = obj if attr in ("lat", "long") else obj.work_order.service_request
        return super().get_attribute(source, attr, default)


class WorkOrderOut(Schema):
    id = fields.Integer()
    title = fields.String()
    state = fields.String()
    priority = fields.Integer()
    outcome = fields.String(allow_none=True)
    not_before = fields.DateTime(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    escalated_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    crew = fields.Nested(CrewRefOut, allow_none=True)
    agency = fields.String(attribute="agency.code", metadata={"description": "the agency's code"})
    step = fields.String(
        attribute="step.code",
        dump_default=None,
        allow_none=True,
        metadata={"description": "the workflow step's code"},
    )
    parent_id = fields.Integer(allow_none=True)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def queue_item(row: Any) -> dict[str, Any]:
    """A queue item from a row of work_queries.QUEUE_COLUMNS: what QueueItemOut dumps from a
    QueueRow, field for field (tests/api check both agree), built without marshmallow, whose
    per-field dispatch cost more than the whole query for a page of a hundred."""
    crew = None
    if row.crew_id is not None:
        crew = {"code": row.crew_code, "id": row.crew_id, "name": row.crew_name}
    return {
        "agency": row.agency_code,
        "closed_at": _iso(row.closed_at),
        "created_at": _iso(row.created_at),
        "crew": crew,
        "due_at": _iso(row.due_at),
        "escalated_at": _iso(row.escalated_at),
        "id": row.id,
        "not_before": _iso(row.not_before),
        "outcome": row.outcome,
        "parent_id": row.parent_id,
        "priority": row.priority,
        "request": {
            "address": row.address,
            "description": row.description,
            "lat": row.lat,
            "long": row.long,
            "requested_datetime": _iso(row.requested_datetime),
            "service_code": row.service_code,
            "service_name": row.service_name,
            "service_request_id": row.service_request_id,
            "status": str(row.status),
        },
        "state": str(row.state),
        "step": row.step_code,
        "title": row.title,
        "updated_at": _iso(row.updated_at),
    }


class QueueItemOut(WorkOrderOut):
    """A work order in a queue, dumped from a QueueRow: with the request it is for."""

    request = fields.Nested(QueueRequestOut)

    def get_attribute(self, obj: QueueRow, attr: str, default: Any) -> Any:
        if attr == "request":
            return obj  # QueueRequestOut takes the point from the row
        return super().get_attribute(obj.work_order, attr, default)


class ActivityOut(Schema):
    at = fields.DateTime()
    actor = fields.String()
    kind = fields.String()
    summary = fields.String()
    public = fields.Boolean()
    status = fields.String(allow_none=True)
    work_order_id = fields.Integer(allow_none=True)


class WorkOrderDetailOut(QueueItemOut):
    """A work order with its whole log, dumped from a work.WorkOrderDetail."""

    activity = fields.List(fields.Nested(ActivityOut))

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "activity":
            return obj.activity
        return super().get_attribute(obj.row, attr, default)


class TransitionOut(Schema):
    work_order = fields.Nested(QueueItemOut)
    follow_ups = fields.List(fields.Nested(QueueItemOut))


class ContactOut(Schema):
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class StaffRequestOut(Schema):
    """A request as staff see it: the public fields, routing, work and the whole log.
    `requester` is left out for crew members."""

    service_request_id = fields.String()
    status = fields.String()
    status_notes = fields.String(allow_none=True)
    update_status = fields.String(metadata={"description": "the status of the latest update"})
    service_name = fields.String()
    service_code = fields.String()
    description = fields.String(allow_none=True)
    agency_responsible = fields.String(allow_none=True)
    service_notice = fields.String(allow_none=True)
    requested_datetime = fields.DateTime()
    updated_datetime = fields.DateTime()
    expected_datetime = fields.DateTime(allow_none=True)
    address = fields.String(allow_none=True)
    address_id = fields.String(allow_none=True)
    zipcode = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    long = fields.Float(allow_none=True)
    media_url = fields.String(allow_none=True)
    attributes = fields.Dict(metadata={"description": "answers to the service definition"})
    needs_location = fields.Boolean()
    channel = fields.String(allow_none=True)
    districts = fields.Dict(
        keys=fields.String(), values=fields.String(), metadata={"description": "layer: district"}
    )
    duplicate_of = fields.String(allow_none=True, metadata={"description": "service_request_id"})
    duplicate_state = fields.String(allow_none=True)
    work_orders = fields.List(fields.Nested(WorkOrderOut))
    activity = fields.List(fields.Nested(ActivityOut))
    requester = fields.Nested(ContactOut, allow_none=True)
