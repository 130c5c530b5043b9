"""Rate limits against a real Redis (the worker's throwaway one, emptied for each test): each
limit's 429 in JSON and XML with Retry-After and the draft's RateLimit fields, a client's own
limit set by the CLI and the staff API, reads with and without a key, exports, sign-in per
address and per username, the switch that turns them off, Redis out of reach, and two apps (two
workers) sharing one count. Tiny limits keep each test to a few calls."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from open311 import create_app
from open311.api import ratelimits
from open311.cli import main
from open311.db.cluster import free_port
from open311.db.models import ApiClient
from open311.db.redis_server import LocalRedis
from open311.values import StaffRole
from tests.api.helpers import (
    BASE,
    FORMATS,
    PASSWORD,
    bearer,
    counts,
    errors,
    make_staff,
    pothole_fields,
    url,
)
from tests.factories import (
    make_api_client,
    make_jurisdiction,
    make_request,
    make_service,
)

LIMITS = {
    "OPEN311_RATE_LIMITS": True,
    "OPEN311_RATE_LIMIT_WRITES": "3/minute",
    "OPEN311_RATE_LIMIT_READS": "4/minute",
    "OPEN311_RATE_LIMIT_EXPORTS": "2/minute",
    "OPEN311_RATE_LIMIT_LOGIN_IP": "3/minute",
    "OPEN311_RATE_LIMIT_LOGIN_USER": "2/minute",
}
OTHER_ADDRESS = {"REMOTE_ADDR": "203.0.113.7"}


def limited_app(
    database_url: str, session_factory: sessionmaker[Session], redis_url: str, **overrides: object
) -> Flask:
    config = {"DATABASE_URL": database_url, "TESTING": True, "REDIS_URL": redis_url}
    app = create_app(config | LIMITS | overrides)
    app.extensions["open311.sessions"] = session_factory
    return app


@pytest.fixture
def counts_store(redis_url: str) -> Iterator[redis.Redis]:
    """The worker's Redis with no counts in it."""
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    yield store
    store.close()


@pytest.fixture
def app(database_url, session_factory, redis_url, counts_store):
    """This module's app: the conftest's, with tiny limits counted in the worker's Redis."""
    return limited_app(database_url, session_factory, redis_url)


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def pothole(db, city):
    return make_service(db, city, "POT-01", service_name="Pothole")


@pytest.fixture
def app_client(db) -> tuple[ApiClient, str]:
    return make_api_client(db, "city app")


def fields_of(header: str) -> dict[str, dict[str, str]]:
    """A RateLimit or RateLimit-Policy field as {policy name: {parameter: value}}."""
    parsed = {}
    for item in header.split(","):
        name, *parameters = item.strip().split(";")
        assert re.fullmatch(r'"[a-z0-9-]+"', name), header
        parsed[name.strip('"')] = dict(parameter.split("=", 1) for parameter in parameters)
    return parsed


def check_refusal(response, fmt: str, policy: str, quota: int, window_s: int = 60) -> str:
    """A 429 in `fmt` with Retry-After and both fields naming `policy` as exhausted; its
    description."""
    (description,) = errors(response, fmt, 429)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window_s
    policies = fields_of(response.headers["RateLimit-Policy"])
    assert policies[policy] == {"q": str(quota), "w": str(window_s)}
    limit = fields_of(response.headers["RateLimit"])[policy]
    assert limit["r"] == "0"
    # Retry-After points no earlier than the end of the window the fields announce.
    assert retry_after >= int(limit["t"]) >= 1
    return description


def post_request(client, key: str, fmt: str = "json", **environ: str):
    return client.post(url("requests", fmt), data=pothole_fields(key), environ_base=environ)


# --- writes, per API client ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_writes_over_the_clients_limit_are_429_and_store_nothing(
    client, db, pothole, app_client, fmt
):
    _client, key = app_client
    for left in (2, 1, 0):
        response = post_request(client, key, fmt)
        assert response.status_code == 200, response.data
        assert fields_of(response.headers["RateLimit"]) == {"writes": {"r": str(left), "t": "60"}}
        assert fields_of(response.headers["RateLimit-Policy"]) == {"writes": {"q": "3", "w": "60"}}
    before = counts(db)

    refused = post_request(client, key, fmt)

    description = check_refusal(refused, fmt, "writes", 3)
    assert "at most 3 writes per 1 minute for this API client" in description
    assert counts(db) == before
    # Another client is not held back by this one, nor is this one's count the address's.
    _other, other_key = make_api_client(db, "other app")
    assert post_request(client, other_key, fmt).status_code == 200


