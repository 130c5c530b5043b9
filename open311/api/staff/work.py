"""Working requests: crew queues, work-order transitions, reassignment, notes, locating and
cancelling requests."""

from __future__ import annotations

from open311.api.staff.auth import StaffBlueprint

blp = StaffBlueprint("staff_work", __name__, "Staff API: queues, work orders and requests.")
