"""GET /open311/v2/stats/hotspots.geojson: every parameter, the document, caching, every error."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from pyproj import Transformer
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.engine import make_url

from open311 import create_app
from open311.domain import hotspots
from open311.values import ServiceType, Status
from open311.wire.datetimes import format_w3c
from tests.api.helpers import PERSONAL, errors, leaked, url
from tests.factories import insert_request_rows, make_api_key, make_jurisdiction, make_service

HOTSPOTS = "/open311/v2/stats/hotspots"
GEOJSON = "application/geo+json; charset=utf-8"
LA = (-118.2437, 34.0522)
TO_METRES = Transformer.from_crs(4326, 32611, always_xy=True)
TO_DEGREES = Transformer.from_crs(32611, 4326, always_xy=True)
NOW = datetime.now(UTC).replace(microsecond=0)


def near(dx: float, dy: float = 0.0, centre=LA) -> tuple[float, float]:
    x, y = TO_METRES.transform(*centre)
    return TO_DEGREES.transform(x + dx, y + dy)


def spot(prefix: str, size: int, dx: float, *, days: float = 1, **row) -> list[dict]:
    """`size` requests within a few metres of the point `dx` metres east of LA's centre."""
    rows = []
    for n in range(size):
        long, lat = near(dx + n * 2.0)
        moment = NOW - timedelta(days=days, minutes=n)
        rows.append(
            {
                "service_request_id": f"{prefix}-{n}",
                "long": long,
                "lat": lat,
                "requested_datetime": moment,
                "updated_datetime": moment,
            }
            | row
        )
    return rows


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def graffiti(db, city):
    return make_service(db, city, "GRAFFITI")


@pytest.fixture
def reports(db, city, graffiti):
    """Graffiti: 7 open at one wall, 5 closed at another 1 km east, 3 open (too few) 2 km east;
    bulky items: 6 open at the first wall; an old spot of 6 graffiti reports 200 days ago."""
    bulky = make_service(db, city, "BULKY")
    insert_request_rows(db, graffiti, spot("W", 7, 0))
    insert_request_rows(db, graffiti, spot("C", 5, 1000, status=Status.closed))
    insert_request_rows(db, graffiti, spot("F", 3, 2000))
    insert_request_rows(db, bulky, spot("B", 6, 4))
    insert_request_rows(db, graffiti, spot("O", 6, 3000, days=200))


def features(response) -> list[dict]:
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == GEOJSON
    document = json.loads(response.data)
    assert document["type"] == "FeatureCollection"
    return document["features"]


def ids(feature: dict) -> set[str]:
    return set(feature["properties"]["service_request_ids"])


def test_a_feature_collection_of_hotspots_largest_first(client, reports):
    response = client.get(f"{HOTSPOTS}.geojson")
    found = features(response)
    assert [f["properties"]["count"] for f in found] == [13, 5]
    wall, closed = found
    assert ids(wall) == {f"W-{n}" for n in range(7)} | {f"B-{n}" for n in range(6)}
    assert wall["properties"]["service_codes"] == {"GRAFFITI": 7, "BULKY": 6}
    assert ids(closed) == {f"C-{n}" for n in range(5)}
    assert wall["geometry"]["type"] == "Point"
    long, lat = wall["geometry"]["coordinates"]
    x, y = TO_METRES.transform(long, lat)
    x0, y0 = TO_METRES.transform(*LA)
    assert abs(y - y0) < 0.01 and 0 < x - x0 < 16
    assert 0 < wall["properties"]["radius_m"] < 16
    assert closed["properties"]["first_requested_datetime"] == format_w3c(
        NOW - timedelta(days=1, minutes=4)
    )
    assert closed["properties"]["last_requested_datetime"] == format_w3c(NOW - timedelta(days=1))
    assert closed["properties"]["service_request_ids"] == [f"C-{n}" for n in range(5)]
    document = json.loads(response.data)
    assert document["radius_m"] == 50 and document["min_requests"] == 5
    assert document["requests_considered"] == 7 + 5 + 3 + 6
    start = datetime.fromisoformat(document["start_date"])
    end = datetime.fromisoformat(document["end_date"])
    assert end - start == timedelta(days=90)
    assert end.second == 0 and timedelta(0) < end - datetime.now(UTC) <= timedelta(minutes=1)


