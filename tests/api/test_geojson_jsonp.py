"""GeoJSON of requests, JSONP, and the database-built JSON against the Python renderer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from open311.db.models import ServiceRequest
from open311.values import Status
from open311.wire import geojson
from open311.wire.formats import render_json
from open311.wire.georeport import request_item
from tests.api.helpers import GEOJSON_TYPE, errors, url
from tests.factories import make_jurisdiction, make_request, make_service

JAVASCRIPT = "application/javascript; charset=utf-8"


@pytest.fixture
def pothole(db):
    return make_service(db, make_jurisdiction(db), "POT-01", service_name="Pothole")


# Values the database and Python must render alike: whole and tiny coordinates, every
# character JSON escapes, blanks, sub-second times, other offsets, far years.
TRICKY = [
    {"lat": 34.0, "long": -118.0},
    {"lat": 1e-05, "long": -1.5e-07},
    {"lat": -0.0, "long": 0.0},
    {"lat": 34.052234567890123, "long": -118.24368499999999},
    {"lat": None, "long": None, "description": ""},
    {"description": 'Quote " backslash \\ slash / tab \t newline \n return \r bell \x07 del \x7f'},
    {"description": "Ünïcödé — 東京 😀 \u2028 line separator", "address": " "},
    {"status_notes": "", "address_id": "", "zipcode": "01101", "media_url": ""},
    {
        "requested_datetime": datetime(999, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
        "updated_datetime": datetime(
            2024, 3, 4, 6, 0, 0, 999999, tzinfo=timezone(timedelta(hours=-4))
        ),
        "expected_datetime": datetime(
            2024, 3, 9, 23, 59, 59, 500000, tzinfo=timezone(timedelta(hours=5, minutes=30))
        ),
        "status": Status.closed,
    },
]


@pytest.fixture
def tricky(db, pothole):
    for n, overrides in enumerate(TRICKY):
        fields = {"service_request_id": f"TR-{n}", "lat": 34.05, "long": -118.25} | overrides
        moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
        fields.setdefault("requested_datetime", moment)
        fields.setdefault("updated_datetime", moment)
        make_request(db, pothole, **fields)
    return [f"TR-{n}" for n in range(len(TRICKY))]


def python_items(db, ids: list[str]) -> list[dict]:
    found = {
        r.service_request_id: r
        for r in db.scalars(
            select(ServiceRequest).where(ServiceRequest.service_request_id.in_(ids))
        )
    }
    return [request_item(found[i]) for i in ids]


def test_database_json_is_byte_for_byte_the_python_rendering(client, db, tricky):
    query = {"service_request_id": ",".join(tricky), "sort": "requested_datetime"}

    response = client.get(url("requests", "json"), query_string=query)

    listed = [item["service_request_id"] for item in response.get_json()]
    assert sorted(listed) == sorted(tricky)
    assert response.data == render_json(python_items(db, listed))


@pytest.mark.parametrize("n", range(len(TRICKY)))
def test_single_request_json_is_the_python_rendering(client, db, tricky, n):
    response = client.get(url(f"requests/TR-{n}", "json"))

    assert response.data == render_json(python_items(db, [f"TR-{n}"]))


def test_database_geojson_is_the_reference_rendering(client, db, tricky):
    response = client.get(
        url("requests", "geojson"), query_string={"service_request_id": ",".join(tricky)}
    )

    assert response.headers["Content-Type"] == GEOJSON_TYPE
    listed = [f["id"] for f in response.get_json()["features"]]
    assert response.data == geojson.feature_collection(python_items(db, listed))


# --- GeoJSON --------------------------------------------------------------------------------------


def test_geojson_list_is_a_feature_collection_of_points(client, db, pothole):
    located = make_request(db, pothole, lat=34.0522, long=-118.2437, description="here")
    nowhere = make_request(db, pothole, lat=None, long=None, address="1 Main St")

    response = client.get(url("requests", "geojson"))
    plain = client.get(url("requests", "json")).get_json()

    assert response.status_code == 200
    assert response.headers["Content-Type"] == GEOJSON_TYPE
    collection = json.loads(response.data)
    assert collection["type"] == "FeatureCollection"
    features = {f["id"]: f for f in collection["features"]}
    assert set(features) == {located.service_request_id, nowhere.service_request_id}
    point = features[located.service_request_id]
    assert point["type"] == "Feature"
    assert point["geometry"] == {"type": "Point", "coordinates": [-118.2437, 34.0522]}
    assert features[nowhere.service_request_id]["geometry"] is None
    assert [f["properties"] for f in collection["features"]] == plain


def test_geojson_single_request(client, db, pothole):
    sr = make_request(db, pothole, lat=40.7001, long=-74.0102, service_request_id="G-1")

    response = client.get(url("requests/G-1", "geojson"))

    (feature,) = response.get_json()["features"]
    assert feature["geometry"]["coordinates"] == [-74.0102, 40.7001]
    assert feature["properties"]["service_request_id"] == sr.service_request_id


def test_geojson_errors_are_json(client, pothole):
    errors(client.get(url("requests/NOPE", "geojson")), "json", 404)
    errors(client.get(url("requests", "geojson"), query_string={"status": "x"}), "json", 400)


@pytest.mark.parametrize(
    "path", ["services.geojson", "discovery.geojson", "services/POT-01.geojson", "tokens/t.geojson"]
)
def test_geojson_is_only_for_requests(client, pothole, path):
    (description,) = errors(client.get(f"/open311/v2/{path}"), "xml", 404)
    assert "json" in description


def test_post_geojson_is_not_a_format(client, pothole):
    response = client.post(url("requests", "geojson"), data={"service_code": "POT-01"})
    assert response.status_code == 404


# --- JSONP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("callback", ["cb", "$jsonp_1", "jQuery1234_5678", "app.handlers.take"])
def test_jsonp_wraps_the_json(client, db, pothole, callback):
    make_request(db, pothole)
    plain = client.get(url("requests", "json"))

    response = client.get(url("requests", "json"), query_string={"callback": callback})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == JAVASCRIPT
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    prefix = f"/**/{callback}(".encode()
    assert response.data.startswith(prefix) and response.data.endswith(b");")
    assert response.data[len(prefix) : -2] == plain.data


def test_jsonp_on_single_requests_and_services(client, db, pothole):
    sr = make_request(db, pothole)
    single = client.get(
        url(f"requests/{sr.service_request_id}", "json"), query_string={"callback": "f"}
    )
    services = client.get(url("services", "json"), query_string={"callback": "f"})

    for response in (single, services):
        assert response.headers["Content-Type"] == JAVASCRIPT
        assert response.data.startswith(b"/**/f(")


@pytest.mark.parametrize(
    "callback",
    [
        "alert(1)",
        "1abc",
        "a-b",
        "a b",
        "a;b",
        "<script>",
        "a..b",
        "a.",
        ".a",
        "x" * 65,
        "ünïcode",
        "a\u2028b",
    ],
)
def test_bad_callback_is_400(client, pothole, callback):
    response = client.get(url("requests", "json"), query_string={"callback": callback})

    (description,) = errors(response, "json", 400)
    assert "callback" in description


@pytest.mark.parametrize("fmt", ["xml", "geojson"])
def test_callback_is_only_for_json(client, pothole, fmt):
    response = client.get(url("requests", fmt), query_string={"callback": "cb"})

    (description,) = errors(response, "xml" if fmt == "xml" else "json", 400)
    assert "callback" in description and ".json" in description


def test_errors_are_not_wrapped(client, pothole):
    response = client.get(url("requests/NOPE", "json"), query_string={"callback": "cb"})

    errors(response, "json", 404)


def test_blank_callback_is_no_callback(client, pothole):
    response = client.get(url("requests", "json"), query_string={"callback": " "})

    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
