"""POST requests: every body encoding, the three service types, and every way to be refused.

Each refusal checks the status, the error list in the requested format, and that no
service_request or requester row was written.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from open311.api.forms import form_limit
from open311.db.models import Requester, ServiceRequest
from open311.values import ServiceType, Status
from tests.api.helpers import (
    BASE,
    FORMATS,
    bearer,
    body,
    counts,
    errors,
    form,
    make_staff,
    url,
    wire,
)
from tests.factories import (
    make_api_client,
    make_api_key,
    make_attribute,
    make_jurisdiction,
    make_service,
)

W3C_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
NASTY = (
    "Robert'); DROP TABLE service_request;-- \" ' ` \\ % _ "
    "<b>&amp;</b> <![CDATA[x]]> ]]> &#x26; <?xml?> <!-- c --> é ü 中 😀"
)


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def api_key(db):
    return make_api_key(db)


@pytest.fixture
def pothole(db, city):
    return make_service(
        db,
        city,
        "POT-01",
        service_name="Pothole",
        agency_responsible="Bureau of Street Services",
        service_notice="Inspection within 3 business days.",
        attributes=[
            make_attribute(
                "DEPTH",
                "singlevaluelist",
                values=[("S", "Less than 5 cm"), ("L", "5 cm or more")],
                required=True,
                position=1,
            ),
            make_attribute("NOTE1", "text", variable=False, position=2),
            make_attribute(
                "SIDES",
                "multivaluelist",
                values=[("N", "Northbound"), ("S", "Southbound"), ("B", "Bike lane")],
                position=3,
            ),
            make_attribute("SEEN", "datetime", position=4),
            make_attribute("WIDTH", "number", position=5),
            make_attribute("WHERE", "string", position=6),
            make_attribute("REMARKS", "text", position=7),
        ],
    )


@pytest.fixture
def graffiti(db, city):
    return make_service(db, city, "GRF", type=ServiceType.batch, service_notice=None)


@pytest.fixture
def hotline(db, city):
    return make_service(db, city, "HOT", type=ServiceType.blackbox)


def valid(api_key: str, **fields: str) -> dict[str, str]:
    """A minimal acceptable pothole report, with overrides."""
    return {
        "api_key": api_key,
        "service_code": "POT-01",
        "lat": "34.0522",
        "long": "-118.2437",
        "attribute[DEPTH]": "L",
    } | fields


def only_request(db) -> ServiceRequest:
    (stored,) = db.scalars(select(ServiceRequest)).all()
    db.refresh(stored)
    return stored


def refused(client, db, fmt: str, status: int, **kwargs) -> list[str]:
    """POST, expect an error list with `status`, and check that nothing was written."""
    before = counts(db)
    response = client.post(url("requests", fmt), **kwargs)
    descriptions = errors(response, fmt, status)
    assert counts(db) == before
    return descriptions


# --- accepted bodies ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_form_encoded_realtime_request_returns_its_id(client, db, pothole, api_key, fmt):
    data = form(
        ("attribute[SIDES][]", "N"),
        ("attribute[SIDES][]", "B"),
        **valid(api_key, description="Deep hole in bike lane", **{"attribute[WIDTH]": "42.5"}),
    )

    response = client.post(url("requests", fmt), data=data)

    assert 200 <= response.status_code < 300
    (answer,) = body(response, fmt, "service_requests")
    stored = only_request(db)
    assert answer == wire(
        {
            "service_request_id": stored.service_request_id,
            "service_notice": "Inspection within 3 business days.",
            "account_id": None,
        },
        fmt,
    )
    assert "token" not in answer
    assert stored.status == Status.open
    assert stored.description == "Deep hole in bike lane"
    assert stored.attribute_values == {"DEPTH": "L", "SIDES": ["N", "B"], "WIDTH": "42.5"}


def test_service_request_id_is_a_json_string(client, db, pothole, api_key):
    response = client.post(url("requests", "json"), data=valid(api_key))

    (answer,) = response.get_json()
    assert isinstance(answer["service_request_id"], str)
    assert answer["service_request_id"] == only_request(db).service_request_id


@pytest.mark.parametrize("fmt", FORMATS)
def test_repeated_plain_attribute_key_fills_a_multivaluelist(client, db, pothole, api_key, fmt):
    data = form(("attribute[SIDES]", "S"), ("attribute[SIDES]", "N"), **valid(api_key))

    response = client.post(url("requests", fmt), data=data)

    assert 200 <= response.status_code < 300
    assert only_request(db).attribute_values["SIDES"] == ["S", "N"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_single_bracketed_value_fills_a_multivaluelist(client, db, pothole, api_key, fmt):
    data = valid(api_key, **{"attribute[SIDES][]": "B"})

    response = client.post(url("requests", fmt), data=data)

    assert 200 <= response.status_code < 300
    assert only_request(db).attribute_values["SIDES"] == ["B"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_multipart_part_without_a_name_is_skipped(client, db, pothole, api_key, fmt):
    """werkzeug reads such a part as the field None; it once made the form's size check a 500."""
    boundary = "b0undary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in valid(api_key).items()
    ]
    parts.append(f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nstray\r\n")
    payload = "".join(parts) + f"--{boundary}--\r\n"

    response = client.post(
        url("requests", fmt),
        data=payload.encode(),
        content_type=f"multipart/form-data; boundary={boundary}",
    )

    assert 200 <= response.status_code < 300, response.text
    (answer,) = body(response, fmt, "service_requests")
    assert answer["service_request_id"] == only_request(db).service_request_id


@pytest.mark.parametrize("fmt", FORMATS)
def test_multipart_form_data_is_read(client, db, pothole, api_key, fmt):
    data = form(
        ("attribute[SIDES][]", "N"),
        ("attribute[SIDES][]", "S"),
        **valid(
            api_key,
            description="sent as multipart",
            **{"attribute[SEEN]": "2024-05-01T08:00:00-04:00"},
        ),
    )

    response = client.post(url("requests", fmt), data=data, content_type="multipart/form-data")

    assert 200 <= response.status_code < 300
    (answer,) = body(response, fmt, "service_requests")
    stored = only_request(db)
    assert answer["service_request_id"] == stored.service_request_id
    assert stored.description == "sent as multipart"
    assert stored.attribute_values == {
        "DEPTH": "L",
        "SIDES": ["N", "S"],
        "SEEN": "2024-05-01T12:00:00Z",
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_json_body_with_attribute_object(client, db, pothole, api_key, fmt):
    document = {
        "api_key": api_key,
        "service_code": "POT-01",
        "lat": 34.0522,
        "long": -118.2437,
        "description": "sent as JSON",
        "attribute": {"DEPTH": "S", "SIDES": ["N", "B"], "WIDTH": 12},
    }

    response = client.post(url("requests", fmt), json=document)

    assert 200 <= response.status_code < 300
    (answer,) = body(response, fmt, "service_requests")
    stored = only_request(db)
    assert answer["service_request_id"] == stored.service_request_id
    assert stored.attribute_values == {"DEPTH": "S", "SIDES": ["N", "B"], "WIDTH": "12"}
    assert stored.description == "sent as JSON"


@pytest.mark.parametrize("fmt", FORMATS)
def test_json_body_with_form_style_attribute_keys(client, db, pothole, api_key, fmt):
    document = {
        "api_key": api_key,
        "service_code": "POT-01",
        "address_string": "120 Main St",
        "attribute[DEPTH]": "L",
        "attribute[SIDES][]": ["S", "N"],
        "attribute[WHERE]": "opposite 12",
    }

    response = client.post(url("requests", fmt), json=document)

    assert 200 <= response.status_code < 300
    assert only_request(db).attribute_values == {
        "DEPTH": "L",
        "SIDES": ["S", "N"],
        "WHERE": "opposite 12",
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_batch_service_returns_a_token_and_no_id(client, db, graffiti, api_key, fmt):
    data = {"api_key": api_key, "service_code": "GRF", "address_string": "12 Elm St"}

    response = client.post(url("requests", fmt), data=data)

    assert 200 <= response.status_code < 300
    (answer,) = body(response, fmt, "service_requests")
    stored = only_request(db)
    assert stored.token
    assert answer == wire({"token": stored.token, "service_notice": None, "account_id": None}, fmt)
    assert "service_request_id" not in answer


@pytest.mark.parametrize("fmt", FORMATS)
def test_blackbox_service_returns_neither_id_nor_token(client, db, hotline, api_key, fmt):
    data = {"api_key": api_key, "service_code": "HOT", "address_id": "A-558812"}

    response = client.post(url("requests", fmt), data=data)

    assert 200 <= response.status_code < 300
    (answer,) = body(response, fmt, "service_requests")
    assert "service_request_id" not in answer
    assert "token" not in answer
    assert only_request(db).address_id == "A-558812"


@pytest.mark.parametrize("fmt", FORMATS)
def test_account_id_is_echoed(client, db, pothole, api_key, fmt):
    response = client.post(url("requests", fmt), data=valid(api_key, account_id="acct-77"))

    (answer,) = body(response, fmt, "service_requests")
    assert answer["account_id"] == "acct-77"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "location",
    [
        {"address_string": "120 Main St, Springfield"},
        {"address_id": "A-558812"},
        {"lat": "0", "long": "0"},
        {"lat": "-90", "long": "180"},
        {"lat": "90", "long": "-180"},
        {"lat": "", "long": "", "address_id": "A-1"},
        {"lat": "  ", "long": " ", "address_string": "12 Elm"},
    ],
    ids=["address", "address_id", "zero", "corner-se", "corner-nw", "empty", "blank"],
)
def test_any_one_location_is_enough(client, db, pothole, api_key, fmt, location):
    data = {"api_key": api_key, "service_code": "POT-01", "attribute[DEPTH]": "S"} | location

    response = client.post(url("requests", fmt), data=data)

    assert 200 <= response.status_code < 300, response.data
    assert counts(db) == (1, 0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_blank_optional_fields_count_as_absent(client, db, pothole, api_key, fmt):
    data = valid(
        api_key,
        email="",
        media_url="   ",
        description="",
        first_name=" ",
        jurisdiction_id="  ",
        **{"attribute[WIDTH]": " ", "attribute[SEEN]": ""},
    )

    response = client.post(url("requests", fmt), data=data)

    assert 200 <= response.status_code < 300, response.data
    stored = only_request(db)
    assert stored.description is None
    assert stored.media_url is None
    assert stored.requester is None
    assert stored.attribute_values == {"DEPTH": "L"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_description_of_4000_characters_is_accepted(client, db, pothole, api_key, fmt):
    text = ("line one\r\nline two " * 400)[:4000]
    assert len(text) == 4000

    response = client.post(url("requests", fmt), data=valid(api_key, description=text))

    assert 200 <= response.status_code < 300
    assert only_request(db).description == text


@pytest.mark.parametrize("fmt", FORMATS)
def test_metacharacters_are_stored_and_returned_verbatim(client, db, pothole, api_key, fmt):
    data = valid(
        api_key,
        description=NASTY,
        address_string=NASTY,
        address_id="1'; SELECT 1;--<x>",
        **{"attribute[WHERE]": "<a href='x'>&</a>", "attribute[REMARKS]": NASTY},
    )

    response = client.post(url("requests", fmt), data=data)

    (answer,) = body(response, fmt, "service_requests")
    stored = only_request(db)
    assert stored.description == NASTY
    assert stored.address == NASTY
    assert stored.attribute_values["WHERE"] == "<a href='x'>&</a>"
    assert stored.attribute_values["REMARKS"] == NASTY
    shown = client.get(url(f"requests/{answer['service_request_id']}", fmt))
    (item,) = body(shown, fmt, "service_requests")
    assert item["description"] == NASTY
    assert item["address"] == NASTY
    assert item["address_id"] == "1'; SELECT 1;--<x>"


# --- POST then GET ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_then_get_round_trips_every_public_field(client, db, pothole, api_key, fmt):
    data = valid(
        api_key,
        lat="40.71234",
        long="-74.00567",
        address_string="120 Main St, Springfield",
        address_id="A-558812",
        description="Deep hole\nin the bike lane",
        media_url="https://img.example.org/sr10042.jpg",
    )
    before = datetime.now(UTC).replace(microsecond=0)
    posted = client.post(url("requests", fmt), data=data)
    after = datetime.now(UTC)
    (answer,) = body(posted, fmt, "service_requests")

    response = client.get(url(f"requests/{answer['service_request_id']}", fmt))

    assert response.status_code == 200
    (item,) = body(response, fmt, "service_requests")
    for name in ("requested_datetime", "updated_datetime"):
        assert W3C_UTC.match(item[name]), item[name]
        moment = datetime.strptime(item[name], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert before <= moment <= after
    expected = {
        "service_request_id": answer["service_request_id"],
        "status": "open",
        "status_notes": None,
        "service_name": "Pothole",
        "service_code": "POT-01",
        "description": "Deep hole\nin the bike lane",
        "agency_responsible": "Bureau of Street Services",
        "service_notice": "Inspection within 3 business days.",
        "requested_datetime": item["requested_datetime"],
        "updated_datetime": item["updated_datetime"],
        "expected_datetime": None,
        "address": "120 Main St, Springfield",
        "address_id": "A-558812",
        "zipcode": None,
        "lat": 40.71234,
        "long": -74.00567,
        "media_url": "https://img.example.org/sr10042.jpg",
    }
    assert item == wire(expected, fmt)
    listed = client.get(
        url("requests", fmt), query_string={"service_request_id": answer["service_request_id"]}
    )
    assert body(listed, fmt, "service_requests") == [item]


def test_round_trip_json_types(client, db, pothole, api_key):
    posted = client.post(url("requests", "json"), data=valid(api_key, lat="-33.5", long="151"))
    (answer,) = posted.get_json()

    (item,) = client.get(url(f"requests/{answer['service_request_id']}", "json")).get_json()

    assert item["lat"] == -33.5 and isinstance(item["lat"], float)
    assert item["long"] == 151 and isinstance(item["long"], int | float)
    assert isinstance(item["service_request_id"], str)
    assert item["expected_datetime"] is None


# --- refusals: api_key -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_api_key_is_403(client, db, pothole, fmt):
    (description,) = refused(
        client, db, fmt, 403, data={"service_code": "POT-01", "address_id": "A-1"}
    )
    assert "api_key" in description


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["", "   ", "not-a-key"])
def test_blank_or_wrong_api_key_is_403(client, db, pothole, api_key, fmt, key):
    refused(client, db, fmt, 403, data=valid(key))


@pytest.mark.parametrize("fmt", FORMATS)
def test_key_of_a_disabled_client_is_403(client, db, pothole, fmt):
    _client, key = make_api_client(db, "retired app", active=False)

    refused(client, db, fmt, 403, data=valid(key))


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_body_is_403(client, db, pothole, fmt):
    refused(client, db, fmt, 403)
    refused(client, db, fmt, 403, data="", content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("fmt", FORMATS)
def test_api_key_in_the_query_string_is_not_enough(client, db, pothole, api_key, fmt):
    data = valid(api_key)
    del data["api_key"]

    refused(client, db, fmt, 403, data=data, query_string={"api_key": api_key})


# --- refusals: service and jurisdiction ------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_service_code_is_404(client, db, pothole, api_key, fmt):
    (description,) = refused(client, db, fmt, 404, data=valid(api_key, service_code="NOPE"))
    assert "NOPE" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_inactive_service_is_404(client, db, city, api_key, fmt):
    make_service(db, city, "OLD", active=False)

    refused(
        client,
        db,
        fmt,
        404,
        data={"api_key": api_key, "service_code": "OLD", "lat": "1", "long": "1"},
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("code", [None, "", "   "], ids=["absent", "empty", "blank"])
def test_missing_service_code_is_400(client, db, pothole, api_key, fmt, code):
    data = valid(api_key)
    del data["service_code"]
    if code is not None:
        data["service_code"] = code

    descriptions = refused(client, db, fmt, 400, data=data)

    assert any("service_code" in d for d in descriptions)


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_jurisdiction_is_404(client, db, pothole, api_key, fmt):
    refused(client, db, fmt, 404, data=valid(api_key, jurisdiction_id="elsewhere.gov"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_second_jurisdiction_makes_jurisdiction_id_required(client, db, pothole, api_key, fmt):
    make_jurisdiction(db, jurisdiction_id="example.gov", name="Example")

    refused(client, db, fmt, 400, data=valid(api_key))
    response = client.post(url("requests", fmt), data=valid(api_key, jurisdiction_id="lacity.org"))
    assert 200 <= response.status_code < 300


# --- refusals: location ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "location",
    [
        {},
        {"address_string": "   "},
        {"address_id": ""},
        {"lat": "34.05"},
        {"long": "-118.24"},
        {"lat": "34.05", "long": ""},
        {"lat": "91", "long": "0"},
        {"lat": "-90.0001", "long": "0"},
        {"lat": "0", "long": "-181"},
        {"lat": "0", "long": "180.5"},
        {"lat": "0", "long": "west"},
        {"lat": "north", "long": "0"},
        {"lat": "NaN", "long": "0"},
        {"lat": "0", "long": "nan"},
        {"lat": "Infinity", "long": "0"},
        {"lat": "0", "long": "-Infinity"},
        {"lat": "0", "long": "inf"},
        {"lat": "1e400", "long": "0"},
        {"lat": "34,05", "long": "0"},
    ],
)
def test_bad_or_missing_location_is_400(client, db, pothole, api_key, fmt, location):
    data = {"api_key": api_key, "service_code": "POT-01", "attribute[DEPTH]": "S"} | location

    refused(client, db, fmt, 400, data=data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_lat_without_long_names_the_pair(client, db, pothole, api_key, fmt):
    data = valid(api_key)
    del data["long"]

    (description,) = refused(client, db, fmt, 400, data=data)

    assert "lat" in description and "long" in description


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_numbers_are_400(client, db, pothole, api_key, fmt, value):
    text = (
        f'{{"api_key": "{api_key}", "service_code": "POT-01", "lat": {value}, '
        '"long": 1, "attribute[DEPTH]": "S"}'
    )

    refused(client, db, fmt, 400, data=text, content_type="application/json")


# --- refusals: attributes --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", [None, "", "  "], ids=["absent", "empty", "blank"])
def test_missing_required_attribute_is_400(client, db, pothole, api_key, fmt, value):
    data = valid(api_key)
    del data["attribute[DEPTH]"]
    if value is not None:
        data["attribute[DEPTH]"] = value

    (description,) = refused(client, db, fmt, 400, data=data)

    assert "DEPTH" in description


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("WIDTH", "wide"),
        ("WIDTH", "12cm"),
        ("WIDTH", "NaN"),
        ("WIDTH", "inf"),
        ("SEEN", "yesterday"),
        ("SEEN", "2024-05-01"),
        ("SEEN", "2024-05-01T08"),
        ("SEEN", "2024-13-01T08:00:00Z"),
        ("SEEN", "2024-02-30T08:00"),
        ("DEPTH", "XL"),
        ("DEPTH", "s"),
        ("WHERE", "two\nlines"),
        ("WHERE", "x" * 256),
        ("REMARKS", "x" * 4001),
    ],
)
def test_badly_typed_attribute_is_400(client, db, pothole, api_key, fmt, code, value):
    data = valid(api_key, **{f"attribute[{code}]": value})

    (description,) = refused(client, db, fmt, 400, data=data)

    assert code in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_datetime_local_answer_is_the_jurisdictions_local_time(client, db, pothole, api_key, fmt):
    """FixMyStreet sends a browser's datetime-local value: no zone, no seconds."""
    pothole.jurisdiction.time_zone = "America/Los_Angeles"
    db.flush()
    data = valid(api_key, **{"attribute[SEEN]": "2026-12-05T07:23"})

    response = client.post(url("requests", fmt), data=data)

    assert 200 <= response.status_code < 300, response.text
    assert only_request(db).attribute_values["SEEN"] == "2026-12-05T15:23:00Z"


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_attribute_codes_are_ignored_and_named_in_the_notice(
    client, db, pothole, api_key, fmt, caplog
):
    """FixMyStreet sends site extras (uprn) and answers to an older definition: not a 400."""
    caplog.set_level("INFO", logger="open311.domain.intake")
    data = valid(api_key, **{"attribute[uprn]": "100023336956", "attribute[OLD]": "x"})

    response = client.post(url("requests", fmt), data=data)

    assert 200 <= response.status_code < 300, response.text
    (answer,) = body(response, fmt, "service_requests")
    notice = "Inspection within 3 business days. Ignored unknown attributes: uprn, OLD."
    assert answer["service_notice"] == notice
    stored = only_request(db)
    assert stored.attribute_values == {"DEPTH": "L"}
    assert stored.service_notice == notice
    assert "uprn" in caplog.text and "100023336956" not in caplog.text


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_bad_answer_to_a_known_code_is_refused_beside_unknown_ones(
    client, db, pothole, api_key, fmt
):
    data = valid(api_key, **{"attribute[uprn]": "1", "attribute[WIDTH]": "wide"})

    (description,) = refused(client, db, fmt, 400, data=data)

    assert "WIDTH" in description


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key", ["attribute[SIDES][]", "attribute[SIDES]"])
def test_multivaluelist_value_outside_the_list_is_400(client, db, pothole, api_key, fmt, key):
    data = form((key, "N"), (key, "Q"), **valid(api_key))

    (description,) = refused(client, db, fmt, 400, data=data)

    assert "SIDES" in description and "Q" in description


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "pairs",
    [
        [("attribute[DEPTH]", "L")],
        [("attribute[DEPTH][]", "S")],
        [("attribute[WHERE]", "a"), ("attribute[WHERE]", "b")],
        [("attribute[WIDTH][]", "1"), ("attribute[WIDTH][]", "2")],
    ],
    ids=["list-twice", "list-bracket", "string-twice", "number-bracket"],
)
def test_several_values_for_a_single_value_attribute_is_400(
    client, db, pothole, api_key, fmt, pairs
):
    data = form(*pairs, **valid(api_key))  # valid() already answers DEPTH once

    (description,) = refused(client, db, fmt, 400, data=data)

    assert pairs[0][0].split("[")[1].rstrip("]") in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_value_for_informational_attribute_is_400(client, db, pothole, api_key, fmt):
    data = valid(api_key, **{"attribute[NOTE1]": "I read it"})

    (description,) = refused(client, db, fmt, 400, data=data)

    assert "NOTE1" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_attribute_problem_is_listed(client, db, pothole, api_key, fmt):
    data = valid(api_key, **{"attribute[WHERE]": "a\nb", "attribute[WIDTH]": "wide"})
    del data["attribute[DEPTH]"]

    descriptions = refused(client, db, fmt, 400, data=data)

    assert len(descriptions) == 3
    for code in ("WHERE", "WIDTH", "DEPTH"):
        assert any(code in d for d in descriptions)


# --- refusals: other fields ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "email", ["pat", "pat@", "@example.org", "pat example.org", "pat@@example.org"]
)
def test_bad_email_is_400(client, db, pothole, api_key, fmt, email):
    (description,) = refused(client, db, fmt, 400, data=valid(api_key, email=email))
    assert "email" in description


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "media_url", ["not a url", "javascript:alert(1)", "ftp://example.org/a.jpg", "/relative.jpg"]
)
def test_bad_media_url_is_400(client, db, pothole, api_key, fmt, media_url):
    (description,) = refused(client, db, fmt, 400, data=valid(api_key, media_url=media_url))
    assert "media_url" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_description_of_4001_characters_is_400(client, db, pothole, api_key, fmt):
    (description,) = refused(client, db, fmt, 400, data=valid(api_key, description="x" * 4001))
    assert "description" in description


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("service_code", "P" * 65),
        ("jurisdiction_id", "j" * 256),
        ("address_string", "a" * 1001),
        ("address_id", "a" * 256),
        ("first_name", "f" * 256),
        ("last_name", "l" * 256),
        ("phone", "5" * 65),
        ("device_id", "d" * 256),
        ("account_id", "c" * 256),
        ("email", "p" * 64 + "@" + ("e" * 63 + ".") * 3 + "org"),
        ("media_url", "https://img.example.org/" + "a" * 2030),
    ],
)
def test_over_long_fields_are_400(client, db, pothole, api_key, fmt, name, value):
    (description,) = refused(client, db, fmt, 400, data=valid(api_key, **{name: value}))
    assert name in description


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "name", ["description", "address_string", "attribute[WHERE]", "first_name"]
)
def test_xml_forbidden_control_characters_are_400(client, db, pothole, api_key, fmt, name):
    refused(client, db, fmt, 400, data=valid(api_key, **{name: "bad \x00\x07\x1b text"}))


