"""A request's public page: /requests/<id> (and by a batch token)."""

from __future__ import annotations

from open311.web.pages import page_blueprint

blp = page_blueprint("request_pages", __name__)
