"""Real JSON responses validated against the Open311 community's JSON Schemas (draft 4).

The schemas come from open311/schema-validation (spec/conformance/README.md). They are loaded
into one registry so their relative `$ref`s resolve, and formats (date-time, uri) are checked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from jsonschema import Draft4Validator

from open311.values import Datatype
from tests.api.helpers import (
    BASE,
    LONG_DESCRIPTION,
    NASTY_TEXT,
    Seeded,
    community_schema,
    schema_errors,
    seed,
)


@pytest.fixture
def seeded(db) -> Seeded:
    return seed(db)


def get_json(client, path: str, **query: str):
    response = client.get(f"{BASE}/{path}", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type == "application/json; charset=utf-8"
    return response.get_json()


def assert_valid(schema: str, document) -> None:
    errors = schema_errors(schema, document)
    assert errors == [], f"{schema}: {errors}"


def assert_valid_requests(document) -> None:
    """A list of requests against requests.json, and every item against request.json."""
    assert isinstance(document, list)
    assert_valid("requests.json", document)
    for item in document:
        assert isinstance(item, dict)
        assert_valid("request.json", item)


# --- the validator itself: it must be able to say no -------------------------------------------


def test_format_checking_is_switched_on():
    checkers = Draft4Validator.FORMAT_CHECKER.checkers
    assert {"date-time", "uri"} <= set(checkers)


def test_relative_refs_resolve_across_files():
    # services.json only says `"$ref": "service.json"`; the item rules must still apply.
    assert community_schema("services.json")["items"]["$ref"] == "service.json"
    assert schema_errors("services.json", [{"service_code": "A"}])


@pytest.mark.parametrize(
    ("schema", "document", "complaint"),
    [
        (
            "services.json",
            [{"service_code": 1, "service_name": "x", "metadata": False, "type": "realtime"}],
            "is not of type 'string'",
        ),
        (
            "services.json",
            [{"service_code": "1", "service_name": "x", "metadata": "false", "type": "batch"}],
            "is not of type 'boolean'",
        ),
        (
            "services.json",
            [{"service_code": "1", "service_name": "x", "metadata": True, "type": "later"}],
            "is not one of",
        ),
        (
            "service-definition.json",
            {
                "service_code": "A",
                "attributes": [
                    {
                        "variable": True,
                        "code": "C",
                        "datatype": "string",
                        "required": False,
                        "values": [{"key": 124, "name": "Chrysler"}],
                    }
                ],
            },
            "is not of type 'string'",
        ),
        (
            "requests.json",
            [
                {
                    "service_request_id": "1",
                    "status": "open",
                    "service_code": "A",
                    "requested_datetime": "2010-04-14T06:37:38",
                }
            ],
            "is not a 'date-time'",
        ),
        (
            "requests.json",
            [
                {
                    "service_request_id": "1",
                    "status": "open",
                    "service_code": "A",
                    "requested_datetime": "2010-04-14T06:37:38Z",
                    "media_url": "not a uri",
                }
            ],
            "is not a 'uri'",
        ),
        (
            "requests.json",
            [
                {
                    "service_request_id": "1",
                    "status": "open",
                    "service_code": "A",
                    "requested_datetime": "2010-04-14T06:37:38Z",
                    "description": "x" * 4001,
                }
            ],
            "is too long",
        ),
        ("request.json", {"service_request_id": 638344, "status": "open"}, "is a required"),
    ],
)
def test_validator_rejects_broken_documents(schema, document, complaint):
    errors = schema_errors(schema, document)
    assert any(complaint in error for error in errors), errors


# --- our responses ------------------------------------------------------------------------------


def test_service_list(client, seeded):
    document = get_json(client, "services.json")
    assert_valid("services.json", document)
    for item in document:
        assert_valid("service.json", item)
    by_code = {item["service_code"]: item for item in document}
    assert set(by_code) == set(seeded.service_codes)
    assert {item["type"] for item in document} == {"realtime", "batch", "blackbox"}
    assert by_code["POT-01"]["metadata"] is True
    # Null optional fields are JSON null (§11), which service.json allows.
    assert by_code["TIP"]["description"] is None
    assert by_code["TIP"]["keywords"] is None and by_code["TIP"]["group"] is None


def test_service_list_for_named_jurisdiction(client, seeded):
    document = get_json(client, "services.json", jurisdiction_id=seeded.jurisdiction_id)
    assert_valid("services.json", document)
    assert len(document) == len(seeded.service_codes)


def test_service_definitions(client, seeded):
    seen_datatypes: set[str] = set()
    for code in seeded.service_codes:
        document = get_json(client, f"services/{code}.json")
        assert_valid("service-definition.json", document)
        assert document["service_code"] == code
        seen_datatypes |= {attribute["datatype"] for attribute in document["attributes"]}
    assert seen_datatypes == {datatype.value for datatype in Datatype}


def test_service_definition_lists_and_informational_attributes(client, seeded):
    document = get_json(client, "services/POT-01.json")
    by_code = {attribute["code"]: attribute for attribute in document["attributes"]}
    assert by_code["SIDES"]["values"] == [
        {"key": "N", "name": "Northbound"},
        {"key": "S", "name": "Southbound"},
        {"key": "B", "name": "Bike lane"},
    ]
    assert by_code["DEPTH"]["required"] is True
    assert by_code["NOTE1"]["variable"] is False
    assert by_code["SEEN"]["datatype_description"] is None
    orders = [attribute["order"] for attribute in document["attributes"]]
    assert all(isinstance(order, int) for order in orders)
    assert len(set(orders)) == len(orders)


def test_request_list(client, seeded):
    document = get_json(client, "requests.json")
    assert_valid_requests(document)
    by_id = {item["service_request_id"]: item for item in document}
    # Everything in the default 90-day window; the 200-day-old request is not.
    assert set(by_id) == set(seeded.request_ids) - {seeded.hidden.service_request_id}
    full = by_id[seeded.full.service_request_id]
    assert all(value is not None for value in full.values())
    assert isinstance(full["lat"], float) and isinstance(full["long"], float)
    assert full["zipcode"] == "01101"
    sparse = by_id[seeded.sparse.service_request_id]
    assert sparse["lat"] is None and sparse["long"] is None
    assert sparse["description"] is None and sparse["expected_datetime"] is None
    assert by_id[seeded.long.service_request_id]["description"] == LONG_DESCRIPTION
    assert len(LONG_DESCRIPTION) == 4000
    assert by_id[seeded.nasty.service_request_id]["description"] == NASTY_TEXT


@pytest.mark.parametrize(
    "query",
    [
        {"status": "open"},
        {"status": "closed"},
        {"status": "open,closed"},
        {"service_code": "POT-01,GRF"},
        {"service_request_id": "placeholder"},
        {"start_date": "placeholder"},
    ],
    ids=["open", "closed", "both-statuses", "codes", "ids", "dates"],
)
def test_filtered_request_lists(client, seeded, query):
    if "service_request_id" in query:
        query = {"service_request_id": ",".join(seeded.request_ids)}
    if "start_date" in query:
        start = datetime.now(UTC) - timedelta(days=210)
        query = {
            "start_date": start.strftime("%Y-%m-%dT%H:%M:%S-05:00"),
            "end_date": (start + timedelta(days=89)).isoformat(),
        }
    document = get_json(client, "requests.json", **query)
    assert document, query
    assert_valid_requests(document)


def test_empty_request_list_is_valid(client, seeded):
    document = get_json(client, "requests.json", service_code="NO-SUCH-CODE")
    assert document == []
    assert_valid_requests(document)


def test_each_single_request(client, seeded):
    for service_request_id in seeded.request_ids:
        document = get_json(client, f"requests/{service_request_id}.json")
        # request.json has no "type": "object", so the one-item list goes against requests.json.
        assert len(document) == 1
        assert_valid_requests(document)
        assert document[0]["service_request_id"] == service_request_id


def test_requests_filed_through_the_api(client, seeded):
    """POSTed requests, with a location and with only an address, read back schema-valid."""
    with_location = {
        "api_key": seeded.api_key,
        "service_code": "POT-01",
        "lat": "34.05",
        "long": "-118.25",
        "description": "Filed with every datatype answered",
        "media_url": "https://img.example.org/p.jpg",
        "attribute[DEPTH]": "S",
        "attribute[SIDES][]": ["N", "B"],
        "attribute[WIDTH]": "42.5",
        "attribute[SEEN]": "2024-05-01T08:00:00.250-04:00",
        "attribute[LANDMARK]": "Corner shop",
        "attribute[DETAILS]": "Line one\nLine two",
    }
    address_only = {
        "api_key": seeded.api_key,
        "service_code": "3.1",
        "address_string": "1 Spring St, Los Angeles",
        "description": LONG_DESCRIPTION,
    }
    for form in (with_location, address_only):
        posted = client.post(f"{BASE}/requests.json", data=form)
        assert posted.status_code in (200, 201), posted.get_data(as_text=True)
        (answer,) = posted.get_json()
        document = get_json(client, f"requests/{answer['service_request_id']}.json")
        assert_valid_requests(document)
        assert document[0]["description"] == form["description"]
    assert document[0]["lat"] is None and document[0]["address"] == "1 Spring St, Los Angeles"
