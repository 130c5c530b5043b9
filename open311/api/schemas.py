"""marshmallow schemas of GeoReport arguments: types, ranges and lengths, no database."""

from __future__ import annotations

from marshmallow import fields, validate

from open311.api.smorest import BaseSchema
from open311.db.models import Status
from open311.wire.datetimes import parse_w3c


class W3CDateTime(fields.Field):
    """A W3C datetime that must carry its zone (digest §1.3)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            return parse_w3c(value)
        except ValueError as exc:
            raise fields.ValidationError(str(exc)) from None

    default_error_messages = {"invalid": "not a W3C datetime"}


class CommaList(fields.Field):
    """`a,b,c` as a tuple of non-empty items; the spec's lists carry no spaces, we forgive them."""

    def __init__(self, choices: tuple[str, ...] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise fields.ValidationError("must be a comma-separated list")
        items = tuple(dict.fromkeys(i.strip() for i in value.split(",") if i.strip()))
        if self.choices is not None:
            wrong = [i for i in items if i not in self.choices]
            if wrong:
                raise fields.ValidationError(
                    f"{', '.join(wrong)} not allowed; use {', '.join(self.choices)}"
                )
        return items


class JurisdictionArgs(BaseSchema):
    jurisdiction_id = fields.String(validate=validate.Length(max=255))
    api_key = fields.String()  # accepted and ignored on GET (digest §11)


class RequestsArgs(JurisdictionArgs):
    service_request_id = CommaList(metadata={"description": "comma list; overrides other filters"})
    service_code = CommaList()
    start_date = W3CDateTime()
    end_date = W3CDateTime()
    status = CommaList(choices=tuple(s.value for s in Status))


class RequestForm(BaseSchema):
    """The fixed fields of POST requests; `attribute[...]` answers are read apart."""

    jurisdiction_id = fields.String(validate=validate.Length(max=255))
    service_code = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        error_messages={"required": "service_code was not provided"},
    )
    lat = fields.Float(allow_nan=False, validate=validate.Range(-90, 90))
    long = fields.Float(allow_nan=False, validate=validate.Range(-180, 180))
    address_string = fields.String(validate=validate.Length(max=1000))
    address_id = fields.String(validate=validate.Length(max=255))
    description = fields.String(validate=validate.Length(max=4000))
    media_url = fields.Url(schemes={"http", "https"}, validate=validate.Length(max=2048))
    email = fields.Email(validate=validate.Length(max=254))
    first_name = fields.String(validate=validate.Length(max=255))
    last_name = fields.String(validate=validate.Length(max=255))
    phone = fields.String(validate=validate.Length(max=64))
    device_id = fields.String(validate=validate.Length(max=255))
    account_id = fields.String(validate=validate.Length(max=255))
