"""Real PostgreSQL + PostGIS for every test.

With DATABASE_URL unset the suite starts its own throwaway cluster (initdb in a temporary
directory, a free port, fsync off) and removes it at the end; with DATABASE_URL set it creates a
fresh database on that server and drops it afterwards. Either way the schema comes from the
Alembic migrations, and each test runs inside a transaction that is rolled back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from flask import Flask
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from open311 import create_app
from open311.db.cluster import LocalCluster, free_port
from open311.db.migrate import upgrade
from open311.db.redis_server import LocalRedis
from open311.db.session import make_engine
from tests.helpers import PristineApp, register_superuser

# Every test fails if a personal value or secret it sent turns up in the log (tests/logscan.py).
pytest_plugins = ["tests.logscan"]


# tests/cluster/ runs against `make cluster` and kills its nodes: `make test-cluster` runs it,
# alone, never the whole suite.
collect_ignore = [] if os.environ.get("OPEN311_CLUSTER_TESTS") else ["cluster"]


def _external_database(base_url: str) -> Iterator[str]:
    url = make_url(base_url)
    name = f"open311_test_{uuid.uuid4().hex[:8]}"
    admin = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": "postgres",
    }
    conn = psycopg2.connect(**{k: v for k, v in admin.items() if v is not None})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def _throwaway_cluster() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="open311-test-pg-"))
    cluster = LocalCluster(root / "data", free_port(), durable=False)
    try:
        # The app's role, as in `make run`: the suite runs without superuser powers, except
        # where helpers.empty_database makes a database (with the cluster's superuser).
        url = cluster.up("open311_test")
        register_superuser(url, cluster.superuser_url())
        yield url
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist's --dist loadgroup (pyproject), a module whose tests share a module-scoped
    fixture (a seeded city, a server) runs on one worker, which sets it up once; the other tests
    go one by one to whichever worker is free. Before xdist's own hook, which reads the marks."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None or item.get_closest_marker("xdist_group"):
            continue
        scopes = {defs[-1].scope for defs in info.name2fixturedefs.values() if defs}
        if scopes & {"module", "class"}:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    source = os.environ.get("DATABASE_URL")
    databases = _external_database(source) if source else _throwaway_cluster()
    url = next(databases)
    upgrade(url)
    yield url
    databases.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway Redis of this pytest worker (a free port, a temporary directory, no
    persistence), for the rate limits; never the machine's own. Stopped at the end."""
    root = Path(tempfile.mkdtemp(prefix="open311-test-redis-"))
    server = LocalRedis(root / "redis", free_port())
    try:
        yield server.up()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection in an outer transaction that the test never commits."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    # Sessions' commits become savepoint releases inside the outer transaction.
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


def _test_app(database_url: str) -> Flask:
    # Rate limits off: the suite's calls would exceed them (tests/api/test_rate_limits.py
    # turns them on, with a Redis of its own).
    return create_app({"DATABASE_URL": database_url, "TESTING": True, "OPEN311_RATE_LIMITS": False})


@pytest.fixture(scope="session")
def _worker_app(database_url: str) -> Iterator[PristineApp]:
    """The app, built once per pytest worker: building one costs ~0.1 s (mostly the OpenAPI
    document of some forty blueprints), and thousands of tests use it. Each test gets it back
    as built (the `app` fixture); a test that needs other hooks, routes or settings at build
    time builds an app of its own with create_app."""
    app = _test_app(database_url)
    yield PristineApp(app)
    app.extensions["open311.engine"].dispose()


@pytest.fixture
def app(
    _worker_app: PristineApp, database_url: str, session_factory: sessionmaker[Session]
) -> Iterator[Flask]:
    """The worker's app, as if built for this test: its sessions are the test's (inside the
    test's rolled-back transaction); whatever the test changes of its config, extensions or
    WSGI stack is put back afterwards, and a test that adds routes or hooks fails. A test that
    set OPEN311_* variables first gets an app built from them, as `make run` would."""
    if not _worker_app.built_from_this_environment():
        own = _test_app(database_url)
        own.extensions["open311.sessions"] = session_factory
        yield own
        own.extensions["open311.engine"].dispose()
        return
    app = _worker_app.app
    app.extensions["open311.sessions"] = session_factory
    try:
        yield app
    finally:
        _worker_app.restore()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def demo_connection(engine: Engine) -> Iterator[Connection]:
    """The Los Angeles demo city with its history, seeded once per module and rolled back after.

    A module that wants it overrides `connection` with a savepoint on this one."""
    from open311.demo.seed import seed_demo_city

    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            seed_demo_city(session)
            session.commit()
        yield conn
        outer.rollback()
