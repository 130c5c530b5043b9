"""Bodies and answers of the administration of jurisdictions (the cities this server serves)."""

from __future__ import annotations

from zoneinfo import available_timezones

from marshmallow import Schema, fields, validate

from open311.api.smorest import StaffBody

# Stated in the document as the domain checks them, so a client knows before it sends.
ZONES = validate.OneOf(sorted(available_timezones()), error="not an IANA time zone")
NAME = [validate.Length(min=1, max=255), validate.Regexp(r"\S", error="not blank")]
URL = [validate.URL(schemes={"http", "https"}, require_tld=False), validate.Length(max=255)]


class JurisdictionChangeBody(StaffBody):
    name = fields.String(validate=NAME)
    time_zone = fields.String(validate=ZONES, metadata={"description": "IANA zone"})
    public_url = fields.String(
        allow_none=True,
        validate=URL,
        metadata={"description": "discovery's endpoint URL (null: OPEN311_PUBLIC_URL)"},
    )
    contact = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "discovery's contact (null: OPEN311_CONTACT)"},
    )
    duplicate_radius_m = fields.Float(validate=validate.Range(min=0, max=10_000))
    duplicate_window_hours = fields.Float(validate=validate.Range(min=0, max=24 * 365))
    holiday_country = fields.String(allow_none=True, validate=validate.Length(equal=2))
    holiday_subdivision = fields.String(allow_none=True, validate=validate.Length(max=8))
    default = fields.Boolean(
        validate=validate.Equal(True, error="true only: make another the default instead"),
        metadata={"description": "true: GeoReport calls without jurisdiction_id mean it"},
    )
    # The languages its public texts are served in (BCP 47, canonicalised; domain/translations).
    locales = fields.List(
        fields.String(validate=validate.Length(min=1, max=35)),
        validate=validate.Length(min=1, max=100),
        metadata={"description": "BCP 47 tags such as en, es-MX; the default among them"},
    )
    default_locale = fields.String(
        validate=validate.Length(min=1, max=35),
        metadata={"description": "the language its catalogue is written in"},
    )


class NewJurisdictionBody(JurisdictionChangeBody):
    jurisdiction_id = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=255), validate.Regexp(r"^\S+$", error="no spaces")],
        metadata={"description": "its web domain, e.g. nyc.gov"},
    )
    name = fields.String(required=True, validate=NAME)
    time_zone = fields.String(required=True, validate=ZONES)
    default = fields.Boolean(load_default=False)


class JurisdictionOut(Schema):
    jurisdiction_id = fields.String()
    name = fields.String()
    time_zone = fields.String()
    default = fields.Boolean(attribute="is_default")
    public_url = fields.String(allow_none=True)
    contact = fields.String(allow_none=True)
    duplicate_radius_m = fields.Float()
    duplicate_window_hours = fields.Float()
    holiday_country = fields.String(allow_none=True)
    holiday_subdivision = fields.String(allow_none=True)
    locales = fields.List(fields.String())
    default_locale = fields.String()
