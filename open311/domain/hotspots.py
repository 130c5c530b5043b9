"""Hotspots: places where the same problem is reported again and again (issue 15).

A hotspot is a DBSCAN cluster of published requests' points: a point with at least
`min_requests` points (itself included) within `radius_m` metres is a core point, and a cluster
is the core points linked by that distance plus the points within `radius_m` of them. Distances
are measured in the UTM zone of the city (the centre of its service area; without one, the
centre of the bbox asked for, else of the matching points), so the same city always clusters in
the same projection whatever box is asked for.

The work is bounded before any clustering starts: the window spans at most MAX_SPAN, the radius
at most MAX_RADIUS_M, and more than MAX_REQUESTS matching points is refused (400) rather than
sampled, since a sample would split or miss the very clusters asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from open311.db import hotspot_queries
from open311.db.hotspot_queries import HotspotFilter
from open311.db.models import Jurisdiction
from open311.domain import publication
from open311.domain.requests_window import as_utc
from open311.errors import InvalidInput
from open311.i18n import _
from open311.values import Status

DEFAULT_RADIUS_M = 50.0
MAX_RADIUS_M = 1000.0
DEFAULT_MIN_REQUESTS = 5
MAX_MIN_REQUESTS = 10_000
DEFAULT_SPAN = timedelta(days=90)
MAX_SPAN = timedelta(days=366)
MAX_REQUESTS = 100_000
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# The newest ids each hotspot lists; `count` says how many it holds in all.
IDS_PER_HOTSPOT = 100


@dataclass(frozen=True)
class Hotspot:
    """One cluster: its centre (WGS84), how far its farthest request lies from it (metres),
    how many requests it holds, when the first and last were filed, the newest ids (at most
    IDS_PER_HOTSPOT, newest first) and the count per service_code (largest first)."""

    count: int
    long: float
    lat: float
    radius_m: float
    first_requested_datetime: datetime
    last_requested_datetime: datetime
    service_request_ids: list[str]
    service_codes: dict[str, int]


@dataclass(frozen=True)
class Hotspots:
    """The answer: the hotspots, largest first, with what was asked and what was clustered
    (`srid`: the UTM zone the distances were measured in)."""

    hotspots: list[Hotspot]
    start: datetime
    end: datetime
    radius_m: float
    min_requests: int
    requests_considered: int
    srid: int | None


def window(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The requested_datetime window in UTC: the last DEFAULT_SPAN before `now` without dates,
    DEFAULT_SPAN from or to a single date; reversed or wider than MAX_SPAN is refused."""
    start, end = as_utc(start), as_utc(end)
    if end is None:
        end = start + DEFAULT_SPAN if start is not None else now
    if start is None:
        start = end - DEFAULT_SPAN
    if end < start:
        raise InvalidInput(_("end_date is earlier than start_date"))
    if end - start > MAX_SPAN:
        raise InvalidInput(
            _("start_date and end_date may span at most %(days)s days", days=MAX_SPAN.days)
        )
    return start, end


def utm_srid(long: float, lat: float) -> int:
    """The EPSG code of the WGS84 UTM zone holding (long, lat): 326zz north, 327zz south."""
    zone = min(int((long + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def find(
    session: Session,
    jurisdiction: Jurisdiction,
    *,
    now: datetime,
    service_codes: tuple[str, ...] = (),
    status: Status | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
    min_requests: int = DEFAULT_MIN_REQUESTS,
    start: datetime | None = None,
    end: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Hotspots:
    """The hotspots of `jurisdiction`'s published requests, largest first, at most `limit`.

    Reads only; raises InvalidInput for a window beyond MAX_SPAN or more than MAX_REQUESTS
    matching located requests (narrow the window, the service codes or the box). The
    statement timeout of the caller's connection bounds the rest."""
    if not 0 < radius_m <= MAX_RADIUS_M or not 2 <= min_requests <= MAX_MIN_REQUESTS:
        raise InvalidInput(_("Invalid value."))
    start, end = window(start, end, now)
    spec = HotspotFilter(
        jurisdiction_pk=jurisdiction.id,
        start=start,
        end=end,
        service_codes=tuple(service_codes),
        status=status,
        bbox=bbox,
        blackbox=publication.publishes_blackbox(session),
    )
    considered = hotspot_queries.count_candidates(session, spec, MAX_REQUESTS)
    if considered > MAX_REQUESTS:
        raise InvalidInput(
            _(
                "more than %(cap)s requests match; narrow start_date and end_date, "
                "service_code or bbox",
                cap=f"{MAX_REQUESTS:,}",
            )
        )
    found: list[Hotspot] = []
    srid = None
    if considered >= min_requests:
        srid = utm_srid(*_centre(session, spec))
        rows = hotspot_queries.find_clusters(
            session,
            spec,
            srid=srid,
            radius_m=radius_m,
            min_requests=min_requests,
            limit=limit,
            ids_per_cluster=IDS_PER_HOTSPOT,
        )
        found = [
            Hotspot(
                count=row.count,
                long=row.long,
                lat=row.lat,
                radius_m=row.extent_m,
                first_requested_datetime=row.first_requested,
                last_requested_datetime=row.last_requested,
                service_request_ids=row.service_request_ids,
                service_codes=row.service_codes,
            )
            for row in rows
        ]
    return Hotspots(found, start, end, radius_m, min_requests, considered, srid)


def _centre(session: Session, spec: HotspotFilter) -> tuple[float, float]:
    """Where the projection is chosen: the city's service area, else the box, else the points."""
    centre = hotspot_queries.centre_of_city(session, spec.jurisdiction_pk)
    if centre is None and spec.bbox is not None:
        west, south, east, north = spec.bbox
        centre = ((west + east) / 2, (south + north) / 2)
    if centre is None:
        centre = hotspot_queries.centre_of_points(session, spec)
    assert centre is not None, "called with matching points only"
    return centre