@pytest.mark.parametrize(
    ("query", "counts"),
    [
        ({"status": "open"}, [13]),
        ({"status": "closed"}, [5]),
        ({"service_code": "GRAFFITI"}, [7, 5]),
        ({"service_code": "BULKY,GRAFFITI"}, [13, 5]),
        ({"service_code": "NOSUCH"}, []),
        ({"min_requests": "3"}, [13, 5, 3]),
        ({"min_requests": "6"}, [13]),
        ({"radius_m": "1"}, []),
        ({"radius_m": "1000", "min_requests": "3"}, [21]),
        ({"limit": "1"}, [13]),
        ({"bbox": "-118.236,34.0,-118.0,34.1"}, [5]),
        ({"start_date": format_w3c(NOW - timedelta(days=250))}, [6]),
        (
            {
                "start_date": format_w3c(NOW - timedelta(days=300)),
                "end_date": format_w3c(NOW),
            },
            [13, 6, 5],
        ),
        ({"jurisdiction_id": "lacity.org"}, [13, 5]),
    ],
)
def test_every_parameter(client, reports, query, counts):
    found = features(client.get(f"{HOTSPOTS}.geojson", query_string=query))
    assert [f["properties"]["count"] for f in found] == counts


def test_an_empty_answer_is_still_a_document(client, graffiti):
    response = client.get(f"{HOTSPOTS}.geojson")
    assert features(response) == []
    assert json.loads(response.data)["requests_considered"] == 0


def test_cacheable_with_an_etag(client, reports):
    first = client.get(f"{HOTSPOTS}.geojson", query_string={"status": "open"})
    assert first.headers["Cache-Control"] == "public, max-age=60"
    etag = first.headers["ETag"]
    again = client.get(
        f"{HOTSPOTS}.geojson", query_string={"status": "open"}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304 and again.data == b""
    other = client.get(
        f"{HOTSPOTS}.geojson", query_string={"status": "closed"}, headers={"If-None-Match": etag}
    )
    assert other.status_code == 200 and other.headers["ETag"] != etag


def test_blackbox_requests_are_not_published(client, db, city):
    feedback = make_service(db, city, "FEEDBACK", type=ServiceType.blackbox)
    insert_request_rows(db, feedback, spot("X", 8, 0))
    assert features(client.get(f"{HOTSPOTS}.geojson")) == []


def test_no_personal_data(client, db, city, graffiti):
    key = make_api_key(db)
    long, lat = LA
    for _ in range(5):
        data = {"api_key": key, "service_code": "GRAFFITI", "lat": str(lat), "long": str(long)}
        posted = client.post(url("requests", "json"), data=data | PERSONAL)
        assert posted.status_code in (200, 201), posted.data
    response = client.get(f"{HOTSPOTS}.geojson")
    (feature,) = features(response)
    assert feature["properties"]["count"] == 5
    assert leaked(response.data) == []
    assert set(feature["properties"]) == {
        "count",
        "radius_m",
        "first_requested_datetime",
        "last_requested_datetime",
        "service_codes",
        "service_request_ids",
    }


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"radius_m": "0"}, "radius_m"),
        ({"radius_m": "1000.5"}, "radius_m"),
        ({"radius_m": "wide"}, "radius_m"),
        ({"radius_m": "nan"}, "radius_m"),
        ({"min_requests": "1"}, "min_requests"),
        ({"min_requests": "10001"}, "min_requests"),
        ({"min_requests": "2.5"}, "min_requests"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"status": "pending"}, "status"),
        ({"status": "open,closed"}, "status"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "-118,35,-119,34"}, "bbox"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-13-01T00:00:00Z"}, "end_date"),
        (
            {"start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00:00Z"},
            "end_date",
        ),
        (
            {"start_date": "2023-01-01T00:00:00Z", "end_date": "2024-01-03T00:00:00Z"},
            "366 days",
        ),
    ],
)
def test_bad_arguments_are_400_in_json(client, reports, query, name):
    descriptions = errors(client.get(f"{HOTSPOTS}.geojson", query_string=query), "json", 400)
    assert any(name in d for d in descriptions), descriptions


def test_too_many_requests_to_cluster_is_400_telling_to_narrow(client, reports, monkeypatch):
    monkeypatch.setattr(hotspots, "MAX_REQUESTS", 20)
    (description,) = errors(client.get(f"{HOTSPOTS}.geojson"), "json", 400)
    assert "more than 20 requests match" in description and "narrow" in description
    assert features(client.get(f"{HOTSPOTS}.geojson", query_string={"status": "open"}))


def test_unknown_jurisdiction_is_404_in_json(client, reports):
    query = {"jurisdiction_id": "nowhere.example"}
    (description,) = errors(client.get(f"{HOTSPOTS}.geojson", query_string=query), "json", 404)
    assert "nowhere.example" in description


def test_several_cities_and_none_named_is_400(client, db, reports):
    make_jurisdiction(db, jurisdiction_id="nyc.gov", name="New York")
    (description,) = errors(client.get(f"{HOTSPOTS}.geojson"), "json", 400)
    assert "jurisdiction_id" in description
    assert (
        features(client.get(f"{HOTSPOTS}.geojson", query_string={"jurisdiction_id": "nyc.gov"}))
        == []
    )


