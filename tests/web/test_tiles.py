"""GET /tiles/requests/{z}/{x}/{y}.mvt and /tiles/districts/...: what they answer, their
caching (ETag, 304, Cache-Control), and their errors: GeoReport JSON, before any database
work when the input alone is wrong."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import mapbox_vector_tile
import pytest

from open311.values import ServiceType, Status
from tests.factories import (
    make_boundary_layer,
    make_district,
    make_jurisdiction,
    make_request,
    make_service,
)

LAT, LONG = 34.0537, -118.2427
NOW = datetime.now(UTC).replace(microsecond=0)


def tile_path(z: int, kind: str = "requests", lat: float = LAT, long: float = LONG) -> str:
    side = 1 << z
    x = int((long + 180.0) / 360.0 * side)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * side)
    return f"/tiles/{kind}/{z}/{x}/{y}.mvt"


def ids(answer) -> set[str]:
    if answer.status_code == 204:
        return set()
    layer = mapbox_vector_tile.decode(answer.data)["requests"]
    return {f["properties"]["service_request_id"] for f in layer["features"]}


@pytest.fixture
def city(db):
    la = make_jurisdiction(db, is_default=True)
    pothole = make_service(db, la, "POT")
    feedback = make_service(db, la, "FEEDBACK", type=ServiceType.blackbox)
    make_request(db, pothole, service_request_id="SR-1", lat=LAT, long=LONG)
    make_request(
        db,
        pothole,
        service_request_id="SR-2",
        status=Status.closed,
        lat=LAT + 0.0003,
        long=LONG,
        requested_datetime=NOW - timedelta(days=30),
    )
    make_request(db, feedback, service_request_id="FB-1", lat=LAT, long=LONG)
    layer = make_boundary_layer(db, la, "council_districts")
    make_district(db, layer, "CD 14", bounds=(-118.30, 34.00, -118.20, 34.10))
    ny = make_jurisdiction(db, jurisdiction_id="nyc.gov", name="New York")
    make_request(db, make_service(db, ny, "NOISE"), service_request_id="NY-1", lat=LAT, long=LONG)
    db.flush()
    return la


def test_a_requests_tile_is_a_cached_vector_tile(client, city):
    answer = client.get(tile_path(16))
    assert answer.status_code == 200
    assert answer.content_type == "application/vnd.mapbox-vector-tile"
    assert answer.headers["Cache-Control"] == "public, max-age=60"
    assert answer.headers["ETag"].startswith('W/"')
    assert ids(answer) == {"SR-1", "SR-2"}


def test_a_tile_not_changed_since_is_a_304(client, city, db):
    etag = client.get(tile_path(16)).headers["ETag"]
    again = client.get(tile_path(16), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    # Another filter is another tile; a changed request, another version.
    assert (
        client.get(tile_path(16) + "?status=open", headers={"If-None-Match": etag}).status_code
        == 200
    )
    make_request(db, make_service(db, city, "NEW"), service_request_id="SR-3", lat=LAT, long=LONG)
    db.flush()
    changed = client.get(tile_path(16), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "SR-3" in ids(changed)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=open", {"SR-1"}),
        ("status=closed", {"SR-2"}),
        ("status=open,closed", {"SR-1", "SR-2"}),
        ("service_code=POT", {"SR-1", "SR-2"}),
        ("service_code=NOPE", set()),
        ("start_date=" + (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), {"SR-1"}),
        ("end_date=" + (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), {"SR-2"}),
        ("jurisdiction_id=nyc.gov", {"NY-1"}),
    ],
    # Names that do not change with the clock: pytest-xdist's workers must collect the same
    # tests, and a date in a name differs when they collect a second apart.
    ids=["open", "closed", "open-closed", "service", "no-service", "start", "end", "nyc"],
)
def test_filters_as_the_api_reads_them(client, city, query, expected):
    assert ids(client.get(f"{tile_path(16)}?{query}")) == expected


def test_blackbox_requests_only_when_published(client, city, app):
    assert "FB-1" not in ids(client.get(tile_path(16)))
    app.config["OPEN311_PUBLISH_BLACKBOX"] = True
    assert "FB-1" in ids(client.get(tile_path(16)))


def test_low_zooms_count_rather_than_list(client, city):
    answer = client.get(tile_path(10))
    (cell,) = mapbox_vector_tile.decode(answer.data)["requests"]["features"]
    assert cell["properties"] == {"count": 2, "open": 1}


def test_an_empty_tile_is_a_204(client, city):
    answer = client.get("/tiles/requests/16/0/0.mvt")
    assert answer.status_code == 204 and answer.data == b""
    assert answer.headers["ETag"]


def test_a_districts_tile(client, city):
    answer = client.get(tile_path(12, "districts") + "?layer=council_districts")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=86400"
    (district,) = mapbox_vector_tile.decode(answer.data)["districts"]["features"]
    assert district["properties"]["name"] == "CD 14"
    # No layer named: the first; then by id; an ETag that holds.
    default = client.get(tile_path(12, "districts"))
    assert default.data == answer.data
    etag = default.headers["ETag"]
    assert (
        client.get(tile_path(12, "districts"), headers={"If-None-Match": etag}).status_code == 304
    )


def test_an_unknown_layer_or_city_is_a_404_in_json(client, city):
    answer = client.get(tile_path(12, "districts") + "?layer=nope")
    assert answer.status_code == 404
    assert answer.json[0]["code"] == 404 and "nope" in answer.json[0]["description"]
    unknown = client.get(tile_path(12) + "?jurisdiction_id=atlantis")
    assert unknown.status_code == 404 and unknown.json[0]["code"] == 404


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/tiles/requests/16/0/0.mvt?status=pending", "status"),
        ("/tiles/requests/16/0/0.mvt?start_date=yesterday", "start_date"),
        ("/tiles/requests/16/0/0.mvt?end_date=2026-13-01T00:00:00Z", "end_date"),
        (
            "/tiles/requests/16/0/0.mvt?start_date=2026-02-01T00:00:00Z"
            "&end_date=2026-01-01T00:00:00Z",
            "end_date",
        ),
        ("/tiles/requests/3/8/0.mvt", "tile"),
        ("/tiles/requests/23/0/0.mvt", "tile"),
        ("/tiles/requests/-1/0/0.mvt", "tile"),
        ("/tiles/districts/2/0/9.mvt", "tile"),
    ],
)
def test_bad_input_is_a_400_in_json_without_the_database(client, app, path, words):
    def no_database():
        raise AssertionError("the database was asked")

    app.extensions["open311.sessions"] = no_database
    answer = client.get(path)
    assert answer.status_code == 400
    assert answer.content_type.startswith("application/json")
    (problem,) = answer.json
    assert problem["code"] == 400 and words in problem["description"]
