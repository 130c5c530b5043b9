"""Arguments and answers of the audit of staff changes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from open311.api.schemas import W3CDateTime
from open311.api.smorest import BaseSchema

MAX_LIMIT = 500


class AuditArgs(BaseSchema):
    actor = fields.String(validate=validate.Length(max=255), metadata={"description": "staff:NAME"})
    since = W3CDateTime(metadata={"description": "entries at or after this W3C datetime"})
    before_id = fields.Integer(validate=validate.Range(min=1), metadata={"description": "paging"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_LIMIT))


class AuditEntryOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    method = fields.String()
    route = fields.String()
    path = fields.String()
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields")
    details = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "counts a privacy erasure or retention run reports"},
    )
