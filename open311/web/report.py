"""Filing a request from the browser: /report, a form generated from the service definition."""

from __future__ import annotations

from open311.web.pages import page_blueprint

blp = page_blueprint("report", __name__)
