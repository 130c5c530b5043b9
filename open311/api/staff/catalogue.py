"""Catalogue administration: services, routing rules, workflows, agencies, crews, API clients.

Administrators change them; supervisors may read them.

Changing a service or its definition moves the discovery changeset (domain/catalogue_admin.py),
so GeoReport clients know to refetch services and definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from open311 import clock
from open311.api import database
from open311.api.staff import catalogue_schemas as s
from open311.api.staff.auth import StaffBlueprint, staff_jurisdiction, staff_required
from open311.db import catalogue_admin_queries as admin_queries
from open311.db import catalogue_queries
from open311.db.models import Agency, ApiClient, Crew, Jurisdiction, RoutingRule, Service, Workflow
from open311.domain import apikeys, catalogue_admin
from open311.errors import NotFound
from open311.values import StaffRole

blp = StaffBlueprint(
    "staff_catalogue",
    __name__,
    "Staff API: catalogue administration (services, definitions, routing rules, workflows, "
    "agencies, crews, API clients).",
)

READERS = (StaffRole.administrator, StaffRole.supervisor)
ADMIN = StaffRole.administrator

T = TypeVar("T")


def _city() -> Jurisdiction:
    """The user's city, or the one `?jurisdiction_id=` names (auth.staff_jurisdiction)."""
    return staff_jurisdiction()


def _found(thing: T | None, what: str) -> T:
    if thing is None:
        raise NotFound(f"no {what}")
    return thing


def _saved(thing: T) -> T:
    database.session().commit()
    return thing


def _service(service_code: str) -> Service:
    found = admin_queries.get_service(database.session(), _city(), service_code)
    return _found(found, f"service {service_code}")


# --- services and definitions -------------------------------------------------------------------


@blp.route("/services", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.ServiceOut(many=True))
def list_services() -> list[Service]:
    """Every service, inactive ones included, by service_code."""
    return list(admin_queries.find_services(database.session(), _city()))


@blp.route("/services", methods=["POST"])
@staff_required(ADMIN)
@blp.arguments(s.ServiceBody)
@blp.response(201, s.ServiceDetailOut)
def create_service(body: dict[str, Any]) -> Service:
    """Add a service to the public catalogue (define its questions with PUT .../attributes)."""
    code = body.pop("service_code")
    session = database.session()
    service = catalogue_admin.create_service(session, _city(), code, body, now=clock.now())
    return _saved(service)


@blp.route("/services/<service_code>", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.ServiceDetailOut)
def get_service(service_code: str) -> Service:
    """One service with its definition."""
    return _service(service_code)


@blp.route("/services/<service_code>", methods=["PATCH"])
@staff_required(ADMIN)
@blp.arguments(s.ServiceChangeBody)
@blp.response(200, s.ServiceDetailOut)
def change_service(body: dict[str, Any], service_code: str) -> Service:
    """Change the fields sent; `active: false` takes the service out of the public list."""
    service = _service(service_code)
    catalogue_admin.change_service(database.session(), _city(), service, body, now=clock.now())
    return _saved(service)


@blp.route("/services/<service_code>/attributes", methods=["PUT"])
@staff_required(ADMIN)
@blp.arguments(s.DefinitionBody)
@blp.response(200, s.ServiceDetailOut)
def replace_definition(body: dict[str, Any], service_code: str) -> Service:
    """Replace the service's whole definition with this ordered list of questions."""
    service = _service(service_code)
    session = database.session()
    catalogue_admin.replace_definition(
        session, _city(), service, body["attributes"], now=clock.now()
    )
    return _saved(service)


# --- routing rules ------------------------------------------------------------------------------


@blp.route("/services/<service_code>/routing-rule", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.RoutingRuleOut)
def get_routing_rule(service_code: str) -> RoutingRule:
    """Where requests of the service go: agency, deciding layer, fallback crew, workflow, SLA."""
    rule = catalogue_queries.get_routing_rule(database.session(), _service(service_code))
    return _found(rule, f"routing rule for service {service_code}")


