"""The API key in the X-API-Key header, wherever an api_key parameter is taken: POST requests,
POST servicerequestupdates, webhooks, and reads counted against the client's own rate limit;
documented in /openapi.json."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from open311 import create_app
from tests.api.helpers import BASE, FORMATS, body, errors, pothole_fields, url
from tests.factories import make_api_client, make_jurisdiction, make_request, make_service

HEADER = "X-API-Key"


@pytest.fixture
def pothole(db):
    return make_service(db, make_jurisdiction(db), "POT-01")


@pytest.fixture
def key(db) -> str:
    return make_api_client(db, "city app")[1]


def without_key(fields: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in fields.items() if name != "api_key"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_requests_takes_the_key_in_the_header(client, pothole, key, fmt):
    posted = client.post(
        url("requests", fmt), data=without_key(pothole_fields(key)), headers={HEADER: key}
    )

    assert posted.status_code == 200
    (answer,) = body(posted, fmt, "service_requests")
    assert answer["service_request_id"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_servicerequestupdates_takes_the_key_in_the_header(client, db, pothole, key, fmt):
    make_request(db, pothole, service_request_id="U-1")
    fields = {
        "service_request_id": "U-1",
        "update_id": "fms-1",
        "status": "OPEN",
        "updated_datetime": "2026-11-14T08:02:11Z",
        "description": "Still there",
    }

    posted = client.post(url("servicerequestupdates", fmt), data=fields, headers={HEADER: key})

    assert posted.status_code == 200
    (answer,) = body(posted, fmt, "service_request_updates")
    assert answer["update_id"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_header_and_a_body_key_that_differ_are_a_400(client, db, pothole, key, fmt):
    other = make_api_client(db, "other app")[1]

    posted = client.post(url("requests", fmt), data=pothole_fields(other), headers={HEADER: key})

    assert errors(posted, fmt, 400) == ["api_key: the X-API-Key header and the api_key differ"]
    # The same key twice is no contradiction.
    same = client.post(url("requests", fmt), data=pothole_fields(key), headers={HEADER: key})
    assert same.status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unknown_key_in_the_header_is_a_403(client, pothole, fmt):
    fields = without_key(pothole_fields("x"))

    posted = client.post(url("requests", fmt), data=fields, headers={HEADER: "not-a-key"})

    assert errors(posted, fmt, 403) == ["api_key not recognised"]


def test_webhooks_take_the_key_in_the_header(client, key):
    created = client.post(
        f"{BASE}/webhooks.json",
        json={"url": "https://app.example.org/hooks/311"},
        headers={HEADER: key},
    )
    assert created.status_code == 201
    (subscription,) = created.get_json()

    listed = client.get(f"{BASE}/webhooks.json", headers={HEADER: key})
    assert [item["id"] for item in listed.get_json()] == [subscription["id"]]

    deleted = client.delete(f"{BASE}/webhooks/{subscription['id']}.json", headers={HEADER: key})
    assert deleted.status_code == 200
    assert client.get(f"{BASE}/webhooks.json").status_code == 403  # no key at all


def test_webhooks_refuse_a_header_and_a_query_key_that_differ(client, db, key):
    other = make_api_client(db, "other app")[1]

    listed = client.get(
        f"{BASE}/webhooks.json", query_string={"api_key": other}, headers={HEADER: key}
    )

    assert listed.status_code == 400


@pytest.fixture
def limited(database_url, session_factory, redis_url) -> Iterator:
    """An app whose reads are limited to 3 a minute, counted in the worker's emptied Redis."""
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    config = {"DATABASE_URL": database_url, "TESTING": True, "REDIS_URL": redis_url}
    app = create_app(config | {"OPEN311_RATE_LIMITS": True, "OPEN311_RATE_LIMIT_READS": "3/minute"})
    app.extensions["open311.sessions"] = session_factory
    yield app.test_client()
    store.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_read_with_the_key_in_the_header_counts_against_the_client(limited, db, pothole, fmt):
    busy, busy_key = make_api_client(db, "busy app")
    busy.rate_limit = "5/minute"
    db.flush()

    answered = limited.get(url("services", fmt), headers={HEADER: busy_key})

    assert answered.status_code == 200
    assert answered.headers["RateLimit-Policy"] == '"reads";q=5;w=60'  # the client's own limit
    anonymous = limited.get(url("services", fmt))
    assert anonymous.headers["RateLimit-Policy"] == '"reads";q=3;w=60'


def test_openapi_documents_the_header_and_the_webhooks_query_key(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    def parameters(path: str, method: str) -> set[tuple[str, str]]:
        return {(p["in"], p["name"]) for p in paths[path][method].get("parameters", [])}

    header = ("header", HEADER)
    for path in ("/open311/v2/requests.{fmt}", "/open311/v2/servicerequestupdates.{fmt}"):
        assert header in parameters(path, "post")
        form = paths[path]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
        assert "api_key" in form["schema"]["properties"]
        assert "api_key" not in form["schema"]["required"]  # the header may carry it instead
    assert header in parameters("/open311/v2/services.{fmt}", "get")
    hooks = "/open311/v2/webhooks.json"
    for path, method in ((hooks, "get"), ("/open311/v2/webhooks/{subscription_id}.json", "delete")):
        assert {header, ("query", "api_key")} <= parameters(path, method)
    assert {header, ("query", "api_key")} <= parameters(hooks, "post")
