"""Builders for test data: real rows in the test transaction, with defaults a test can override."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import insert
from sqlalchemy.orm import Session

from open311.db.models import (
    ApiClient,
    AttributeValue,
    Datatype,
    Jurisdiction,
    Service,
    ServiceAttribute,
    ServiceRequest,
    ServiceType,
    Status,
)
from open311.domain.apikeys import create_api_client

_numbers = count(1)


def make_jurisdiction(session: Session, **overrides: Any) -> Jurisdiction:
    fields = {"jurisdiction_id": "lacity.org", "name": "Los Angeles", "time_zone": "UTC"}
    jurisdiction = Jurisdiction(**(fields | overrides))
    session.add(jurisdiction)
    session.flush()
    return jurisdiction


def make_attribute(
    code: str,
    datatype: Datatype | str = Datatype.string,
    *,
    values: list[tuple[str, str]] = (),
    **overrides: Any,
) -> ServiceAttribute:
    fields = {
        "variable": True,
        "required": False,
        "description": f"Question {code}",
        "position": next(_numbers),
    }
    attribute = ServiceAttribute(code=code, datatype=Datatype(datatype), **(fields | overrides))
    attribute.values = [
        AttributeValue(key=key, name=name, position=i) for i, (key, name) in enumerate(values, 1)
    ]
    return attribute


def make_service(
    session: Session,
    jurisdiction: Jurisdiction,
    code: str | None = None,
    *,
    attributes: list[ServiceAttribute] = (),
    **overrides: Any,
) -> Service:
    code = code or f"SVC-{next(_numbers)}"
    fields = {
        "service_name": f"Service {code}",
        "description": f"Description of {code}",
        "type": ServiceType.realtime,
        "group": "streets",
        "keywords": "test, example",
        "agency_responsible": "Bureau of Street Services",
        "service_notice": "Inspection within 3 business days.",
    }
    service = Service(jurisdiction=jurisdiction, service_code=code, **(fields | overrides))
    service.attributes = list(attributes)
    session.add(service)
    session.flush()
    return service


def make_request(
    session: Session,
    service: Service,
    *,
    lat: float | None = 34.0522,
    long: float | None = -118.2437,
    **overrides: Any,
) -> ServiceRequest:
    now = datetime.now(UTC)
    fields = {
        "jurisdiction_id": service.jurisdiction_id,
        "status": Status.open,
        "requested_datetime": now,
        "updated_datetime": now,
        "description": "Test request",
    }
    if lat is not None and long is not None:
        fields["location"] = from_shape(Point(long, lat), srid=4326)
    request = ServiceRequest(service=service, **(fields | overrides))
    session.add(request)
    session.flush()
    return request


def make_api_key(session: Session, name: str = "test app") -> str:
    _client, key = create_api_client(session, name)
    return key


def make_api_client(
    session: Session, name: str = "test app", *, active: bool = True
) -> tuple[ApiClient, str]:
    """A client row and its plain key; `active=False` gives a disabled client's key."""
    client, key = create_api_client(session, name)
    client.active = active
    session.flush()
    return client, key


def insert_requests(
    session: Session, service: Service, requested: list[datetime], **overrides: Any
) -> None:
    """Many requests in one INSERT (ids from the database sequence), one per requested time."""
    common = {
        "jurisdiction_id": service.jurisdiction_id,
        "service_id": service.id,
        "status": Status.open,
        "description": "Bulk request",
    }
    rows = [
        common | {"requested_datetime": moment, "updated_datetime": moment} | overrides
        for moment in requested
    ]
    session.execute(insert(ServiceRequest), rows)