@blp.route("/services/<service_code>/routing-rule", methods=["PUT"])
@staff_required(ADMIN)
@blp.arguments(s.RoutingRuleBody)
@blp.response(200, s.RoutingRuleOut)
def set_routing_rule(draft: catalogue_admin.RuleDraft, service_code: str) -> RoutingRule:
    """Create or replace the service's routing rule.

    Fields left out become null (sla_clock: business). Requests already filed keep their work
    orders; the fallback crew must be one of the rule's agency."""
    service = _service(service_code)
    rule = catalogue_admin.set_routing_rule(database.session(), _city(), service, draft)
    return _saved(rule)


# --- workflows ----------------------------------------------------------------------------------


def _workflow(code: str) -> Workflow:
    found = admin_queries.get_workflow(database.session(), _city(), code)
    return _found(found, f"workflow {code}")


@blp.route("/workflows", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.WorkflowOut(many=True))
def list_workflows() -> list[Workflow]:
    """Every workflow with its steps, by code."""
    return list(admin_queries.find_workflows(database.session(), _city()))


@blp.route("/workflows", methods=["POST"])
@staff_required(ADMIN)
@blp.arguments(s.WorkflowBody)
@blp.response(201, s.WorkflowOut)
def create_workflow(body: dict[str, Any]) -> Workflow:
    """Create a workflow; next_step and outcomes name steps of the same workflow."""
    workflow = catalogue_admin.create_workflow(
        database.session(), _city(), body["code"], body["name"], body["steps"]
    )
    return _saved(workflow)


@blp.route("/workflows/<code>", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.WorkflowOut)
def get_workflow(code: str) -> Workflow:
    """One workflow with its steps in order."""
    return _workflow(code)


@blp.route("/workflows/<code>", methods=["PUT"])
@staff_required(ADMIN)
@blp.arguments(s.WorkflowChangeBody)
@blp.response(200, s.WorkflowOut)
def replace_workflow(body: dict[str, Any], code: str) -> Workflow:
    """Replace a workflow's name and steps.

    Steps are matched by code and updated in place, so work orders stay at their step; a step
    that work orders are at cannot be removed (400 names it)."""
    workflow = _workflow(code)
    catalogue_admin.replace_workflow(
        database.session(), _city(), workflow, body["name"], body["steps"]
    )
    return _saved(workflow)


# --- agencies -----------------------------------------------------------------------------------


def _agency(code: str) -> Agency:
    return _found(catalogue_queries.get_agency(database.session(), _city(), code), f"agency {code}")


@blp.route("/agencies", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.AgencyOut(many=True))
def list_agencies() -> list[Agency]:
    """Every agency, by code."""
    return list(admin_queries.find_agencies(database.session(), _city()))


@blp.route("/agencies", methods=["POST"])
@staff_required(ADMIN)
@blp.arguments(s.AgencyBody)
@blp.response(201, s.AgencyOut)
def create_agency(body: dict[str, Any]) -> Agency:
    """Add an agency (a department that answers for services and has crews)."""
    agency = catalogue_admin.create_agency(database.session(), _city(), body["code"], body["name"])
    return _saved(agency)


@blp.route("/agencies/<code>", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.AgencyOut)
def get_agency(code: str) -> Agency:
    """One agency."""
    return _agency(code)


@blp.route("/agencies/<code>", methods=["PATCH"])
@staff_required(ADMIN)
@blp.arguments(s.AgencyChangeBody)
@blp.response(200, s.AgencyOut)
def rename_agency(body: dict[str, Any], code: str) -> Agency:
    """Rename an agency (its code stays)."""
    agency = _agency(code)
    catalogue_admin.rename_agency(database.session(), agency, body["name"])
    return _saved(agency)


# --- crews --------------------------------------------------------------------------------------


def _crew(crew_id: int) -> Crew:
    return _found(admin_queries.get_crew(database.session(), _city(), crew_id), f"crew {crew_id}")


