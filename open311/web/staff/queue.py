"""The supervisor's queues (/staff/queues) and dashboard (/staff/dashboard)."""

from __future__ import annotations

from open311.web.pages import page_blueprint

blp = page_blueprint("console_queue", __name__, url_prefix="/staff")
