"""Catalogue administration: services and definitions, routing rules, workflows, agencies, crews,
API clients (administrators)."""

from __future__ import annotations

from open311.api.staff.auth import StaffBlueprint

blp = StaffBlueprint("staff_catalogue", __name__, "Staff API: catalogue administration.")
