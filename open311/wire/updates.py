"""servicerequestupdates items (FixMyStreet's extension, digest §8) as wire payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from open311.wire.datetimes import format_w3c

ROOT = "service_request_updates"


def media_urls(value: Any) -> list[str]:
    """The URLs an activity entry's details.media_url holds: one string, a list, or nothing."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [url for url in value if isinstance(url, str) and url]
    return []


def media_field(urls: list[str]) -> str | list[str]:
    """FixMyStreet's media_url: always present, "" when none, one string, or a list when
    several (XML repeats the element, JSON gives an array; digest §8.1, §10.18)."""
    if not urls:
        return ""
    return urls[0] if len(urls) == 1 else urls


def update_item(
    update_id: int,
    service_request_id: str,
    status: str,
    updated: datetime,
    description: str | None,
    media: Any,
) -> dict[str, Any]:
    """One request_update in the field order of digest §8.1; description may be ""."""
    return {
        "update_id": str(update_id),
        "service_request_id": service_request_id,
        "status": status,
        "updated_datetime": format_w3c(updated),
        "description": description or "",
        "media_url": media_field(media_urls(media)),
    }


def post_answer(update_id: int, account_id: str | None) -> list[dict[str, Any]]:
    """POST's answer: the server's id of the stored update, and the client's account_id back
    when it sent one (as POST requests does)."""
    item: dict[str, Any] = {"update_id": str(update_id)}
    if account_id:
        item["account_id"] = account_id
    return [item]
