"""Hotspots as open data: GET /open311/v2/stats/hotspots.geojson (README: Hotspots).

Clusters of published requests (domain/hotspots.py) as a GeoJSON FeatureCollection, largest
first (`.json`: the same document as application/json); errors as the GeoReport error list
in JSON. The answer is computed on each call, so it is as fresh as the data; it may be cached
for CACHE_SECONDS and carries an ETag of its body (a repeated call with If-None-Match gets
304). Each call counts against the exports' rate limit: one clustering can read up to
100,000 points.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Response, g, request
from marshmallow import fields, validate

from open311 import clock
from open311.api import database, ratelimits
from open311.api.georeport_base import GeoReportBlueprint
from open311.api.schemas import BBox, CommaList, JurisdictionArgs, W3CDateTime
from open311.domain import hotspots, jurisdictions
from open311.values import Status
from open311.wire import geojson
from open311.wire import hotspots as hotspots_wire
from open311.wire.formats import CONTENT_TYPES

# Shorter than the statistics' refresh: a hotspot map is looked at again within minutes.
CACHE_SECONDS = 60

blp = GeoReportBlueprint(
    "hotspots",
    __name__,
    description="Hotspots: clusters of repeated reports of the same problem, as GeoJSON.",
    path="/stats",
    # .json: the same document as application/json, for tools that take JSON and no GeoJSON.
    formats=("geojson", "json"),
    format_name="hotspots format",
    error_format="json",
)
blp.before_request(ratelimits.limit_exports)


class HotspotArgs(JurisdictionArgs):
    service_code = CommaList(metadata={"description": "comma list of service codes"})
    status = fields.String(validate=validate.OneOf([s.value for s in Status]))
    radius_m = fields.Float(
        allow_nan=False,
        validate=validate.Range(0, hotspots.MAX_RADIUS_M, min_inclusive=False),
        metadata={"description": f"metres (default {hotspots.DEFAULT_RADIUS_M:.0f})"},
    )
    min_requests = fields.Integer(
        validate=validate.Range(2, hotspots.MAX_MIN_REQUESTS),
        metadata={"description": f"per hotspot (default {hotspots.DEFAULT_MIN_REQUESTS})"},
    )
    start_date = W3CDateTime()
    end_date = W3CDateTime()
    bbox = BBox(metadata={"description": "minLng,minLat,maxLng,maxLat (WGS84 degrees)"})
    limit = fields.Integer(
        validate=validate.Range(1, hotspots.MAX_LIMIT),
        metadata={"description": f"hotspots at most (default {hotspots.DEFAULT_LIMIT})"},
    )


@blp.route("/hotspots.<fmt>", methods=["GET"])
@blp.arguments(HotspotArgs, location="query", as_kwargs=True)
def list_hotspots(
    jurisdiction_id: str | None = None,
    service_code: tuple[str, ...] = (),
    status: str | None = None,
    radius_m: float = hotspots.DEFAULT_RADIUS_M,
    min_requests: int = hotspots.DEFAULT_MIN_REQUESTS,
    start_date: Any = None,
    end_date: Any = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = hotspots.DEFAULT_LIMIT,
    **_args: Any,
) -> Response:
    """Hotspots: DBSCAN clusters of published requests, largest first (README: Hotspots)."""
    session = database.session()
    jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
    found = hotspots.find(
        session,
        jurisdiction,
        now=_next_minute(clock.now()),
        service_codes=service_code,
        status=Status(status) if status else None,
        radius_m=radius_m,
        min_requests=min_requests,
        start=start_date,
        end=end_date,
        bbox=bbox,
        limit=limit,
    )
    body = hotspots_wire.feature_collection(
        found.hotspots,
        start=found.start,
        end=found.end,
        radius_m=found.radius_m,
        min_requests=found.min_requests,
        requests_considered=found.requests_considered,
    )
    kind = g.representation
    content_type = geojson.CONTENT_TYPE if kind == "geojson" else CONTENT_TYPES[kind]
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response.add_etag()
    return response.make_conditional(request)


def _next_minute(now: datetime) -> datetime:
    """The default window ends at the next whole minute: it holds every request filed so far,
    and stays the same (the body, and so its ETag) for a minute while nothing new comes in."""
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)
