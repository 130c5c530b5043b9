"""Reading from a replica: a real streaming standby of the test cluster answers the public GETs,
a client reads its own writes (the primary answers it until the standby has replayed them), a
standby too far behind, down, or asked to write is passed over for the primary.

Which node answered is told by the reads counter (open311_database_reads_total by target), and
by pausing the standby's replay (pg_wal_replay_pause), after which it answers what it had.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.orm import Session

from open311 import create_app
from open311.api import database
from open311.db.cluster import free_port
from open311.db.replicas import parse_lsn
from open311.db.session import make_engine
from tests.api.helpers import FORMATS, body, url
from tests.factories import (
    make_api_key,
    make_attribute,
    make_jurisdiction,
    make_request,
    make_service,
)
from tests.helpers import scratch_database
from tests.replication import Standby, streaming_standby, superuser_url_of

LSN_HEADER = "Open311-Commit-LSN"
LSN_COOKIE = "open311_lsn"


@dataclass
class City:
    """A committed city on the primary, replayed on the standby."""

    url: str  # the primary's database, as the app's role
    replica_url: str  # the same database on the standby
    api_key: str
    service_request_id: str


@pytest.fixture(scope="module")
def standby(database_url: str) -> Iterator[Standby]:
    superuser = superuser_url_of(database_url)
    if superuser is None:
        pytest.skip(
            "DATABASE_URL is set: the suite has no superuser to make a streaming standby with "
            "(only its own throwaway cluster has one)"
        )
    with streaming_standby(superuser) as server:
        yield server


@pytest.fixture(scope="module")
def city(database_url: str, standby: Standby) -> Iterator[City]:
    """Committed rows (the replica sees only what the primary committed, never a test's
    rolled-back transaction) in a database of their own."""
    with scratch_database(database_url) as city_url:
        engine = make_engine(city_url)
        try:
            with Session(engine) as session:
                jurisdiction = make_jurisdiction(session)
                pothole = make_service(
                    session,
                    jurisdiction,
                    "POT-01",
                    attributes=[make_attribute("NOTE", "string", position=1)],
                )
                stored = make_request(session, pothole)
                key = make_api_key(session)
                session.commit()
                service_request_id = stored.service_request_id
        finally:
            engine.dispose()
        standby.wait_for_replay()
        yield City(city_url, standby.url(city_url), key, service_request_id)


def make_app(city: City, **config: object) -> Flask:
    return create_app(
        {
            "DATABASE_URL": city.url,
            "DATABASE_REPLICA_URLS": city.replica_url,
            # Lag is the age of the last replayed transaction while WAL waits to be replayed:
            # with replay paused it grows by the second, so most tests allow plenty.
            "OPEN311_REPLICA_MAX_LAG_S": 3600.0,
            "TESTING": True,
            "OPEN311_RATE_LIMITS": False,
        }
        | config
    )


@pytest.fixture(scope="module")
def replica_app(city: City) -> Iterator[Flask]:
    """One app for the tests that leave its replica as they found it."""
    app = make_app(city)
    yield app
    dispose(app)


@pytest.fixture
def own_app(city: City) -> Iterator[Callable[..., Flask]]:
    """Apps of a test's own (other settings, a replica marked down, a route of its own)."""
    made: list[Flask] = []

    def build(**config: object) -> Flask:
        made.append(make_app(city, **config))
        return made[-1]

    yield build
    for app in made:
        dispose(app)


def dispose(app: Flask) -> None:
    app.extensions["open311.engine"].dispose()
    if "open311.replicas" in app.extensions:
        app.extensions["open311.replicas"].dispose()


class Reads:
    """The reads counted by node since this was made."""

    def __init__(self, targets: tuple[str, ...] = ("primary", "replica0")) -> None:
        self.before = {target: _count(target) for target in targets}

    def since(self) -> dict[str, float]:
        return {target: _count(target) - count for target, count in self.before.items()}


def _count(target: str) -> float:
    sample = REGISTRY.get_sample_value("open311_database_reads_total", {"target": target})
    return sample or 0.0


def commit_on_primary(city: City) -> str:
    """A write on the primary that the app does not make (the standby must replay it): the
    city's request gets a new description, returned."""
    description = f"seen again {uuid.uuid4().hex[:8]}"
    engine = make_engine(city.url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE service_request SET description = :description"
                    " WHERE service_request_id = :id"
                ),
                {"description": description, "id": city.service_request_id},
            )
    finally:
        engine.dispose()
    return description


def report(city: City, description: str) -> dict[str, str]:
    return {
        "api_key": city.api_key,
        "service_code": "POT-01",
        "lat": "34.0522",
        "long": "-118.2437",
        "description": description,
    }


