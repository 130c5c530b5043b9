"""FixMyStreet's servicerequestupdates (GET the public updates feed, POST an app's update)."""

from __future__ import annotations

from open311.api.smorest import Blueprint

blp = Blueprint(
    "updates",
    __name__,
    url_prefix="/open311/v2",
    description="Request updates (FixMyStreet extension): the public feed and app updates.",
)
