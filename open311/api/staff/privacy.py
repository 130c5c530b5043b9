"""Personal data on a person's request, for administrators: erasure and export."""

from __future__ import annotations

from typing import Any

from open311.api import database
from open311.api.media import store
from open311.api.staff.auth import StaffBlueprint, audit_read, staff_required
from open311.api.staff.privacy_schemas import ErasureOut, ExportOut, PersonArgs, PersonBody
from open311.domain import audit, privacy
from open311.values import StaffRole

blp = StaffBlueprint("staff_privacy", __name__, "Staff API: erasure and export of personal data.")


@blp.route("/privacy/erasures", methods=["POST"])
@staff_required(StaffRole.administrator)
@blp.arguments(PersonBody)
@blp.response(201, ErasureOut)
def erase_person(body: dict[str, Any]) -> dict[str, int]:
    """Erase a person (by e-mail address, any case, or as the filer of a request): every
    requester and update-author row of theirs is emptied, their unpublished update photos
    deleted, e-mails queued to them cancelled. The public record stays. The audit entry holds
    the counts, never the address."""
    session = database.session()
    held = privacy.find_person(
        session,
        email=body.get("email"),
        service_request_id=body.get("service_request_id"),
        phone=body.get("phone"),
    )
    outcome = privacy.erase(session, held)
    audit.add_details(session, outcome.counts())
    session.commit()
    privacy.remove_files(store(), outcome.files)
    return outcome.counts()


@blp.route("/privacy/export", methods=["GET"])
@staff_required(StaffRole.administrator)
@blp.arguments(PersonArgs, location="query")
@blp.response(200, ExportOut)
def export_person(args: dict[str, Any]) -> dict[str, Any]:
    """What is held about a person (by e-mail address or as the filer of a request): the
    requests they filed and the updates they posted, with the details they gave. The read is
    written to the audit (never the address)."""
    session = database.session()
    held = privacy.find_person(
        session,
        email=args.get("email"),
        service_request_id=args.get("service_request_id"),
        phone=args.get("phone"),
    )
    document = privacy.export(session, held)
    audit_read("export")
    session.commit()
    return document
