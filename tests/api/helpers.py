"""Shared helpers for API tests: URLs, reading either wire format back, row counts, staff
users, personal data to look for, photo uploads, and the seeded city of the conformance tests.

XML is read back into plain data with the spec's own container/item names (digest §1.2), written
out here rather than imported from open311.wire, so a renamed element fails a test.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from open311.db.models import (
    Crew,
    Jurisdiction,
    Media,
    Requester,
    Service,
    ServiceRequest,
    StaffUser,
)
from open311.domain import staff
from open311.values import Datatype, ServiceType, StaffRole, Status
from tests.factories import (
    make_api_key,
    make_attribute,
    make_jurisdiction,
    make_request,
    make_service,
)

BASE = "/open311/v2"
FORMATS = ("json", "xml")
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xml": "text/xml; charset=utf-8",
}

# Container element -> item element, as the spec names them.
CONTAINERS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "notes": "note",
}
# Items that are records even when every field of theirs was left out.
RECORDS = {"service", "attribute", "value", "request", "error", "endpoint", "note"}


def url(resource: str, fmt: str) -> str:
    """`url("services/3.1", "json")` -> `/open311/v2/services/3.1.json`."""
    return f"{BASE}/{resource}.{fmt}"


def from_xml(element: ET.Element) -> Any:
    """An XML element as plain data: containers become lists, records dicts, leaves strings."""
    assert not element.attrib, f"GeoReport XML carries no attributes: {element.attrib}"
    item = CONTAINERS.get(element.tag)
    if item is not None:
        tags = [child.tag for child in element]
        assert all(tag == item for tag in tags), f"<{element.tag}> holds {tags}, not <{item}>"
        return [from_xml(child) for child in element]
    if len(element) or element.tag in RECORDS:
        tags = [child.tag for child in element]
        assert len(tags) == len(set(tags)), f"repeated elements in <{element.tag}>: {tags}"
        return {child.tag: from_xml(child) for child in element}
    return element.text or ""


def body(response, fmt: str, root: str | None = None) -> Any:
    """The response as plain data after checking its Content-Type (and the XML root's name)."""
    assert response.headers["Content-Type"] == CONTENT_TYPES[fmt]
    if fmt == "json":
        return response.get_json()
    assert response.data.lower().startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    document = ET.fromstring(response.data)
    if root is not None:
        assert document.tag == root
    return from_xml(document)


def wire(value: Any, fmt: str) -> Any:
    """What `value` looks like once rendered in `fmt` and read back with `body()`.

    JSON keeps types and nulls; XML turns scalars into text, booleans into true/false and
    leaves out elements whose value is empty (digest §11).
    """
    if fmt == "json":
        return value
    if isinstance(value, dict):
        return {k: wire(v, fmt) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [wire(v, fmt) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def errors(response, fmt: str, status: int) -> list[str]:
    """Check an error response (status, type, shape, codes) and return its descriptions."""
    assert response.status_code == status, response.data
    items = body(response, fmt, "errors")
    assert isinstance(items, list)
    assert items, "an error response lists at least one error"
    for item in items:
        assert set(item) == {"code", "description"}
        if fmt == "json":
            assert item["code"] == status
            assert isinstance(item["description"], str)
        else:
            assert item["code"] == str(status)
        assert item["description"]
    return [item["description"] for item in items]


def counts(session: Session) -> tuple[int, int]:
    """(service_request rows, requester rows): compare before and after a refused POST."""
    return (
        session.scalar(select(func.count()).select_from(ServiceRequest)),
        session.scalar(select(func.count()).select_from(Requester)),
    )


def form(*pairs: tuple[str, str], **fields: str) -> MultiDict:
    """A form body that may repeat keys: `form(("attribute[C][]", "a"), api_key=k)`."""
    data = MultiDict(list(pairs))
    for key, value in fields.items():
        data.add(key, value)
    return data


# --- GeoJSON, paging headers --------------------------------------------------------------------

GEOJSON_TYPE = "application/geo+json; charset=utf-8"


def next_link(response) -> str | None:
    """The `rel="next"` URL of a Link header as a path with its query (for the test client),
    after checking it is absolute."""
    header = response.headers.get("Link")
    if not header:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', header)
    assert match, header
    parts = urlsplit(match.group(1))
    assert parts.scheme in ("http", "https") and parts.netloc, header
    return parts.path + "?" + parts.query


def items_of(response, fmt: str) -> list[Any]:
    """The requests of a successful list answer in `fmt` (json, xml or geojson)."""
    assert response.status_code == 200, response.data
    if fmt == "geojson":
        assert response.headers["Content-Type"] == GEOJSON_TYPE
        collection = response.get_json()
        assert collection["type"] == "FeatureCollection"
        return [feature["properties"] for feature in collection["features"]]
    return body(response, fmt, "service_requests")


# --- staff users and their bearer tokens --------------------------------------------------------

PASSWORD = "correct horse battery"


def make_staff(
    session: Session,
    role: StaffRole | str,
    username: str | None = None,
    crews: Iterable[Crew] = (),
    jurisdictions: Iterable[Jurisdiction] | None = None,
) -> tuple[StaffUser, str]:
    """A user of `role` and a live bearer token of theirs, working for `jurisdictions` (None:
    the default one, as `open311 user create` does)."""
    role = StaffRole(role)
    user = staff.create_user(
        session,
        username or role.value.replace("_", "-"),
        password=PASSWORD,
        role=role,
        crews=crews,
        jurisdictions=jurisdictions,
    )
    _token, plain = staff.issue_token(
        session, user, now=datetime.now(UTC), lifetime=timedelta(hours=1)
    )
    session.flush()
    return user, plain


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- personal data, which no GET may show -------------------------------------------------------

PERSONAL = {
    "email": "pat.private-7731@example.org",
    "first_name": "Patricienne",
    "last_name": "Leeworthy",
    "phone": "+1 555 0199 4242",
    "device_id": "device-8f2e-4410",
    "account_id": "acct-90417-secret",
}


def leaked(data: bytes) -> list[str]:
    """Personal values found in a response body, raw or escaped."""
    text = data.decode("utf-8")
    return [
        name
        for name, value in PERSONAL.items()
        if value in text or quote(value) in text or quote(value, safe="+@ ") in text
    ]


# --- photo uploads (the POT-01 service of a test's own city) ------------------------------------


def pothole_fields(api_key: str, **overrides: str) -> dict[str, str]:
    return {
        "api_key": api_key,
        "service_code": "POT-01",
        "lat": "34.0522",
        "long": "-118.2437",
        "description": "Pothole, photo attached",
    } | overrides


def part(data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg"):
    return (io.BytesIO(data), filename, content_type)


def post_request(client, fmt: str, *parts, **overrides: str):
    data = pothole_fields(overrides.pop("api_key"), **overrides) | {"media": list(parts)}
    return client.post(url("requests", fmt), data=data, content_type="multipart/form-data")


def files_in(directory: Path) -> list[str]:
    """Every file left in the media directory, temporary ones included."""
    return sorted(p.name for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def media_rows(db) -> list[Media]:
    return list(db.scalars(select(Media).order_by(Media.position)))


def stored_request(db) -> ServiceRequest:
    (stored,) = db.scalars(select(ServiceRequest)).all()
    db.refresh(stored)
    return stored


def fetch(client, media_url: str):
    """GET a media URL or path through the test client, read whole and closed (a served file
    stays open until the response is closed, as a WSGI server closes it)."""
    response = client.get(urlsplit(media_url).path if "://" in media_url else media_url)
    response.get_data()
    response.close()
    return response


def post_update(client, api_key: str, fmt: str, *parts, update_id: str = "fms-1", **extra):
    data = {
        "api_key": api_key,
        "service_request_id": "U-1",
        "update_id": update_id,
        "status": "OPEN",
        "updated_datetime": "2026-11-14T08:02:11Z",
        "description": "Still there",
        "media": list(parts),
    } | extra
    return client.post(
        url("servicerequestupdates", fmt), data=data, content_type="multipart/form-data"
    )


# --- the conformance tests' city: seeded data, the community contracts, XML ---------------------

CONFORMANCE = Path(__file__).resolve().parents[2] / "spec" / "conformance"
SCHEMAS = CONFORMANCE / "schema-validation"
DERIVED = CONFORMANCE / "derived"
SPEC_EXAMPLES = CONFORMANCE / "spec-examples"

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
    # Not of the blackbox service: its requests are in no public read (domain/publication.py).
    nasty = make_request(
        session,
        dotted,
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


def parse_xml(body: bytes) -> ET.Element:
    return ET.fromstring(body)


def child_names(element: ET.Element) -> set[str]:
    return {child.tag for child in element}
