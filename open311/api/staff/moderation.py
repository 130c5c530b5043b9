"""Updates posted by apps, as staff see them, and publishing one to citizens."""

from __future__ import annotations

from open311.api.staff.auth import StaffBlueprint

blp = StaffBlueprint("staff_moderation", __name__, "Staff API: updates posted by apps.")
