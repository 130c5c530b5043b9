"""Hotspots as GeoJSON (RFC 7946): a FeatureCollection of the clusters' centre points.

Each Feature's geometry is the centroid of its requests, `[long, lat]`; its properties are the
count, the extent (`radius_m`: the farthest request from the centre, in metres), the first and
last requested_datetime, the count per service_code and the newest ids (`count` says how many
there are in all). The collection carries what was asked and how many requests were clustered
as foreign members (RFC 7946 §6.1), so a map can say what it shows. No hull geometry: the
centre and radius place a marker, and the ids fetch the requests themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from open311.wire.datetimes import format_w3c
from open311.wire.formats import render_json


class HotspotFields(Protocol):
    count: int
    long: float
    lat: float
    radius_m: float
    first_requested_datetime: datetime
    last_requested_datetime: datetime
    service_request_ids: list[str]
    service_codes: dict[str, int]


def feature(hotspot: HotspotFields) -> dict[str, Any]:
    """One hotspot as a Point Feature; coordinates to 7 decimals (1 cm), radius to the cm."""
    return {
        "type": "Feature",
        "geometry": {
            "type": "Point",
            "coordinates": [round(hotspot.long, 7), round(hotspot.lat, 7)],
        },
        "properties": {
            "count": hotspot.count,
            "radius_m": round(hotspot.radius_m, 2),
            "first_requested_datetime": format_w3c(hotspot.first_requested_datetime),
            "last_requested_datetime": format_w3c(hotspot.last_requested_datetime),
            "service_codes": dict(hotspot.service_codes),
            "service_request_ids": list(hotspot.service_request_ids),
        },
    }


def feature_collection(
    hotspots: Iterable[HotspotFields],
    *,
    start: datetime,
    end: datetime,
    radius_m: float,
    min_requests: int,
    requests_considered: int,
) -> bytes:
    """The document: the Features largest first, as given, and the query they answer."""
    return render_json(
        {
            "type": "FeatureCollection",
            "features": [feature(h) for h in hotspots],
            "start_date": format_w3c(start),
            "end_date": format_w3c(end),
            "radius_m": radius_m,
            "min_requests": min_requests,
            "requests_considered": requests_considered,
        }
    )
