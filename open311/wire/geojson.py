"""GeoJSON (RFC 7946) of service requests: a FeatureCollection of Point features.

No standard defines GeoJSON for GeoReport (digest §9.4), so this follows the digest's
suggestion: geometry `[long, lat]` (null when the request has no location) and the request's
public fields, exactly as `.json` renders them, as `properties`. The database writes each
Feature (open311.db.search_queries); `feature`/`feature_collection` are the reference that text
is tested against byte for byte, and `join_features` puts the collection around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from open311.wire.formats import enclose, render_json

CONTENT_TYPE = "application/geo+json; charset=utf-8"
COLLECTION_HEAD = b'{"type":"FeatureCollection","features":['
COLLECTION_TAIL = b"]}"


def feature(item: dict[str, Any]) -> dict[str, Any]:
    """One request item (GeoReport fields, in order) as a Feature whose id is its id."""
    lat, long = item.get("lat"), item.get("long")
    geometry = None
    if lat is not None and long is not None:
        geometry = {"type": "Point", "coordinates": [long, lat]}
    return {
        "type": "Feature",
        "id": item["service_request_id"],
        "geometry": geometry,
        "properties": item,
    }


def feature_collection(items: Iterable[dict[str, Any]]) -> bytes:
    return render_json({"type": "FeatureCollection", "features": [feature(i) for i in items]})


def join_features(features: Sequence[bytes]) -> bytes:
    """A FeatureCollection around Features already rendered as UTF-8 JSON (by the database)."""
    return enclose(COLLECTION_HEAD, features, COLLECTION_TAIL)
