"""Seed the third demo city: Austin, Texas, its 27 real 3-1-1 services in English, Spanish,
Vietnamese and Arabic, its council districts, and its knowledge base.

Everything comes from geodata/austin-tx (the City's own files, see its README): the service
names and their translations, the themes, topics and service pages (converted by
open311.demo.austin_kb), the ten council districts. What the team authored is named here: the
service codes (slugs of the English names), the groups, and one 3-1-1 agency with a field crew
per council district (the data says nothing about which department does what, so nothing is
invented about it). Like the other seeds, a re-run finds everything in place and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy.orm import Session

from open311 import clock
from open311.config import geodata_dir
from open311.db import catalogue_queries, district_queries
from open311.db.models import Agency, Jurisdiction, RoutingRule, Service
from open311.demo import austin_kb
from open311.demo.catalogue import Catalogue, ServiceSpec, ensure_jurisdiction, sync_services
from open311.demo.operations import add_missing_crews
from open311.demo.translations import Entry, ensure_translations
from open311.domain import districts, jurisdictions, kb_exchange
from open311.geodata.reader import read_features
from open311.values import CrewKind, ServiceType

CITY_DIR = "austin-tx"
SERVICES_FILE = "311_services_multilingual.yaml"
DISTRICTS_FILE = "council_districts.geojson"
JURISDICTION = {
    "jurisdiction_id": "austintexas.gov",
    "name": "Austin, Texas",
    "time_zone": "America/Chicago",
}
LOCALES = ["en", "es", "vi", "ar"]
DEFAULT_LOCALE = "en"
OTHER_LOCALES = ("es", "vi", "ar")
# Calls without jurisdiction_id keep meaning Los Angeles, the first demo city.
DEFAULT_JURISDICTION_ID = "lacity.org"
ACTOR = "seed:austin"
# kb_exchange records revisions as "import:<actor>".
KB_ACTOR = "demo-seed"
ROUTING_LAYER = "council_districts"
ROUTING_LAYER_TITLE = "City Council Districts"
SERVICE_AREA_BUFFER_M = 150
AGENCY_CODE = "A311"
AGENCY_NAME = "Austin 3-1-1"
# The English names start with what the resident does; the code keeps what the service is about.
_LEADING_VERB = re.compile(r"^(request|report|file|review)\s+(an?\s+|the\s+)?", re.IGNORECASE)
_NOT_A_WORD = re.compile(r"[^A-Z0-9]+")
# GeoReport's `group`, written by the team: what a resident would look under.
GROUPS = {
    "CODE-OFFICER-VISIT": "code compliance",
    "SHORT-TERM-RENTAL-COMPLAINT": "code compliance",
    "LOOSE-DOG": "animals",
    "FOUND-ANIMAL": "animals",
    "FOUND-ANIMAL-PICKUP": "animals",
    "DEAD-ANIMAL-COLLECTION": "animals",
    "NON-EMERGENCY-NOISE-COMPLAINT": "noise",
    "LOUD-MUSIC-COMPLAINT": "noise",
    "CONSTRUCTION-BREAK-REST-COMPLAINT": "code compliance",
    "GRAFFITI-REMOVAL": "streets and sidewalks",
    "POTHOLE-REPAIR": "streets and sidewalks",
    "SIDEWALK-REPAIR": "streets and sidewalks",
    "CONSTRUCTION-ITEMS-IN-RIGHT-OF-WAY": "streets and sidewalks",
    "TRAFFIC-SIGN-MAINTENANCE": "traffic and parking signs",
    "NEW-TRAFFIC-SIGN": "traffic and parking signs",
    "PARKING-SIGN-MAINTENANCE": "traffic and parking signs",
    "SCHOOL-ZONE-FLASHER-MAINTENANCE": "traffic and parking signs",
    "LANE-ROAD-CLOSURE-NOTIFICATION": "road closures",
    "EMERGENCY-ROAD-CLOSURE-CONCERN": "road closures",
    "WATER-WASTE": "water and flooding",
    "CURRENT-NON-EMERGENCY-FLOODING": "water and flooding",
    "PAST-NON-EMERGENCY-FLOODING": "water and flooding",
    "ENVIRONMENTAL-SERVICES": "environment",
    "ENVIRONMENTAL-SERVICES-FOR-TRAVIS-COUNTY": "environment",
    "WILDFIRE-CONCERN": "environment",
    "PARK-GROUNDS-MAINTENANCE": "parks",
    "COMMUNITY-ENGAGEMENT-PROJECT-FEEDBACK": "community",
}


@dataclass(frozen=True)
class AustinService:
    """One row of the City's 311 file: the English name, its translations, the City's id."""

    names: Mapping[str, str]
    austin_service_id: str | None

    @property
    def service_code(self) -> str:
        """'Request pothole repair' -> 'POTHOLE-REPAIR', 'Report a loose dog' -> 'LOOSE-DOG'."""
        words = _LEADING_VERB.sub("", self.names[DEFAULT_LOCALE].strip())
        return _NOT_A_WORD.sub("-", words.upper()).strip("-")


def city_dir() -> Path:
    return geodata_dir() / CITY_DIR


def read_services(path: Path) -> list[AustinService]:
    """The City's 27 rows in file order; ValueError when two make the same service code."""
    found = []
    for row in austin_kb.read_yaml(path)["311"]:
        names = {locale: row[f"title_{locale}"].strip() for locale in LOCALES}
        query = parse_qs(urlparse(str(row.get("url") or "")).query)
        found.append(AustinService(names, (query.get("service_id") or [None])[0]))
    codes = [service.service_code for service in found]
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    if repeated:
        raise ValueError(f"{SERVICES_FILE}: service code repeated: {', '.join(repeated)}")
    return found


