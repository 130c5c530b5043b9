"""Seed the demo city: Los Angeles, its authored catalogue and ~30k real MyLA311 requests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from open311 import clock
from open311.config import geodata_dir
from open311.db import bulk, district_queries, request_queries
from open311.db.models import Jurisdiction
from open311.demo import myla311
from open311.demo.catalogue import ensure_jurisdiction, load_catalogue, sync_services
from open311.demo.los_angeles_languages import seed_los_angeles_languages
from open311.demo.operations import seed_operations
from open311.demo.recent import add_recent_requests
from open311.demo.synthetic import SyntheticSpec, load_synthetic_requests

CITY_DIR = "los-angeles"
# Oldest first: if an SR number ever appeared in two extracts, the earlier one would win.
HISTORY_FILES = (
    "myla311_sample_2017-12.csv",
    "myla311_sample_2018-01.csv",
    "myla311_sample_2020-01.csv",
)


def city_dir() -> Path:
    return geodata_dir() / CITY_DIR


def seed_demo_city(
    session: Session,
    with_history: bool = True,
    synthetic: SyntheticSpec | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Create or refresh the demo city and return a report, one line per part.

    Adds and flushes only; the caller commits. Idempotent: a second run finds everything in
    place, writes nothing and leaves catalogue_changed_at alone. `synthetic` also loads that many
    synthetic requests (see open311.demo.synthetic), `progress` being told of each COPY chunk.
    """
    agencies = myla311.read_agencies(city_dir() / "agencies.csv")
    catalogue = load_catalogue(agencies)
    jurisdiction, state = ensure_jurisdiction(session, catalogue)
    change, services = sync_services(session, jurisdiction, catalogue.services)
    report = [
        f"jurisdiction: {jurisdiction.jurisdiction_id} ({jurisdiction.name}, {state})",
        f"services: {change.total} ({change.created} new, {change.updated} updated)",
    ]
    report += seed_operations(session, jurisdiction, services, agencies, city_dir())
    report += seed_los_angeles_languages(session, jurisdiction, now=clock.now())
    if with_history:
        service_ids = {
            spec.request_type: services[spec.service_code].id for spec in catalogue.services
        }
        report.extend(import_history(session, jurisdiction, service_ids, agencies))
        # The history ends in 2020: recent synthetic requests fill the default 90-day window.
        records = myla311.read_records(city_dir() / name for name in HISTORY_FILES)
        report.extend(
            add_recent_requests(
                session, jurisdiction, records, service_ids, agencies, now=clock.now()
            )
        )
        # Statistics for the rows just written, so that the placement is planned well.
        bulk.analyze_for_placement(session)
        routed = district_queries.route_located_requests(session, jurisdiction)
        report.append(f"historical requests routed to districts: {routed:,} placements")
    if synthetic is not None:
        services_by_type = {
            spec.request_type: services[spec.service_code] for spec in catalogue.services
        }
        loaded = load_synthetic_requests(
            session, jurisdiction, services_by_type, city_dir(), synthetic, progress
        )
        report.extend(loaded.lines())
    return report


def import_history(
    session: Session,
    jurisdiction: Jurisdiction,
    service_ids: Mapping[str, int],
    agencies: Mapping[str, str],
) -> list[str]:
    """Insert the MyLA311 records that are not in the database yet, in one bulk statement.

    The records keep the city's SR numbers as service_request_id, so those numbers are what makes
    a re-run a no-op: existing ones are skipped before any parsing, and ON CONFLICT covers a
    concurrent seed.
    """
    records = myla311.read_records(city_dir() / name for name in HISTORY_FILES)
    present = request_queries.find_existing_request_ids(session, list(records))
    rows: list[dict[str, Any]] = []
    unknown_types: Counter[str] = Counter()
    for sr_number, record in records.items():
        if sr_number in present:
            continue
        request = myla311.to_city_request(record, agencies)
        service_id = service_ids.get(request.request_type)
        if service_id is None:
            unknown_types[request.request_type] += 1
            continue
        rows.append(_row(request, jurisdiction.id, service_id))
    inserted = request_queries.insert_history(session, rows)
    report = [f"historical requests: {len(present) + inserted:,} ({inserted:,} new)"]
    if unknown_types:
        skipped = ", ".join(f"{name} ({count})" for name, count in unknown_types.most_common())
        report.append(f"historical requests skipped, request type not in the catalogue: {skipped}")
    return report


def _row(request: myla311.CityRequest, jurisdiction_pk: int, service_pk: int) -> dict[str, Any]:
    return {
        "service_request_id": request.service_request_id,
        "jurisdiction_id": jurisdiction_pk,
        "service_id": service_pk,
        "status": request.status,
        "status_notes": request.status_notes,
        "agency_responsible": request.agency_responsible,
        "requested_datetime": request.requested_datetime,
        "updated_datetime": request.updated_datetime,
        "address": request.address,
        "zipcode": request.zipcode,
        "location": request.location,
        "channel": request.channel,
        "attribute_values": {},
    }