# --- refusals: the body itself ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_text_plain_body_is_415(client, db, pothole, api_key, fmt):
    text = f"api_key={api_key}&service_code=POT-01&address_id=A-1&attribute[DEPTH]=S"

    refused(client, db, fmt, 415, data=text, content_type="text/plain")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "text",
    ['{"api_key": "k", "service_code": ', "not json", '["service_code", "POT-01"]', '"text"'],
    ids=["truncated", "garbage", "array", "string"],
)
def test_malformed_or_non_object_json_is_400(client, db, pothole, fmt, text):
    refused(client, db, fmt, 400, data=text, content_type="application/json")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "value", [{"nested": "object"}, True, [["a"]]], ids=["object", "bool", "list"]
)
def test_json_values_must_be_scalars(client, db, pothole, api_key, fmt, value):
    document = json.loads(json.dumps(valid(api_key)))
    document["description"] = value

    refused(client, db, fmt, 400, json=document)


@pytest.mark.parametrize("fmt", FORMATS)
def test_body_over_the_default_limit_is_413(client, app, db, pothole, api_key, fmt):
    # The fields' limit: 1 MiB unless OPEN311_MAX_BODY_BYTES says. MAX_CONTENT_LENGTH is larger
    # by the photos' allowance, which only multipart `media` parts may use.
    padding = "x" * form_limit(app.config)

    refused(client, db, fmt, 413, data=valid(api_key, description=padding))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("encoding", ["form", "multipart", "json"])
