"""The crew member's board (/staff/crew): my work orders, nearest first, on a phone."""

from __future__ import annotations

from open311.web.pages import page_blueprint

blp = page_blueprint("console_crew", __name__, url_prefix="/staff")
