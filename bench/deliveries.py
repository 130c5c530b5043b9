"""The deliveries benchmark: webhook deliveries per second through `open311 worker`, against the
floor of a bare durable worker (claim one row FOR UPDATE SKIP LOCKED, POST it signed, mark it,
commit, through psycopg2), and the signed POSTs alone (no database at all).

Creates a scratch database on the project-local cluster (or DATABASE_URL's server), writes N
pending deliveries of one event to one subscription, serves a receiver that answers 204 from a
process of its own, and times `open311 worker --once` with 1 and 2 worker processes, then the
bare worker on the same rows, then the POSTs alone.

    .venv/bin/python bench/deliveries.py                 # 2,000 deliveries
    .venv/bin/python bench/deliveries.py --deliveries 500
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shlex
import subprocess
import sys
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

from open311.config import Settings  # noqa: E402
from open311.db.cluster import free_port  # noqa: E402
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
    server = make_url(Settings().resolved_database_url())
    name = f"open311_bench_deliveries_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(
        host=server.host, port=server.port, user=server.username, dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
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
    return psycopg2.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database
    )


def queue(url: str, hook_url: str, count: int) -> dict[str, Any]:
    """One request, one event, `count` pending deliveries of it to one subscription."""
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
        cur.execute(
            "INSERT INTO webhook_subscription (api_client_id, url, secret, events, scope, "
            "active, created_at, created_by) VALUES (%s, %s, %s, %s, 'own', true, now(), "
            "'bench') RETURNING id",
            (client, hook_url, SECRET, json.dumps(["request.created"])),
        )
        (subscription,) = cur.fetchone()
        cur.execute(
            "INSERT INTO outbox_event (kind, service_request_pk, occurred_at, payload) "
            "VALUES ('request.created', %s, now(), %s) RETURNING id",
            (request, json.dumps(payload)),
        )
        (event,) = cur.fetchone()
        cur.execute(
            "INSERT INTO delivery (delivery_id, event_id, channel, subscription_id, state, "
            "attempts, next_attempt_at, created_at) "
            "SELECT gen_random_uuid()::text, %s, 'webhook', %s, 'pending', 0, now(), now() "
            "FROM generate_series(1, %s)",
            (event, subscription, count),
        )
    return payload


def delivered(url: str) -> int:
    with _connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM delivery WHERE state = 'delivered'")
        return cur.fetchone()[0]


def time_workers(url: str, processes: int) -> float:
    env = os.environ | {"DATABASE_URL": url, "OPEN311_WEBHOOK_ALLOW_PRIVATE": "1"}
    command = [sys.executable, "-m", "open311.cli", "worker", "--once", "--batch", "100000"]
    started = time.perf_counter()
    workers = [subprocess.Popen(command, env=env) for _ in range(processes)]
    for worker in workers:
        worker.wait()
    return time.perf_counter() - started


def _floor_loop(args: tuple[str, dict[str, Any], int]) -> None:
    hook_url, payload, count = args
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


def _bare_worker(args: tuple[str, str, dict[str, Any]]) -> None:
    """The least a durable worker can do per delivery: claim one row, POST it, mark it, commit."""
    url, hook_url, payload = args
    http = requests.Session()
    conn = _connect(url)
    with conn.cursor() as cur:
        while True:
            cur.execute(
                "SELECT id, delivery_id FROM delivery WHERE state = 'pending' "
                "AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 1 "
                "FOR UPDATE SKIP LOCKED"
            )
            row = cur.fetchone()
            if row is None:
                conn.rollback()
                break
            timestamp = int(time.time())
            body = wire.body(
                payload, delivery_id=row[1], kind="request.created", timestamp=timestamp
            )
            headers = wire.headers(
                delivery_id=row[1],
                kind="request.created",
                timestamp=timestamp,
                signed=wire.signature(SECRET, body),
            )
            http.post(hook_url, data=body, headers=headers, timeout=10).close()
            cur.execute(
                "UPDATE delivery SET state = 'delivered', attempts = attempts + 1, "
                "delivered_at = now() WHERE id = %s",
                (row[0],),
            )
            conn.commit()
    conn.close()


def time_bare_workers(url: str, hook_url: str, payload: dict[str, Any], processes: int) -> float:
    started = time.perf_counter()
    with multiprocessing.Pool(processes) as pool:
        pool.map(_bare_worker, [(url, hook_url, payload)] * processes)
    return time.perf_counter() - started


def time_floor(hook_url: str, payload: dict[str, Any], count: int, processes: int) -> float:
    share = [(hook_url, payload, count // processes)] * processes
    started = time.perf_counter()
    with multiprocessing.Pool(processes) as pool:
        pool.map(_floor_loop, share)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    args = parser.parse_args(argv)
    count = args.deliveries
    rows = []
    with receiver() as hook_url:
        for processes in (1, 2):
            with scratch_database() as url:
                payload = queue(url, hook_url, count)
                seconds = time_workers(url, processes)
                assert delivered(url) == count, "not every delivery was delivered"
            with scratch_database() as url:
                queue(url, hook_url, count)
                bare = time_bare_workers(url, hook_url, payload, processes)
                assert delivered(url) == count, "the bare worker missed deliveries"
            floor = time_floor(hook_url, payload, count, processes)
            rows.append((processes, count / seconds, count / bare, count / floor))
    print(f"\n{count:,} webhook deliveries to a local receiver (204), {os.cpu_count()} cores")
    print("floor: claim + POST + mark + commit per delivery through bare psycopg2 and requests;")
    print("POSTs only: the same signed POSTs with no database at all")
    print(f"{'processes':>9}  {'worker/s':>9}  {'floor/s':>8}  {'ratio':>5}  {'POSTs only/s':>12}")
    for processes, worker_rate, bare_rate, post_rate in rows:
        print(
            f"{processes:>9}  {worker_rate:>9.0f}  {bare_rate:>8.0f}  "
            f"{worker_rate / bare_rate:>5.2f}  {post_rate:>12.0f}"
        )
    print("\ncommand:", shlex.join([".venv/bin/python", "bench/deliveries.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