def test_body_over_the_configured_limit_is_413(client, app, db, pothole, api_key, fmt, encoding):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    data = valid(api_key, description="y" * 3000)
    kwargs = {
        "form": {"data": data},
        "multipart": {"data": data, "content_type": "multipart/form-data"},
        "json": {"json": data},
    }[encoding]

    refused(client, db, fmt, 413, **kwargs)


def test_unknown_format_suffix_is_404_in_xml(client, db, pothole, api_key):
    before = counts(db)

    response = client.post(f"{BASE}/requests.html", data=valid(api_key))

    errors(response, "xml", 404)
    assert counts(db) == before


def test_stored_request_is_linked_to_the_client_that_sent_it(client, db, pothole):
    api_client, key = make_api_client(db, "reporting app")

    client.post(url("requests", "json"), data=valid(key))

    assert only_request(db).api_client_id == api_client.id
    assert db.scalar(select(Requester)) is None


# --- the requester's language (for e-mail in the request's language) ---------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("encoding", ["form", "json"])
def test_language_is_stored_with_the_requester(client, db, pothole, api_key, fmt, encoding):
    data = valid(api_key, email="ana@example.org", language="es")
    kwargs = {"data": data} if encoding == "form" else {"json": data}

    response = client.post(url("requests", fmt), **kwargs)

    assert response.status_code == 200, response.data
    assert only_request(db).requester.language == "es"


