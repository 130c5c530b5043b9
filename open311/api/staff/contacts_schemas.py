"""Bodies, arguments and answers of the staff contacts API (calls, chats, walk-ins, e-mails)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from open311.api.schemas import LanguageTag, W3CDateTime
from open311.api.smorest import BaseSchema, StaffBody
from open311.domain import contacts
from open311.values import ContactChannel, ContactOutcome

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
CHANNELS = [channel.value for channel in ContactChannel]
OUTCOMES = [outcome.value for outcome in ContactOutcome]
_PUBLIC_ID = fields.String(validate=validate.Length(min=1, max=64))
_ARTICLE_ID = fields.String(validate=validate.Length(min=1, max=100))


class ContactChangeBody(StaffBody):
    """What ends or corrects a contact; every field optional, links are added."""

    channel = fields.String(validate=validate.OneOf(CHANNELS))
    language = LanguageTag(metadata={"description": "the language spoken (BCP 47)"})
    interpreter = fields.Boolean(metadata={"description": "an interpreter joined"})
    queued_at = W3CDateTime(metadata={"description": "offered to the centre (queue entered)"})
    answered_at = W3CDateTime()
    ended_at = W3CDateTime()
    hold_seconds = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=contacts.MAX_HOLD_SECONDS)
    )
    abandoned = fields.Boolean(metadata={"description": "the caller gave up before an answer"})
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    transfer_agency = fields.String(
        validate=validate.Length(min=1, max=contacts.MAX_TRANSFER_AGENCY),
        metadata={"description": "required when the outcome is transfer"},
    )
    caller_phone = fields.String(
        validate=[
            validate.Length(min=1, max=contacts.MAX_CALLER_NUMBER),
            validate.Regexp(r"^[0-9 +().-]+$", error="digits, spaces and + ( ) - . only"),
        ],
        metadata={"description": "personal: shown to supervisors and administrators only"},
    )
    service_request_ids = fields.List(_PUBLIC_ID, validate=validate.Length(max=contacts.MAX_LINKS))
    article_ids = fields.List(_ARTICLE_ID, validate=validate.Length(max=contacts.MAX_LINKS))


class NewContactBody(ContactChangeBody):
    """A contact to record; times default to now (a contact being taken live)."""

    jurisdiction_id = fields.String(validate=validate.Length(min=1, max=255))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))


class IntakeContactBody(StaffBody):
    """The call an intake files a request from; without it, a call answered now."""

    queued_at = W3CDateTime()
    answered_at = W3CDateTime()
    hold_seconds = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=contacts.MAX_HOLD_SECONDS)
    )
    language = LanguageTag()
    interpreter = fields.Boolean()


class ContactListArgs(BaseSchema):
    jurisdiction_id = fields.String(
        validate=validate.Length(min=1, max=255),
        metadata={"description": "one of the user's cities (default: all of them)"},
    )
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    staff_user = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "a username"}
    )
    abandoned = fields.Boolean()
    start_date = W3CDateTime(metadata={"description": "queued at or after"})
    end_date = W3CDateTime(metadata={"description": "queued before"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(
        load_default=DEFAULT_PAGE_SIZE, validate=validate.Range(min=1, max=MAX_PAGE_SIZE)
    )


class StaffContactOut(Schema):
    """A contact as staff read it (caller_phone only for supervisors and administrators)."""

    id = fields.Integer()
    jurisdiction_id = fields.String()
    channel = fields.String()
    language = fields.String(allow_none=True)
    interpreter = fields.Boolean()
    queued_at = W3CDateTime()
    answered_at = W3CDateTime(allow_none=True)
    ended_at = W3CDateTime(allow_none=True)
    hold_seconds = fields.Integer()
    abandoned = fields.Boolean()
    staff_user = fields.String(allow_none=True, metadata={"description": "who took it"})
    outcome = fields.String(allow_none=True)
    transfer_agency = fields.String(allow_none=True)
    call_id = fields.String(allow_none=True, metadata={"description": "the phone system's"})
    caller_phone = fields.String(allow_none=True)
    service_request_ids = fields.List(fields.String())
    article_ids = fields.List(fields.String())
