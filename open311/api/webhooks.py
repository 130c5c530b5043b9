"""Webhook subscriptions of an API client, with its own key (issue 6)."""

from __future__ import annotations

from open311.api.smorest import Blueprint

blp = Blueprint(
    "webhooks",
    __name__,
    url_prefix="/open311/v2",
    description="Webhook subscriptions of the API client whose api_key is given.",
)
