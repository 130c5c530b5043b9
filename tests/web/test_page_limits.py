"""The pages' rate limits: no api_key, so every call counts against its address, a form's POST
against `writes` and anything else against `reads`; a refusal is a page (429, Retry-After and
the RateLimit fields), in the reader's language."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from open311 import create_app
from tests.web.pages import TOKEN

LIMITS = {
    "OPEN311_RATE_LIMITS": True,
    "OPEN311_RATE_LIMIT_WRITES": "2/minute",
    "OPEN311_RATE_LIMIT_READS": "4/minute",
    "OPEN311_RATE_LIMIT_LOGIN_IP": "10/minute",
    "OPEN311_RATE_LIMIT_LOGIN_USER": "10/minute",
}
BROWSER = {"Accept": "text/html"}


@pytest.fixture
def app(database_url, session_factory, redis_url) -> Iterator:
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    config = {"DATABASE_URL": database_url, "TESTING": True, "REDIS_URL": redis_url}
    app = create_app(config | LIMITS)
    app.extensions["open311.sessions"] = session_factory
    yield app
    store.close()


def test_pages_count_against_the_address_and_refuse_with_a_page(client):
    for _ in range(4):
        assert client.get("/staff/sign-in", headers=BROWSER).status_code == 200
    refused = client.get("/staff/sign-in?locale=es", headers=BROWSER)
    assert refused.status_code == 429
    assert refused.content_type == "text/html; charset=utf-8"
    assert '<html lang="es"' in refused.get_data(as_text=True)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert '"reads";r=0' in refused.headers["RateLimit"]
    other = client.get("/staff/sign-in", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.status_code == 200


def test_a_forms_post_counts_against_writes(client):
    page = client.get("/staff/sign-in").get_data(as_text=True)
    token = TOKEN.search(page).group(1)
    form = {"username": "nobody", "password": "wrong password 311", "csrf_token": token}
    assert client.post("/staff/sign-in", data=form).status_code == 401
    assert client.post("/staff/sign-in", data=form).status_code == 401
    refused = client.post("/staff/sign-in", data=form)
    assert refused.status_code == 429
    assert '"writes";r=0' in refused.headers["RateLimit"]


def test_tiles_count_against_reads_and_refuse_in_json(client):
    for _ in range(4):
        assert client.get("/tiles/requests/99/0/0.mvt").status_code == 400  # counted all the same
    refused = client.get("/tiles/requests/12/702/1635.mvt")
    assert refused.status_code == 429
    assert refused.is_json
    assert '"reads";r=0' in refused.headers["RateLimit"]
