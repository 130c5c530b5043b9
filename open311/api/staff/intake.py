"""Call-taker intake (filing for a caller after a look-up nearby) and duplicates (confirm, undo,
merge)."""

from __future__ import annotations

from open311.api.staff.auth import StaffBlueprint

blp = StaffBlueprint("staff_intake", __name__, "Staff API: intake for callers and duplicates.")
