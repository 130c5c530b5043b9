"""Builders for test data: real rows in the test transaction, with defaults a test can override."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, Polygon, box
from sqlalchemy import insert
from sqlalchemy.orm import Session

from open311.db.models import (
    Agency,
    ApiClient,
    AttributeValue,
    BoundaryLayer,
    Crew,
    District,
    Jurisdiction,
    RequestDistrict,
    RoutingRule,
    Service,
    ServiceAttribute,
    ServiceRequest,
    Workflow,
    WorkflowStep,
    WorkOrder,
)
from open311.domain.apikeys import create_api_client
from open311.geodata.features import Feature
from open311.values import CrewKind, CrewRole, Datatype, ServiceType, Status, WorkOrderState

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


# --- back office: districts, agencies, crews, workflows, routing rules, work orders ------------


def make_boundary_layer(
    session: Session, jurisdiction: Jurisdiction, name: str = "council_districts", **overrides: Any
) -> BoundaryLayer:
    layer = BoundaryLayer(jurisdiction_id=jurisdiction.id, name=name, **overrides)
    session.add(layer)
    session.flush()
    return layer


def make_district(
    session: Session,
    layer: BoundaryLayer,
    name: str,
    bounds: tuple[float, float, float, float] = (-118.3, 34.0, -118.2, 34.1),
    **overrides: Any,
) -> District:
    """A rectangular district (min long, min lat, max long, max lat)."""
    fields = {"area_m2": 1.0, "geom": from_shape(MultiPolygon([box(*bounds)]), srid=4326)}
    district = District(layer_id=layer.id, name=name, **(fields | overrides))
    session.add(district)
    session.flush()
    return district


def make_agency(
    session: Session, jurisdiction: Jurisdiction, code: str | None = None, **overrides: Any
) -> Agency:
    code = code or f"AG-{next(_numbers)}"
    agency = Agency(jurisdiction_id=jurisdiction.id, code=code, **({"name": code} | overrides))
    session.add(agency)
    session.flush()
    return agency


def make_crew(
    session: Session,
    agency: Agency,
    code: str | None = None,
    kind: CrewKind | str = CrewKind.field,
    *,
    districts: list[District] = (),
    **overrides: Any,
) -> Crew:
    """A crew of `agency`; field crews cover `districts`."""
    code = code or f"CREW-{next(_numbers)}"
    crew = Crew(agency=agency, code=code, kind=CrewKind(kind), **({"name": code} | overrides))
    crew.districts = list(districts)
    session.add(crew)
    session.flush()
    return crew


def make_workflow(
    session: Session,
    jurisdiction: Jurisdiction,
    *steps: dict[str, Any],
    code: str | None = None,
    **overrides: Any,
) -> Workflow:
    """A workflow whose steps (dicts of WorkflowStep fields, at least `code`) get positions in
    the order given; names and an 8-hour target are defaulted."""
    code = code or f"WF-{next(_numbers)}"
    workflow = Workflow(jurisdiction_id=jurisdiction.id, code=code, **({"name": code} | overrides))
    workflow.steps = [
        WorkflowStep(
            **(
                {
                    "name": f"Step {step['code']}",
                    "target_hours": 8.0,
                    "crew_role": CrewRole.district,
                }
                | step
                | {"position": position}
            )
        )
        for position, step in enumerate(steps, 1)
    ]
    session.add(workflow)
    session.flush()
    return workflow


def make_rule(session: Session, service: Service, agency: Agency, **overrides: Any) -> RoutingRule:
    rule = RoutingRule(service=service, agency=agency, **overrides)
    session.add(rule)
    session.flush()
    return rule


def make_work_order(
    session: Session,
    request: ServiceRequest,
    agency: Agency,
    *,
    crew: Crew | None = None,
    state: WorkOrderState | str | None = None,
    **overrides: Any,
) -> WorkOrder:
    """A work order inserted as is (no workflow logic); state defaults from whether it has a
    crew."""
    now = datetime.now(UTC)
    if state is None:
        state = WorkOrderState.assigned if crew is not None else WorkOrderState.new
    fields = {"title": "Work order", "created_at": now, "updated_at": now}
    order = WorkOrder(
        service_request=request,
        agency=agency,
        crew=crew,
        state=WorkOrderState(state),
        **(fields | overrides),
    )
    session.add(order)
    session.flush()
    return order


# --- district layers as a boundary file gives them (open311 geodata) ----------------------------


def district_feature(
    name: str,
    geometry: Polygon | MultiPolygon | None = None,
    *,
    bounds: tuple[float, float, float, float] = (-118.3, 34.0, -118.2, 34.1),
    title: str | None = None,
    **properties: Any,
) -> Feature:
    """A feature ready for `replace_layer`: `geometry` as given (valid or not), else a rectangle
    of `bounds` (min long, min lat, max long, max lat)."""
    geometry = geometry if geometry is not None else box(*bounds)
    if isinstance(geometry, Polygon):
        geometry = MultiPolygon([geometry])
    return Feature(name, title, {"name": name, **properties}, geometry)


def place_request(session: Session, request: ServiceRequest, district: District) -> RequestDistrict:
    """Record that `request` was routed to `district` (as routing would)."""
    placed = RequestDistrict(
        service_request_pk=request.id, layer_id=district.layer_id, district_id=district.id
    )
    session.add(placed)
    session.flush()
    return placed


def insert_request_rows(session: Session, service: Service, rows: list[dict[str, Any]]) -> None:
    """Many requests in one INSERT, each row its own: ServiceRequest fields plus `lat`/`long`
    (made the location; leave them out for a request without one). Times default to now."""
    now = datetime.now(UTC)
    common = {
        "jurisdiction_id": service.jurisdiction_id,
        "service_id": service.id,
        "status": Status.open,
        "description": "Bulk request",
        "requested_datetime": now,
        "updated_datetime": now,
        "location": None,
    }
    values = []
    for row in rows:
        row = dict(row)
        lat, long = row.pop("lat", None), row.pop("long", None)
        if lat is not None and long is not None:
            row["location"] = from_shape(Point(long, lat), srid=4326)
        values.append(common | row)
    session.execute(insert(ServiceRequest), values)