# --- the public reads go to the replica ------------------------------------------------------

PUBLIC_READS = (
    "/open311/v2/requests.{fmt}",
    "/open311/v2/requests/{id}.{fmt}",
    "/open311/v2/services.{fmt}",
    "/open311/v2/services/POT-01.{fmt}",
    "/open311/v2/servicerequestupdates.{fmt}",
    "/open311/v2/stats/requests.{fmt}",
    "/open311/v2/articles.{fmt}?q=pothole",
)
# With what they answer for the city's one request (no boundary layer: the district tile 404s,
# after looking for one; a tile without requests in it is 204).
PUBLIC_PAGES = (
    ("/open311/v2/exports/requests.csv", 200),
    ("/open311/v2/stats/hotspots.json", 200),
    ("/tiles/requests/12/701/1635.mvt", 204),
    ("/tiles/districts/12/701/1635.mvt?layer=council", 404),
    ("/kb?q=pothole", 200),
    ("/requests/{id}", 200),
)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", PUBLIC_READS)
def test_a_public_read_is_answered_by_the_replica(replica_app, city, path, fmt):
    reads = Reads()
    response = replica_app.test_client().get(path.format(fmt=fmt, id=city.service_request_id))
    assert response.status_code == 200, response.text
    assert reads.since() == {"primary": 0, "replica0": 1}


@pytest.mark.parametrize(("path", "status"), PUBLIC_PAGES)
def test_an_export_a_tile_and_a_page_are_answered_by_the_replica(replica_app, city, path, status):
    reads = Reads()
    response = replica_app.test_client().get(path.format(id=city.service_request_id))
    assert response.status_code == status, response.text[:500]
    assert reads.since() == {"primary": 0, "replica0": 1}


def test_a_head_is_answered_by_the_replica(replica_app, city):
    reads = Reads()
    assert replica_app.test_client().head(url("services", "json")).status_code == 200
    assert reads.since() == {"primary": 0, "replica0": 1}


def test_staff_reads_stay_on_the_primary(replica_app):
    """The staff API's GETs write audit entries, and staff expect their own changes at once."""
    reads = Reads()
    assert replica_app.test_client().get("/api/v1/jurisdictions").status_code == 401
    assert reads.since() == {"primary": 1, "replica0": 0}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_paused_replica_answers_what_it_had(replica_app, city, standby, fmt):
    client = replica_app.test_client()
    standby.pause_replay()
    try:
        description = commit_on_primary(city)
        response = client.get(url(f"requests/{city.service_request_id}", fmt))
        (stale,) = body(response, fmt, "service_requests")
    finally:
        standby.resume_replay()
    standby.wait_for_replay()
    assert stale["description"] != description
    fresh = client.get(url(f"requests/{city.service_request_id}", fmt))
    assert body(fresh, fmt, "service_requests")[0]["description"] == description


def test_replicas_answer_in_turn(own_app, city):
    client = own_app(DATABASE_REPLICA_URLS=f"{city.replica_url}, {city.replica_url}").test_client()
    reads = Reads(("primary", "replica0", "replica1"))
    for _ in range(4):
        assert client.get(url("services", "json")).status_code == 200
    assert reads.since() == {"primary": 0, "replica0": 2, "replica1": 2}


def test_the_reads_by_node_are_in_the_metrics(own_app):
    client = own_app(OPEN311_METRICS_TOKEN="metrics-t0ken-for-replicas").test_client()
    assert client.get(url("services", "json")).status_code == 200
    assert client.get("/api/v1/jurisdictions").status_code == 401  # the staff API: the primary
    scraped = client.get("/metrics", headers={"Authorization": "Bearer metrics-t0ken-for-replicas"})
    assert scraped.status_code == 200
    assert 'open311_database_reads_total{target="replica0"}' in scraped.text
    assert 'open311_database_reads_total{target="primary"}' in scraped.text


