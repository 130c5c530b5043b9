"""Seed the second demo city: New York City, its real 311 complaint types and one day of requests.

Everything comes from geodata/new-york-city: the community and council district polygons, and
NYC 311's export of 2023-02-28 (see geodata/README.md). The catalogue is not authored: the most
frequent complaint types of that day become the services, each handled by the agency that took
most of its rows, and the agencies get a field crew per community district. Like the Los Angeles
seed, a re-run finds everything in place and writes nothing.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry import MultiPolygon
from shapely.ops import unary_union
from sqlalchemy.orm import Session

from open311.config import geodata_dir
from open311.db import bulk, catalogue_queries, district_queries, request_queries
from open311.db.models import Agency, District, Jurisdiction, RoutingRule
from open311.demo.catalogue import Catalogue, ServiceSpec, ensure_jurisdiction, sync_services
from open311.demo.operations import add_missing_crews
from open311.domain import districts, jurisdictions
from open311.geodata.reader import read_features
from open311.values import CrewKind, ServiceType, Status

CITY_DIR = "new-york-city"
SAMPLE_FILE = "nyc311_sample_2023-02-28.csv"
JURISDICTION = {
    "jurisdiction_id": "nyc.gov",
    "name": "City of New York",
    "time_zone": "America/New_York",
}
# Calls without jurisdiction_id mean Los Angeles, the first demo city (see seed_new_york).
DEFAULT_JURISDICTION_ID = "lacity.org"
NEW_YORK = ZoneInfo(JURISDICTION["time_zone"])
# The 30 most frequent types cover 87% of the sample's rows; the rest have a handful each.
SERVICE_COUNT = 30
ROUTING_LAYER = "community_districts"
SERVICE_AREA_BUFFER_M = 150
SIMPLIFY_DEG = 0.0003  # about 30 m
LAYERS = (
    # (layer, file, name field, title field, title)
    (
        "community_districts",
        "community_districts.geojson",
        "boro_cd",
        "name",
        "Community Districts",
    ),
    (
        "council_districts",
        "council_districts.geojson",
        "district_number",
        "name",
        "City Council Districts (2023 lines)",
    ),
)
# 311's own intake desk files some DEP rows under its code; the agency name says DEP.
AGENCY_ALIASES = {"NYC311-PRD": "DEP"}
# GeoReport's `group`: what a resident would look under, by the agency that does the work.
GROUPS = {
    "HPD": "housing",
    "NYPD": "police (noise, parking, vehicles)",
    "DOT": "streets and traffic",
    "DSNY": "sanitation",
    "DEP": "environment (water, sewer, noise, air)",
    "DOB": "buildings",
    "DOHMH": "health",
    "DPR": "parks and trees",
    "TLC": "taxis and for-hire vehicles",
    "DCA": "consumers",
    "DHS": "homeless services",
}
STATUSES = {"Closed": Status.closed}
CHANNELS = {"ONLINE": "web", "PHONE": "phone", "MOBILE": "mobile_app"}
_NOT_A_WORD = re.compile(r"[^A-Z0-9]+")


@dataclass(frozen=True)
class ComplaintType:
    """One of the sample's complaint types as a service: its agency and commonest descriptors."""

    name: str
    agency: str
    descriptors: tuple[str, ...]

    @property
    def service_code(self) -> str:
        """'Noise - Residential' -> 'NOISE-RESIDENTIAL', 'HEAT/HOT WATER' -> 'HEAT-HOT-WATER'."""
        return _NOT_A_WORD.sub("-", self.name.upper()).strip("-")


def city_dir() -> Path:
    return geodata_dir() / CITY_DIR


