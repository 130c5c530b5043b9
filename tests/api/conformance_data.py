"""Shared ground for the conformance tests: seeded data, the community contracts, XML helpers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from sqlalchemy.orm import Session

from open311.db.models import Service, ServiceRequest
from open311.values import Datatype, ServiceType, Status
from tests.factories import (
    make_api_key,
    make_attribute,
    make_jurisdiction,
    make_request,
    make_service,
)

CONFORMANCE = Path(__file__).resolve().parents[2] / "spec" / "conformance"
SCHEMAS = CONFORMANCE / "schema-validation"
DERIVED = CONFORMANCE / "derived"
SPEC_EXAMPLES = CONFORMANCE / "spec-examples"

BASE = "/open311/v2"
FORMATS = ("json", "xml")

# Text that would break a naive XML writer or a string-built SQL statement.
NASTY_TEXT = "<b>&amp;</b> ]]> 'single' \"double\" Ñandú 東京 😀 '; DROP TABLE service_request; --"
LONG_DESCRIPTION = ("Pothole in the bike lane, deep. " * 125)[:4000]
# The W3C profile our server emits (digest §1.3, §11): seconds precision and a zone.
W3C_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")

# Fixed identifiers, so generators (schemathesis) can be told about them before the data exists.
JURISDICTION_ID = "lacity.org"
SERVICE_CODES = ("POT-01", "GRF", "TIP", "3.1")
REQUEST_IDS = ("SR-10042", "SR-9001", "SR-10043", "SR-10044", "SR-8000")
TOKEN = "tk-7f3a9"


@dataclass
class Seeded:
    """What `seed` stored: the ids a test can ask the API about."""

    jurisdiction_id: str
    api_key: str
    realtime: Service
    batch: Service
    blackbox: Service
    dotted: Service
    full: ServiceRequest
    sparse: ServiceRequest
    long: ServiceRequest
    nasty: ServiceRequest
    hidden: ServiceRequest

    service_codes = SERVICE_CODES
    request_ids = REQUEST_IDS


def seed(session: Session) -> Seeded:
    """A city with every service type, every attribute datatype and requests full and sparse."""
    now = datetime.now(UTC).replace(microsecond=0)
    jurisdiction = make_jurisdiction(session, jurisdiction_id=JURISDICTION_ID)
    full_id, sparse_id, long_id, nasty_id, hidden_id = REQUEST_IDS
    realtime = make_service(
        session,
        jurisdiction,
        "POT-01",
        service_name="Pothole",
        attributes=[
            make_attribute(
                "DEPTH",
                Datatype.singlevaluelist,
                required=True,
                datatype_description="Pick one",
                description="How deep is the hole?",
                values=[("S", "Less than 5 cm"), ("L", "5 cm or more")],
            ),
            make_attribute(
                "SIDES",
                Datatype.multivaluelist,
                datatype_description="Pick all that apply",
                values=[("N", "Northbound"), ("S", "Southbound"), ("B", "Bike lane")],
            ),
            make_attribute("WIDTH", Datatype.number, datatype_description="Centimetres"),
            make_attribute("SEEN", Datatype.datetime, datatype_description=None),
            make_attribute("LANDMARK", Datatype.string),
            make_attribute("DETAILS", Datatype.text),
            make_attribute(
                "NOTE1",
                Datatype.text,
                variable=False,
                description="Emergencies: call 911 instead.",
            ),
        ],
    )
    batch = make_service(
        session, jurisdiction, "GRF", service_name="Graffiti", type=ServiceType.batch
    )
    blackbox = make_service(
        session,
        jurisdiction,
        "TIP",
        service_name="Anonymous tip",
        type=ServiceType.blackbox,
        description=None,
        keywords=None,
        group=None,
        agency_responsible=None,
        service_notice=None,
    )
    dotted = make_service(session, jurisdiction, "3.1", service_name="Street light out")

    full = make_request(
        session,
        realtime,
        service_request_id=full_id,
        status=Status.open,
        status_notes="Crew assigned.",
        description="Deep hole in bike lane",
        agency_responsible="Bureau of Street Services",
        service_notice="Inspection within 3 business days.",
        requested_datetime=now - timedelta(days=2),
        updated_datetime=now - timedelta(days=1),
        expected_datetime=now + timedelta(days=3),
        address="120 Main St, Springfield",
        address_id="A-558812",
        zipcode="01101",
        media_url="https://img.example.org/sr10042.jpg",
        attribute_values={"DEPTH": "L", "SIDES": ["N", "B"]},
    )
    sparse = make_request(
        session,
        batch,
        service_request_id=sparse_id,
        lat=None,
        long=None,
        status=Status.closed,
        description=None,
        address="12 Elm St, Springfield",
        requested_datetime=now - timedelta(days=5),
        updated_datetime=now - timedelta(days=4),
        token=TOKEN,
    )
    long = make_request(
        session,
        realtime,
        service_request_id=long_id,
        description=LONG_DESCRIPTION,
        requested_datetime=now - timedelta(days=3),
    )
    nasty = make_request(
        session,
        blackbox,
        service_request_id=nasty_id,
        description=NASTY_TEXT,
        status_notes=NASTY_TEXT,
        address=NASTY_TEXT,
        address_id="Ñ-1",
        requested_datetime=now - timedelta(days=4),
    )
    # Older than the default 90-day window: only reachable by id or by dates.
    hidden = make_request(
        session,
        dotted,
        service_request_id=hidden_id,
        status=Status.closed,
        requested_datetime=now - timedelta(days=200),
        updated_datetime=now - timedelta(days=150),
    )
    return Seeded(
        jurisdiction_id=jurisdiction.jurisdiction_id,
        api_key=make_api_key(session),
        realtime=realtime,
        batch=batch,
        blackbox=blackbox,
        dotted=dotted,
        full=full,
        sparse=sparse,
        long=long,
        nasty=nasty,
        hidden=hidden,
    )


@cache
def community_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


@cache
def schema_registry() -> Registry:
    """The five schemas under their file names, so `"$ref": "request.json"` resolves."""
    names = ("services.json", "service.json", "service-definition.json")
    names += ("requests.json", "request.json")
    resources = [
        (name, Resource.from_contents(community_schema(name), default_specification=DRAFT4))
        for name in names
    ]
    return Registry().with_resources(resources)


def validator(name: str) -> Draft4Validator:
    """Draft 4, as the old validate.open311.org used them, with date-time and uri checked."""
    return Draft4Validator(
        community_schema(name),
        registry=schema_registry(),
        format_checker=Draft4Validator.FORMAT_CHECKER,
    )


def schema_errors(name: str, document: Any) -> list[str]:
    """Every complaint as 'path: message', including those inside an anyOf's branches."""
    found: list[str] = []
    pending = list(validator(name).iter_errors(document))
    while pending:
        error = pending.pop(0)
        found.append(f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}")
        pending.extend(error.context or ())
    return found


def parse_xml(body: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(body)


def child_names(element: ElementTree.Element) -> set[str]:
    return {child.tag for child in element}