def test_every_write_endpoint_counts_against_the_one_client_limit(client, db, pothole, app_client):
    _client, key = app_client
    make_request(db, pothole, service_request_id="U-1")
    update = {
        "api_key": key,
        "service_request_id": "U-1",
        "update_id": "fms-1",
        "status": "OPEN",
        "updated_datetime": "2026-11-14T08:02:11+01:00",
        "description": "Still there",
    }
    hooks = f"{BASE}/webhooks.json"
    assert post_request(client, key).status_code == 200
    assert client.post(url("servicerequestupdates", "xml"), data=update).status_code == 200
    created = client.post(hooks, data={"api_key": key, "url": "https://app.example/hook"})
    assert created.status_code == 201, created.json
    hook = created.json[0]["id"]

    deleted = client.delete(f"{BASE}/webhooks/{hook}.json", query_string={"api_key": key})
    check_refusal(deleted, "json", "writes", 3)
    refused = client.post(url("servicerequestupdates", "xml"), data=update | {"update_id": "2"})
    check_refusal(refused, "xml", "writes", 3)
    # A write without a valid key is refused for that (403) and counts against nothing.
    assert post_request(client, "not-a-key").status_code == 403


def test_a_write_with_a_bad_body_before_the_key_check_counts_nothing(client, pothole, app_client):
    _client, key = app_client
    for _ in range(5):
        response = client.post(url("requests", "json"), json=["not", "an", "object"])
        assert response.status_code == 400
        assert "RateLimit" not in response.headers
    assert post_request(client, key).status_code == 200


# --- a client's own limit: the CLI and the staff API --------------------------------------------


