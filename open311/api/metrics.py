"""GET /metrics in Prometheus' text format, for a Prometheus that holds OPEN311_METRICS_TOKEN.

Not public by default: without the setting /metrics answers 404 like any unknown path; with it,
a request without `Authorization: Bearer <token>` (or with another token) gets 401.

Counted in each process (prometheus-client; under gunicorn in its multiprocess mode, each worker
writing to PROMETHEUS_MULTIPROC_DIR and the scrape summing them, whichever worker answers it):
requests by route rule, method and status, their latency histogram, and the database pool in
use. Read from the database at scrape time, with cheap statements under the web request's
statement timeout: the deliveries waiting and parked (the outbox backlog), the age of the oldest
waiting one, the open work orders past due per agency, and the scheduled jobs' finished runs,
ok and failed, across every node (job_run).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from flask import Flask, Response, abort, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from open311 import clock
from open311.api import database, requestlog
from open311.db import job_queries, metrics_queries

REQUESTS = Counter(
    "open311_http_requests",
    "HTTP requests answered, by route rule, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "open311_http_request_duration_seconds",
    "Time to make the answer (a streamed export: until its first bytes), by route rule.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
# livesum: under gunicorn, the sum over the workers alive.
POOL_CHECKED_OUT = Gauge(
    "open311_db_pool_checked_out",
    "Database connections in use, summed over the processes.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "open311_db_pool_size",
    "Database connections the pools keep (not counting overflow), summed over the processes.",
    multiprocess_mode="livesum",
)


def init_app(app: Flask) -> None:
    app.add_url_rule("/metrics", "metrics", metrics)
    app.after_request(_observe)


def _observe(response: Response) -> Response:
    route = requestlog.route()
    REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    LATENCY.labels(route, request.method).observe(requestlog.duration_s())
    _sample_pool()
    return response


def _sample_pool() -> None:
    pool = database.engine().pool
    POOL_CHECKED_OUT.set(getattr(pool, "checkedout", lambda: 0)())
    POOL_SIZE.set(getattr(pool, "size", lambda: 0)())


def metrics() -> Response:
    """The metrics, for a Prometheus holding OPEN311_METRICS_TOKEN."""
    settings = database.settings()
    if not settings.metrics_token:
        abort(404)
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {settings.metrics_token}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return Response(
            "a bearer token is needed\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
            content_type="text/plain; charset=utf-8",
        )
    _sample_pool()
    if settings.prometheus_multiproc_dir:
        counted = CollectorRegistry()
        MultiProcessCollector(counted, path=settings.prometheus_multiproc_dir)
    else:
        counted = REGISTRY
    read = CollectorRegistry()
    read.register(_DatabaseGauges())
    body = generate_latest(counted) + generate_latest(read)
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


class _DatabaseGauges(Collector):
    """Gauges read from the database when scraped (every process sees the same rows)."""

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        session = database.session()
        now = clock.now()
        backlog = metrics_queries.delivery_backlog(session, now)
        deliveries = GaugeMetricFamily(
            "open311_deliveries", "Webhook and e-mail deliveries by state.", labels=["state"]
        )
        deliveries.add_metric(["pending"], backlog.pending)
        deliveries.add_metric(["parked"], backlog.parked)
        yield deliveries
        yield GaugeMetricFamily(
            "open311_outbox_backlog",
            "Deliveries waiting to be sent (pending).",
            value=backlog.pending,
        )
        yield GaugeMetricFamily(
            "open311_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending delivery (0: none waits).",
            value=backlog.oldest_pending_s,
        )
        overdue = GaugeMetricFamily(
            "open311_work_orders_overdue",
            "Open work orders past their due time, by agency code.",
            labels=["agency"],
        )
        for agency, count in metrics_queries.overdue_work_orders_by_agency(session, now).items():
            overdue.add_metric([agency], count)
        yield overdue
        runs = CounterMetricFamily(
            "open311_job_runs",
            "Finished runs of the scheduled jobs on every node, by job and result (ok, failed).",
            labels=["job", "result"],
        )
        last = GaugeMetricFamily(
            "open311_job_last_finished_timestamp_seconds",
            "When a scheduled job's last run of that result finished (Unix time).",
            labels=["job", "result"],
        )
        for job, ok, count, finished_at in job_queries.run_counts(session):
            result = "ok" if ok else "failed"
            runs.add_metric([job, result], count)
            if finished_at is not None:
                last.add_metric([job, result], finished_at.timestamp())
        yield runs
        yield last
