"""Photos served back: GET /media/<name> (issue 6)."""

from __future__ import annotations

from open311.api.smorest import Blueprint

blp = Blueprint("media", __name__, url_prefix="/media", description="Photos of requests.")
