"""Health, logs and metrics through `open311 serve` (nginx in front of three gunicorn workers):
/metrics sums what every worker counted (prometheus-client's multiprocess mode), the health
probes stay out of both access logs, and the app's own log lines are JSON with the request id."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from open311.serving import nginx
from tests.e2e.helpers import Served, served
from tests.helpers import scratch_database

TOKEN = "e2e-metrics-token"
ROUTE = "/open311/v2/discovery.<fmt>"
CALLS = 40


@pytest.fixture(scope="module")
def database(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def server(database: str, redis_url: str, tmp_path_factory) -> Iterator[Served]:
    logs = tmp_path_factory.mktemp("operations")
    # Rate limits on (the default) with the suite's Redis: /readyz checks it too.
    env = {"PYTHONUNBUFFERED": "1", "OPEN311_METRICS_TOKEN": TOKEN, "REDIS_URL": redis_url}
    with served(database, logs, proxy=True, workers=3, **env) as running:
        yield running


def root(server: Served) -> str:
    return f"http://127.0.0.1:{server.port}"


def discovery_count(text: str) -> float:
    pattern = rf'^open311_http_requests_total\{{(?=[^}}]*route="{re.escape(ROUTE)}")'
    pattern += r'(?=[^}]*status="200")[^}]*\} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, flags=re.M))


def scrape(server: Served) -> str:
    answer = requests.get(
        f"{root(server)}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert answer.status_code == 200
    return answer.text


def test_metrics_sum_the_requests_every_worker_served(server: Served):
    before = discovery_count(scrape(server))
    metrics_dir = nginx.run_dir_for(server.port) / "metrics"

    def call(_n: int) -> int:
        return requests.get(f"{server.base}/discovery.json", timeout=10).status_code

    def counting_pids() -> set[str]:
        return {re.sub(r"\D", "", p.stem.rsplit("_", 1)[-1]) for p in metrics_dir.glob("counter_*")}

    # Six at once: sync workers each take one, so several workers serve them, mostly; a fast
    # worker may take a whole burst, so bursts go on (at most ten) until two have counted.
    sent = 0
    with ThreadPoolExecutor(6) as pool:
        while sent < 10 * CALLS and (sent == 0 or len(counting_pids()) < 2):
            statuses = list(pool.map(call, range(CALLS)))
            assert set(statuses) == {200}
            sent += CALLS

    assert len(counting_pids()) >= 2, counting_pids()
    assert discovery_count(scrape(server)) == before + sent
    assert requests.get(f"{root(server)}/metrics", timeout=10).status_code == 401


def test_health_probes_are_in_neither_access_log(server: Served):
    for path in ("/healthz", "/readyz"):
        answer = requests.get(f"{root(server)}{path}", timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "ok"
    marker = "after-the-probes"
    requests.get(f"{server.base}/discovery.json?note={marker}", timeout=10)

    nginx_log = nginx.run_dir_for(server.port) / "access.log"
    for log in (server.access_log, nginx_log):
        deadline = time.monotonic() + 5
        while marker not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        text = log.read_text()
        assert marker in text, log
        assert "/healthz" not in text and "/readyz" not in text, log


def test_the_apps_log_lines_are_json_with_the_request_id(server: Served):
    given = "e2e-request-7a1c"
    answer = requests.get(
        f"{server.base}/discovery.json", headers={"X-Request-Id": given}, timeout=10
    )
    assert answer.headers["X-Request-Id"] == given

    serve_log = server.access_log.parent / "serve.log"
    deadline = time.monotonic() + 5
    while given not in serve_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [line for line in serve_log.read_text().splitlines() if given in line]
    [line] = [json.loads(line) for line in lines]
    assert line["logger"] == "open311.requests"
    assert line["request_id"] == given
    assert line["route"] == ROUTE
    assert line["status"] == 200