# --- read-your-writes ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_client_reads_its_own_write_before_the_replica_has_it(replica_app, city, standby, fmt):
    writer = replica_app.test_client()
    stranger = replica_app.test_client()
    standby.pause_replay()
    try:
        posted = writer.post(url("requests", fmt), data=report(city, "Hole by the school"))
        assert 200 <= posted.status_code < 300, posted.text
        (answer,) = body(posted, fmt, "service_requests")
        new = url(f"requests/{answer['service_request_id']}", fmt)
        lsn = posted.headers[LSN_HEADER]
        assert parse_lsn(lsn) is not None
        cookie = writer.get_cookie(LSN_COOKIE)
        assert cookie is not None and cookie.value == lsn
        assert cookie.http_only and cookie.same_site == "Lax" and cookie.path == "/"
        assert not cookie.secure  # plain HTTP here; over TLS it is Secure
        assert 0 < int(cookie.max_age) <= 3600 + 10

        reads = Reads()
        mine = writer.get(new)
        assert mine.status_code == 200, mine.text
        assert reads.since() == {"primary": 1, "replica0": 0}
        (seen,) = body(mine, fmt, "service_requests")
        assert seen["description"] == "Hole by the school"

        reads = Reads()
        assert stranger.get(new).status_code == 404  # the replica has not replayed it
        assert reads.since() == {"primary": 0, "replica0": 1}

        reads = Reads()  # an app without cookies sends the header back instead
        assert stranger.get(new, headers={LSN_HEADER: lsn}).status_code == 200
        assert reads.since() == {"primary": 1, "replica0": 0}
    finally:
        standby.resume_replay()
    standby.wait_for_replay()

    reads = Reads()
    assert writer.get(new).status_code == 200  # the replica has it now, the cookie notwithstanding
    assert stranger.get(new).status_code == 200
    assert reads.since() == {"primary": 0, "replica0": 2}


def test_a_replica_is_asked_afresh_when_a_client_needs_more_than_it_had(own_app, city, standby):
    app = own_app()
    app.extensions["open311.replicas"].refresh_s = 600  # its status is not read again by age
    writer = app.test_client()
    reads = Reads()
    assert writer.get(url("services", "json")).status_code == 200  # the status read once
    posted = writer.post(url("requests", "json"), data=report(city, "Asked afresh"))
    assert 200 <= posted.status_code < 300, posted.text
    [answer] = posted.get_json()
    standby.wait_for_replay()
    assert writer.get(url(f"requests/{answer['service_request_id']}", "json")).status_code == 200
    assert reads.since() == {"primary": 0, "replica0": 2}


def test_a_secure_request_gets_a_secure_cookie(replica_app, city):
    client = replica_app.test_client()
    posted = client.post(
        url("requests", "json"), data=report(city, "Over TLS"), base_url="https://localhost"
    )
    assert 200 <= posted.status_code < 300, posted.text
    cookie = client.get_cookie(LSN_COOKIE)
    assert cookie is not None and cookie.secure


