"""Health, logs and metrics (README: Health, logs and metrics): /healthz and /readyz in both
states, unlimited and answered for any Host; one JSON log line per request carrying its
X-Request-Id (given or made); /metrics behind its token, with the request counter and the
gauges read from the database."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis

from open311 import create_app
from open311.db.cluster import free_port
from open311.db.models import Delivery, JobRun, OutboxEvent
from open311.serving.logs import JsonFormatter
from open311.values import DeliveryChannel, DeliveryState
from tests.factories import (
    make_agency,
    make_jurisdiction,
    make_request,
    make_service,
    make_work_order,
)

TOKEN = "metrics-token-for-tests"
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def make_app(database_url, session_factory=None, **overrides):
    config = {"DATABASE_URL": database_url, "TESTING": True, "OPEN311_RATE_LIMITS": False}
    app = create_app(config | overrides)
    if session_factory is not None:
        app.extensions["open311.sessions"] = session_factory
    return app


# --- /healthz and /readyz ---------------------------------------------------------------------


def test_healthz_and_readyz_answer_ok_with_each_check(client):
    health = client.get("/healthz")
    ready = client.get("/readyz")

    assert health.status_code == 200
    assert health.json == {"status": "ok", "checks": {"process": "ok"}}
    assert ready.status_code == 200
    assert ready.json == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "redis": "off"},
    }
    assert ready.headers["Cache-Control"] == "no-store"


def test_readyz_is_503_naming_the_database_when_it_cannot_be_reached(database_url):
    closed_port = free_port()
    unreachable = re.sub(r"@[^/]+/", f"@127.0.0.1:{closed_port}/", database_url)
    client = make_app(unreachable).test_client()

    ready = client.get("/readyz")

    assert ready.status_code == 503
    assert ready.json["status"] == "failing"
    assert ready.json["checks"]["database"] == "unreachable"
    # The process itself is alive: /healthz touches no database.
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_rate_limits_are_on_and_redis_cannot_be_reached(database_url):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    client = make_app(database_url, OPEN311_RATE_LIMITS=True, REDIS_URL=dead_redis).test_client()

    ready = client.get("/readyz")

    assert ready.status_code == 503
    assert ready.json["checks"] == {"database": "ok", "migrations": "ok", "redis": "unreachable"}


def test_probes_are_not_rate_limited_and_redis_is_checked(database_url, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    limited = {"OPEN311_RATE_LIMITS": True, "OPEN311_RATE_LIMIT_READS": "2/minute"}
    client = make_app(database_url, REDIS_URL=redis_url, **limited).test_client()

    answers = [client.get(path) for _ in range(5) for path in ("/healthz", "/readyz")]

    assert {a.status_code for a in answers} == {200}
    assert answers[-1].json["checks"]["redis"] == "ok"
    assert not any("RateLimit" in a.headers for a in answers)
    # The limit itself is on: discovery, a read, is refused on its third call.
    statuses = [client.get("/open311/v2/discovery.json").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_probes_and_metrics_answer_any_host(database_url, session_factory):
    app = make_app(
        database_url,
        session_factory,
        OPEN311_TRUSTED_HOSTS="311.example.gov",
        OPEN311_METRICS_TOKEN=TOKEN,
    )
    client = app.test_client()
    node = {"Host": "10.0.3.17:5311"}

    assert client.get("/healthz", headers=node).status_code == 200
    assert client.get("/readyz", headers=node).status_code == 200
    metrics = client.get("/metrics", headers=node | {"Authorization": f"Bearer {TOKEN}"})
    assert metrics.status_code == 200
    # Everything else still needs a trusted Host.
    assert client.get("/open311/v2/discovery.json", headers=node).status_code == 400


# --- JSON log lines with the request id --------------------------------------------------------


@pytest.fixture
def log_lines():
    """What the app logs while the test runs, formatted as serving/logs.py configures it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("open311")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_one_json_line_per_request_with_the_given_request_id(client, log_lines):
    given = "lb-7f3a9c21"

    answer = client.get(
        "/open311/v2/services/NO-SUCH.json?api_key=secret-key-1", headers={"X-Request-Id": given}
    )

    assert answer.status_code == 404
    assert answer.headers["X-Request-Id"] == given
    [line] = [line for line in log_lines() if line["logger"] == "open311.requests"]
    assert line["request_id"] == given
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["route"] == "/open311/v2/services/<service_code>.<fmt>"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    assert "secret-key-1" not in json.dumps(line)
    assert "NO-SUCH" not in json.dumps(line)  # the rule, not the URL


