"""Bodies, arguments and answers of the privacy views: erasure and export of a person."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from open311.api.smorest import BaseSchema, StaffBody

_PERSON = ("email", "phone", "service_request_id")


def _one_person(data: dict, **kwargs) -> None:
    if sum(1 for name in _PERSON if data.get(name)) != 1:
        raise ValidationError("give either email, phone or service_request_id", "_schema")


class PersonBody(StaffBody):
    email = fields.Email(
        validate=validate.Length(max=254), metadata={"description": "the person's address"}
    )
    service_request_id = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "or: who filed this request"},
    )
    phone = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={"description": "or: the person's phone number (its last 10 digits)"},
    )

    @validates_schema
    def one_person(self, data, **kwargs):
        _one_person(data)


class PersonArgs(BaseSchema):
    email = fields.Email(validate=validate.Length(max=254))
    service_request_id = fields.String(validate=validate.Length(min=1, max=64))
    phone = fields.String(validate=validate.Length(min=1, max=64))

    @validates_schema
    def one_person(self, data, **kwargs):
        _one_person(data)


class ErasureOut(Schema):
    """What an erasure did (the audit entry holds the same counts, never the address)."""

    requesters = fields.Integer(metadata={"description": "requester rows emptied"})
    update_authors = fields.Integer(metadata={"description": "update-author rows emptied"})
    photos = fields.Integer(metadata={"description": "unpublished update photos deleted"})
    emails_cancelled = fields.Integer(metadata={"description": "queued e-mails cancelled"})
    stored_answers = fields.Integer(metadata={"description": "Idempotency-Key answers deleted"})
    contacts = fields.Integer(metadata={"description": "calls whose caller number was cleared"})


class PersonalDetailsOut(Schema):
    email = fields.String(allow_none=True)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    account_id = fields.String(allow_none=True)


class RequesterDetailsOut(PersonalDetailsOut):
    device_id = fields.String(allow_none=True)
    language = fields.String(allow_none=True)


class HeldRequestOut(Schema):
    service_request_id = fields.String()
    service_code = fields.String()
    status = fields.String()
    requested_datetime = fields.String(metadata={"description": "ISO 8601"})
    description = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    requester = fields.Nested(RequesterDetailsOut)
    photos = fields.List(fields.String(), metadata={"description": "file names under /media/"})


class HeldUpdateOut(Schema):
    service_request_id = fields.String()
    update_id = fields.Integer()
    at = fields.String(metadata={"description": "ISO 8601"})
    description = fields.String(allow_none=True)
    author = fields.Nested(PersonalDetailsOut)
    photos = fields.List(fields.String(), metadata={"description": "file names under /media/"})


class HeldContactOut(Schema):
    """A call from the person's number (or that led to their request)."""

    channel = fields.String()
    queued_at = fields.String(metadata={"description": "ISO 8601"})
    caller_number = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    service_request_ids = fields.List(fields.String())


class ExportOut(Schema):
    """Everything held about one person."""

    requests = fields.List(fields.Nested(HeldRequestOut))
    updates = fields.List(fields.Nested(HeldUpdateOut))
    contacts = fields.List(fields.Nested(HeldContactOut))
