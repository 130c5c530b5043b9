"""A PostgreSQL restart under running apps (each as a gunicorn worker, with its own pool and
no pre-ping): a read that meets its dead pooled connection is run again on a fresh one (200),
a write answers 503 with Retry-After and the next one works; while the server is down, 503s.
On a cluster of its own: the shared test cluster cannot be stopped."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from open311 import create_app
from open311.api import database
from open311.db.cluster import LocalCluster, free_port
from open311.db.migrate import upgrade
from open311.db.models import ServiceRequest
from open311.db.session import make_engine
from tests.api.helpers import body, errors, url
from tests.factories import make_api_key, make_jurisdiction, make_request, make_service

UNAVAILABLE = "the database is unavailable for a moment; try again shortly"


@pytest.fixture
def own_cluster() -> Iterator[tuple[LocalCluster, str]]:
    root = Path(tempfile.mkdtemp(prefix="open311-reconnect-"))
    cluster = LocalCluster(root / "data", free_port(), durable=False)
    try:
        url_ = cluster.up("open311_reconnect")
        upgrade(url_)
        yield cluster, url_
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def city(own_cluster) -> tuple[str, str]:
    """A committed city with a service, one request and an API key: (request id, key)."""
    _cluster, database_url = own_cluster
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            service = make_service(session, make_jurisdiction(session), "POT-01")
            make_request(session, service, service_request_id="R-1")
            key = make_api_key(session)
            session.commit()
    finally:
        engine.dispose()
    return "R-1", key


def worker(database_url: str) -> Flask:
    """One app as a gunicorn worker runs it: its own engine and pool."""
    return create_app({"DATABASE_URL": database_url, "OPEN311_RATE_LIMITS": False})


def filed(response) -> list:
    assert response.status_code == 200, response.data
    return body(response, "json", "service_requests")


def new_request(key: str) -> dict[str, str]:
    return {"api_key": key, "service_code": "POT-01", "lat": "34.05", "long": "-118.24"}


def test_after_a_restart_reads_are_run_again_and_writes_answer_503_once(own_cluster, city):
    cluster, database_url = own_cluster
    request_id, key = city
    # One worker per path a statement takes: the ORM (services), the plain DBAPI cursor of
    # request lists and of lookups by id, and a write.
    services, lists, lookups, writes = (worker(database_url) for _ in range(4))
    clients = [app.test_client() for app in (services, lists, lookups, writes)]
    by_id = url(f"requests/{request_id}", "json")
    try:
        calls = [
            lambda: clients[0].get(url("services", "json")),
            lambda: clients[1].get(url("requests", "json")),
            lambda: clients[2].get(by_id),
        ]
        # Each pool holds a live connection ...
        assert [call().status_code for call in calls] == [200, 200, 200]
        filed(clients[3].post(url("requests", "json"), data=new_request(key)))

        cluster.stop()  # ... which dies here
        cluster.start()

        assert [call().status_code for call in calls] == [200, 200, 200]
        write = clients[3].post(url("requests", "xml"), data=new_request(key))
        assert errors(write, "xml", 503) == [UNAVAILABLE]
        assert write.headers["Retry-After"] == "5"
        filed(clients[3].post(url("requests", "json"), data=new_request(key)))
        with Session(make_engine(database_url)) as session:
            assert session.scalar(select(func.count()).select_from(ServiceRequest)) == 3
    finally:
        for app in (services, lists, lookups, writes):
            app.extensions["open311.engine"].dispose()


def test_while_the_database_is_down_every_call_is_a_503_and_then_it_answers_again(
    own_cluster, city
):
    cluster, database_url = own_cluster
    _request_id, key = city
    app = worker(database_url)
    client = app.test_client()
    try:
        assert client.get(url("requests", "json")).status_code == 200

        cluster.stop()
        try:
            read = client.get(url("requests", "xml"))
            write = client.post(url("requests", "json"), data=new_request(key))
        finally:
            cluster.start()

        assert errors(read, "xml", 503) == [UNAVAILABLE]
        assert errors(write, "json", 503) == [UNAVAILABLE]
        assert read.headers["Retry-After"] == write.headers["Retry-After"] == "5"
        assert client.get(url("requests", "json")).status_code == 200
        filed(client.post(url("requests", "json"), data=new_request(key)))
    finally:
        app.extensions["open311.engine"].dispose()


def test_a_connection_that_dies_after_the_last_statement_costs_the_answer_nothing(
    own_cluster, city
):
    """A restart between a request's last statement and its teardown (seen in bench/soak.py: a
    change-feed page answered 500): closing the session rolls back on the dead connection,
    which must not turn the answer into a 500."""
    cluster, database_url = own_cluster
    app = worker(database_url)
    try:
        with app.test_request_context(url("requests", "json")):
            database.session().execute(text("SELECT 1"))
            cluster.stop()
            cluster.start()
        # Leaving the context ran the teardown on the dead connection without raising.
        assert app.test_client().get(url("requests", "json")).status_code == 200
    finally:
        app.extensions["open311.engine"].dispose()