def service_spec(service: AustinService) -> ServiceSpec:
    code = service.service_code
    name = service.names[DEFAULT_LOCALE]
    where = (
        f"Austin's service_id {service.austin_service_id} on 311.austintexas.gov"
        if service.austin_service_id
        else "no service_id in Austin's file"
    )
    fields = {
        "service_name": name,
        "description": f"{name}, as Austin 3-1-1 offered it ({where}).",
        "group": GROUPS[code],
        "keywords": None,
        "type": ServiceType.realtime,
        "agency_responsible": AGENCY_NAME,
        "service_notice": None,
    }
    return ServiceSpec(code, name, fields, ())


def name_translations(services: Sequence[AustinService]) -> list[Entry]:
    """Each service name in Spanish, Vietnamese and Arabic, as the City translated it."""
    return [
        Entry(locale, service.names[DEFAULT_LOCALE], service.names[locale])
        for service in services
        for locale in OTHER_LOCALES
        if service.names.get(locale)
    ]


def seed_austin(
    session: Session, report: list[str] | None = None, now: datetime | None = None
) -> Jurisdiction:
    """Create or refresh the Austin demo jurisdiction and return it; `report` gets one line per
    part. Adds and flushes only; the caller commits. Idempotent, like seed_demo_city."""
    lines = report if report is not None else []
    now = now or clock.now()
    services = read_services(city_dir() / SERVICES_FILE)
    specs = [service_spec(service) for service in services]
    jurisdiction, state = ensure_jurisdiction(
        session, Catalogue(jurisdiction=JURISDICTION, services=tuple(specs))
    )
    _languages_and_calendar(jurisdiction)
    change, by_code = sync_services(session, jurisdiction, specs)
    lines.append(f"jurisdiction: {jurisdiction.jurisdiction_id} ({jurisdiction.name}, {state})")
    lines.append(f"services: {change.total} ({change.created} new, {change.updated} updated)")
    added = ensure_translations(session, jurisdiction, name_translations(services), ACTOR)
    lines.append(f"service name translations (es, vi, ar): {added} new")
    lines.extend(_keep_default(session))
    lines.extend(_districts(session, jurisdiction))
    lines.extend(_routing(session, jurisdiction, list(by_code.values())))
    lines.extend(_knowledge_base(session, jurisdiction, now))
    return jurisdiction


def _languages_and_calendar(jurisdiction: Jurisdiction) -> None:
    # Texas' public holidays on top of the federal ones. Set only when different, so that a
    # re-run leaves the row alone.
    wanted = {
        "locales": list(LOCALES),
        "default_locale": DEFAULT_LOCALE,
        "holiday_country": "US",
        "holiday_subdivision": "TX",
    }
    for name, value in wanted.items():
        if getattr(jurisdiction, name) != value:
            setattr(jurisdiction, name, value)