def read_sample(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def agency_code(row: Mapping[str, str]) -> str:
    code = row["Agency"].strip()
    return AGENCY_ALIASES.get(code, code)


def complaint_types(rows: Sequence[Mapping[str, str]]) -> list[ComplaintType]:
    """The SERVICE_COUNT most frequent complaint types, most frequent first."""
    counts = Counter(row["Complaint Type"].strip() for row in rows)
    found = []
    for name, _count in counts.most_common(SERVICE_COUNT):
        of_type = [row for row in rows if row["Complaint Type"].strip() == name]
        agency = Counter(agency_code(row) for row in of_type).most_common(1)[0][0]
        descriptors = Counter(row["Descriptor"].strip() for row in of_type if row["Descriptor"])
        found.append(ComplaintType(name, agency, tuple(d for d, _ in descriptors.most_common(8))))
    return found


def agency_names(rows: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Agency code -> the name the sample spells (the code's commonest one)."""
    names: dict[str, Counter[str]] = {}
    for row in rows:
        names.setdefault(agency_code(row), Counter())[row["Agency Name"].strip()] += 1
    return {code: counter.most_common(1)[0][0] for code, counter in names.items()}


def service_spec(complaint: ComplaintType, agencies: Mapping[str, str]) -> ServiceSpec:
    agency_name = agencies[complaint.agency]
    fields = {
        "service_name": complaint.name,
        "description": f"{complaint.name}, as New York City 311 files it; {agency_name} "
        "handles it.",
        "group": GROUPS.get(complaint.agency, complaint.agency),
        "keywords": ", ".join(d.lower() for d in complaint.descriptors) or None,
        "type": ServiceType.realtime,
        "agency_responsible": agency_name,
        "service_notice": None,
    }
    return ServiceSpec(complaint.service_code, complaint.name, fields, ())


def seed_new_york(session: Session, with_history: bool = True) -> list[str]:
    """Create or refresh the New York City demo jurisdiction and return a report, one line per
    part. Adds and flushes only; the caller commits. Idempotent, like seed_demo_city."""
    rows = read_sample(city_dir() / SAMPLE_FILE)
    agencies = agency_names(rows)
    complaints = complaint_types(rows)
    specs = [service_spec(complaint, agencies) for complaint in complaints]
    catalogue = Catalogue(jurisdiction=JURISDICTION, services=tuple(specs))
    jurisdiction, state = ensure_jurisdiction(session, catalogue)
    change, services = sync_services(session, jurisdiction, specs)
    report = [
        f"jurisdiction: {jurisdiction.jurisdiction_id} ({jurisdiction.name}, {state})",
        f"services: {change.total} ({change.created} new, {change.updated} updated)",
    ]
    report += _default_stays_los_angeles(session)
    _calendar(jurisdiction)
    report += _layers(session, jurisdiction)
    wanted_agencies = sorted({complaint.agency for complaint in complaints})
    by_code, crews = _agencies_and_crews(session, jurisdiction, wanted_agencies, agencies)
    report.append(f"agencies: {len(by_code)}, crews: {crews}")
    layer = district_queries.get_layer(session, jurisdiction, ROUTING_LAYER)
    created = 0
    for complaint in complaints:
        service = services[complaint.service_code]
        if catalogue_queries.get_routing_rule(session, service) is None:
            agency = by_code[complaint.agency]
            triage = next(crew for crew in agency.crews if crew.code == f"{agency.code}-TRIAGE")
            session.add(
                RoutingRule(service=service, agency=agency, layer=layer, fallback_crew=triage)
            )
            created += 1
    session.flush()
    report.append(f"routing rules: {len(services)} services ({created} new)")
    if with_history:
        service_ids = {spec.request_type: services[spec.service_code].id for spec in specs}
        report.append(import_history(session, jurisdiction, rows, service_ids, agencies))
        bulk.analyze_for_placement(session)
        routed = district_queries.route_located_requests(session, jurisdiction)
        report.append(f"historical requests routed to districts: {routed:,} placements")
    return report


def _default_stays_los_angeles(session: Session) -> list[str]:
    """Calls without jurisdiction_id keep meaning the first demo city: with a second city they
    would be a 400 unless one is flagged the default. A default someone chose is left alone."""
    if catalogue_queries.get_default_jurisdiction(session) is not None:
        return []
    first = catalogue_queries.get_jurisdiction(session, DEFAULT_JURISDICTION_ID)
    if first is None:
        return []
    jurisdictions.make_default(session, first)
    return [f"default jurisdiction (calls without jurisdiction_id): {DEFAULT_JURISDICTION_ID}"]


def _calendar(jurisdiction: Jurisdiction) -> None:
    # New York State's holidays; city offices keep nine-to-five on weekdays.
    jurisdiction.holiday_country = "US"
    jurisdiction.holiday_subdivision = "NY"
    jurisdiction.business_day_start = time(9, 0)
    jurisdiction.business_day_end = time(17, 0)
    jurisdiction.business_weekdays = "12345"


def _layers(session: Session, jurisdiction: Jurisdiction) -> list[str]:
    lines = []
    for name, file_name, name_field, title_field, title in LAYERS:
        if district_queries.get_layer(session, jurisdiction, name) is not None:
            lines.append(f"layer {name}: present")
            continue
        layer_file = read_features(city_dir() / file_name, name_field, title_field)
        result = districts.replace_layer(
            session,
            jurisdiction,
            name,
            layer_file.features,
            title=title,
            source=f"geodata/{CITY_DIR}/{file_name}",
        )
        lines.append(f"layer {name}: {result.inserted} districts imported")
    if jurisdiction.service_area is None:
        lines.append(_service_area(session, jurisdiction))
    return lines


def _service_area(session: Session, jurisdiction: Jurisdiction) -> str:
    """The council districts' outline (they cover the parks and airports the community districts
    leave out), simplified by SIMPLIFY_DEG before PostGIS grows it by SERVICE_AREA_BUFFER_M.

    The full outline has 85,000 vertices, and buffering it in PostGIS took 17 s of the seed; the
    simplified one has 7,000, and the simplification moves the edge by far less than the buffer.
    """
    file_name = next(file for name, file, *_ in LAYERS if name == "council_districts")
    features = read_features(city_dir() / file_name, "district_number").features
    outline = unary_union([feature.geometry for feature in features]).simplify(SIMPLIFY_DEG)
    polygons = list(outline.geoms) if isinstance(outline, MultiPolygon) else [outline]
    districts.set_service_area(
        session,
        jurisdiction,
        [MultiPolygon([polygon]) for polygon in polygons],
        buffer_m=SERVICE_AREA_BUFFER_M,
    )
    return f"service area: council districts' outline + {SERVICE_AREA_BUFFER_M} m"


def _agencies_and_crews(
    session: Session, jurisdiction: Jurisdiction, codes: Sequence[str], names: Mapping[str, str]
) -> tuple[dict[str, Agency], int]:
    """Each agency with a triage desk, supervisors and a field crew per community district."""
    layer = district_queries.get_layer(session, jurisdiction, ROUTING_LAYER)
    assert layer is not None  # _layers made it
    by_code: dict[str, Agency] = {}
    crews = 0
    for code in codes:
        agency = catalogue_queries.get_agency(session, jurisdiction, code)
        if agency is None:
            agency = Agency(jurisdiction_id=jurisdiction.id, code=code, name=names[code])
            session.add(agency)
            session.flush()
        by_code[code] = agency
        wanted: list[tuple[str, str, CrewKind, District | None]] = [
            (f"{code}-TRIAGE", f"{agency.name} triage desk", CrewKind.triage, None),
            (f"{code}-SUPERVISOR", f"{agency.name} supervisors", CrewKind.supervisor, None),
        ]
        for district in layer.districts:
            wanted.append(
                (
                    f"{code}-CD{district.name}",
                    f"{agency.name}, {district.title or district.name} crew",
                    CrewKind.field,
                    district,
                )
            )
        add_missing_crews(session, agency, wanted)
        crews += len(wanted)
    session.flush()
    return by_code, crews


def import_history(
    session: Session,
    jurisdiction: Jurisdiction,
    rows: Sequence[Mapping[str, str]],
    service_ids: Mapping[str, int],
    agencies: Mapping[str, str],
) -> str:
    """Insert the sample's rows of the catalogue's types that are not in the database yet.

    `Unique Key` is the service_request_id, so a re-run skips every row. Only what the city
    publishes is kept: no BBL, no landmark; the descriptor is the description and the city's
    resolution text the status notes.
    """
    wanted = [row for row in rows if row["Complaint Type"].strip() in service_ids]
    present = request_queries.find_existing_request_ids(
        session, [row["Unique Key"].strip() for row in wanted]
    )
    new = [
        _row(row, jurisdiction.id, service_ids, agencies)
        for row in wanted
        if row["Unique Key"].strip() not in present
    ]
    inserted = request_queries.insert_history(session, new)
    return f"historical requests: {len(present) + inserted:,} ({inserted:,} new)"


def parse_nyc_datetime(text: str) -> datetime | None:
    """'02/28/2023 11:45:00 PM', New York wall time, as an aware datetime; None when empty."""
    text = text.strip()
    if not text:
        return None
    return datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=NEW_YORK)


def repair_text(text: str) -> str:
    """Undo the upstream double encoding ('â€™' for '’') where it happened; leave the rest."""
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _row(
    row: Mapping[str, str],
    jurisdiction_pk: int,
    service_ids: Mapping[str, int],
    agencies: Mapping[str, str],
) -> dict[str, Any]:
    created = parse_nyc_datetime(row["Created Date"])
    assert created is not None
    # Two DOT rows close before they open; a request is never updated before it was made.
    touched = [
        moment
        for moment in (
            parse_nyc_datetime(row["Closed Date"]),
            parse_nyc_datetime(row["Resolution Action Updated Date"]),
        )
        if moment is not None
    ]
    word = row["Status"].strip()
    notes = [word] if word not in ("Open", "Closed") else []
    if row["Resolution Description"].strip():
        notes.append(repair_text(row["Resolution Description"].strip()))
    address = row["Incident Address"].strip()
    if not address and row["Intersection Street 1"].strip():
        address = f"{row['Intersection Street 1'].strip()} & {row['Intersection Street 2'].strip()}"
    lat, long = row["Latitude"].strip(), row["Longitude"].strip()
    zipcode = row["Incident Zip"].strip()
    return {
        "service_request_id": row["Unique Key"].strip(),
        "jurisdiction_id": jurisdiction_pk,
        "service_id": service_ids[row["Complaint Type"].strip()],
        "status": STATUSES.get(word, Status.open),
        "status_notes": "; ".join(notes) or None,
        "description": row["Descriptor"].strip() or None,
        "agency_responsible": agencies.get(agency_code(row), row["Agency Name"].strip()),
        "requested_datetime": created,
        "updated_datetime": max([created, *touched]),
        "address": address.strip(" &") or None,
        "zipcode": zipcode or None,
        "location": f"SRID=4326;POINT({float(long)!r} {float(lat)!r})" if lat and long else None,
        "channel": CHANNELS.get(row["Open Data Channel Type"].strip()),
        "attribute_values": {},
    }
