"""The SQL of hotspots: DBSCAN clusters of requests' points, in metres (domain/hotspots.py).

PostGIS's ST_ClusterDBSCAN runs as a window function over the filtered requests' points,
transformed to the UTM zone the caller names: distances in a geographic CRS would be degrees,
and a degree of longitude in Los Angeles is 92 km while one of latitude is 111 km. Within a
zone, UTM's scale error is under 0.1%, so `eps` metres on the map are `eps` metres on the
ground to the decimetre at the radii allowed.

Only public rows and fields are read: the blackbox services' requests are left out unless the
settings publish them (domain/publication.py), and the requester's table is never joined.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from open311.values import ServiceType, Status


@dataclass(frozen=True)
class HotspotFilter:
    """Which requests are clustered: one city, a window of requested_datetime (both ends
    included), optionally some service codes, one status and a box (WGS84 degrees)."""

    jurisdiction_pk: int
    start: datetime
    end: datetime
    service_codes: tuple[str, ...] = ()
    status: Status | None = None
    bbox: tuple[float, float, float, float] | None = None
    blackbox: bool = False


@dataclass(frozen=True)
class ClusterRow:
    """One cluster as the statement returns it (centre in WGS84, extent in metres)."""

    count: int
    long: float
    lat: float
    extent_m: float
    first_requested: datetime
    last_requested: datetime
    service_request_ids: list[str]
    service_codes: dict[str, int]


def _where(spec: HotspotFilter) -> tuple[str, dict[str, Any]]:
    """The WHERE clause over `service_request r` and its parameters."""
    params: dict[str, Any] = {
        "jurisdiction_pk": spec.jurisdiction_pk,
        "start": spec.start,
        "end": spec.end,
    }
    where = [
        "r.jurisdiction_id = :jurisdiction_pk",
        "r.location IS NOT NULL",
        "r.requested_datetime >= :start",
        "r.requested_datetime <= :end",
    ]
    if not spec.blackbox:
        # As search_queries' _PUBLISHED_SERVICE: a filter that leaves the scan to the others.
        where.append(
            "r.service_id NOT IN (SELECT id FROM service WHERE jurisdiction_id = :jurisdiction_pk"
            f" AND type = '{ServiceType.blackbox.value}')"
        )
    if spec.service_codes:
        where.append(
            "r.service_id IN (SELECT id FROM service WHERE jurisdiction_id = :jurisdiction_pk"
            " AND service_code = ANY(:codes))"
        )
        params["codes"] = list(spec.service_codes)
    if spec.status is not None:
        # A literal from the enum, so the partial index on open rows can be matched.
        where.append(f"r.status = '{Status(spec.status).value}'")
    if spec.bbox is not None:
        west, south, east, north = spec.bbox
        where.append("r.location && ST_MakeEnvelope(:west, :south, :east, :north, 4326)")
        where.append("ST_X(r.location) BETWEEN :west AND :east")
        where.append("ST_Y(r.location) BETWEEN :south AND :north")
        params |= {"west": west, "south": south, "east": east, "north": north}
    return " AND ".join(f"({condition})" for condition in where), params


def count_candidates(session: Session, spec: HotspotFilter, cap: int) -> int:
    """How many located requests match, counted up to `cap` + 1 (enough to refuse)."""
    where, params = _where(spec)
    sql = f"SELECT count(*) FROM (SELECT 1 FROM service_request r WHERE {where} LIMIT :cap) s"
    return int(session.execute(text(sql), params | {"cap": cap + 1}).scalar_one())


def centre_of_city(session: Session, jurisdiction_pk: int) -> tuple[float, float] | None:
    """(long, lat) of the centroid of the city's service area, None when it has none."""
    sql = (
        "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(service_area) AS c FROM jurisdiction"
        " WHERE id = :pk AND service_area IS NOT NULL) s"
    )
    row = session.execute(text(sql), {"pk": jurisdiction_pk}).first()
    return (float(row[0]), float(row[1])) if row is not None else None


def centre_of_points(session: Session, spec: HotspotFilter) -> tuple[float, float] | None:
    """(long, lat) of the centre of the matching points' extent, None when none match."""
    where, params = _where(spec)
    sql = (
        "SELECT (ST_XMin(e) + ST_XMax(e)) / 2, (ST_YMin(e) + ST_YMax(e)) / 2"
        f" FROM (SELECT ST_Extent(r.location) AS e FROM service_request r WHERE {where}) s"
        " WHERE e IS NOT NULL"
    )
    row = session.execute(text(sql), params).first()
    return (float(row[0]), float(row[1])) if row is not None else None


_CLUSTERS = """
WITH candidates AS MATERIALIZED (
    SELECT r.id, r.service_request_id, s.service_code, r.requested_datetime,
           ST_Transform(r.location, {srid}) AS point
    FROM service_request r JOIN service s ON s.id = r.service_id
    WHERE {where}
), clustered AS MATERIALIZED (
    SELECT c.*, ST_ClusterDBSCAN(c.point, eps := :eps, minpoints := :min_points) OVER () AS k
    FROM candidates c
), clusters AS (
    SELECT k, count(*) AS n, ST_Centroid(ST_Collect(point)) AS centre,
           min(requested_datetime) AS first_requested, max(requested_datetime) AS last_requested,
           (array_agg(service_request_id ORDER BY requested_datetime DESC, id DESC))[1:{ids}]
               AS ids,
           max(id) AS newest_pk
    FROM clustered WHERE k IS NOT NULL GROUP BY k
    ORDER BY n DESC, last_requested DESC, newest_pk DESC
    LIMIT :limit
), extents AS (
    SELECT m.k, max(ST_Distance(m.point, t.centre)) AS extent_m
    FROM clustered m JOIN clusters t USING (k) GROUP BY m.k
), codes AS (
    SELECT k, json_object_agg(service_code, n ORDER BY n DESC, service_code) AS codes
    FROM (SELECT m.k, m.service_code, count(*) AS n
          FROM clustered m JOIN clusters t USING (k) GROUP BY m.k, m.service_code) per_code
    GROUP BY k
)
SELECT t.n, ST_X(ST_Transform(t.centre, 4326)), ST_Y(ST_Transform(t.centre, 4326)),
       e.extent_m, t.first_requested, t.last_requested, t.ids, c.codes
FROM clusters t JOIN extents e USING (k) JOIN codes c USING (k)
ORDER BY t.n DESC, t.last_requested DESC, t.newest_pk DESC
"""


def find_clusters(
    session: Session,
    spec: HotspotFilter,
    *,
    srid: int,
    radius_m: float,
    min_requests: int,
    limit: int,
    ids_per_cluster: int,
) -> list[ClusterRow]:
    """The clusters of at least `min_requests` points (each a core point's neighbours within
    `radius_m`, itself included, as PostGIS counts them), largest first, at most `limit`;
    each with its newest `ids_per_cluster` ids. `srid` is a metric CRS (a UTM zone)."""
    where, params = _where(spec)
    sql = _CLUSTERS.format(srid=int(srid), where=where, ids=int(ids_per_cluster))
    params |= {"eps": radius_m, "min_points": min_requests, "limit": limit}
    return [
        ClusterRow(
            count=int(n),
            long=float(long),
            lat=float(lat),
            extent_m=float(extent),
            first_requested=first,
            last_requested=last,
            service_request_ids=list(ids),
            service_codes=dict(codes),
        )
        for n, long, lat, extent, first, last, ids, codes in session.execute(text(sql), params)
    ]
