"""Webhook subscriptions of any client, and deliveries: parked ones and their replay (issue 6)."""

from __future__ import annotations

from open311.api.staff.auth import StaffBlueprint

blp = StaffBlueprint("staff_deliveries", __name__, "Staff API: webhooks and deliveries.")
