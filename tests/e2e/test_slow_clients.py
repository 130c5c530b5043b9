"""Slow clients against `open311 serve`: behind its nginx they cost the API nothing, while as many
as gunicorn has workers stop gunicorn alone; nginx's own limits and the headers it forwards."""

from __future__ import annotations

import csv
import http.client
import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta

import pytest
import requests

from open311.config import Settings
from open311.db.session import make_engine, make_session_factory
from tests.e2e.helpers import Served, served
from tests.factories import insert_requests, make_jurisdiction, make_service
from tests.helpers import scratch_database

WORKERS = 2
# nginx's patience with clients and gunicorn's with a worker, shortened so tests can outwait them.
CLIENT_TIMEOUT_S = 6  # long enough that the slow sockets outlive a GET on a loaded machine
WORKER_TIMEOUT_S = 3
# Small body limits, and the largest body the app then accepts (its MAX_CONTENT_LENGTH).
LIMITS = {
    "OPEN311_MAX_BODY_BYTES": "65536",
    "OPEN311_MEDIA_MAX_COUNT": "1",
    "OPEN311_MEDIA_MAX_BYTES": "65536",
}
MAX_CONTENT_LENGTH = Settings(
    database_url="postgresql://unused",
    max_body_bytes=65536,
    media_max_count=1,
    media_max_bytes=65536,
).flask_config()["MAX_CONTENT_LENGTH"]
# An export of some megabytes: far more than nginx's memory buffers and the sockets' between it
# and gunicorn, so most of it waits in nginx's temporary file while the client reads slowly.
EXPORT_ROWS = 3000
DESCRIPTION = "Deep pothole across both lanes, cyclists swerve into traffic. " * 32

PARTIAL_HEADERS = b"GET /open311/v2/services.json HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agen"
BODY_HEAD = (
    b"POST /open311/v2/requests.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\napi_key="
)


