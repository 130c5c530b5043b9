"""Duplicates as SQL: open requests of a service near a point, and the links between requests.

Why one statement per question, on the partial GiST index: intake asks "is this a repeat?" on
every located POST, so it must cost an index probe, not a scan. The query says
`status = 'open'` literally (the partial index ix_service_request_location_open covers open
rows only, and the planner matches it against a constant), narrows with `location &&` a box
that surely holds the circle (request_search.near_box), then keeps what the exact spheroid
test `ST_DWithin` on geography accepts and orders by the exact distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from open311.db.models import ServiceRequest
from open311.db.search_queries import Near, near_box
from open311.values import Status


@dataclass(frozen=True)
class Nearby:
    """An open request near a point: its row id, the request it is linked to (if any), how
    far it is, and how many requests are linked to it as duplicates."""

    id: int
    service_request_id: str
    duplicate_of_pk: int | None
    distance_m: float
    status: str
    address: str | None
    description: str | None
    requested_datetime: datetime
    duplicates: int


_NEARBY_SQL = """
SELECT r.id, r.service_request_id, r.duplicate_of_pk,
       ST_Distance(r.location::geography, p.point::geography) AS distance_m,
       r.status, r.address, r.description, r.requested_datetime,
       (SELECT count(*) FROM service_request d WHERE d.duplicate_of_pk = r.id) AS duplicates
FROM service_request r,
     (SELECT ST_SetSRID(ST_MakePoint(:long, :lat), 4326) AS point) p
WHERE r.status = '{open}'
  AND r.location && ST_MakeEnvelope(:west, :south, :east, :north, 4326)
  AND ST_DWithin(r.location::geography, p.point::geography, :radius)
  AND r.jurisdiction_id = :jurisdiction
  AND r.service_id = :service
  {more}
ORDER BY distance_m, r.requested_datetime, r.id
LIMIT :limit"""


def nearby_sql(
    *,
    jurisdiction_pk: int,
    service_pk: int,
    lat: float,
    long: float,
    radius_m: float,
    since: datetime | None = None,
    until: datetime | None = None,
    exclude_pk: int | None = None,
    limit: int = 1,
) -> tuple[str, dict[str, Any]]:
    """The statement of find_open_nearby and its parameters (for the EXPLAIN test too)."""
    west, south, east, north = near_box(Near(lat, long, radius_m))
    params: dict[str, Any] = {
        "lat": lat,
        "long": long,
        "radius": radius_m,
        "west": west,
        "south": south,
        "east": east,
        "north": north,
        "jurisdiction": jurisdiction_pk,
        "service": service_pk,
        "limit": limit,
    }
    more = []
    if since is not None:
        more.append("AND r.requested_datetime >= :since")
        params["since"] = since
    if until is not None:
        more.append("AND r.requested_datetime <= :until")
        params["until"] = until
    if exclude_pk is not None:
        more.append("AND r.id <> :exclude")
        params["exclude"] = exclude_pk
    return _NEARBY_SQL.format(more="\n  ".join(more), open=Status.open), params


def find_open_nearby(session: Session, **criteria: Any) -> list[Nearby]:
    """Open requests of one service within `radius_m` metres of (lat, long), nearest first
    (then oldest); optionally only those requested in [since, until], never `exclude_pk`.
    Keywords as nearby_sql."""
    sql, params = nearby_sql(**criteria)
    rows = session.execute(text(sql), params)
    return [Nearby(*row) for row in rows]


def lock_requests(session: Session, pks: Sequence[int]) -> Sequence[ServiceRequest]:
    """Lock the requests (FOR NO KEY UPDATE) in id order, so two merges cannot deadlock, and
    re-read them: of two supervisors merging at once, the second sees what the first did.
    NO KEY, as work_queries.lock_request: a merge waits for a work order an escalation holds,
    and that escalation's activity entry (a row referring to the request) must not wait for
    the merge."""
    return session.scalars(
        select(ServiceRequest)
        .where(ServiceRequest.id.in_(list(pks)))
        .order_by(ServiceRequest.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).all()


def share_lock_request(session: Session, pk: int) -> ServiceRequest | None:
    """The request re-read under FOR SHARE: a merge or a close of it under way is waited for
    (and seen), and none can start until this transaction ends."""
    return session.scalar(
        select(ServiceRequest)
        .where(ServiceRequest.id == pk)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )


def find_duplicates_of(session: Session, parent_pk: int) -> Sequence[ServiceRequest]:
    """The requests linked to `parent_pk` (suspected or confirmed), oldest first."""
    return session.scalars(
        select(ServiceRequest)
        .where(ServiceRequest.duplicate_of_pk == parent_pk)
        .order_by(ServiceRequest.id)
    ).all()