@blp.route("/crews", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.CrewOut(many=True))
def list_crews() -> list[Crew]:
    """Every crew with its agency and districts, by agency code then crew code."""
    return list(admin_queries.find_crews(database.session(), _city()))


@blp.route("/crews", methods=["POST"])
@staff_required(ADMIN)
@blp.arguments(s.CrewBody)
@blp.response(201, s.CrewOut)
def create_crew(body: dict[str, Any]) -> Crew:
    """Add a crew to an agency; field crews cover the districts given."""
    crew = catalogue_admin.create_crew(
        database.session(),
        _city(),
        agency_code=body["agency"],
        code=body["code"],
        name=body["name"],
        kind=body["kind"],
        district_ids=body["district_ids"],
    )
    return _saved(crew)


@blp.route("/crews/<int:crew_id>", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.CrewOut)
def get_crew(crew_id: int) -> Crew:
    """One crew."""
    return _crew(crew_id)


@blp.route("/crews/<int:crew_id>", methods=["PATCH"])
@staff_required(ADMIN)
@blp.arguments(s.CrewChangeBody)
@blp.response(200, s.CrewOut)
def change_crew(body: dict[str, Any], crew_id: int) -> Crew:
    """Change a crew's name, kind or districts (district_ids replaces the whole list)."""
    crew = _crew(crew_id)
    catalogue_admin.change_crew(database.session(), _city(), crew, body)
    return _saved(crew)


# --- API clients --------------------------------------------------------------------------------


def _api_client(client_id: int) -> ApiClient:
    found = admin_queries.get_api_client(database.session(), client_id)
    return _found(found, f"API client {client_id}")


@dataclass(frozen=True)
class NewApiKey:
    """An API client and its new key, which only this answer ever shows."""

    client: ApiClient
    api_key: str


def _with_key(client: ApiClient, key: str) -> NewApiKey:
    database.session().commit()
    return NewApiKey(client, key)


@blp.route("/api-clients", methods=["GET"])
@staff_required(*READERS)
@blp.response(200, s.ApiClientOut(many=True))
def list_api_clients() -> list[ApiClient]:
    """Every API client (key prefixes only, never keys or hashes)."""
    return list(admin_queries.find_api_clients(database.session()))


@blp.route("/api-clients", methods=["POST"])
@staff_required(ADMIN)
@blp.arguments(s.ApiClientBody)
@blp.response(201, s.ApiKeyOut)
def create_api_client(body: dict[str, Any]) -> NewApiKey:
    """Register an application, with its own rate limit if given; the answer holds its
    api_key, shown this once."""
    session = database.session()
    return _with_key(*apikeys.create_api_client(session, body["name"], body.get("rate_limit")))


@blp.route("/api-clients/<int:client_id>", methods=["PATCH"])
@staff_required(ADMIN)
@blp.arguments(s.ApiClientChangeBody)
@blp.response(200, s.ApiClientOut)
def change_api_client(body: dict[str, Any], client_id: int) -> ApiClient:
    """Rename a client or set its own rate limit (null: the server's defaults); its count
    starts again under a new limit. The key stays."""
    client = _api_client(client_id)
    if "name" in body:
        client.name = body["name"]
    if "rate_limit" in body:
        apikeys.set_rate_limit(database.session(), client, body["rate_limit"])
    return _saved(client)


@blp.route("/api-clients/<int:client_id>/disable", methods=["POST"])
@staff_required(ADMIN)
@blp.response(200, s.ApiClientOut)
def disable_api_client(client_id: int) -> ApiClient:
    """Stop accepting the client's key (POSTs with it are refused with 403)."""
    client = _api_client(client_id)
    apikeys.disable_api_client(database.session(), client)
    return _saved(client)


@blp.route("/api-clients/<int:client_id>/rotate", methods=["POST"])
@staff_required(ADMIN)
@blp.response(200, s.ApiKeyOut)
def rotate_api_client(client_id: int) -> NewApiKey:
    """Give the client a new api_key, shown this once; the old key stops working at once."""
    client = _api_client(client_id)
    return _with_key(client, apikeys.rotate_api_client(database.session(), client))
