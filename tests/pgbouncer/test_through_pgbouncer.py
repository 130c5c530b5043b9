"""The app, the worker and the scheduled jobs through pgbouncer in transaction mode (issue 18).

Two server connections serve every client here, so each client's transactions land on either
and one client's session state would turn up in another's: what transaction pooling breaks
shows. The app runs with OPEN311_PREPARED_STATEMENTS=off, the worker LISTENs on a session-mode
alias (DATABASE_LISTEN_URL) or polls, and the jobs' lock is a transaction's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg2
import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from open311 import create_app
from open311.commands.schedule import Job, Ran, Scheduler
from open311.config import Settings
from open311.db.models import Delivery, JobRun, ServiceRequest
from open311.db.session import make_engine, make_session_factory
from open311.values import DeliveryState, ScheduledJob, StaffRole
from tests.api.helpers import PASSWORD, bearer, body, make_staff, url
from tests.factories import make_api_key, make_jurisdiction, make_service
from tests.helpers import Receiver, receiver
from tests.notify.helpers import file_request, make_city, subscribe, worker_process
from tests.pgbouncer.conftest import POOL_SIZE, Pooled

ROUNDS = 3


@pytest.fixture(scope="module")
def direct_sessions(pooled: Pooled) -> Iterator[sessionmaker[Session]]:
    """Sessions on the database itself, for setting up and for looking at what was done."""
    engine = make_engine(pooled.direct)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def city(direct_sessions: sessionmaker[Session]) -> dict[str, str]:
    """A city with a service, an API key and an administrator (committed: the app's sessions
    are its own, through pgbouncer)."""
    with direct_sessions() as session:
        jurisdiction = make_jurisdiction(session, jurisdiction_id="pooled.example.org")
        make_service(session, jurisdiction, "POT", service_name="Pothole")
        key = make_api_key(session)
        make_staff(session, StaffRole.administrator, "ada", jurisdictions=[jurisdiction])
        session.commit()
    return {"key": key, "jurisdiction_id": "pooled.example.org"}


def app_through(pooled: Pooled, *, prepared: bool) -> Flask:
    return create_app(
        {
            "DATABASE_URL": pooled.url,
            "TESTING": True,
            "OPEN311_RATE_LIMITS": False,
            "OPEN311_PREPARED_STATEMENTS": prepared,
        }
    )


@pytest.fixture
def app(pooled: Pooled) -> Iterator[Flask]:
    built = app_through(pooled, prepared=False)
    yield built
    built.extensions["open311.engine"].dispose()


def pool(pooled: Pooled) -> dict[str, Any]:
    """pgbouncer's transaction-mode pool of the database, from SHOW POOLS."""
    name = make_url(pooled.direct).database
    (row,) = [row for row in pooled.admin("SHOW POOLS") if row["database"] == name]
    return row


def test_settings_reach_every_transaction_through_the_pooler(pooled):
    # pgbouncer drops the startup options (ignore_startup_parameters=options): make_engine
    # notices and sends them with each transaction instead, as SET LOCAL, which ends with it.
    engine = make_engine(pooled.url, statement_timeout_ms=1234, idle_in_transaction_timeout_ms=987)
    settings = text(
        "SELECT current_setting('timezone'), current_setting('jit'),"
        " current_setting('max_parallel_workers_per_gather'), current_setting('statement_timeout'),"
        " current_setting('idle_in_transaction_session_timeout')"
    )
    try:
        for _ in range(3):
            with engine.connect() as connection:
                assert connection.execute(settings).one() == ("UTC", "off", "0", "1234ms", "987ms")
                connection.commit()
                assert connection.execute(settings).one() == ("UTC", "off", "0", "1234ms", "987ms")
        # Nothing stays behind on the server connections for the next client.
        bare = psycopg2.connect(
            **make_url(pooled.url).translate_connect_args(username="user", database="dbname")
        )
        try:
            with bare.cursor() as cursor:
                cursor.execute(str(settings))
                assert cursor.fetchone()[3] != "1234ms"
        finally:
            bare.close()
    finally:
        engine.dispose()