@pytest.mark.parametrize(
    "value",
    [
        "nonsense",
        "1/2/3",
        "-1/-1",
        "0x1/0x2",
        "1_0/1",
        "123456789/0",
        "0/" + "F" * 300,
        "'; SELECT pg_sleep(10); --",
        "0/0\x00",
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_bad_lsn_is_ignored(replica_app, city, value, fmt):
    client = replica_app.test_client()
    client.set_cookie(LSN_COOKIE, value)
    reads = Reads()
    response = client.get(url("services", fmt), headers={LSN_HEADER: value})
    assert response.status_code == 200, response.text
    assert reads.since() == {"primary": 0, "replica0": 1}


# --- a replica passed over -------------------------------------------------------------------


def test_a_replica_further_behind_than_the_limit_is_passed_over(own_app, city, standby):
    client = own_app(OPEN311_REPLICA_MAX_LAG_S=0.5).test_client()
    standby.wait_for_replay()
    reads = Reads()
    assert client.get(url("services", "json")).status_code == 200
    assert reads.since() == {"primary": 0, "replica0": 1}
    standby.pause_replay()
    try:
        commit_on_primary(city)
        time.sleep(1.1)  # the replica is then over 0.5 s behind, and its status is read again
        reads = Reads()
        assert client.get(url("services", "json")).status_code == 200
        assert reads.since() == {"primary": 1, "replica0": 0}
    finally:
        standby.resume_replay()
    standby.wait_for_replay()
    time.sleep(0.6)
    reads = Reads()
    assert client.get(url("services", "json")).status_code == 200
    assert reads.since() == {"primary": 0, "replica0": 1}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_replica_that_is_down_leaves_the_reads_to_the_primary(own_app, city, fmt):
    nowhere = f"postgresql+psycopg2://open311:none@127.0.0.1:{free_port()}/nowhere"
    client = own_app(DATABASE_REPLICA_URLS=nowhere).test_client()
    reads = Reads()
    for _ in range(2):  # the second does not try it again: it is down for a while
        response = client.get(url(f"requests/{city.service_request_id}", fmt))
        assert response.status_code == 200, response.text
    assert reads.since() == {"primary": 2, "replica0": 0}


def test_a_replica_that_is_not_streaming_is_passed_over(own_app, standby):
    """Its WAL receiver gone (the primary out of its reach), it cannot tell how far behind it
    is."""
    client = own_app().test_client()
    with standby.not_streaming():
        reads = Reads()
        assert client.get(url("services", "xml")).status_code == 200
        assert reads.since() == {"primary": 1, "replica0": 0}
    time.sleep(0.6)  # the status is read again
    reads = Reads()
    assert client.get(url("services", "xml")).status_code == 200
    assert reads.since() == {"primary": 0, "replica0": 1}


def test_a_read_the_primary_cannot_serve_is_answered_by_any_replica(own_app, city, standby):
    """A failover under way: the primary gone, the standby cut off from it (not streaming, so
    not eligible). A read a little stale beats a 503; a write still answers 503."""
    nowhere = f"postgresql+psycopg2://open311:none@127.0.0.1:{free_port()}/nowhere"
    client = own_app(DATABASE_URL=nowhere).test_client()
    with standby.not_streaming():
        for fmt in ("json", "xml"):
            reads = Reads()
            response = client.get(url(f"requests/{city.service_request_id}", fmt))
            assert response.status_code == 200, response.text
            assert city.service_request_id in response.text
            assert reads.since() == {"primary": 1, "replica0": 1}
        written = client.post(
            url("requests", "json"),
            data={"api_key": city.api_key, "service_code": "POT-01", "lat": 34.05, "long": -118.25},
        )
        assert written.status_code == 503


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_write_on_a_primary_gone_read_only_is_a_503(own_app, city, fmt):
    """A switchover behind a pooler: the primary's URL now leads to a standby (the demoted
    node, which the pooler reconnected to). The write is refused there: a 503 to try again,
    not a 500, and nothing stored; the pool is dropped for the next connections to find the
    new primary."""
    client = own_app(DATABASE_URL=city.replica_url).test_client()
    for _ in range(2):
        answer = client.post(
            url("requests", fmt),
            data={"api_key": city.api_key, "service_code": "POT-01", "lat": 34.05, "long": -118.25},
        )
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"]


def test_a_promoted_replica_is_not_read_from(own_app, city, standby, caplog):
    """Out of recovery, it no longer follows the primary's writes."""
    with streaming_standby(standby.primary_superuser) as promoted:
        promoted.promote()
        client = own_app(DATABASE_REPLICA_URLS=promoted.url(city.url)).test_client()
        caplog.set_level(logging.WARNING, logger="open311.db.replicas")
        reads = Reads()
        response = client.get(url(f"requests/{city.service_request_id}", "json"))
        assert response.status_code == 200, response.text
        assert reads.since() == {"primary": 1, "replica0": 0}
        assert "not in recovery" in caplog.text


def test_a_read_whose_replica_connection_dies_runs_again_on_the_primary(own_app, city, standby):
    app = own_app()
    # The status, once read, is kept: the next read meets the dead connection itself.
    app.extensions["open311.replicas"].refresh_s = 600
    client = app.test_client()
    reads = Reads()
    assert client.get(url("services", "json")).status_code == 200
    assert reads.since() == {"primary": 0, "replica0": 1}
    database_name = city.url.rsplit("/", 1)[1]
    standby.run(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database_name}' AND backend_type = 'client backend'"
    )
    reads = Reads()
    response = client.get(url(f"requests/{city.service_request_id}", "json"))
    assert response.status_code == 200, response.text
    assert reads.since() == {"primary": 1, "replica0": 1}  # tried there first, answered here
    reads = Reads()
    assert client.get(url("services", "json")).status_code == 200
    assert reads.since() == {"primary": 1, "replica0": 0}  # down for a while: not tried


def test_a_read_that_writes_runs_again_on_the_primary(own_app, caplog):
    app = own_app()

    @app.get("/test-only/writes")
    def writes() -> str:
        # Left uncommitted: the primary's attempt is rolled back at the end of the request.
        database.session().execute(text("CREATE TABLE replica_write_probe (id int)"))
        return "written"

    caplog.set_level(logging.WARNING, logger="open311.api.database")
    reads = Reads()
    response = app.test_client().get("/test-only/writes")
    assert response.status_code == 200 and response.text == "written"
    assert reads.since() == {"primary": 1, "replica0": 1}
    assert any("25006" in record.getMessage() for record in caplog.records)


# --- without replicas, nothing changes -------------------------------------------------------


def test_without_replicas_a_write_sends_no_position(app, client, db):
    jurisdiction = make_jurisdiction(db)
    make_service(db, jurisdiction, "POT-01")
    key = make_api_key(db)
    posted = client.post(
        url("requests", "json"),
        data={"api_key": key, "service_code": "POT-01", "lat": "34.05", "long": "-118.24"},
    )
    assert 200 <= posted.status_code < 300, posted.text
    assert LSN_HEADER not in posted.headers
    assert client.get_cookie(LSN_COOKIE) is None
    assert "open311.replicas" not in app.extensions