def _keep_default(session: Session) -> list[str]:
    """With Los Angeles seeded and no default flagged, calls without jurisdiction_id keep meaning
    Los Angeles (a default someone chose is left alone), as the New York seed does."""
    if catalogue_queries.get_default_jurisdiction(session) is not None:
        return []
    first = catalogue_queries.get_jurisdiction(session, DEFAULT_JURISDICTION_ID)
    if first is None:
        return []
    jurisdictions.make_default(session, first)
    return [f"default jurisdiction (calls without jurisdiction_id): {DEFAULT_JURISDICTION_ID}"]


def _districts(session: Session, jurisdiction: Jurisdiction) -> list[str]:
    lines = []
    if district_queries.get_layer(session, jurisdiction, ROUTING_LAYER) is not None:
        lines.append(f"layer {ROUTING_LAYER}: present")
    else:
        layer_file = read_features(city_dir() / DISTRICTS_FILE, "council_district")
        result = districts.replace_layer(
            session,
            jurisdiction,
            ROUTING_LAYER,
            layer_file.features,
            title=ROUTING_LAYER_TITLE,
            source=f"geodata/{CITY_DIR}/{DISTRICTS_FILE}",
        )
        lines.append(f"layer {ROUTING_LAYER}: {result.inserted} districts imported")
    if jurisdiction.service_area is None:
        # The union of the districts as imported (District 10's overlapping rings repaired).
        districts.set_service_area_from_layer(
            session, jurisdiction, ROUTING_LAYER, buffer_m=SERVICE_AREA_BUFFER_M
        )
        lines.append(f"service area: council districts' outline + {SERVICE_AREA_BUFFER_M} m")
    return lines


def _routing(
    session: Session, jurisdiction: Jurisdiction, services: Sequence[Service]
) -> list[str]:
    """One 3-1-1 agency: a triage desk (the fallback), supervisors, a crew per district; every
    service routed on the council districts."""
    layer = district_queries.get_layer(session, jurisdiction, ROUTING_LAYER)
    assert layer is not None  # _districts made it
    agency = catalogue_queries.get_agency(session, jurisdiction, AGENCY_CODE)
    if agency is None:
        agency = Agency(jurisdiction_id=jurisdiction.id, code=AGENCY_CODE, name=AGENCY_NAME)
        session.add(agency)
        session.flush()
    wanted: list[tuple[str, str, CrewKind, Any]] = [
        (f"{AGENCY_CODE}-TRIAGE", f"{AGENCY_NAME} triage desk", CrewKind.triage, None),
        (f"{AGENCY_CODE}-SUPERVISOR", f"{AGENCY_NAME} supervisors", CrewKind.supervisor, None),
    ]
    for district in sorted(layer.districts, key=lambda d: int(d.name)):
        wanted.append(
            (
                f"{AGENCY_CODE}-D{district.name}",
                f"{AGENCY_NAME}, Council District {district.name} crew",
                CrewKind.field,
                district,
            )
        )
    add_missing_crews(session, agency, wanted)
    session.flush()
    triage = next(crew for crew in agency.crews if crew.code == f"{AGENCY_CODE}-TRIAGE")
    created = 0
    for service in services:
        if catalogue_queries.get_routing_rule(session, service) is None:
            session.add(
                RoutingRule(service=service, agency=agency, layer=layer, fallback_crew=triage)
            )
            created += 1
    session.flush()
    return [
        f"agencies: 1, crews: {len(wanted)}",
        f"routing rules: {len(services)} services ({created} new)",
    ]


def _knowledge_base(session: Session, jurisdiction: Jurisdiction, now: datetime) -> list[str]:
    """The City's themes, topics and pages, converted at seed time (open311.demo.austin_kb).
    Like the catalogue, a re-run brings the seeded articles back to the City's text; an
    article or language the back office added is kept."""
    document = austin_kb.build_document(city_dir())
    counts = kb_exchange.load(session, jurisdiction, document, actor=KB_ACTOR, now=now)
    return [
        f"knowledge base: {len(document['topics'])} themes and topics "
        f"({counts['topics_created']} new), {len(document['articles'])} articles "
        f"({counts['articles_created']} new, {counts['articles_updated']} updated)"
    ]