@pytest.mark.parametrize("given", [None, "", "x" * 129, "has space", "caf\u00e9", "a\tb"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_new_uuid(client, log_lines, given):
    headers = {"X-Request-Id": given} if given is not None else {}

    answer = client.get("/open311/v2/discovery.json", headers=headers)

    made = answer.headers["X-Request-Id"]
    assert UUID4.fullmatch(made)
    [line] = [line for line in log_lines() if line["logger"] == "open311.requests"]
    assert line["request_id"] == made
    assert line["route"] == "/open311/v2/discovery.<fmt>"


def test_every_log_line_of_a_request_carries_its_id(database_url, log_lines):
    # Rate limits on with Redis out of reach: the counter logs a warning during the request.
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    client = make_app(database_url, OPEN311_RATE_LIMITS=True, REDIS_URL=dead_redis).test_client()

    client.get("/open311/v2/discovery.json", headers={"X-Request-Id": "req-42"})

    lines = log_lines()
    assert {line["logger"] for line in lines} >= {"open311.api.ratelimits", "open311.requests"}
    assert {line.get("request_id") for line in lines} == {"req-42"}


def test_probes_are_logged_at_debug_only(client, log_lines):
    client.get("/healthz")
    client.get("/readyz")

    lines = [line for line in log_lines() if line["logger"] == "open311.requests"]
    assert [line["level"] for line in lines] == ["debug", "debug"]


# --- /metrics ----------------------------------------------------------------------------------


def scrape(client, token: str = TOKEN):
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"})


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        if metric.split("{")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', metric))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


def test_metrics_is_404_without_the_setting(client):
    assert client.get("/metrics").status_code == 404
    assert scrape(client).status_code == 404


def test_metrics_is_401_without_the_token_or_with_another(database_url, session_factory):
    client = make_app(database_url, session_factory, OPEN311_METRICS_TOKEN=TOKEN).test_client()

    assert client.get("/metrics").status_code == 401
    wrong = scrape(client, "not-the-token")
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert scrape(client).status_code == 200


def test_metrics_count_requests_by_route_and_status(database_url, session_factory):
    client = make_app(database_url, session_factory, OPEN311_METRICS_TOKEN=TOKEN).test_client()
    route = "/open311/v2/services/<service_code>.<fmt>"
    before = sample(scrape(client).text, "open311_http_requests_total", route=route, status="404")

    for _ in range(3):
        client.get("/open311/v2/services/NO-SUCH.json")
    text = scrape(client).text

    after = sample(text, "open311_http_requests_total", route=route, method="GET", status="404")
    assert after == (before or 0) + 3
    assert sample(text, "open311_http_request_duration_seconds_count", route=route) >= 3
    assert sample(text, "open311_db_pool_size") is not None
    assert scrape(client).headers["Content-Type"].startswith("text/plain; version=")


def test_metrics_read_the_outbox_and_overdue_work_orders(database_url, session_factory, db):
    city = make_jurisdiction(db)
    service = make_service(db, city, "POT-01", service_name="Pothole")
    request = make_request(db, service)
    streets, parks = make_agency(db, city, "STREETS"), make_agency(db, city, "PARKS")
    now = datetime.now(UTC)
    make_work_order(db, request, streets, due_at=now - timedelta(hours=2))
    make_work_order(db, request, streets, due_at=now - timedelta(minutes=5))
    make_work_order(db, request, streets, due_at=now + timedelta(days=1))
    make_work_order(db, request, streets, state="done", due_at=now - timedelta(days=3))
    make_work_order(db, request, parks, due_at=now + timedelta(days=1))
    event = OutboxEvent(
        kind="request.created", service_request_pk=request.id, occurred_at=now, payload={}
    )
    for state, age in (
        (DeliveryState.pending, 600),
        (DeliveryState.pending, 60),
        (DeliveryState.parked, 9000),
        (DeliveryState.delivered, 99999),
    ):
        db.add(
            Delivery(
                delivery_id=str(uuid.uuid4()),
                event=event,
                channel=DeliveryChannel.email,
                template="received",
                state=state,
                next_attempt_at=now,
                created_at=now - timedelta(seconds=age),
            )
        )
    db.flush()
    client = make_app(database_url, session_factory, OPEN311_METRICS_TOKEN=TOKEN).test_client()

    text = scrape(client).text

    assert sample(text, "open311_work_orders_overdue", agency="STREETS") == 2
    assert sample(text, "open311_work_orders_overdue", agency="PARKS") == 0
    assert sample(text, "open311_deliveries", state="pending") == 2
    assert sample(text, "open311_deliveries", state="parked") == 1
    assert sample(text, "open311_outbox_backlog") == 2
    assert 600 <= sample(text, "open311_outbox_oldest_pending_age_seconds") < 700


def test_metrics_count_the_scheduled_jobs_runs_and_failures(database_url, session_factory, db):
    now = datetime.now(UTC)
    runs = [("escalation", True)] * 3 + [("escalation", False), ("retention", True)]
    for job, ok in runs:
        error = None if ok else "OperationalError"
        db.add(JobRun(job=job, started_at=now, finished_at=now, ok=ok, error=error))
    db.add(JobRun(job="media_sweep", started_at=now))  # running: not counted yet
    db.flush()
    client = make_app(database_url, session_factory, OPEN311_METRICS_TOKEN=TOKEN).test_client()

    text = scrape(client).text

    assert sample(text, "open311_job_runs_total", job="escalation", result="ok") == 3
    assert sample(text, "open311_job_runs_total", job="escalation", result="failed") == 1
    assert sample(text, "open311_job_runs_total", job="retention", result="ok") == 1
    assert sample(text, "open311_job_runs_total", job="media_sweep") is None
    finished = sample(
        text, "open311_job_last_finished_timestamp_seconds", job="escalation", result="ok"
    )
    assert abs(finished - now.timestamp()) < 1
