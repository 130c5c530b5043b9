"""Bodies and answers of signing in and of the administration of staff users."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from open311.api.smorest import StaffBody
from open311.domain.staff import MIN_PASSWORD_LENGTH, USERNAME
from open311.values import StaffRole

ROLES = [role.value for role in StaffRole]


class LoginBody(StaffBody):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


# What domain.staff checks, stated here too so that the document says it (/openapi.json).
PASSWORD = [
    validate.Length(min=MIN_PASSWORD_LENGTH, error="at least {min} characters"),
    validate.Length(max=1024),
]
USERNAME_RULE = validate.Regexp(
    USERNAME, error="2 to 64 characters, lower-case letters, digits, '.', '_' or '-'"
)


class NewUserBody(StaffBody):
    username = fields.String(required=True, validate=USERNAME_RULE)
    password = fields.String(required=True, validate=PASSWORD)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    display_name = fields.String(validate=validate.Length(min=1, max=255))
    crew_ids = fields.List(fields.Integer(), load_default=list)
    jurisdiction_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=255)),
        metadata={"description": "the user's cities (default: the administrator's own)"},
    )


class UserChangeBody(StaffBody):
    display_name = fields.String(validate=validate.Length(min=1, max=255))
    role = fields.String(validate=validate.OneOf(ROLES))
    crew_ids = fields.List(fields.Integer())
    jurisdiction_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=255)), validate=validate.Length(min=1)
    )
    active = fields.Boolean()
    password = fields.String(validate=PASSWORD)


class UserCrewOut(Schema):
    """A crew a user belongs to."""

    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    agency = fields.String(attribute="agency.code")
    kind = fields.String()


class UserOut(Schema):
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    active = fields.Boolean()
    crews = fields.List(fields.Nested(UserCrewOut))
    jurisdiction_ids = fields.Function(
        lambda user: [city.jurisdiction_id for city in user.jurisdictions]
    )
    created_at = fields.DateTime()


class TokenOut(Schema):
    """A bearer token just issued (an accounts.NewToken): its text is shown this once."""

    token = fields.String()
    token_prefix = fields.String(attribute="issued.token_prefix")
    expires_at = fields.DateTime(attribute="issued.expires_at")
    user = fields.Nested(UserOut, attribute="issued.user")
