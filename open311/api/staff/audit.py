"""The audit of staff changes, for administrators: who changed what, when."""

from __future__ import annotations

from typing import Any

from open311.api import database
from open311.api.staff.audit_schemas import AuditArgs, AuditEntryOut
from open311.api.staff.auth import StaffBlueprint, staff_required
from open311.db import staff_queries
from open311.db.models import AuditEntry
from open311.values import StaffRole

blp = StaffBlueprint("staff_audit", __name__, "Staff API: the audit of staff changes.")


@blp.route("/audit", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditEntryOut(many=True))
def list_audit(args: dict[str, Any]) -> list[AuditEntry]:
    """Every write through the staff API, newest first (page with before_id = the last id)."""
    return list(staff_queries.find_audit_entries(database.session(), **args))
