"""Bounded queries: web statements run under statement_timeout (503 with Retry-After when one
is cancelled, exports under a longer limit of their own), offset paging stops at 10,000 rows
with the cursor going on, and `q` takes at most 16 words."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from open311 import create_app
from open311.db.session import make_engine
from open311.domain import request_search
from tests.api.helpers import FORMATS, errors, items_of, next_link, url
from tests.factories import insert_request_rows, make_jurisdiction, make_service

# --- statement_timeout --------------------------------------------------------------------------

TIMEOUT_MS = 300
TOO_LONG = (
    "the query took too long and was cancelled; narrow it (a smaller area, window or "
    "page_size, fewer words in q) or try again later"
)


@pytest.fixture
def timed_app(database_url: str):
    """The app on its own engine (not the test's rolled-back connection), so that its
    connections carry the web time limits: 300 ms a statement, 10 s an export's."""
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "TESTING": True,
            "OPEN311_RATE_LIMITS": False,
            "OPEN311_STATEMENT_TIMEOUT_MS": TIMEOUT_MS,
            "OPEN311_EXPORT_STATEMENT_TIMEOUT_MS": 10_000,
        }
    )
    yield app
    app.extensions["open311.engine"].dispose()


@contextmanager
def locked(database_url: str, table: str, *, for_s: float) -> Iterator[None]:
    """`table` locked by another session for `for_s` seconds (or until the block ends): every
    statement that reads it waits meanwhile, as behind a slow query or a migration."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    holder = psycopg2.connect(dsn)
    holder.cursor().execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    release = threading.Timer(for_s, holder.rollback)
    release.start()
    try:
        yield
    finally:
        release.cancel()
        release.join()
        holder.rollback()
        holder.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_read_past_the_statement_timeout_is_a_503_with_retry_after(timed_app, database_url, fmt):
    client = timed_app.test_client()
    # A list's first statement reads the jurisdiction (search_queries.resolve_scope); this
    # database has none yet, so the list never gets as far as service_request.
    with locked(database_url, "jurisdiction", for_s=5):
        started = time.monotonic()
        response = client.get(url("requests", fmt))
        took = time.monotonic() - started

    assert errors(response, fmt, 503) == [TOO_LONG]
    assert response.headers["Retry-After"] == "5"
    assert took < 3


def test_a_write_past_the_statement_timeout_is_a_503_too(timed_app, database_url):
    client = timed_app.test_client()
    with locked(database_url, "api_client", for_s=5):
        response = client.post(url("requests", "xml"), data={"api_key": "k", "service_code": "X"})

    assert errors(response, "xml", 503) == [TOO_LONG]
    assert response.headers["Retry-After"] == "5"


def test_an_export_waits_longer_than_a_page(timed_app, database_url):
    client = timed_app.test_client()
    with locked(database_url, "jurisdiction", for_s=1.5):
        page = client.get(url("requests", "json"))
        started = time.monotonic()
        export = client.get("/open311/v2/exports/requests.csv")
        waited = time.monotonic() - started

    assert errors(page, "json", 503) == [TOO_LONG]
    # The export waited for the lock to go (this database has no city yet: its answer).
    assert errors(export, "json", 404) == ["no jurisdiction is configured on this server yet"]
    assert waited > 1


def show(engine, *settings: str) -> list[str]:
    with engine.connect() as connection:
        return [connection.execute(text(f"SHOW {name}")).scalar_one() for name in settings]


LIMITS = ("statement_timeout", "idle_in_transaction_session_timeout")


def test_the_web_app_has_time_limits_and_the_worker_and_commands_none(database_url):
    app = create_app({"DATABASE_URL": database_url, "OPEN311_RATE_LIMITS": False})
    plain = make_engine(database_url)  # as the worker, the commands and migrations make it
    try:
        assert show(app.extensions["open311.engine"], *LIMITS) == ["5s", "1min"]
        assert show(plain, *LIMITS) == ["0", "0"]
    finally:
        app.extensions["open311.engine"].dispose()
        plain.dispose()


# --- page x page_size, and q --------------------------------------------------------------------


@pytest.fixture
def pothole(db):
    return make_service(db, make_jurisdiction(db), "POT-01", service_name="Pothole")


@pytest.fixture
def six(db, pothole) -> list[str]:
    """Six requests an hour apart, P-5 the newest."""
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    rows = [
        {
            "service_request_id": f"P-{i}",
            "requested_datetime": newest - timedelta(hours=5 - i),
            "updated_datetime": newest - timedelta(hours=5 - i),
            "description": f"pothole number {i}",
        }
        for i in range(6)
    ]
    insert_request_rows(db, pothole, rows)
    return [row["service_request_id"] for row in reversed(rows)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_page_past_10000_rows_is_a_400_that_points_to_the_cursor(client, six, fmt):
    last = client.get(url("requests", fmt), query_string={"page": 200, "page_size": 50})
    beyond = client.get(url("requests", fmt), query_string={"page": 201, "page_size": 50})

    assert items_of(last, fmt) == []
    assert errors(beyond, fmt, 400) == [
        "page: page x page_size may reach row 10,000 at most (here 10,050); to go further, "
        "follow the Link header (rel=next), which continues with a cursor"
    ]


def test_the_last_page_within_the_cap_links_on_with_a_cursor(client, monkeypatch, six):
    monkeypatch.setattr(request_search, "MAX_PAGED_ROWS", 4)

    first = client.get(url("requests", "json"), query_string={"page": 1, "page_size": 2})
    second = client.get(next_link(first))
    third = client.get(next_link(second))

    assert parse_qs(urlsplit(next_link(first)).query)["page"] == ["2"]
    query = parse_qs(urlsplit(next_link(second)).query)
    assert "page" not in query and "cursor" in query
    pages = [first, second, third]
    assert [item["service_request_id"] for p in pages for item in items_of(p, "json")] == six
    assert next_link(third) is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_q_takes_at_most_16_words(client, six, fmt):
    words = ["pothole"] * 16

    sixteen = client.get(url("requests", fmt), query_string={"q": " ".join(words)})
    seventeen = client.get(url("requests", fmt), query_string={"q": " ".join([*words, "or"])})

    assert len(items_of(sixteen, fmt)) == 6
    assert errors(seventeen, fmt, 400) == ["q: at most 16 words"]


def test_an_export_takes_at_most_16_words_too(client, six):
    response = client.get("/open311/v2/exports/requests.csv", query_string={"q": "a " * 17})

    assert errors(response, "json", 400) == ["q: at most 16 words"]
