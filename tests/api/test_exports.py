"""Open-data exports: CSV, NDJSON and GeoJSON of any window, streamed, with public fields only."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from open311.db import search_queries
from open311.values import ServiceType, Status
from tests.api.helpers import FORMATS, PERSONAL, body, errors, leaked, url
from tests.factories import (
    insert_request_rows,
    insert_requests,
    make_api_key,
    make_jurisdiction,
    make_service,
)

EXPORT = "/open311/v2/exports/requests"
COLUMNS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def pothole(db, city):
    return make_service(db, city, "POT-01", service_name="Pothole")


@pytest.fixture
def two_years(db, pothole):
    """120 requests, one a week from 2024-01-01 on (over two years), every third one closed,
    every fifth one without a location; descriptions with commas, quotes and newlines."""
    rows = []
    for i in range(120):
        moment = START + timedelta(weeks=i)
        row = {
            "service_request_id": f"X-{i:03d}",
            "requested_datetime": moment,
            "updated_datetime": moment + timedelta(days=1),
            "status": Status.closed if i % 3 == 0 else Status.open,
            "description": f'Item {i}, "quoted"\nsecond line' if i % 2 else "",
            "address": f"{i} Main St, Los Angeles" if i % 4 else None,
        }
        if i % 5:
            row["lat"], row["long"] = 34.0 + i / 1000, -118.3 + i / 1000
        rows.append(row)
    insert_request_rows(db, pothole, rows)
    return rows


def export(client, kind: str, **query):
    response = client.get(f"{EXPORT}.{kind}", query_string=query)
    assert response.status_code == 200, response.data
    return response


def json_items(client, **query) -> list[dict]:
    """The same requests through GET requests.json (paged, so with no window), oldest first."""
    query = {"page_size": 1000, "sort": "requested_datetime"} | query
    return client.get(url("requests", "json"), query_string=query).get_json()


def as_csv(value) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def test_csv_has_the_documented_columns_and_every_request(client, two_years):
    response = export(client, "csv")

    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="requests.csv"'
    assert response.data.startswith(",".join(COLUMNS).encode() + b"\r\n")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8"), newline="")))
    assert [row["service_request_id"] for row in rows] == [
        r["service_request_id"] for r in two_years
    ]
    expected = [{k: as_csv(v) for k, v in item.items()} for item in json_items(client)]
    assert rows == expected


def test_ndjson_lines_are_the_json_items(client, two_years):
    response = export(client, "ndjson")

    assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response.data.endswith(b"\n")
    lines = response.data.decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == json_items(client)


def test_geojson_export_is_a_feature_collection(client, two_years):
    response = export(client, "geojson")

    assert response.headers["Content-Type"] == "application/geo+json; charset=utf-8"
    collection = json.loads(response.data)
    assert collection["type"] == "FeatureCollection"
    assert [f["properties"] for f in collection["features"]] == json_items(client)
    for feature, row in zip(collection["features"], two_years, strict=True):
        if "lat" in row:
            assert feature["geometry"]["coordinates"] == [row["long"], row["lat"]]
        else:
            assert feature["geometry"] is None


@pytest.mark.parametrize("kind", ["csv", "ndjson", "geojson"])
def test_empty_export_is_still_a_document(client, pothole, kind):
    response = export(client, kind)

    if kind == "csv":
        assert response.data == ",".join(COLUMNS).encode() + b"\r\n"
    elif kind == "ndjson":
        assert response.data == b""
    else:
        assert json.loads(response.data) == {"type": "FeatureCollection", "features": []}


def test_any_window_however_long(client, two_years):
    wide = {"start_date": "2024-01-01T00:00:00Z", "end_date": "2025-12-31T00:00:00Z"}

    response = export(client, "ndjson", **wide)

    got = [json.loads(line)["service_request_id"] for line in response.data.splitlines()]
    assert got == [
        r["service_request_id"]
        for r in two_years
        if r["requested_datetime"] <= START + timedelta(days=730)
    ]
    assert len(got) > 100


def test_filters_are_those_of_get_requests(client, two_years):
    query = {
        "status": "open",
        "bbox": "-118.29,34.0,-118.2,34.1",
        "updated_after": "2024-06-01T00:00:00Z",
        "sort": "-requested_datetime",
    }

    lines = export(client, "ndjson", **query).data.splitlines()

    assert [json.loads(line) for line in lines] == json_items(client, **query)
    assert 10 < len(lines) < 120


def test_radius_adds_a_distance_column(client, two_years):
    query = {"lat": 34.05, "long": -118.25, "radius": 3000}

    rows = list(csv.DictReader(io.StringIO(export(client, "csv", **query).data.decode())))

    assert list(rows[0]) == [*COLUMNS, "distance"]
    assert all(0 <= float(row["distance"]) <= 3000 for row in rows)
    assert {r["service_request_id"] for r in rows} == {
        i["service_request_id"] for i in json_items(client, **query)
    }


def test_export_streams_in_batches(client, db, pothole, monkeypatch):
    insert_requests(db, pothole, [START + timedelta(minutes=i) for i in range(25)])
    monkeypatch.setattr(
        search_queries, "stream_export", partial(search_queries.stream_export, batch=4)
    )

    response = client.get(f"{EXPORT}.csv", buffered=False)

    assert response.is_streamed
    chunks = list(response.response)
    assert len(chunks) == 1 + 7  # the header, then 25 rows in batches of 4
    assert sum(chunk.count(b"\r\n") for chunk in chunks) == 26
    response.close()


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00:00Z"}, "end_date"),
        ({"status": "pending"}, "status"),
        ({"district": "nowhere"}, "district"),
        ({"sort": "distance"}, "sort"),
        ({"radius": "10"}, "radius"),
    ],
)
@pytest.mark.parametrize("kind", ["csv", "ndjson", "geojson"])
def test_bad_export_arguments_are_400_in_json(client, pothole, kind, query, name):
    response = client.get(f"{EXPORT}.{kind}", query_string=query)

    descriptions = errors(response, "json", 400)
    assert any(name in d for d in descriptions), descriptions


@pytest.mark.parametrize("kind", ["xml", "json", "txt"])
def test_other_export_formats_are_404(client, pothole, kind):
    (description,) = errors(client.get(f"{EXPORT}.{kind}"), "json", 404)
    assert ".csv" in description


def test_service_request_id_overrides_in_exports_too(client, two_years):
    rows = list(
        csv.DictReader(
            io.StringIO(
                export(
                    client, "csv", service_request_id="X-001,X-100", status="closed"
                ).data.decode()
            )
        )
    )

    assert [row["service_request_id"] for row in rows] == ["X-001", "X-100"]


FORMULAS = ['=HYPERLINK("http://evil.example/x","Click")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def test_csv_text_starting_like_a_formula_is_quoted_numbers_stay_numbers(client, db, pothole):
    rows = [
        {
            "service_request_id": f"F-{i}",
            "requested_datetime": START + timedelta(minutes=i),
            "description": text,
            "address": text,
            "status_notes": text,
            "lat": -33.87,
            "long": -118.24,
        }
        for i, text in enumerate(FORMULAS)
    ]
    rows.append({"service_request_id": "F-9", "description": "a - b = c", "address": "1 Main St"})
    insert_request_rows(db, pothole, rows)

    data = export(client, "csv", lat=-33.87, long=-118.24, radius=10).data.decode()

    got = {r["service_request_id"]: r for r in csv.DictReader(io.StringIO(data, newline=""))}
    for i, text in enumerate(FORMULAS):
        row = got[f"F-{i}"]
        assert row["description"] == row["address"] == row["status_notes"] == "'" + text
        assert (row["lat"], row["long"], row["distance"]) == ("-33.87", "-118.24", "0.0")
    assert '"\'=HYPERLINK(""http://evil.example/x"",""Click"")"' in data
    assert ",-33.87,-118.24," in data  # numbers unquoted, unprefixed
    # Text that merely contains such characters is as it was; NDJSON keeps the text as written.
    plain = list(csv.DictReader(io.StringIO(export(client, "csv").data.decode(), newline="")))
    assert [r["description"] for r in plain if r["service_request_id"] == "F-9"] == ["a - b = c"]
    items = [json.loads(line) for line in export(client, "ndjson").data.splitlines()]
    assert [i["description"] for i in items if i["service_request_id"] != "F-9"] == FORMULAS


# --- privacy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("service_code", ["POT-01", "GRF"])
def test_personal_data_is_in_no_list_nor_export(client, db, city, pothole, service_code):
    make_service(db, city, "GRF", type=ServiceType.batch)
    key = make_api_key(db)
    data = {
        "api_key": key,
        "service_code": service_code,
        "lat": "34.05",
        "long": "-118.25",
        "description": "Pothole near the library",
    }
    posted = client.post(url("requests", "json"), data=data | PERSONAL)
    assert posted.status_code in (200, 201), posted.data

    area = {"lat": "34.05", "long": "-118.25", "radius": "100"}
    calls = [(f"{EXPORT}.{kind}", {}) for kind in ("csv", "ndjson", "geojson")]
    calls.append((f"{EXPORT}.csv", area))
    for fmt in (*FORMATS, "geojson"):
        for query in ({"extensions": "true"}, area | {"extensions": "true"}, {"page_size": 5}):
            calls.append((url("requests", fmt), query))
    calls.append((url("requests", "json"), {"callback": "cb"}))
    for path, query in calls:
        response = client.get(path, query_string=query)
        assert response.status_code == 200
        assert b"Pothole near the library" in response.data
        assert leaked(response.data) == [], path
    listed = body(client.get(url("requests", "json"), query_string={"extensions": "true"}), "json")
    assert not set(listed[0]) & set(PERSONAL)
    assert not set(listed[0]["extended_attributes"]) & set(PERSONAL)


def test_unknown_jurisdiction_is_404_in_json(client, two_years):
    (description,) = errors(
        client.get(f"{EXPORT}.csv", query_string={"jurisdiction_id": "x.org"}), "json", 404
    )
    assert "x.org" in description


def test_an_export_never_read_still_lets_go_of_its_cursor(client, two_years):
    head = client.head(f"{EXPORT}.csv")
    unread = client.get(f"{EXPORT}.ndjson", buffered=False)
    unread.close()

    assert head.status_code == 200 and head.data == b""
    assert export(client, "csv").data.count(b"\r\n") == 121
