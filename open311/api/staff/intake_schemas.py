"""Bodies, arguments and answers of the call-taker intake and duplicate endpoints."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from open311.api.schemas import LanguageTag
from open311.api.smorest import StaffBody
from open311.api.staff.contacts_schemas import IntakeContactBody
from open311.domain.duplicates import MAX_NEARBY_RADIUS_M
from open311.domain.intake import Submission

# How a call taker may have heard of a problem; `api` and `web` are the public channels.
CHANNELS = ("phone", "walk_in", "email", "tty")
NEARBY_LIMIT = 50


_ANSWER = {"anyOf": [{"type": "string"}, {"type": "number"}]}


class Answers(fields.Field):
    """Answers to a service definition as JSON: {code: value or [values]}, values strings or
    numbers; read as the domain wants them, {code: [text, ...]}."""

    def __init__(self, **kwargs: Any) -> None:
        schema = {
            "type": "object",
            "additionalProperties": {"anyOf": [_ANSWER, {"type": "array", "items": _ANSWER}]},
            "description": "attribute code -> value or list of values",
        }
        super().__init__(metadata=schema, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, dict):
            raise ValidationError("an object of attribute code -> value or list of values")
        answers: dict[str, list[str]] = {}
        for code, answer in value.items():
            items = answer if isinstance(answer, list) else [answer]
            for item in items:
                if isinstance(item, bool) or not isinstance(item, str | int | float):
                    raise ValidationError(f"{code}: a string or a number, or a list of them")
            answers[str(code)] = [str(item) for item in items]
        return answers


class CallerBody(StaffBody):
    """Who called: kept private (the Requester table), never published."""

    first_name = fields.String(validate=validate.Length(max=255))
    last_name = fields.String(validate=validate.Length(max=255))
    email = fields.Email(validate=validate.Length(max=254))
    phone = fields.String(validate=validate.Length(max=64))
    # BCP 47, e.g. es: the language the e-mails to the caller are written in.
    language = LanguageTag()


class IntakeRequestBody(StaffBody):
    jurisdiction_id = fields.String(validate=validate.Length(max=255))
    service_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lat = fields.Float(allow_nan=False, validate=validate.Range(-90, 90))
    long = fields.Float(allow_nan=False, validate=validate.Range(-180, 180))
    address_string = fields.String(validate=validate.Length(min=1, max=1000))
    address_id = fields.String(validate=validate.Length(min=1, max=255))
    description = fields.String(validate=validate.Length(max=4000))
    attributes = Answers(load_default=dict)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    caller = fields.Nested(CallerBody)
    # The call itself, for the call statistics; without it, a call answered now.
    contact = fields.Nested(IntakeContactBody)


class IntakeResultOut(Schema):
    """A request just filed for a caller."""

    service_request_id = fields.String()
    status = fields.String()
    service_notice = fields.String(allow_none=True)
    expected_datetime = fields.DateTime(allow_none=True)
    # The request it was linked to as a suspected duplicate, else null.
    duplicate_of = fields.String(
        attribute="duplicate_of.service_request_id", dump_default=None, allow_none=True
    )
    agency_responsible = fields.String(allow_none=True)


class NearbyArgs(Schema):
    jurisdiction_id = fields.String(validate=validate.Length(max=255))
    service_code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    long = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))
    radius_m = fields.Float(
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_NEARBY_RADIUS_M, min_inclusive=False),
    )


class Decimetres(fields.Float):
    """A distance in metres, rounded to the decimetre."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> float | None:
        rounded = round(value, 1) if value is not None else None
        return super()._serialize(rounded, attr, obj, **kwargs)


class NearbyRequestOut(Schema):
    service_request_id = fields.String()
    distance_m = Decimetres()
    status = fields.String()
    address = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    requested_datetime = fields.DateTime()
    # How many requests are linked to this one as duplicates.
    duplicates = fields.Integer()


class NearbyOut(Schema):
    """Open requests near a point (an intake.NearbyLookup)."""

    service_code = fields.String(attribute="service.service_code")
    radius_m = fields.Float()
    requests = fields.List(fields.Nested(NearbyRequestOut))


class MergeBody(StaffBody):
    parent = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(validate=validate.Length(min=1, max=1000))


class DuplicateResultOut(Schema):
    """A request's duplicate link after a confirm, undo or merge."""

    service_request_id = fields.String()
    status = fields.String()
    status_notes = fields.String(allow_none=True)
    service_notice = fields.String(allow_none=True)
    duplicate_state = fields.String(allow_none=True)
    duplicate_of = fields.String(
        attribute="duplicate_of.service_request_id", dump_default=None, allow_none=True
    )


def submission_of(body: dict[str, Any]) -> Submission:
    """The request a loaded IntakeRequestBody files: the caller's details as the requester's
    (private), the channel the call came by."""
    caller = body.get("caller") or {}
    return Submission(
        service_code=body["service_code"],
        lat=body.get("lat"),
        long=body.get("long"),
        address_string=body.get("address_string"),
        address_id=body.get("address_id"),
        description=body.get("description"),
        email=caller.get("email"),
        first_name=caller.get("first_name"),
        last_name=caller.get("last_name"),
        phone=caller.get("phone"),
        language=caller.get("language"),
        attributes=body["attributes"],
        channel=body["channel"],
    )
