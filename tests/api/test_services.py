"""GET services and GET services/{code}: the catalogue, jurisdictions and definitions."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from open311.values import ServiceType
from tests.api.helpers import FORMATS, body, errors, url, wire
from tests.factories import make_attribute, make_jurisdiction, make_service


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


# --- GET services -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_list_carries_every_field(client, db, city, fmt):
    make_service(
        db,
        city,
        "POT-01",
        service_name="Pothole",
        description="Hole or sunken area in the road surface.",
        keywords="road, asphalt, hole",
        group="streets",
        type=ServiceType.realtime,
        attributes=[make_attribute("DEPTH")],
    )
    make_service(
        db,
        city,
        "GRF",
        service_name="Graffiti",
        description="Paint or tags on public property.",
        keywords="tagging, paint",
        group="cleanliness",
        type=ServiceType.batch,
    )
    make_service(
        db,
        city,
        "BBX",
        service_name="Hotline",
        description=None,
        keywords=None,
        group=None,
        type=ServiceType.blackbox,
    )

    response = client.get(url("services", fmt))

    assert response.status_code == 200
    items = body(response, fmt, "services")
    expected = [
        {
            "service_code": "POT-01",
            "service_name": "Pothole",
            "description": "Hole or sunken area in the road surface.",
            "metadata": True,
            "type": "realtime",
            "keywords": "road, asphalt, hole",
            "group": "streets",
        },
        {
            "service_code": "GRF",
            "service_name": "Graffiti",
            "description": "Paint or tags on public property.",
            "metadata": False,
            "type": "batch",
            "keywords": "tagging, paint",
            "group": "cleanliness",
        },
        {
            "service_code": "BBX",
            "service_name": "Hotline",
            "description": None,
            "metadata": False,
            "type": "blackbox",
            "keywords": None,
            "group": None,
        },
    ]
    by_code = {item["service_code"]: item for item in items}
    assert len(items) == 3
    assert by_code == {e["service_code"]: wire(e, fmt) for e in expected}


@pytest.mark.parametrize("fmt", FORMATS)
def test_metadata_is_true_exactly_when_the_service_has_attributes(client, db, city, fmt):
    informational_only = make_attribute("NOTE", "text", variable=False)
    make_service(db, city, "A", attributes=[informational_only])
    make_service(db, city, "B")

    items = body(client.get(url("services", fmt)), fmt, "services")

    flags = {item["service_code"]: item["metadata"] for item in items}
    assert flags == {"A": wire(True, fmt), "B": wire(False, fmt)}


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_catalogue_is_an_empty_list(client, city, fmt):
    response = client.get(url("services", fmt))

    assert response.status_code == 200
    assert body(response, fmt, "services") == []
    if fmt == "json":
        assert response.data.strip() == b"[]"
    else:
        assert len(ET.fromstring(response.data)) == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_inactive_services_are_hidden(client, db, city, fmt):
    make_service(db, city, "LIVE")
    make_service(db, city, "RETIRED", active=False)

    items = body(client.get(url("services", fmt)), fmt, "services")

    assert [item["service_code"] for item in items] == ["LIVE"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_matching_jurisdiction_id_is_accepted(client, db, city, fmt):
    make_service(db, city, "POT-01")

    response = client.get(url("services", fmt), query_string={"jurisdiction_id": "lacity.org"})

    assert response.status_code == 200
    assert [s["service_code"] for s in body(response, fmt, "services")] == ["POT-01"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_jurisdiction_id_counts_as_absent(client, db, city, fmt, blank):
    make_service(db, city, "POT-01")

    response = client.get(url("services", fmt), query_string={"jurisdiction_id": blank})

    assert response.status_code == 200
    assert [s["service_code"] for s in body(response, fmt, "services")] == ["POT-01"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_jurisdiction_id_is_404(client, db, city, fmt):
    make_service(db, city, "POT-01")

    response = client.get(url("services", fmt), query_string={"jurisdiction_id": "nowhere.gov"})

    (description,) = errors(response, fmt, 404)
    assert "nowhere.gov" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_jurisdictions_need_a_jurisdiction_id(client, db, city, fmt):
    other = make_jurisdiction(db, jurisdiction_id="example.gov", name="Example")
    make_service(db, city, "LA-1")
    make_service(db, other, "EX-1")

    response = client.get(url("services", fmt))

    (description,) = errors(response, fmt, 400)
    assert "jurisdiction_id" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_jurisdictions_each_list_their_own(client, db, city, fmt):
    other = make_jurisdiction(db, jurisdiction_id="example.gov", name="Example")
    make_service(db, city, "LA-1")
    make_service(db, other, "EX-1")

    la = client.get(url("services", fmt), query_string={"jurisdiction_id": "lacity.org"})
    ex = client.get(url("services", fmt), query_string={"jurisdiction_id": "example.gov"})

    assert [s["service_code"] for s in body(la, fmt, "services")] == ["LA-1"]
    assert [s["service_code"] for s in body(ex, fmt, "services")] == ["EX-1"]


# --- GET services/{service_code} -------------------------------------------------------------


def _pothole(db, city, code="POT-01"):
    # Built out of order, so the definition has to sort by `order` itself.
    return make_service(
        db,
        city,
        code,
        attributes=[
            make_attribute(
                "SIDES",
                "multivaluelist",
                values=[("N", "Northbound"), ("S", "Southbound"), ("B", "Bike lane")],
                position=3,
                description="Which lanes?",
                datatype_description="Pick all that apply",
            ),
            make_attribute(
                "DEPTH",
                "singlevaluelist",
                values=[("S", "Less than 5 cm"), ("L", "5 cm or more")],
                required=True,
                position=1,
                description="How deep is the hole?",
            ),
            make_attribute(
                "NOTE1",
                "text",
                variable=False,
                position=2,
                description="Emergencies: call 911 instead.",
            ),
            make_attribute(
                "SEEN",
                "datetime",
                position=4,
                description="When first noticed?",
                datatype_description="e.g. 2024-05-01T08:00:00Z",
            ),
            make_attribute("WIDTH", "number", position=5, description="Width in cm"),
            make_attribute("WHERE", "string", position=6, description="Nearest house number"),
        ],
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_definition_carries_every_attribute_field_in_order(client, db, city, fmt):
    _pothole(db, city)

    response = client.get(url("services/POT-01", fmt))

    assert response.status_code == 200
    expected = {
        "service_code": "POT-01",
        "attributes": [
            {
                "variable": True,
                "code": "DEPTH",
                "datatype": "singlevaluelist",
                "required": True,
                "datatype_description": None,
                "order": 1,
                "description": "How deep is the hole?",
                "values": [
                    {"key": "S", "name": "Less than 5 cm"},
                    {"key": "L", "name": "5 cm or more"},
                ],
            },
            {
                "variable": False,
                "code": "NOTE1",
                "datatype": "text",
                "required": False,
                "datatype_description": None,
                "order": 2,
                "description": "Emergencies: call 911 instead.",
            },
            {
                "variable": True,
                "code": "SIDES",
                "datatype": "multivaluelist",
                "required": False,
                "datatype_description": "Pick all that apply",
                "order": 3,
                "description": "Which lanes?",
                "values": [
                    {"key": "N", "name": "Northbound"},
                    {"key": "S", "name": "Southbound"},
                    {"key": "B", "name": "Bike lane"},
                ],
            },
            {
                "variable": True,
                "code": "SEEN",
                "datatype": "datetime",
                "required": False,
                "datatype_description": "e.g. 2024-05-01T08:00:00Z",
                "order": 4,
                "description": "When first noticed?",
            },
            {
                "variable": True,
                "code": "WIDTH",
                "datatype": "number",
                "required": False,
                "datatype_description": None,
                "order": 5,
                "description": "Width in cm",
            },
            {
                "variable": True,
                "code": "WHERE",
                "datatype": "string",
                "required": False,
                "datatype_description": None,
                "order": 6,
                "description": "Nearest house number",
            },
        ],
    }
    assert body(response, fmt, "service_definition") == wire(expected, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_values_appear_only_on_list_attributes(client, db, city, fmt):
    _pothole(db, city)

    attributes = body(client.get(url("services/POT-01", fmt)), fmt)["attributes"]

    with_values = {a["code"] for a in attributes if "values" in a}
    assert with_values == {"DEPTH", "SIDES"}


def test_json_types_of_definition_fields(client, db, city):
    _pothole(db, city)

    response = client.get(url("services/POT-01", "json"))

    for attribute in response.get_json()["attributes"]:
        assert isinstance(attribute["order"], int)
        assert isinstance(attribute["variable"], bool)
        assert isinstance(attribute["required"], bool)


@pytest.mark.parametrize("fmt", FORMATS)
def test_definition_of_a_service_without_attributes_is_empty(client, db, city, fmt):
    make_service(db, city, "GRF")

    response = client.get(url("services/GRF", fmt))

    assert response.status_code == 200
    assert body(response, fmt, "service_definition") == {"service_code": "GRF", "attributes": []}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("code", ["3.1", "1.2.3", "POT-01", "a_b"])
def test_codes_with_dots_and_dashes_resolve(client, db, city, fmt, code):
    _pothole(db, city, code)

    response = client.get(url(f"services/{code}", fmt))

    assert response.status_code == 200
    document = body(response, fmt, "service_definition")
    assert document["service_code"] == code
    assert [a["code"] for a in document["attributes"]][:2] == ["DEPTH", "NOTE1"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_service_code_is_404(client, db, city, fmt):
    _pothole(db, city)

    response = client.get(url("services/ZZZ", fmt))

    (description,) = errors(response, fmt, 404)
    assert "ZZZ" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_inactive_service_has_no_definition(client, db, city, fmt):
    make_service(db, city, "OLD", active=False, attributes=[make_attribute("X")])

    errors(client.get(url("services/OLD", fmt)), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_definition_is_scoped_to_the_named_jurisdiction(client, db, city, fmt):
    other = make_jurisdiction(db, jurisdiction_id="example.gov", name="Example")
    _pothole(db, other, "EX-1")
    make_service(db, city, "LA-1")

    found = client.get(url("services/EX-1", fmt), query_string={"jurisdiction_id": "example.gov"})
    elsewhere = client.get(
        url("services/EX-1", fmt), query_string={"jurisdiction_id": "lacity.org"}
    )
    unnamed = client.get(url("services/EX-1", fmt))
    unknown = client.get(url("services/EX-1", fmt), query_string={"jurisdiction_id": "no.gov"})

    assert found.status_code == 200
    assert body(found, fmt)["service_code"] == "EX-1"
    errors(elsewhere, fmt, 404)
    errors(unnamed, fmt, 400)
    errors(unknown, fmt, 404)