def test_json_is_the_same_document(client, reports):
    geo = client.get(f"{HOTSPOTS}.geojson")
    plain = client.get(f"{HOTSPOTS}.json")
    assert plain.status_code == 200
    assert plain.headers["Content-Type"] == "application/json; charset=utf-8"
    assert plain.data == geo.data


@pytest.mark.parametrize("fmt", ["xml", "csv", "GEOJSON"])
def test_other_formats_are_404_in_json(client, reports, fmt):
    (description,) = errors(client.get(f"{HOTSPOTS}.{fmt}"), "json", 404)
    assert ".geojson" in description


def test_errors_in_the_callers_language(client, reports):
    query = {"start_date": "2023-01-01T00:00:00Z", "end_date": "2024-01-03T00:00:00Z"}
    response = client.get(
        f"{HOTSPOTS}.geojson", query_string=query, headers={"Accept-Language": "es"}
    )
    (description,) = errors(response, "json", 400)
    assert "366" in description and "días" in description


# The refusals /openapi.json cannot state: rules across start_date and end_date, the cap on the
# requests considered (tests/api/test_schemathesis.py's CONTRACT_REFUSALS should list them too),
# and those every endpoint shares (a W3C datetime's calendar, bbox's order).
REFUSALS = re.compile(
    r"may span at most|is earlier than start_date|requests match; narrow"
    r"|not a W3C datetime|bbox: |contains control characters"
)


def test_the_documented_contract_holds_under_fuzzing(app, reports):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    checks = [c for c in CHECKS.get_all() if c is not positive_data_acceptance]
    failures: list[str] = []

    def acceptance(ctx, response, case):
        if response.status_code == 400 and REFUSALS.search(response.text):
            return None
        return positive_data_acceptance(ctx, response, case)

    (operation,) = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.endswith("/stats/hotspots.{fmt}")
    ]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            response = case.call(app=app)
            assert response.status_code < 500, response.text
            try:
                case.validate_response(
                    response, checks=[*checks, acceptance], transport_kwargs={"app": app}
                )
            except FailureGroup as group:
                failures.extend(
                    f"{f.title}: {response.status_code} {response.text[:150]} <- {case.query!r}"
                    for f in group.exceptions
                )

        run()
    assert not failures, "\n".join(failures[:20])


def test_counted_against_the_exports_limit(database_url, session_factory, redis_url, reports):
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    config = {"DATABASE_URL": database_url, "TESTING": True, "REDIS_URL": redis_url}
    limits = {"OPEN311_RATE_LIMITS": True, "OPEN311_RATE_LIMIT_EXPORTS": "2/minute"}
    limited = create_app(config | limits)
    limited.extensions["open311.sessions"] = session_factory
    client = limited.test_client()
    for left in ("1", "0"):
        response = client.get(f"{HOTSPOTS}.geojson")
        assert response.status_code == 200
        assert response.headers["RateLimit"] == f'"exports";r={left};t=60'
    refused = client.get(f"{HOTSPOTS}.geojson")
    (description,) = errors(refused, "json", 429)
    assert "exports" in description and refused.headers["Retry-After"]
    store.flushdb()
    store.close()


def test_past_the_statement_timeout_is_a_503(database_url):
    # The app on its own engine, whose connections carry the web's statement timeout; another
    # session holds the city table, so the call's first statement waits past its 300 ms.
    timed = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "OPEN311_RATE_LIMITS": False,
            "OPEN311_STATEMENT_TIMEOUT_MS": 300,
        }
    )
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    holder = psycopg2.connect(dsn)
    try:
        holder.cursor().execute("LOCK TABLE jurisdiction IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = timed.test_client().get(f"{HOTSPOTS}.geojson")
        took = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
        timed.extensions["open311.engine"].dispose()
    (description,) = errors(response, "json", 503)
    assert "took too long" in description and response.headers["Retry-After"] == "5"
    assert took < 3


def test_zone_less_dates_are_the_citys_local_time(client, db, city, graffiti):
    city.time_zone = "America/Los_Angeles"
    # Five reports at 23:30 local time on 2026-01-31, which is 07:30Z on 2026-02-01.
    moment = datetime(2026, 2, 1, 7, 30, tzinfo=UTC)
    rows = spot("Z", 5, 0)
    insert_request_rows(
        db, graffiti, [r | {"requested_datetime": moment, "updated_datetime": moment} for r in rows]
    )
    local = {"start_date": "2026-01-31T00:00", "end_date": "2026-01-31T23:59:59"}
    assert [
        f["properties"]["count"]
        for f in features(client.get(f"{HOTSPOTS}.geojson", query_string=local))
    ] == [5]
    utc = {"start_date": "2026-01-31T00:00:00Z", "end_date": "2026-01-31T23:59:59Z"}
    assert features(client.get(f"{HOTSPOTS}.geojson", query_string=utc)) == []
