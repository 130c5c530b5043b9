"""The deliveries benchmark: webhook deliveries per second through `open311 worker`, against the
floor of a bare durable worker doing what the worker's contract asks per delivery (lease one row
of a lane with nothing in flight, commit, POST it signed, record it if the lease is still its
own, commit, through psycopg2, from as many threads as the worker), and the signed POSTs alone
(no database at all).

Creates a scratch database on the project-local cluster (or DATABASE_URL's server), writes N
pending deliveries of one event spread over S subscriptions (a subscription's deliveries go one
at a time, so S bounds how many are in flight), serves a receiver that answers 204 from a
process of its own, and times `open311 worker --once` with 1 and 2 worker processes, then the
bare worker on the same rows, then the POSTs alone.

    .venv/bin/python bench/deliveries.py                     # 2,000 deliveries, 8 subscriptions
    .venv/bin/python bench/deliveries.py --deliveries 500 --subscriptions 1
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shlex
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg2
import requests
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from open311.config import LOCAL_CLUSTER_DIR, Settings  # noqa: E402
from open311.db.cluster import LocalCluster, free_port, prepare_database  # noqa: E402
from open311.db.migrate import upgrade  # noqa: E402
from open311.wire import webhooks as wire  # noqa: E402

SECRET = "bench-secret"


class _Ack(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _serve(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Ack).serve_forever()


@contextmanager
def receiver():
    port = free_port()
    process = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    process.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.post(f"http://127.0.0.1:{port}/", data=b"{}", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        process.terminate()


@contextmanager
def scratch_database():
    settings = Settings()
    server = make_url(settings.resolved_database_url())
    name = f"open311_bench_deliveries_{uuid.uuid4().hex[:8]}"
    if settings.database_url:
        # DATABASE_URL's role creates the database (it must be allowed to, and PostGIS must
        # be there or creatable).
        admin = _connect(server.set(database="postgres").render_as_string(hide_password=False))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    else:
        # The local cluster: its superuser makes the database for the app's role.
        admin = LocalCluster(LOCAL_CLUSTER_DIR, settings.local_cluster_port()).connect_superuser()
        prepare_database(admin, name, server.username)
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _connect(url: str):
    parsed = make_url(url)
    params = parsed.translate_connect_args(username="user", database="dbname")
    return psycopg2.connect(**params)


def queue(url: str, hook_url: str, count: int, subscriptions: int) -> dict[str, Any]:
    """One request, one event, `count` pending deliveries of it spread over `subscriptions`
    subscriptions (to paths of the same receiver), in turn."""
    payload = {"event": "request.created", "service_request": {"service_request_id": "B-1"}}
    with _connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO jurisdiction (jurisdiction_id, name, time_zone) "
            "VALUES ('bench.example', 'Bench', 'UTC') RETURNING id"
        )
        (jurisdiction,) = cur.fetchone()
        cur.execute(
            "INSERT INTO service (jurisdiction_id, service_code, service_name, type, active) "
            "VALUES (%s, 'B', 'Bench', 'realtime', true) RETURNING id",
            (jurisdiction,),
        )
        (service,) = cur.fetchone()
        cur.execute(
            "INSERT INTO service_request (jurisdiction_id, service_id, status, "
            "requested_datetime, updated_datetime) VALUES (%s, %s, 'open', now(), now()) "
            "RETURNING id",
            (jurisdiction, service),
        )
        (request,) = cur.fetchone()
        cur.execute(
            "INSERT INTO api_client (name, key_hash, key_prefix) "
            "VALUES ('bench', md5(random()::text) || md5(random()::text), 'bench') RETURNING id"
        )
        (client,) = cur.fetchone()
        subscription_ids = []
        for number in range(subscriptions):
            cur.execute(
                "INSERT INTO webhook_subscription (api_client_id, url, secret, events, scope, "
                "active, created_at, created_by) VALUES (%s, %s, %s, %s, 'own', true, now(), "
                "'bench') RETURNING id",
                (client, f"{hook_url}/{number}", SECRET, json.dumps(["request.created"])),
            )
            subscription_ids.append(cur.fetchone()[0])
        cur.execute(
            "INSERT INTO outbox_event (kind, service_request_pk, occurred_at, payload) "
            "VALUES ('request.created', %s, now(), %s) RETURNING id",
            (request, json.dumps(payload)),
        )
        (event,) = cur.fetchone()
        cur.execute(
            "INSERT INTO delivery (delivery_id, event_id, channel, subscription_id, state, "
            "attempts, next_attempt_at, created_at) "
            "SELECT gen_random_uuid()::text, %s, 'webhook', "
            "(%s::int[])[1 + n %% cardinality(%s::int[])], 'pending', 0, now(), now() "
            "FROM generate_series(1, %s) AS n",
            (event, subscription_ids, subscription_ids, count),
        )
    return payload


def delivered(url: str) -> int:
    with _connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM delivery WHERE state = 'delivered'")
        return cur.fetchone()[0]


def sending_rate(url: str) -> float:
    """Deliveries per second from the first recorded to the last: the rate once the worker
    processes are up (starting one takes seconds on a busy machine, which worker/s includes)."""
    with _connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) / nullif(extract(epoch FROM max(delivered_at) - min(delivered_at)), 0)"
            " FROM delivery WHERE state = 'delivered'"
        )
        return float(cur.fetchone()[0] or 0)


def time_workers(url: str, processes: int, threads: int) -> float:
    env = os.environ | {
        "DATABASE_URL": url,
        "OPEN311_WEBHOOK_ALLOW_PRIVATE": "1",
        "OPEN311_WORKER_THREADS": str(threads),
    }
    command = [sys.executable, "-m", "open311.cli", "worker", "--once", "--batch", "100000"]
    started = time.perf_counter()
    workers = [
        subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL) for _ in range(processes)
    ]
    for worker in workers:
        worker.wait()
    return time.perf_counter() - started


def _threads(target: Any, args: tuple[Any, ...], count: int) -> None:
    running = [threading.Thread(target=target, args=args) for _ in range(count)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()


def _post_loop(hook_url: str, payload: dict[str, Any], count: int) -> None:
    http = requests.Session()
    for _ in range(count):
        delivery_id = str(uuid.uuid4())
        timestamp = int(time.time())
        body = wire.body(
            payload, delivery_id=delivery_id, kind="request.created", timestamp=timestamp
        )
        headers = wire.headers(
            delivery_id=delivery_id,
            kind="request.created",
            timestamp=timestamp,
            signed=wire.signature(SECRET, body),
        )
        http.post(hook_url, data=body, headers=headers, timeout=10).close()


def _posts_only(args: tuple[str, dict[str, Any], int, int]) -> None:
    hook_url, payload, count, threads = args
    _threads(_post_loop, (hook_url, payload, count // threads), threads)


# Lease one due row of a lane with nothing in flight (no advisory lock: the floor does not
# guard the moment two claims meet in one lane), for 25 s.
_LEASE = """
UPDATE delivery SET leased_until = now() + interval '25 seconds'
WHERE id = (
    SELECT id FROM delivery
    WHERE state = 'pending' AND next_attempt_at <= now()
      AND (leased_until IS NULL OR leased_until <= now())
      AND coalesce(subscription_id, 0) NOT IN (
          SELECT coalesce(subscription_id, 0) FROM delivery WHERE leased_until > now())
    ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, delivery_id, leased_until, (SELECT url FROM webhook_subscription s
                                          WHERE s.id = delivery.subscription_id)
"""
_RECORD = """
UPDATE delivery SET state = 'delivered', attempts = attempts + 1, delivered_at = now(),
    leased_until = NULL
WHERE id = %s AND leased_until = %s
"""


def _bare_loop(url: str, payload: dict[str, Any]) -> None:
    """The least a worker under the lease contract does per delivery: lease one row, commit,
    POST it, record it if the lease is still its own, commit. It stops when nothing it can take
    is due (a lane busy with another thread's delivery included), as `worker --once` does."""
    http = requests.Session()
    conn = _connect(url)
    with conn.cursor() as cur:
        while True:
            cur.execute(_LEASE)
            row = cur.fetchone()
            conn.commit()
            if row is None:
                break
            delivery_pk, delivery_id, leased_until, hook_url = row
            timestamp = int(time.time())
            body = wire.body(
                payload, delivery_id=delivery_id, kind="request.created", timestamp=timestamp
            )
            headers = wire.headers(
                delivery_id=delivery_id,
                kind="request.created",
                timestamp=timestamp,
                signed=wire.signature(SECRET, body),
            )
            http.post(hook_url, data=body, headers=headers, timeout=10).close()
            cur.execute(_RECORD, (delivery_pk, leased_until))
            conn.commit()
    conn.close()


def _bare_worker(args: tuple[str, dict[str, Any], int]) -> None:
    url, payload, threads = args
    _threads(_bare_loop, (url, payload), threads)


def time_bare_workers(url: str, payload: dict[str, Any], processes: int, threads: int) -> float:
    started = time.perf_counter()
    with multiprocessing.Pool(processes) as pool:
        pool.map(_bare_worker, [(url, payload, threads)] * processes)
    return time.perf_counter() - started


def time_floor(
    hook_url: str, payload: dict[str, Any], count: int, processes: int, threads: int
) -> float:
    share = [(hook_url, payload, count // processes, threads)] * processes
    started = time.perf_counter()
    with multiprocessing.Pool(processes) as pool:
        pool.map(_posts_only, share)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--subscriptions", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, default=Settings().worker_threads, help="per worker process"
    )
    args = parser.parse_args(argv)
    count, lanes, threads = args.deliveries, args.subscriptions, args.threads
    rows = []
    with receiver() as hook_url:
        for processes in (1, 2):
            with scratch_database() as url:
                payload = queue(url, hook_url, count, lanes)
                seconds = time_workers(url, processes, threads)
                assert delivered(url) == count, "not every delivery was delivered"
                sending = sending_rate(url)
            with scratch_database() as url:
                queue(url, hook_url, count, lanes)
                bare = time_bare_workers(url, payload, processes, threads)
                assert delivered(url) == count, "the bare worker missed deliveries"
            floor = time_floor(hook_url, payload, count, processes, threads)
            rows.append((processes, count / seconds, sending, count / bare, count / floor))
    print(
        f"\n{count:,} webhook deliveries over {lanes} subscription(s) to a local receiver (204), "
        f"{threads} thread(s) per process, {os.cpu_count()} cores"
    )
    print("floor: lease + commit, POST, record + commit per delivery, bare psycopg2 and requests;")
    print("POSTs only: the same signed POSTs with no database at all;")
    print("worker/s from starting the processes, sending/s from the first delivery recorded")
    print(
        f"{'processes':>9}  {'worker/s':>9}  {'sending/s':>9}  {'floor/s':>8}  {'ratio':>5}  "
        f"{'POSTs only/s':>12}"
    )
    for processes, worker_rate, sending, bare_rate, post_rate in rows:
        print(
            f"{processes:>9}  {worker_rate:>9.0f}  {sending:>9.0f}  {bare_rate:>8.0f}  "
            f"{worker_rate / bare_rate:>5.2f}  {post_rate:>12.0f}"
        )
    print("\ncommand:", shlex.join([".venv/bin/python", "bench/deliveries.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
