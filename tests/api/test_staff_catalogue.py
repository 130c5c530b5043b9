"""Catalogue administration through the staff API: roles, every resource, refusals that change
nothing, and the public GeoReport API seeing each catalogue change (changeset, json and xml)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from open311.db.models import (
    Agency,
    ApiClient,
    AttributeValue,
    Crew,
    Jurisdiction,
    RoutingRule,
    Service,
    ServiceAttribute,
    Workflow,
    WorkflowStep,
)
from open311.domain import catalogue_admin
from open311.errors import InvalidInput
from open311.values import StaffRole
from tests.api.helpers import FORMATS, bearer, body, make_staff, url
from tests.factories import (
    make_agency,
    make_api_client,
    make_attribute,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_request,
    make_rule,
    make_service,
    make_work_order,
    make_workflow,
)

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
CATALOGUE_TABLES = (
    Service,
    ServiceAttribute,
    AttributeValue,
    RoutingRule,
    Workflow,
    WorkflowStep,
    Agency,
    Crew,
    ApiClient,
)


@pytest.fixture
def city(db):
    return make_jurisdiction(db, catalogue_changed_at=LONG_AGO)


@pytest.fixture
def world(db, city) -> dict[str, Any]:
    """A small catalogue: service POT with a rule, agency BOS with a field crew covering CD1,
    a two-step workflow, one API client."""
    layer = make_boundary_layer(db, city, "council_districts")
    cd1 = make_district(db, layer, "CD1")
    bos = make_agency(db, city, "BOS", name="Bureau of Street Services")
    crew = make_crew(db, bos, "BOS-F1", districts=[cd1])
    flow = make_workflow(
        db, city, {"code": "inspect", "next_step": "repair"}, {"code": "repair"}, code="WF"
    )
    pothole = make_service(db, city, "POT", service_name="Pothole")
    make_rule(db, pothole, bos, workflow=flow)
    api_client, key = make_api_client(db, "app")
    return {
        "layer": layer,
        "cd1": cd1,
        "agency": bos,
        "crew": crew,
        "workflow": flow,
        "service": pothole,
        "api_client": api_client,
        "key": key,
    }


@pytest.fixture
def admin(db):
    return bearer(make_staff(db, StaffRole.administrator)[1])


def snapshot(db) -> dict[str, int]:
    """Row counts of every catalogue table and the changeset: equal before and after a refusal."""
    counts = {
        model.__tablename__: db.scalar(select(func.count()).select_from(model))
        for model in CATALOGUE_TABLES
    }
    return counts | {"changed": db.scalar(select(func.max(Jurisdiction.catalogue_changed_at)))}


def refused(client, db, method: str, path: str, headers, json: Any, status: int = 400) -> str:
    """Call, expect `status` with the JSON error list, and check that nothing changed."""
    before = snapshot(db)
    response = client.open(path, method=method, headers=headers, json=json)
    assert response.status_code == status, (method, path, response.json)
    assert response.json[0]["code"] == status
    db.expire_all()
    assert snapshot(db) == before
    return " ".join(item["description"] for item in response.json)


def changeset(client) -> str:
    return client.get(url("discovery", "json")).json["changeset"]


# --- roles --------------------------------------------------------------------------------------

READS = [
    "/api/v1/services",
    "/api/v1/services/POT",
    "/api/v1/services/POT/routing-rule",
    "/api/v1/workflows",
    "/api/v1/workflows/WF",
    "/api/v1/agencies",
    "/api/v1/agencies/BOS",
    "/api/v1/crews",
    "/api/v1/crews/{crew}",
    "/api/v1/api-clients",
]
WRITES = [
    ("POST", "/api/v1/services", {"service_code": "NEW", "service_name": "New"}),
    ("PATCH", "/api/v1/services/POT", {"service_name": "Renamed"}),
    ("PUT", "/api/v1/services/POT/attributes", {"attributes": []}),
    ("PUT", "/api/v1/services/POT/routing-rule", {"agency": "BOS"}),
    ("POST", "/api/v1/workflows", {"code": "W2", "name": "W", "steps": []}),
    ("PUT", "/api/v1/workflows/WF", {"name": "W", "steps": []}),
    ("POST", "/api/v1/agencies", {"code": "NEW", "name": "New"}),
    ("PATCH", "/api/v1/agencies/BOS", {"name": "Renamed"}),
    ("POST", "/api/v1/crews", {"agency": "BOS", "code": "C", "name": "C"}),
    ("PATCH", "/api/v1/crews/{crew}", {"name": "Renamed"}),
    ("POST", "/api/v1/api-clients", {"name": "app"}),
    ("POST", "/api/v1/api-clients/{api_client}/disable", None),
    ("POST", "/api/v1/api-clients/{api_client}/rotate", None),
]


def _path(template: str, world: dict[str, Any]) -> str:
    return template.format(crew=world["crew"].id, api_client=world["api_client"].id)


def _headers(db, world, role: str | None) -> dict[str, str]:
    if role is None:
        return {}
    return bearer(make_staff(db, role, crews=[world["crew"]])[1])


@pytest.mark.parametrize(
    ("role", "status"),
    [("administrator", 200), ("supervisor", 200), ("call_taker", 403), ("crew_member", 403)]
    + [(None, 401)],
)
def test_reads_are_for_administrators_and_supervisors(client, db, world, role, status):
    headers = _headers(db, world, role)
    for path in READS:
        response = client.get(_path(path, world), headers=headers)
        assert response.status_code == status, (path, response.json)


@pytest.mark.parametrize(
    ("role", "status"),
    [("supervisor", 403), ("call_taker", 403), ("crew_member", 403), (None, 401)],
)
def test_writes_are_for_administrators_only(client, db, world, role, status):
    headers = _headers(db, world, role)
    for method, path, payload in WRITES:
        refused(client, db, method, _path(path, world), headers, payload, status)


def test_every_endpoint_is_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json["paths"]
    documented = {p.replace("{service_code}", "POT") for p in paths}
    for path in READS + [path for _method, path, _payload in WRITES]:
        generic = path.replace("{crew}", "{crew_id}").replace("{api_client}", "{client_id}")
        generic = generic.replace("/WF", "/{code}").replace("/BOS", "/{code}")
        assert generic in documented, generic


# --- services -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_created_service_is_public_and_moves_the_changeset(client, db, city, admin, fmt):
    before = changeset(client)
    response = client.post(
        "/api/v1/services",
        headers=admin,
        json={"service_code": "GRF", "service_name": "Graffiti", "type": "batch", "group": "art"},
    )
    assert response.status_code == 201, response.json
    assert response.json["service_code"] == "GRF" and response.json["active"] is True
    assert response.json["type"] == "batch" and response.json["attributes"] == []
    assert changeset(client) != before

    (listed,) = body(client.get(url("services", fmt)), fmt, "services")
    assert listed["service_code"] == "GRF" and listed["service_name"] == "Graffiti"
    assert listed["type"] == "batch" and listed["group"] == "art"
    assert listed["metadata"] in (False, "false")


@pytest.mark.parametrize("fmt", FORMATS)
def test_patched_service_shows_in_the_public_list(client, db, world, admin, fmt):
    response = client.patch(
        "/api/v1/services/POT",
        headers=admin,
        json={"service_name": "Pothole repair", "service_notice": None, "keywords": "road"},
    )
    assert response.status_code == 200, response.json
    assert response.json["service_name"] == "Pothole repair"
    assert response.json["service_notice"] is None
    assert changeset(client) != "2020-01-01T00:00:00Z"
    (listed,) = body(client.get(url("services", fmt)), fmt, "services")
    assert listed["service_name"] == "Pothole repair" and listed["keywords"] == "road"
    assert "service_notice" not in listed or listed["service_notice"] is None


def test_deactivated_service_leaves_the_public_catalogue_but_not_the_admin_list(
    client, db, world, admin
):
    response = client.patch("/api/v1/services/POT", headers=admin, json={"active": False})
    assert response.status_code == 200 and response.json["active"] is False
    assert client.get(url("services", "json")).json == []
    assert client.get(url("services/POT", "json")).status_code == 404
    listed = client.get("/api/v1/services", headers=admin).json
    assert [(s["service_code"], s["active"]) for s in listed] == [("POT", False)]


def test_a_patch_that_changes_nothing_leaves_the_changeset(client, db, world, admin):
    response = client.patch("/api/v1/services/POT", headers=admin, json={"service_name": "Pothole"})
    assert response.status_code == 200
    assert changeset(client) == "2020-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"service_code": "a b", "service_name": "Spaces"}, "service_code"),
        ({"service_code": "X/Y", "service_name": "Slash"}, "service_code"),
        ({"service_code": "NEW"}, "service_name"),
        ({"service_code": "NEW", "service_name": "N", "type": "weekly"}, "type"),
        ({"service_code": "NEW", "service_name": "N", "colour": "red"}, "colour"),
        ({"service_code": "NEW", "service_name": ""}, "service_name"),
    ],
)
def test_bad_new_service_is_400(client, db, world, admin, payload, message):
    assert message in refused(client, db, "POST", "/api/v1/services", admin, payload)


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", "/api/v1/services/NOPE", None),
        ("PATCH", "/api/v1/services/NOPE", {"service_name": "x"}),
        ("PUT", "/api/v1/services/NOPE/attributes", {"attributes": []}),
        ("GET", "/api/v1/services/NOPE/routing-rule", None),
        ("PUT", "/api/v1/services/NOPE/routing-rule", {"agency": "BOS"}),
        ("GET", "/api/v1/workflows/NOPE", None),
        (
            "PUT",
            "/api/v1/workflows/NOPE",
            {"name": "x", "steps": [{"code": "a", "name": "A", "target_hours": 8}]},
        ),
        ("GET", "/api/v1/agencies/NOPE", None),
        ("PATCH", "/api/v1/agencies/NOPE", {"name": "x"}),
        ("GET", "/api/v1/crews/999999", None),
        ("PATCH", "/api/v1/crews/999999", {"name": "x"}),
        ("POST", "/api/v1/api-clients/999999/disable", None),
        ("POST", "/api/v1/api-clients/999999/rotate", None),
    ],
)
def test_unknown_ids_and_codes_are_404(client, db, world, admin, method, path, payload):
    refused(client, db, method, path, admin, payload, 404)


# --- definitions --------------------------------------------------------------------------------

DEFINITION = [
    {
        "code": "DEPTH",
        "datatype": "singlevaluelist",
        "required": True,
        "description": "How deep is it?",
        "values": [{"key": "S", "name": "Shallow"}, {"key": "D", "name": "Deep"}],
    },
    {"code": "NOTE", "datatype": "text", "variable": False, "description": "Be careful."},
    {
        "code": "WIDTH",
        "datatype": "number",
        "description": "Width (cm)",
        "datatype_description": "cm",
    },
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_definition_is_replaced_and_published(client, db, world, admin, fmt):
    service = world["service"]
    service.attributes = [make_attribute("OLD", position=1)]
    db.flush()

    response = client.put(
        "/api/v1/services/POT/attributes", headers=admin, json={"attributes": DEFINITION}
    )

    assert response.status_code == 200, response.json
    assert [a["code"] for a in response.json["attributes"]] == ["DEPTH", "NOTE", "WIDTH"]
    assert response.json["metadata"] is True
    assert changeset(client) != "2020-01-01T00:00:00Z"
    definition = body(client.get(url("services/POT", fmt)), fmt, "service_definition")
    attributes = definition["attributes"]
    assert [a["code"] for a in attributes] == ["DEPTH", "NOTE", "WIDTH"]
    assert [str(a["order"]) for a in attributes] == ["1", "2", "3"]
    assert [v["key"] for v in attributes[0]["values"]] == ["S", "D"]
    assert attributes[0]["required"] in (True, "true")
    assert attributes[1]["variable"] in (False, "false")
    assert attributes[2]["datatype_description"] == "cm"
    (listed,) = body(client.get(url("services", fmt)), fmt, "services")
    assert listed["metadata"] in (True, "true")


def test_empty_definition_removes_the_questions(client, db, world, admin):
    world["service"].attributes = [make_attribute("OLD", position=1)]
    db.flush()
    response = client.put("/api/v1/services/POT/attributes", headers=admin, json={"attributes": []})
    assert response.status_code == 200 and response.json["metadata"] is False
    assert client.get(url("services", "json")).json[0]["metadata"] is False


def _attribute(**overrides: Any) -> dict[str, Any]:
    return {"code": "Q", "datatype": "string", "description": "Question"} | overrides


LIST_VALUES = [{"key": "A", "name": "a"}]


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ([_attribute(), _attribute()], "code Q is repeated"),
        ([_attribute(values=LIST_VALUES)], "only list datatypes have values"),
        ([_attribute(datatype="singlevaluelist")], "needs at least one value"),
        ([_attribute(datatype="multivaluelist", values=[])], "needs at least one value"),
        ([_attribute(datatype="multivaluelist", values=LIST_VALUES * 2)], "key A is repeated"),
        ([_attribute(variable=False, required=True)], "informational"),
        ([_attribute(datatype="boolean")], "datatype"),
        ([_attribute(description="")], "description"),
        ([_attribute(code="a b")], "hold only letters, digits"),
        ([{"code": "Q", "datatype": "string"}], "description"),
        ([_attribute(datatype="singlevaluelist", values=[{"key": "A"}])], "name"),
        ([_attribute(colour="red")], "colour"),
        (None, "attributes"),
    ],
)
def test_bad_definition_is_400_and_keeps_the_old_one(client, db, world, admin, attributes, message):
    world["service"].attributes = [make_attribute("OLD", position=1)]
    db.flush()
    payload = {} if attributes is None else {"attributes": attributes}
    assert message in refused(client, db, "PUT", "/api/v1/services/POT/attributes", admin, payload)
    assert [a["code"] for a in client.get(url("services/POT", "json")).json["attributes"]] == [
        "OLD"
    ]


def test_all_problems_of_a_definition_are_reported_at_once(client, db, world, admin):
    attributes = [_attribute(), _attribute(), _attribute(code="L", datatype="singlevaluelist")]
    message = refused(
        client, db, "PUT", "/api/v1/services/POT/attributes", admin, {"attributes": attributes}
    )
    assert "code Q is repeated" in message and "L: a singlevaluelist needs" in message


# --- routing rules ------------------------------------------------------------------------------


def test_routing_rule_is_read_and_replaced(client, db, world, admin):
    rule = client.get("/api/v1/services/POT/routing-rule", headers=admin).json
    assert rule == {
        "service_code": "POT",
        "agency": "BOS",
        "layer": None,
        "fallback_crew_id": None,
        "workflow": "WF",
        "sla_days": None,
        "sla_clock": "business",
    }
    crew = world["crew"]
    new = {
        "agency": "BOS",
        "layer": "council_districts",
        "fallback_crew_id": crew.id,
        "workflow": None,
        "sla_days": 3.5,
        "sla_clock": "calendar",
    }
    response = client.put("/api/v1/services/POT/routing-rule", headers=admin, json=new)
    assert response.status_code == 200, response.json
    assert response.json == new | {"service_code": "POT"}
    assert client.get("/api/v1/services/POT/routing-rule", headers=admin).json == response.json


def test_routing_rule_is_created_for_a_service_without_one(client, db, world, admin):
    make_service(db, world["service"].jurisdiction, "GRF")
    path = "/api/v1/services/GRF/routing-rule"
    assert client.get(path, headers=admin).status_code == 404
    response = client.put(path, headers=admin, json={"agency": "BOS"})
    assert response.status_code == 200 and response.json["agency"] == "BOS"
    assert response.json["workflow"] is None and response.json["sla_clock"] == "business"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"agency": "NOPE"}, "no agency NOPE"),
        ({"agency": "BOS", "layer": "wards"}, "no boundary layer wards"),
        ({"agency": "BOS", "workflow": "NOPE"}, "no workflow NOPE"),
        ({"agency": "BOS", "fallback_crew_id": 999999}, "no crew 999999"),
        ({"agency": "OTHER", "fallback_crew_id": "{crew}"}, "belongs to agency BOS"),
        ({"agency": "BOS", "sla_days": 0}, "sla_days"),
        ({"agency": "BOS", "sla_clock": "lunar"}, "sla_clock"),
        ({"layer": "council_districts"}, "agency"),
    ],
)
def test_bad_routing_rule_is_400(client, db, world, admin, payload, message):
    make_agency(db, world["service"].jurisdiction, "OTHER")
    if payload.get("fallback_crew_id") == "{crew}":
        payload = payload | {"fallback_crew_id": world["crew"].id}
    path = "/api/v1/services/POT/routing-rule"
    assert message in refused(client, db, "PUT", path, admin, payload)
    assert client.get(path, headers=admin).json["workflow"] == "WF"


# --- workflows ----------------------------------------------------------------------------------


def _step(code: str, **overrides: Any) -> dict[str, Any]:
    return {"code": code, "name": f"Step {code}", "target_hours": 8} | overrides


def test_workflow_is_created_and_listed(client, db, world, admin):
    steps = [
        _step("tag", agency="BOS", crew_role="fixed", crew_id=world["crew"].id, wait_hours=72),
        _step("tow", outcomes={"gone": None, "towed": "tag"}, public_note="Tow scheduled"),
    ]
    response = client.post(
        "/api/v1/workflows", headers=admin, json={"code": "TOW", "name": "Tow", "steps": steps}
    )
    assert response.status_code == 201, response.json
    tag, tow = response.json["steps"]
    assert tag["agency"] == "BOS" and tag["crew_id"] == world["crew"].id
    assert tag["crew_role"] == "fixed" and tag["wait_hours"] == 72
    assert tow["agency"] is None and tow["crew_role"] == "district"
    assert tow["outcomes"] == {"gone": None, "towed": "tag"}
    assert tow["public_note"] == "Tow scheduled"
    listed = client.get("/api/v1/workflows", headers=admin).json
    assert [w["code"] for w in listed] == ["TOW", "WF"]


def test_workflow_steps_are_updated_in_place_by_code(client, db, world, admin):
    flow = world["workflow"]
    inspect, repair = flow.steps
    request = make_request(db, world["service"])
    order = make_work_order(db, request, world["agency"], step_id=repair.id)
    steps = [
        _step("repair", name="Repair it", target_hours=16),
        _step("check"),
        _step("inspect", next_step="repair", outcomes={"fine": None}),
    ]
    response = client.put(
        "/api/v1/workflows/WF", headers=admin, json={"name": "Pothole flow", "steps": steps}
    )
    assert response.status_code == 200, response.json
    assert [s["code"] for s in response.json["steps"]] == ["repair", "check", "inspect"]
    db.expire_all()
    rows = db.scalars(
        select(WorkflowStep).where(WorkflowStep.workflow_id == flow.id).order_by("position")
    ).all()
    assert [(s.code, s.position) for s in rows] == [("repair", 1), ("check", 2), ("inspect", 3)]
    assert rows[0].id == repair.id and rows[2].id == inspect.id
    assert rows[0].name == "Repair it" and rows[0].target_hours == 16
    assert db.get(type(order), order.id).step_id == repair.id


def test_step_with_work_orders_cannot_be_removed(client, db, world, admin):
    repair = world["workflow"].steps[1]
    make_work_order(db, make_request(db, world["service"]), world["agency"], step_id=repair.id)
    payload = {"name": "WF", "steps": [_step("inspect")]}
    message = refused(client, db, "PUT", "/api/v1/workflows/WF", admin, payload)
    assert "step repair cannot be removed: 1 work orders" in message


def test_unused_step_can_be_removed(client, db, world, admin):
    payload = {"name": "WF", "steps": [_step("repair")]}
    response = client.put("/api/v1/workflows/WF", headers=admin, json=payload)
    assert response.status_code == 200
    assert [s["code"] for s in response.json["steps"]] == ["repair"]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "at least one step"),
        ([_step("a"), _step("a")], "code a is repeated"),
        ([_step("a", next_step="z")], "next_step z is not a step"),
        ([_step("a", outcomes={"ok": "z"})], "outcome ok leads to z"),
        ([_step("a", agency="NOPE")], "no agency NOPE"),
        ([_step("a", crew_role="fixed")], "needs a crew_id"),
        ([_step("a", crew_role="fixed", crew_id=999999)], "no crew 999999"),
        ([_step("a", crew_role="triage", crew_id="{crew}")], "only for crew_role fixed"),
        ([_step("a", agency="OTHER", crew_role="fixed", crew_id="{crew}")], "belongs to agency"),
        ([_step("a", crew_role="boss")], "crew_role"),
        ([_step("a", target_hours=0)], "target_hours"),
        ([_step("a", wait_hours=-1)], "wait_hours"),
        ([{"code": "a", "name": "A"}], "target_hours"),
    ],
)
def test_bad_workflow_is_400(client, db, world, admin, steps, message):
    make_agency(db, world["service"].jurisdiction, "OTHER")
    steps = [
        step | {"crew_id": world["crew"].id} if step.get("crew_id") == "{crew}" else step
        for step in steps
    ]
    payload = {"name": "Renamed", "steps": steps}
    assert message in refused(client, db, "PUT", "/api/v1/workflows/WF", admin, payload)
    assert message in refused(
        client, db, "POST", "/api/v1/workflows", admin, payload | {"code": "NEW"}
    )
    assert client.get("/api/v1/workflows/WF", headers=admin).json["name"] == "WF"


@pytest.mark.parametrize(
    ("path", "payload", "message"),
    [
        ("/api/v1/services", {"service_code": "POT", "service_name": "Again"}, "already exists"),
        ("/api/v1/workflows", {"code": "WF", "name": "Again"}, "workflow WF already exists"),
        ("/api/v1/agencies", {"code": "BOS", "name": "Again"}, "agency BOS already exists"),
        ("/api/v1/crews", {"agency": "BOS", "code": "BOS-F1", "name": "C"}, "already has a crew"),
    ],
)
def test_what_exists_already_is_409(client, db, world, admin, path, payload, message):
    """A well-formed body naming a code in use: 409 Conflict (as /openapi.json says), not 400."""
    if path.endswith("workflows"):
        payload = payload | {"steps": [_step("a")]}
    assert message in refused(client, db, "POST", path, admin, payload, status=409)


@pytest.mark.parametrize("name", ["Pothole", " pothole ", "POTHOLE"])
def test_a_service_name_in_use_is_409_on_create(client, db, world, admin, name):
    """FixMyStreet matches categories by name: one city cannot have two services named alike."""
    payload = {"service_code": "POT2", "service_name": name}

    message = refused(client, db, "POST", "/api/v1/services", admin, payload, status=409)

    assert "service_name" in message and "POT" in message


def test_a_service_name_in_use_is_409_on_rename(client, db, world, admin, city):
    make_service(db, city, "GRF", service_name="Graffiti")

    message = refused(
        client, db, "PATCH", "/api/v1/services/GRF", admin, {"service_name": "pothole"}, 409
    )

    assert "service_name" in message
    response = client.patch(
        "/api/v1/services/GRF", headers=admin, json={"service_name": "GRAFFITI"}
    )
    assert response.status_code == 200  # its own name, in another case, is free


def test_the_database_refuses_two_services_of_one_city_named_alike(db, world, city):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError, match="ux_service_jurisdiction_id_name"), db.begin_nested():
        make_service(db, city, "POT2", service_name=" POTHOLE")


# --- agencies and crews -------------------------------------------------------------------------


def test_agencies_are_created_listed_and_renamed(client, db, world, admin):
    response = client.post(
        "/api/v1/agencies", headers=admin, json={"code": "BSL", "name": "Lights"}
    )
    assert response.status_code == 201 and response.json == {"code": "BSL", "name": "Lights"}
    response = client.patch("/api/v1/agencies/BSL", headers=admin, json={"name": "Street Lighting"})
    assert response.status_code == 200 and response.json["name"] == "Street Lighting"
    listed = client.get("/api/v1/agencies", headers=admin).json
    assert listed == [
        {"code": "BOS", "name": "Bureau of Street Services"},
        {"code": "BSL", "name": "Street Lighting"},
    ]


@pytest.mark.parametrize(
    ("method", "path", "payload", "message"),
    [
        ("POST", "/api/v1/agencies", {"code": "B S", "name": "Space"}, "code"),
        ("POST", "/api/v1/agencies", {"code": "NEW"}, "name"),
        ("PATCH", "/api/v1/agencies/BOS", {"name": ""}, "name"),
        ("PATCH", "/api/v1/agencies/BOS", {}, "name"),
    ],
)
def test_bad_agency_is_400(client, db, world, admin, method, path, payload, message):
    assert message in refused(client, db, method, path, admin, payload)


def test_crews_are_created_with_districts_and_changed(client, db, world, admin):
    cd2 = make_district(db, world["layer"], "CD2")
    payload = {"agency": "BOS", "code": "BOS-F2", "name": "Field 2", "district_ids": [cd2.id]}
    response = client.post("/api/v1/crews", headers=admin, json=payload)
    assert response.status_code == 201, response.json
    crew = response.json
    assert crew["agency"] == "BOS" and crew["kind"] == "field"
    assert crew["districts"] == [{"id": cd2.id, "layer": "council_districts", "name": "CD2"}]

    both = [world["cd1"].id, cd2.id]
    response = client.patch(
        f"/api/v1/crews/{crew['id']}", headers=admin, json={"name": "F2", "district_ids": both}
    )
    assert response.status_code == 200
    assert sorted(d["name"] for d in response.json["districts"]) == ["CD1", "CD2"]
    response = client.patch(
        f"/api/v1/crews/{crew['id']}", headers=admin, json={"kind": "triage", "district_ids": []}
    )
    assert response.json["kind"] == "triage" and response.json["districts"] == []
    listed = client.get("/api/v1/crews", headers=admin).json
    assert [(c["agency"], c["code"]) for c in listed] == [("BOS", "BOS-F1"), ("BOS", "BOS-F2")]


@pytest.mark.parametrize(
    ("method", "payload", "message"),
    [
        ("POST", {"agency": "NOPE", "code": "C", "name": "C"}, "no agency NOPE"),
        ("POST", {"agency": "BOS", "code": "C", "name": "C", "district_ids": [999999]}, "999999"),
        ("POST", {"agency": "BOS", "code": "C", "name": "C", "kind": "boss"}, "kind"),
        (
            "POST",
            {"agency": "BOS", "code": "C", "name": "C", "kind": "triage", "district_ids": "cd1"},
            "only field crews",
        ),
        ("PATCH", {"kind": "triage"}, "only field crews cover districts"),
        ("PATCH", {"district_ids": [999999]}, "no district 999999"),
        ("PATCH", {"name": ""}, "name"),
    ],
)
def test_bad_crew_is_400(client, db, world, admin, method, payload, message):
    if payload.get("district_ids") == "cd1":
        payload = payload | {"district_ids": [world["cd1"].id]}
    path = "/api/v1/crews" if method == "POST" else f"/api/v1/crews/{world['crew'].id}"
    assert message in refused(client, db, method, path, admin, payload)


def test_districts_of_another_jurisdiction_are_unknown(db, world):
    elsewhere = make_jurisdiction(db, jurisdiction_id="nyc.gov", name="New York")
    queens = make_district(db, make_boundary_layer(db, elsewhere, "boroughs"), "Queens")
    city = world["service"].jurisdiction
    with pytest.raises(InvalidInput, match=f"no district {queens.id}"):
        catalogue_admin.change_crew(db, city, world["crew"], {"district_ids": [queens.id]})


# --- API clients --------------------------------------------------------------------------------


def _post_request(client, key: str) -> int:
    """The status of a GeoReport POST requests made with `key` (any 2xx counts as accepted)."""
    response = client.post(
        url("requests", "json"),
        data={"api_key": key, "service_code": "POT", "lat": "34.05", "long": "-118.25"},
    )
    return 200 if 200 <= response.status_code < 300 else response.status_code


def test_api_client_key_is_shown_once_and_never_listed(client, db, world, admin):
    response = client.post("/api/v1/api-clients", headers=admin, json={"name": "Mobile app"})
    assert response.status_code == 201, response.json
    created = response.json
    fields = {"id", "name", "key_prefix", "active", "created_at", "rate_limit"}
    assert set(created) == fields | {"api_key"}
    assert created["rate_limit"] is None  # the server's defaults
    assert created["api_key"].startswith(created["key_prefix"]) and created["active"] is True
    assert _post_request(client, created["api_key"]) == 200

    listed = client.get("/api/v1/api-clients", headers=admin)
    assert [c["name"] for c in listed.json] == ["app", "Mobile app"]
    assert all(set(c) == fields for c in listed.json)
    assert created["api_key"] not in listed.get_data(as_text=True)


def test_disabled_client_key_is_refused(client, db, world, admin):
    assert _post_request(client, world["key"]) == 200
    response = client.post(f"/api/v1/api-clients/{world['api_client'].id}/disable", headers=admin)
    assert response.status_code == 200 and response.json["active"] is False
    assert _post_request(client, world["key"]) == 403


def test_rotated_key_replaces_the_old_one(client, db, world, admin):
    response = client.post(f"/api/v1/api-clients/{world['api_client'].id}/rotate", headers=admin)
    assert response.status_code == 200, response.json
    new_key = response.json["api_key"]
    assert new_key != world["key"] and new_key.startswith(response.json["key_prefix"])
    assert _post_request(client, world["key"]) == 403
    assert _post_request(client, new_key) == 200


def test_new_api_client_needs_a_name(client, db, world, admin):
    assert "name" in refused(client, db, "POST", "/api/v1/api-clients", admin, {"name": ""})
