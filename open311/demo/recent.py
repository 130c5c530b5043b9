"""Recent demo requests: real MyLA311 reports moved into the last weeks, marked as synthetic.

The imported history ends in January 2020, so GET requests' default window (the last 90 days)
would show a newcomer nothing. The seed therefore adds RECENT_COUNT requests made from real
records: a fixed sample of the extracts (every k-th by SR number) keeps each one's service,
point, address, zipcode, channel and agency, and gets a new id (`RECENT-<seed day>-<n>`), a
requested time spread over the RECENT_DAYS before the seed run, and a description saying it is
synthetic and which real report it was made from. A record closed within its original time to
close stays closed (its updated time moved by the same shift); one that would close after the
seed run is left open. A seed run while any request of the city lies in the window adds nothing,
so repeating the seed changes nothing until the window has emptied again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from open311.db.models import Jurisdiction, ServiceRequest
from open311.demo import myla311
from open311.values import Status

PREFIX = "RECENT-"
RECENT_COUNT = 300
# Well inside GET requests' 90-day default window, so the demo stays lively for a month or two.
RECENT_DAYS = 60
MARK = "Synthetic demo request, made from real MyLA311 report {sr} moved to a recent date."


def add_recent_requests(
    session: Session,
    jurisdiction: Jurisdiction,
    records: Mapping[str, Mapping[str, str]],
    service_ids: Mapping[str, int],
    agencies: Mapping[str, str],
    now: datetime,
) -> list[str]:
    """Insert the recent requests unless the window already holds a request of the city;
    `records` are the raw MyLA311 records by SR number, `now` the seed run's aware moment.
    Adds and flushes only; the caller commits (and places them in districts)."""
    window_start = now - timedelta(days=90)
    present = session.scalar(
        select(func.count())
        .select_from(ServiceRequest)
        .where(
            ServiceRequest.jurisdiction_id == jurisdiction.id,
            ServiceRequest.requested_datetime >= window_start,
        )
    )
    if present:
        return [f"recent requests: none added ({present:,} already in the last 90 days)"]
    located = []
    for sr_number in sorted(records):
        request = myla311.to_city_request(records[sr_number], agencies)
        if request.location is not None and request.request_type in service_ids:
            located.append(request)
    if not located:
        return ["recent requests: none added (no located history to make them from)"]
    step = max(1, len(located) // RECENT_COUNT)
    sample = located[::step][:RECENT_COUNT]
    start = now - timedelta(days=RECENT_DAYS)
    spacing = timedelta(days=RECENT_DAYS) / len(sample)
    day = now.strftime("%Y%m%d")
    rows = [
        _row(request, jurisdiction.id, service_ids[request.request_type], start + spacing * n, now)
        | {"service_request_id": f"{PREFIX}{day}-{n + 1}"}
        for n, request in enumerate(sample)
    ]
    table = ServiceRequest.__table__
    statement = insert(table).on_conflict_do_nothing(index_elements=[table.c.service_request_id])
    session.execute(statement, rows)
    session.flush()
    return [f"recent requests: {len(rows):,} synthetic ({PREFIX}{day}-*), last {RECENT_DAYS} days"]


def _row(
    request: myla311.CityRequest,
    jurisdiction_pk: int,
    service_pk: int,
    requested: datetime,
    now: datetime,
) -> dict[str, Any]:
    took = request.updated_datetime - request.requested_datetime
    closed = request.status is Status.closed and requested + took <= now
    return {
        "jurisdiction_id": jurisdiction_pk,
        "service_id": service_pk,
        "status": Status.closed if closed else Status.open,
        "status_notes": request.status_notes if closed else None,
        "agency_responsible": request.agency_responsible,
        "requested_datetime": requested,
        "updated_datetime": requested + took if closed else requested,
        "description": MARK.format(sr=request.service_request_id),
        "address": request.address,
        "zipcode": request.zipcode,
        "location": request.location,
        "channel": request.channel,
        "attribute_values": {},
    }
