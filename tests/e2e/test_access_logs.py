"""No API key in the access logs of `open311 serve` (nginx's and gunicorn's), and the key in the
X-API-Key header through the real arrangement."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from open311.db.session import make_engine, make_session_factory
from open311.serving import nginx
from tests.e2e.helpers import Served, served
from tests.factories import make_api_key, make_jurisdiction
from tests.helpers import scratch_database


@pytest.fixture(scope="module")
def database(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def api_key(database: str) -> str:
    engine = make_engine(database)
    with make_session_factory(engine)() as session:
        make_jurisdiction(session)
        key = make_api_key(session)
        session.commit()
    engine.dispose()
    return key


@pytest.fixture(scope="module")
def server(database: str, api_key: str, tmp_path_factory) -> Iterator[Served]:
    logs = tmp_path_factory.mktemp("access-logs")
    # gunicorn's log lines reach the file as they are written, not when a buffer fills.
    with served(database, logs, proxy=True, PYTHONUNBUFFERED="1") as running:
        yield running


def logged(path: Path, marker: str) -> list[str]:
    """The lines of `path` holding `marker`, waited for a moment (logs are written after the
    answer)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in path.read_text().splitlines() if marker in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_a_key_in_the_query_is_redacted_in_both_access_logs(server: Served, api_key: str):
    marker = "redaction-check"
    query = f"api_key={api_key}&note={marker}&Token=tok-5501&API_KEY=second-key-77"
    answered = requests.get(f"{server.base}/webhooks.json?{query}", timeout=10)
    assert answered.status_code == 200  # the app read the key
    nginx_log = nginx.run_dir_for(server.port) / "access.log"

    for path in (server.access_log, nginx_log):
        (line,) = logged(path, marker)
        expected = (
            "GET /open311/v2/webhooks.json?api_key=[REDACTED]&note=redaction-check"
            "&Token=[REDACTED]&API_KEY=[REDACTED] HTTP/1."
        )
        assert expected in line, (path, line)
        for secret in (api_key, "tok-5501", "second-key-77"):
            assert secret not in path.read_text()


def test_a_referer_and_many_keys_keep_no_secret(server: Served, api_key: str):
    marker = "many-keys-check"  # the user agent: nginx leaves this query out whole
    keys = "&".join(f"api_key=k{n}-{api_key}" for n in range(5))
    requests.get(
        f"{server.base}/services.json?{keys}",
        headers={
            "Referer": f"https://app.example.org/page?api_key={api_key}",
            "User-Agent": marker,
        },
        timeout=10,
    )
    nginx_log = nginx.run_dir_for(server.port) / "access.log"

    (line,) = logged(nginx_log, marker)
    # Past the ones redacted one by one, nginx leaves the whole query out.
    assert "/open311/v2/services.json?[REDACTED] HTTP/1.1" in line
    assert '"https://app.example.org/page?[REDACTED]"' in line
    (line,) = logged(server.access_log, marker)
    assert line.count("api_key=[REDACTED]") == 6  # 5 in the request line, 1 in the Referer
    for path in (server.access_log, nginx_log):
        assert api_key not in path.read_text()


def test_the_key_in_the_header_through_nginx(server: Served, api_key: str):
    hooks = f"{server.base}/webhooks.json"
    listed = requests.get(hooks, headers={"X-API-Key": api_key}, timeout=10)

    assert listed.status_code == 200
    assert listed.json() == []