@pytest.fixture(scope="module")
def database(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            service = make_service(session, make_jurisdiction(session), "POTHOLE")
            now = datetime.now(UTC)
            moments = [now - timedelta(minutes=i) for i in range(EXPORT_ROWS)]
            insert_requests(session, service, moments, description=DESCRIPTION)
            session.commit()
        engine.dispose()
        yield url


@pytest.fixture(scope="module")
def behind_nginx(database: str, tmp_path_factory) -> Iterator[Served]:
    """`open311 serve` as `make run` runs it: nginx in front of gunicorn on a unix socket."""
    with served(
        database,
        tmp_path_factory.mktemp("nginx"),
        proxy=True,
        workers=WORKERS,
        OPEN311_CLIENT_TIMEOUT_S=str(CLIENT_TIMEOUT_S),
        OPEN311_WORKER_TIMEOUT=str(WORKER_TIMEOUT_S),
        **LIMITS,
    ) as server:
        yield server


@pytest.fixture(scope="module")
def gunicorn_alone(database: str, tmp_path_factory) -> Iterator[Served]:
    """`open311 serve --no-proxy`, with its default timeouts."""
    with served(database, tmp_path_factory.mktemp("alone"), proxy=False, workers=WORKERS) as server:
        yield server


# --- slow clients ---------------------------------------------------------------------------


@contextmanager
def slow_clients(port: int, *, stalled: int, trickling: int) -> Iterator[list[socket.socket]]:
    """Requests that never end: `stalled` stop inside their headers, `trickling` announce a
    60 kB form and send it a byte every half second."""
    sockets = [_send(port, PARTIAL_HEADERS) for _ in range(stalled)]
    trickled = [_send(port, BODY_HEAD) for _ in range(trickling)]
    sockets += trickled
    stop = threading.Event()
    trickler = threading.Thread(target=_trickle, args=(trickled, stop), daemon=True)
    trickler.start()
    try:
        time.sleep(0.3)  # the server has taken them in
        yield sockets
    finally:
        stop.set()
        trickler.join()
        for sock in sockets:
            sock.close()


def _send(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(data)
    return sock


def _trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    while not stop.wait(0.5):
        for sock in sockets:
            with suppress(OSError):  # the server may have let it go
                sock.send(b"x")


def _still_open(sock: socket.socket) -> bool:
    """Whether the server has neither answered nor closed the connection."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def _get_services_among_slow_clients(server: Served, wait_s: float) -> float | None:
    """Seconds a normal GET services.json takes with WORKERS + 1 stalled and WORKERS trickling
    clients connected, or None when it has no answer within `wait_s`."""
    with slow_clients(server.port, stalled=WORKERS + 1, trickling=WORKERS) as sockets:
        started = time.monotonic()
        try:
            response = requests.get(f"{server.base}/services.json", timeout=wait_s)
        except requests.Timeout:
            return None
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert [s for s in sockets if not _still_open(s)] == []  # measured among them all
    return elapsed


def test_behind_nginx_slow_clients_cost_a_normal_get_nothing(behind_nginx: Served):
    elapsed = _get_services_among_slow_clients(behind_nginx, wait_s=5)

    assert elapsed is not None and elapsed < 1


def test_gunicorn_alone_is_stopped_by_as_many_slow_clients_as_it_has_workers(
    gunicorn_alone: Served,
):
    """What nginx is for: each sync worker waits on its slow client until gunicorn ends it after
    OPEN311_WORKER_TIMEOUT (75 s by default), and the GET waits behind them."""
    assert _get_services_among_slow_clients(gunicorn_alone, wait_s=2) is None


def test_nginx_drops_a_stalled_client_after_the_client_timeout(behind_nginx: Served):
    """Stuck in its headers or in its body, a client is let go after OPEN311_CLIENT_TIMEOUT_S."""
    stuck = [_send(behind_nginx.port, PARTIAL_HEADERS), _send(behind_nginx.port, BODY_HEAD)]
    started = time.monotonic()
    closed_after = []
    for sock in stuck:
        sock.settimeout(CLIENT_TIMEOUT_S + 5)
        with sock:
            while sock.recv(4096):
                pass
        closed_after.append(time.monotonic() - started)

    assert all(CLIENT_TIMEOUT_S - 0.5 < s < CLIENT_TIMEOUT_S + 2 for s in closed_after)


# --- nginx's limits and headers -------------------------------------------------------------


def _agent() -> str:
    """A User-Agent of its own, to find a request in gunicorn's access log."""
    return f"probe-{uuid.uuid4().hex}"


def _logged(server: Served, agent: str, wait_s: float = 3) -> str | None:
    """gunicorn's access log line of the request sent with `agent`, or None if there is none
    within `wait_s` (a worker writes it after sending the answer)."""
    deadline = time.monotonic() + wait_s
    while True:
        lines = server.access_log.read_text().splitlines()
        line = next((line for line in lines if agent in line), None)
        if line is not None or time.monotonic() > deadline:
            return line
        time.sleep(0.05)


def _never_logged(server: Served, agent: str) -> bool:
    """Whether the request sent with `agent` never reached the app: a request sent after it has
    been logged, and it has not."""
    later = _agent()
    requests.get(f"{server.base}/discovery.json", headers={"User-Agent": later}, timeout=5)
    assert _logged(server, later) is not None
    return _logged(server, agent, wait_s=0) is None


def _post_head(port: int, path: str, agent: str, length: int) -> tuple[int, str, bytes]:
    """The answer (status, Content-Type, body) to a POST's headers announcing `length` bytes,
    before any byte of the body is sent."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {agent}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    with _send(port, head.encode()) as sock:
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.getheader("Content-Type", ""), response.read()


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        (
            "/open311/v2/requests.json",
            "application/json; charset=utf-8",
            b'[{"code":413,"description":"the request body is too large"}]',
        ),
        (
            "/open311/v2/requests.xml",
            "text/xml; charset=utf-8",
            b'<?xml version="1.0" encoding="utf-8"?>\n<errors><error><code>413</code>'
            b"<description>the request body is too large</description></error></errors>",
        ),
        (
            "/api/v1/login",
            "application/json; charset=utf-8",
            b'[{"code":413,"description":"the request body is too large"}]',
        ),
    ],
)
def test_a_body_above_the_apps_limit_is_a_413_from_nginx(behind_nginx, path, content_type, body):
    """Refused on its Content-Length, unread, in the GeoReport format the app would use."""
    agent = _agent()
    answer = _post_head(behind_nginx.port, path, agent, MAX_CONTENT_LENGTH + 1)

    assert answer == (413, content_type, body)
    assert _never_logged(behind_nginx, agent)


def test_a_body_at_the_apps_limit_reaches_the_app(behind_nginx: Served):
    agent = _agent()
    response = requests.post(
        f"{behind_nginx.base}/requests.json",
        data=b"description=" + b"x" * (MAX_CONTENT_LENGTH - len(b"description=")),
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": agent},
        timeout=10,
    )

    # The app's own answer (its form fields may be no larger than OPEN311_MAX_BODY_BYTES).
    assert response.status_code == 413
    assert '"POST /open311/v2/requests.json HTTP/1.0" 413' in (_logged(behind_nginx, agent) or "")


def test_the_app_sees_the_client_nginx_saw_not_forwarded_headers_it_sent(behind_nginx: Served):
    agent = _agent()
    response = requests.get(
        f"{behind_nginx.base}/discovery.json",
        headers={
            "User-Agent": agent,
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
            # gunicorn would answer 400 to this beside nginx's X-Forwarded-Proto: http.
            "X-Forwarded-Ssl": "on",
        },
        timeout=5,
    )

    assert response.status_code == 200
    assert response.json()["endpoints"][0]["url"] == behind_nginx.base
    assert (_logged(behind_nginx, agent) or "").startswith("127.0.0.1 ")


def test_the_app_takes_the_client_address_and_scheme_nginx_forwards(behind_nginx: Served):
    """What nginx sends over gunicorn's socket (X-Forwarded-For ending in the address it saw,
    X-Forwarded-Proto) is, for the app, the client's address and scheme."""
    agent = _agent()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(behind_nginx.socket))
        sock.sendall(
            f"GET /open311/v2/discovery.json HTTP/1.0\r\nHost: 311.example.org\r\n"
            f"User-Agent: {agent}\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.9\r\n"
            "X-Forwarded-Proto: https\r\n\r\n".encode()
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()

    assert response.status == 200
    assert b'"url":"https://311.example.org/open311/v2"' in body
    assert (_logged(behind_nginx, agent) or "").startswith("203.0.113.9 ")


def test_an_export_read_slower_than_the_worker_timeout_arrives_whole(behind_nginx: Served):
    """nginx takes the file from gunicorn at local speed, so the worker is done within a moment
    and a client that reads for longer than OPEN311_WORKER_TIMEOUT still gets every row."""
    agent = _agent()
    started = time.monotonic()
    chunks: list[bytes] = []
    done_before_client = False
    with requests.get(
        f"{behind_nginx.base}/exports/requests.csv",
        headers={"User-Agent": agent},
        stream=True,
        timeout=10,
    ) as response:
        assert response.status_code == 200
        while chunk := response.raw.read(256 * 1024):
            chunks.append(chunk)
            if len(chunks) == 8:  # a third of the file read, two seconds in
                done_before_client = _logged(behind_nginx, agent, wait_s=0) is not None
            time.sleep(0.2)
    elapsed = time.monotonic() - started
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8"), newline="")))

    assert elapsed > WORKER_TIMEOUT_S + 1
    assert done_before_client
    assert len(rows) == 1 + EXPORT_ROWS
    assert {len(row) for row in rows} == {len(rows[0])}  # the last row whole too