@pytest.mark.parametrize(
    ("fields", "stored"),
    [
        ({"language": "zh-Hant"}, "zh-Hant"),
        ({"locale": "es-MX"}, "es-MX"),
        ({"locale": "es_MX"}, "es-MX"),  # what phones report; read as BCP 47
        ({"language": "ko", "locale": "es"}, "ko"),  # language wins
        ({"language": "  ", "locale": "es"}, "es"),  # blank counts as absent
        ({}, None),
    ],
)
def test_locale_is_an_alias_of_language(client, db, pothole, api_key, fields, stored):
    response = client.post(
        url("requests", "json"), data=valid(api_key, email="ana@example.org", **fields)
    )

    assert response.status_code == 200, response.data
    assert only_request(db).requester.language == stored


def test_language_without_personal_data_stores_no_requester(client, db, pothole, api_key):
    response = client.post(url("requests", "json"), data=valid(api_key, language="es"))

    assert response.status_code == 200, response.data
    assert db.scalar(select(Requester)) is None


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["language", "locale"])
@pytest.mark.parametrize(
    "value",
    [
        "español",
        "e",
        "en-",
        "-en",
        "en US",
        "12",
        "en-US.UTF-8",
        "es-" + "x" * 9,
        "a" * 17,
        "zh-Hant-TW-x-abcd",  # the shape is right, but 17 characters
    ],
)
def test_malformed_language_is_400(client, db, pothole, api_key, fmt, name, value):
    (description,) = refused(
        client, db, fmt, 400, data=valid(api_key, email="ana@example.org", **{name: value})
    )
    assert description.startswith(f"{name}: ")
    assert "BCP 47" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_language_is_never_published(client, db, pothole, api_key, fmt):
    posted = client.post(
        url("requests", fmt),
        data=valid(api_key, email="ana@example.org", first_name="Ana", language="es-419"),
    )
    (answer,) = body(posted, fmt, "service_requests")
    stored = only_request(db)
    assert stored.requester.language == "es-419"

    outputs = [posted.data]
    for query in ({}, {"extensions": "true"}):
        outputs.append(
            client.get(url(f"requests/{stored.service_request_id}", fmt), query_string=query).data
        )
        outputs.append(client.get(url("requests", fmt), query_string=query).data)
    for output in outputs:
        assert b"es-419" not in output
        assert b"language" not in output
        assert b"locale" not in output


def test_call_taker_intake_stores_the_callers_language(client, db, pothole):
    _user, token = make_staff(db, "call_taker")
    sent = {
        "service_code": "POT-01",
        "lat": 34.0522,
        "long": -118.2437,
        "attributes": {"DEPTH": "L"},
        "channel": "phone",
        "caller": {"first_name": "Ana", "email": "ana@example.org", "language": "es_MX"},
    }

    response = client.post("/api/v1/intake/requests", json=sent, headers=bearer(token))

    assert response.status_code == 201, response.data
    assert only_request(db).requester.language == "es-MX"
    assert b"es-MX" not in response.data


def test_call_taker_intake_refuses_a_malformed_language(client, db, pothole):
    _user, token = make_staff(db, "call_taker")
    sent = {
        "service_code": "POT-01",
        "lat": 34.0522,
        "long": -118.2437,
        "attributes": {"DEPTH": "L"},
        "channel": "phone",
        "caller": {"email": "ana@example.org", "language": "Spanish please"},
    }
    before = counts(db)

    response = client.post("/api/v1/intake/requests", json=sent, headers=bearer(token))

    assert response.status_code == 400, response.data
    assert "language" in response.get_data(as_text=True)
    assert counts(db) == before