def post(client, fmt: str, key: str, description: str) -> str:
    response = client.post(
        url("requests", fmt),
        data={
            "api_key": key,
            "service_code": "POT",
            "lat": "34.05",
            "long": "-118.25",
            "description": description,
        },
    )
    assert response.status_code in (200, 201), response.data
    (receipt,) = body(response, fmt, "service_requests")
    return receipt["service_request_id"]


def test_the_app_through_transaction_pooling(app, pooled, city, direct_sessions):
    client = app.test_client()
    filed: list[str] = []
    for round_ in range(ROUNDS):
        for fmt in ("json", "xml"):
            request_id = post(client, fmt, city["key"], f"Pothole {round_} {fmt}")
            filed.append(request_id)
            got = client.get(url(f"requests/{request_id}", fmt))
            assert got.status_code == 200, got.data
            (item,) = body(got, fmt, "service_requests")
            assert item["description"] == f"Pothole {round_} {fmt}"

            page = client.get(
                url("requests", fmt),
                query_string={
                    "service_code": "POT",
                    "status": "open",
                    "lat": "34.05",
                    "long": "-118.25",
                    "radius": "500",
                    "page_size": "50",
                },
            )
            assert page.status_code == 200, page.data
            ids = {item["service_request_id"] for item in body(page, fmt, "service_requests")}
            assert set(filed) <= ids

            updates = client.get(url("servicerequestupdates", fmt))
            assert updates.status_code == 200, updates.data

        export = client.get("/open311/v2/exports/requests.csv")
        assert export.status_code == 200, export.data
        exported = export.get_data(as_text=True)
        export.close()  # as a WSGI server closes it: its sessions go back to the pool
        assert all(request_id in exported for request_id in filed)

        signed_in = client.post("/api/v1/login", json={"username": "ada", "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.data
        token = signed_in.get_json()["token"]
        renamed = client.patch(
            "/api/v1/services/POT",
            headers=bearer(token),
            json={"service_name": f"Pothole (round {round_})"},
        )
        assert renamed.status_code == 200, renamed.data
        services = client.get(url("services", "json")).get_json()
        assert [s["service_name"] for s in services] == [f"Pothole (round {round_})"]

    # Many clients at once on two server connections: the lookups share them.
    def lookups(request_id: str) -> list[int]:
        own = app.test_client()
        return [own.get(url(f"requests/{request_id}", "json")).status_code for _ in range(5)]

    with ThreadPoolExecutor(max_workers=6) as executor:
        statuses = [status for done in executor.map(lookups, filed) for status in done]
    assert statuses == [200] * 5 * len(filed)
    state = pool(pooled)
    servers = state["sv_active"] + state["sv_idle"] + state["sv_used"] + state["sv_tested"]
    clients = state["cl_active"] + state["cl_waiting"]
    assert servers <= POOL_SIZE < clients, state

    with direct_sessions() as session:
        stored = session.scalars(
            select(ServiceRequest.service_request_id).where(
                ServiceRequest.service_request_id.in_(filed)
            )
        ).all()
    assert sorted(stored) == sorted(filed)


def lookup_on_another_server(app: Flask, pooled: Pooled, request_id: str) -> int:
    """GET requests/{id} twice from one app connection, with the server connection the first
    ran on held by another client in between (pgbouncer lends the most recently freed one
    first): the second runs on the other server connection. Its status."""
    client = app.test_client()
    assert client.get(url(f"requests/{request_id}", "json")).status_code == 200
    holder = psycopg2.connect(
        **make_url(pooled.url).translate_connect_args(username="user", database="dbname")
    )
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT 1")  # a transaction open: its server connection is taken
        return client.get(url(f"requests/{request_id}", "json")).status_code
    finally:
        holder.close()


@pytest.mark.parametrize(("prepared", "status"), [(False, 200), (True, 500)])
def test_prepared_statements_need_switching_off(pooled, city, prepared, status):
    """OPEN311_PREPARED_STATEMENTS=on through transaction pooling: the lookup prepared on one
    server connection is EXECUTEd on another, where it does not exist, and the request fails
    (500, "prepared statement ... does not exist"). Off, the same choreography answers 200."""
    app = app_through(pooled, prepared=prepared)
    try:
        client = app.test_client()
        request_id = post(client, "json", city["key"], "Pothole to look up")
        app.extensions["open311.engine"].dispose()  # start from a connection with nothing prepared
        assert lookup_on_another_server(app, pooled, request_id) == status
    finally:
        app.extensions["open311.engine"].dispose()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def test_two_workers_deliver_each_once_through_pgbouncer(
    pooled, direct_sessions, hook, tmp_path, monkeypatch
):
    """Two `open311 worker` processes through the transaction-mode pool: one LISTENs on the
    session-mode alias (DATABASE_LISTEN_URL), the other on the pool itself, where LISTEN hears
    nothing, and finds the deliveries by polling. Every delivery is sent once."""
    monkeypatch.setenv("OPEN311_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("OPEN311_WORKER_THREADS", "2")
    monkeypatch.setenv("OPEN311_WORKER_POLL_S", "1")
    workers = []
    try:
        monkeypatch.setenv("DATABASE_LISTEN_URL", pooled.session_url)
        workers.append(worker_process(pooled.url, tmp_path / "listening.log"))
        monkeypatch.delenv("DATABASE_LISTEN_URL")
        workers.append(worker_process(pooled.url, tmp_path / "polling.log"))
        time.sleep(1.5)  # both started and looking
        with direct_sessions() as session:
            city = make_city(session)
            for _ in range(4):
                subscribe(session, city.app, hook.url)
            for _ in range(5):
                file_request(session, city)
            ids = session.scalars(
                select(Delivery.delivery_id).where(
                    Delivery.state == DeliveryState.pending,
                    Delivery.subscription_id.is_not(None),
                )
            ).all()
        assert len(ids) == 20
        hook.wait_for(20, timeout_s=20)
        time.sleep(0.5)  # a second sending of any would arrive now
        for worker in workers:
            assert worker.poll() is None, worker.args
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(20)
    assert sorted(hook.delivery_ids()) == sorted(ids)  # each exactly once
    with direct_sessions() as session:
        states = session.scalars(select(Delivery.state).where(Delivery.delivery_id.in_(ids)))
        assert set(states) == {DeliveryState.delivered}
    for worker in workers:
        assert worker.returncode == 0
    assert "handled" in (tmp_path / "listening.log").read_text()


def test_two_schedulers_through_pgbouncer_run_a_job_once(pooled, direct_sessions):
    """Two workers' schedulers through the pool try a due job at the same moment: one runs it,
    holding the job's lock in a transaction that keeps no snapshot (vacuum is not held back)."""
    entered, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def body_(session: Session, settings: Settings, now) -> dict[str, int]:
        entered.set()
        release.wait(10)
        return {"done": 1}

    job = Job(ScheduledJob.statistics, timedelta(minutes=5), body_)

    def scheduler() -> Scheduler:
        engine = make_engine(pooled.url)
        config = Settings()
        return Scheduler(engine, make_session_factory(engine, config), config, [job])

    first, second = scheduler(), scheduler()
    results: dict[str, list[Ran]] = {}
    running = threading.Thread(target=lambda: results.setdefault("first", first.run_due()))
    running.start()
    try:
        assert entered.wait(10)
        results["second"] = second.run_due()
        with direct_sessions() as session:
            seen["holder"] = session.execute(
                text(
                    "SELECT state, backend_xmin, backend_xid FROM pg_stat_activity"
                    " WHERE query LIKE '%pg_try_advisory_xact_lock%' AND pid <> pg_backend_pid()"
                    " AND state = 'idle in transaction'"
                )
            ).all()
    finally:
        release.set()
        running.join(20)
    results["second again"] = second.run_due()
    for made in (first, second):
        made.engine.dispose()

    assert [ran.ran for ran in results["first"]] == [True]
    assert [ran.ran for ran in results["second"]] == [False]
    assert not results["second again"][0].ran  # run just now: not due
    # The lock's transaction, idle while the job ran: no snapshot, no transaction id.
    assert seen["holder"] == [("idle in transaction", None, None)]
    with direct_sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(JobRun).where(JobRun.job == job.name.value)
        )
        # Freed with its transaction: no server connection of the pool keeps it.
        left = session.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))
    assert count == 1
    assert left == 0
