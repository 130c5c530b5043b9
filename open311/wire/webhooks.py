"""Webhook formats: event payloads, the signed body and headers, and subscription areas.

Payloads hold only what GET requests shows of a request (wire.georeport.request_item) and what
the public updates feed shows of an update: the requester's personal data never reaches these
functions' inputs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from datetime import datetime
from typing import Any, Protocol

from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry

from open311.values import EventKind, SubscriptionScope
from open311.wire.datetimes import format_w3c
from open311.wire.georeport import RequestLike, request_item

ALL_EVENTS = tuple(kind.value for kind in EventKind)
SIGNATURE_PREFIX = "sha256="


class EntryLike(Protocol):
    """What an update event shows of a public activity entry."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str | None: ...
    @property
    def summary(self) -> str: ...
    @property
    def at(self) -> datetime: ...


class SubscriptionLike(Protocol):
    """What a subscription item shows (the secret only when given separately)."""

    @property
    def id(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def events(self) -> list[str]: ...
    @property
    def scope(self) -> SubscriptionScope: ...
    @property
    def area_shape(self) -> MultiPolygon | None: ...
    @property
    def active(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def api_client_id(self) -> int: ...
    @property
    def created_by(self) -> str: ...


def _plain(value: Any) -> Any:
    return format_w3c(value) if isinstance(value, datetime) else value


def request_fields(request: RequestLike) -> dict[str, Any]:
    """The request as GET requests/<id>.json shows it, with datetimes as W3C text (JSONB)."""
    return {key: _plain(value) for key, value in request_item(request).items()}


def event_payload(
    kind: str,
    request_fields: dict[str, Any],
    entry: EntryLike,
    *,
    previous_status: str | None = None,
) -> dict[str, Any]:
    """What an OutboxEvent stores and every delivery of it sends (plus delivery_id, event and
    timestamp, added at sending). Updates carry the entry as servicerequestupdates shows it."""
    payload: dict[str, Any] = {
        "event": kind,
        "occurred_at": format_w3c(entry.at),
        "service_request": request_fields,
    }
    if kind != EventKind.request_created:
        payload["update"] = {
            "update_id": str(entry.id),
            "status": entry.status,
            "description": entry.summary,
            "updated_datetime": format_w3c(entry.at),
        }
    if kind == EventKind.status_changed:
        payload["previous_status"] = previous_status
    return payload


def body(payload: dict[str, Any], *, delivery_id: str, kind: str, timestamp: int) -> bytes:
    """The exact bytes POSTed and signed. `timestamp` (unix seconds) is the same number as the
    X-Open311-Timestamp header, so it is covered by the signature."""
    document = {"delivery_id": delivery_id, "event": kind, "timestamp": timestamp, **payload}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, content: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the body with the subscription's secret>`."""
    digest = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def headers(*, delivery_id: str, kind: str, timestamp: int, signed: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "open311-webhooks",
        "X-Open311-Delivery": delivery_id,
        "X-Open311-Event": kind,
        "X-Open311-Timestamp": str(timestamp),
        "X-Open311-Signature": signed,
    }


# --- subscription arguments -----------------------------------------------------------------


def parse_events(values: list[str]) -> list[str]:
    """Event kinds from comma lists and/or repeated values; none given means all of them."""
    kinds: list[str] = []
    for value in values:
        for part in value.split(","):
            word = part.strip()
            if not word:
                continue
            if word not in ALL_EVENTS:
                raise ValueError(f"unknown event {word[:40]!r}; events: {', '.join(ALL_EVENTS)}")
            if word not in kinds:
                kinds.append(word)
    return kinds or list(ALL_EVENTS)


def parse_area(value: Any) -> MultiPolygon:
    """A subscription's area: a GeoJSON Polygon/MultiPolygon (object or JSON text, WGS 84) or a
    bbox `minLng,minLat,maxLng,maxLat`. Raises ValueError saying what is wrong."""
    if isinstance(value, str) and not value.lstrip().startswith("{"):
        geometry = _bbox(value)
    else:
        geometry = _geojson(value)
    if geometry.is_empty or not geometry.is_valid:
        raise ValueError("area: the polygon is empty or invalid (self-intersecting?)")
    minx, miny, maxx, maxy = geometry.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise ValueError("area: coordinates must be longitude, latitude in WGS 84")
    return geometry if isinstance(geometry, MultiPolygon) else MultiPolygon([geometry])


def _bbox(text: str) -> Polygon:
    parts = text.split(",")
    try:
        min_lng, min_lat, max_lng, max_lat = (float(part) for part in parts)
    except ValueError:
        raise ValueError(
            "area: a GeoJSON Polygon or MultiPolygon, or a bbox minLng,minLat,maxLng,maxLat"
        ) from None
    if not all(map(math.isfinite, (min_lng, min_lat, max_lng, max_lat))):
        raise ValueError("area: bbox numbers must be finite")
    if min_lng >= max_lng or min_lat >= max_lat:
        raise ValueError("area: bbox must be minLng,minLat,maxLng,maxLat with min < max")
    return box(min_lng, min_lat, max_lng, max_lat)


def _geojson(value: Any) -> BaseGeometry:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("area: not valid JSON") from None
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValueError("area: GeoJSON must be a Polygon or a MultiPolygon geometry")
    try:
        return shape(value)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        raise ValueError("area: the GeoJSON coordinates are malformed") from None


def subscription_item(
    subscription: SubscriptionLike, *, secret: str | None = None, staff: bool = False
) -> dict[str, Any]:
    """A subscription as its client sees it; the secret only in the answer that created it.
    Staff also see whose it is and who made it."""
    item: dict[str, Any] = {
        "id": subscription.id,
        "url": subscription.url,
        "events": list(subscription.events),
        "scope": subscription.scope.value,
        "area": mapping(area) if (area := subscription.area_shape) is not None else None,
        "active": subscription.active,
        "created_at": format_w3c(subscription.created_at),
    }
    if staff:
        item["api_client_id"] = subscription.api_client_id
        item["created_by"] = subscription.created_by
    if secret is not None:
        item["secret"] = secret
    return item
