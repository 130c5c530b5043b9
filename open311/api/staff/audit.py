"""The audit of staff changes, for administrators: who changed what, when."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from open311.api import database
from open311.api.schemas import W3CDateTime
from open311.api.smorest import BaseSchema
from open311.api.staff.auth import StaffBlueprint, staff_required
from open311.db import staff_queries
from open311.db.models import AuditEntry
from open311.values import StaffRole

blp = StaffBlueprint("staff_audit", __name__, "Staff API: the audit of staff changes.")

MAX_LIMIT = 500


class AuditArgs(BaseSchema):
    actor = fields.String(validate=validate.Length(max=255), metadata={"description": "staff:NAME"})
    since = W3CDateTime(metadata={"description": "entries at or after this W3C datetime"})
    before_id = fields.Integer(validate=validate.Range(min=1), metadata={"description": "paging"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_LIMIT))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    method = fields.String()
    route = fields.String()
    path = fields.String()
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields")


@blp.route("/audit", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditEntrySchema(many=True))
def list_audit(args: dict[str, Any]) -> list[AuditEntry]:
    """Every write through the staff API, newest first (page with before_id = the last id)."""
    return list(staff_queries.find_audit_entries(database.session(), **args))
