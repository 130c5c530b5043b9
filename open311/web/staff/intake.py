"""The call-taker's intake (/staff/intake): one screen for a call."""

from __future__ import annotations

from open311.web.pages import page_blueprint

blp = page_blueprint("console_intake", __name__, url_prefix="/staff")