def test_apikey_create_with_a_rate_limit_sets_the_clients_own_limit(app, client, db, pothole):
    cli = CliRunner()
    result = cli.invoke(
        main,
        ["apikey", "create", "busy app", "--rate-limit", "5/minute"],
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    stored = db.scalar(select(ApiClient).where(ApiClient.name == "busy app"))
    assert stored.rate_limit == "5/minute"

    for _ in range(5):
        assert post_request(client, key).status_code == 200
    check_refusal(post_request(client, key), "json", "writes", 5)

    refused = cli.invoke(
        main,
        ["apikey", "create", "bad app", "--rate-limit", "lots/minute"],
        obj=ScriptInfo(create_app=lambda: app),
    )
    assert refused.exit_code == 1
    assert "Error: rate_limit: not a rate limit" in refused.output
    assert db.scalar(select(ApiClient).where(ApiClient.name == "bad app")) is None


def test_the_staff_api_creates_and_changes_a_clients_own_limit(client, db, pothole):
    _admin, token = make_staff(db, StaffRole.administrator)
    clients = "/api/v1/api-clients"
    created = client.post(
        clients, json={"name": "busy app", "rate_limit": "4/minute"}, headers=bearer(token)
    )
    assert created.status_code == 201, created.json
    assert created.json["rate_limit"] == "4/minute"
    key, client_id = created.json["api_key"], created.json["id"]
    listed = client.get(clients, headers=bearer(token)).json
    assert [item["rate_limit"] for item in listed if item["id"] == client_id] == ["4/minute"]

    for _ in range(4):
        assert post_request(client, key).status_code == 200
    check_refusal(post_request(client, key), "json", "writes", 4)

    raised = client.patch(
        f"{clients}/{client_id}", json={"rate_limit": "10/second;6/minute"}, headers=bearer(token)
    )
    assert raised.status_code == 200, raised.json
    assert raised.json["rate_limit"] == "10/second;6/minute"
    # A new limit counts from zero; with two, both are reported.
    response = post_request(client, key)
    assert response.status_code == 200, response.data
    assert fields_of(response.headers["RateLimit-Policy"]) == {
        "writes-1": {"q": "10", "w": "1"},
        "writes-2": {"q": "6", "w": "60"},
    }

    reset = client.patch(f"{clients}/{client_id}", json={"rate_limit": None}, headers=bearer(token))
    assert reset.status_code == 200 and reset.json["rate_limit"] is None
    assert fields_of(post_request(client, key).headers["RateLimit-Policy"]) == {
        "writes": {"q": "3", "w": "60"}
    }


@pytest.mark.parametrize("bad", ["lots", "5/fortnight", "0/minute", "x" * 65, 5])
def test_the_staff_api_refuses_what_is_not_a_rate_limit(client, db, bad):
    _admin, token = make_staff(db, StaffRole.administrator)
    created = client.post(
        "/api/v1/api-clients", json={"name": "app", "rate_limit": bad}, headers=bearer(token)
    )
    (description,) = errors(created, "json", 400)
    assert description.startswith("rate_limit:")
    app_row, _key = make_api_client(db, "app")
    changed = client.patch(
        f"/api/v1/api-clients/{app_row.id}", json={"rate_limit": bad}, headers=bearer(token)
    )
    errors(changed, "json", 400)
    assert app_row.rate_limit is None


# --- reads: per address, or per client with a key -----------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_without_a_key_are_counted_per_address(client, city, fmt):
    for left in (3, 2, 1, 0):
        response = client.get(url("services", fmt))
        assert response.status_code == 200
        assert fields_of(response.headers["RateLimit"]) == {"reads": {"r": str(left), "t": "60"}}

    refused = client.get(url("services", fmt))

    description = check_refusal(refused, fmt, "reads", 4)
    assert "at most 4 calls per 1 minute for this address" in description
    assert client.get(url("services", fmt), environ_base=OTHER_ADDRESS).status_code == 200


def test_ipv6_addresses_count_per_64(client, city):
    first = {"REMOTE_ADDR": "2001:db8:1:2::10"}
    same_network = {"REMOTE_ADDR": "2001:db8:1:2:ffff::99"}
    other_network = {"REMOTE_ADDR": "2001:db8:1:3::10"}
    for _ in range(2):
        assert client.get(url("services", "json"), environ_base=first).status_code == 200
        assert client.get(url("services", "json"), environ_base=same_network).status_code == 200
    check_refusal(client.get(url("services", "json"), environ_base=first), "json", "reads", 4)
    assert client.get(url("services", "json"), environ_base=other_network).status_code == 200


def test_reads_with_a_valid_key_use_the_clients_own_limit(client, db, city):
    busy, key = make_api_client(db, "busy app")
    busy.rate_limit = "6/minute"
    db.flush()
    for _ in range(6):
        response = client.get(url("services", "json"), query_string={"api_key": key})
        assert response.status_code == 200
    assert fields_of(response.headers["RateLimit-Policy"]) == {"reads": {"q": "6", "w": "60"}}
    check_refusal(
        client.get(url("services", "xml"), query_string={"api_key": key}), "xml", "reads", 6
    )
    # The client's calls were not the address's: the address still has all of its own.
    anonymous = client.get(url("services", "json"))
    assert fields_of(anonymous.headers["RateLimit"])["reads"]["r"] == "3"
    # A wrong key is no key: the call counts against the address.
    wrong = client.get(url("services", "json"), query_string={"api_key": "not-a-key"})
    assert wrong.status_code == 200
    assert fields_of(wrong.headers["RateLimit"])["reads"]["r"] == "2"


def test_reads_with_a_key_of_a_client_without_its_own_limit_get_the_reads_limit(
    client, db, city, app_client
):
    _client, key = app_client
    for _ in range(4):
        assert client.get(url("services", "json"), query_string={"api_key": key}).status_code == 200
    check_refusal(
        client.get(url("services", "json"), query_string={"api_key": key}), "json", "reads", 4
    )


def test_the_update_feed_and_a_webhook_list_are_reads(client, db, city, app_client):
    _client, key = app_client
    assert client.get(url("servicerequestupdates", "json")).status_code == 200
    listed = client.get(f"{BASE}/webhooks.json", query_string={"api_key": key})
    assert listed.status_code == 200
    assert fields_of(listed.headers["RateLimit"])["reads"]["r"] == "3"  # the client's count


# --- exports ------------------------------------------------------------------------------------


def test_exports_have_their_own_smaller_limit(client, city):
    export = f"{BASE}/exports/requests.csv"
    for left in (1, 0):
        response = client.get(export)
        assert response.status_code == 200
        assert fields_of(response.headers["RateLimit"]) == {"exports": {"r": str(left), "t": "60"}}
        response.close()

    refused = client.get(export)

    # An export's errors are JSON whatever file was asked for.
    description = check_refusal(refused, "json", "exports", 2)
    assert "at most 2 exports per 1 minute for this address" in description
    # Exports did not use up the address's reads.
    assert fields_of(client.get(url("services", "json")).headers["RateLimit"])["reads"]["r"] == "3"


# --- sign-in ------------------------------------------------------------------------------------


def login(client, username: str, password: str = PASSWORD, **environ: str):
    body = {"username": username, "password": password}
    return client.post("/api/v1/login", json=body, environ_base=environ)


def test_sign_in_is_limited_per_username_from_any_address(client, db):
    user, _token = make_staff(db, StaffRole.supervisor, "sam")
    assert login(client, "sam").status_code == 200
    assert login(client, "sam", "wrong", REMOTE_ADDR="198.51.100.1").status_code == 401
    db.refresh(user)
    failed = user.failed_logins

    refused = login(client, "Sam", "wrong", REMOTE_ADDR="198.51.100.2")

    description = check_refusal(refused, "json", "login-user", 2)
    assert "at most 2 sign-ins per 1 minute for this username" in description
    # The refused attempt was never checked: it is not one more wrong password.
    db.refresh(user)
    assert user.failed_logins == failed
    # Another username from that address is still heard (401: no such user).
    assert login(client, "pat", REMOTE_ADDR="198.51.100.2").status_code == 401


def test_sign_in_is_limited_per_address_whatever_the_username(client, db):
    for name in ("a", "b", "c"):
        assert login(client, name).status_code == 401

    refused = login(client, "d")

    assert "for this address" in check_refusal(refused, "json", "login-ip", 3)
    # A staff answer, refusals included: never kept by a cache, never sniffed.
    assert refused.headers["Cache-Control"] == "no-store"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert login(client, "d", **OTHER_ADDRESS).status_code == 401


# --- off, Redis out of reach, two workers -------------------------------------------------------


def test_off_means_no_limits_and_no_fields(database_url, session_factory, redis_url, db, city):
    app = limited_app(database_url, session_factory, redis_url, OPEN311_RATE_LIMITS=False)
    client = app.test_client()
    for _ in range(10):
        response = client.get(url("services", "json"))
        assert response.status_code == 200
        assert "RateLimit" not in response.headers
    for name in ("a", "a", "a", "a"):
        assert login(client, name).status_code == 401


def test_off_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPEN311_RATE_LIMITS", "off")
    assert (
        create_app({"DATABASE_URL": "postgresql+psycopg2://x@127.0.0.1:1/x"}).config[
            "OPEN311_RATE_LIMITS"
        ]
        is False
    )


def test_an_unreadable_limit_setting_stops_the_app_from_starting():
    with pytest.raises(ValueError, match="OPEN311_RATE_LIMIT_READS='lots'"):
        create_app(
            {
                "DATABASE_URL": "postgresql+psycopg2://x@127.0.0.1:1/x",
                "OPEN311_RATE_LIMIT_READS": "lots",
            }
        )


def test_without_redis_calls_go_on_unlimited_with_one_log_line(
    database_url, session_factory, db, city, caplog
):
    nowhere = f"redis://:secret@127.0.0.1:{free_port()}/0"
    client = limited_app(database_url, session_factory, nowhere).test_client()
    caplog.set_level(logging.WARNING, logger=ratelimits.__name__)
    started = time.monotonic()

    answers = [client.get(url("services", "json")) for _ in range(10)]

    assert [response.status_code for response in answers] == [200] * 10
    assert all("RateLimit" not in response.headers for response in answers)
    assert time.monotonic() - started < 5
    (line,) = [r.getMessage() for r in caplog.records if r.name == ratelimits.__name__]
    assert "rate limits not applied" in line and "127.0.0.1" in line
    assert "secret" not in line


def test_redis_stopped_and_started_again(
    database_url, session_factory, db, city, caplog, tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(ratelimits, "PAUSE_AFTER_FAILURE_S", 0.0)
    server = LocalRedis(tmp_path / "redis", free_port())
    server.up()
    try:
        client = limited_app(database_url, session_factory, server.url()).test_client()
        caplog.set_level(logging.WARNING, logger=ratelimits.__name__)
        assert "RateLimit" in client.get(url("services", "json")).headers
        server.stop()

        down = [client.get(url("services", "json")) for _ in range(6)]

        assert [response.status_code for response in down] == [200] * 6
        server.up()
        back = client.get(url("services", "json"))
        # A fresh Redis starts the window afresh: counted and limited again.
        assert fields_of(back.headers["RateLimit"])["reads"]["r"] == "3"
        messages = [r.getMessage() for r in caplog.records if r.name == ratelimits.__name__]
        assert len(messages) == 2
        assert "not applied" in messages[0] and "applied again" in messages[1]
    finally:
        server.stop()


def test_two_workers_share_one_count(
    database_url, session_factory, redis_url, counts_store, db, pothole, app_client
):
    first = limited_app(database_url, session_factory, redis_url).test_client()
    second = limited_app(database_url, session_factory, redis_url).test_client()
    _client, key = app_client

    assert post_request(first, key).status_code == 200
    assert post_request(second, key).status_code == 200
    assert post_request(first, key).status_code == 200

    check_refusal(post_request(second, key), "json", "writes", 3)
    check_refusal(post_request(first, key), "json", "writes", 3)
    # The counts are the project's own keys in that Redis.
    stored = counts_store.scan_iter()
    names = list(stored)
    assert names and all(name.startswith(b"open311:") for name in names)
