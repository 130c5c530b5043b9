"""What transaction pooling costs a lookup: GET requests/{id}.json with prepared statements on
and off (OPEN311_PREPARED_STATEMENTS), directly and through pgbouncer, in one run.

In-process (Flask's test client, one client, one call after another), so that the figures are
the app's and the database's, without HTTP or gunicorn: the four ways take turns, round after
round, on the same seeded data, and each call is timed. A throwaway cluster (a temporary
directory, a free port) is made, migrated and seeded with the Los Angeles demo services and
`--requests` synthetic requests, and a pgbouncer (db/pgbouncer.py, transaction mode) put in
front of it; both are removed at the end.

Through pgbouncer, "on" works here only by luck: one client calling one after another gets the
server connection it just freed (pgbouncer lends the most recently freed one first), so its
prepared statement is there; with clients at once it is not (tests/pgbouncer shows the 500).

    .venv/bin/python bench/pgbouncer.py                      # ~1 minute
    .venv/bin/python bench/pgbouncer.py --calls 500 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from open311 import create_app
from open311.db.cluster import LocalCluster, free_port
from open311.db.migrate import upgrade
from open311.db.pgbouncer import LocalPgbouncer
from open311.db.session import make_engine

ROOT = Path(__file__).resolve().parent.parent
OPEN311 = str(ROOT / ".venv" / "bin" / "open311")
DATABASE = "open311_bench_pgbouncer"


def seed(url: str, requests: int) -> None:
    env = os.environ | {"DATABASE_URL": url}
    command = [OPEN311, "seed", "--skip-history", "--no-nyc", "--no-austin"]
    subprocess.run([*command, "--requests", str(requests)], env=env, check=True, cwd=ROOT)


def request_ids(url: str, count: int) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return list(
                connection.scalars(
                    text(
                        "SELECT service_request_id FROM service_request"
                        " WHERE service_request_id LIKE 'SYN-%' ORDER BY random() LIMIT :n"
                    ),
                    {"n": count},
                )
            )
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="synthetic requests")
    parser.add_argument("--calls", type=int, default=1000, help="lookups per way and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="open311-bench-pgb-"))
    cluster = LocalCluster(root / "postgres" / "data", free_port(), durable=False)
    bouncer: LocalPgbouncer | None = None
    apps = {}
    try:
        direct = cluster.up(DATABASE)
        upgrade(direct)
        started = time.monotonic()
        seed(direct, args.requests)
        print(f"seeded {args.requests:,} requests in {time.monotonic() - started:.0f} s")
        parsed = make_url(direct)
        bouncer = LocalPgbouncer(
            root / "pgbouncer",
            free_port(),
            databases={DATABASE: f"host=127.0.0.1 port={cluster.port} dbname={DATABASE}"},
            users={parsed.username: parsed.password},
            pool_size=4,
        )
        bouncer.up()
        pooled = bouncer.url(parsed.username, parsed.password, DATABASE)
        ways = {
            ("direct", "on"): direct,
            ("direct", "off"): direct,
            ("pgbouncer", "on"): pooled,
            ("pgbouncer", "off"): pooled,
        }
        for (route, prepared), url in ways.items():
            apps[route, prepared] = create_app(
                {
                    "DATABASE_URL": url,
                    "OPEN311_RATE_LIMITS": False,
                    "OPEN311_PREPARED_STATEMENTS": prepared == "on",
                }
            )
        ids = request_ids(direct, 2000)
        rng = random.Random(311)
        timings: dict[tuple[str, str], list[float]] = {way: [] for way in ways}
        failures: dict[tuple[str, str], Counter[int]] = {way: Counter() for way in ways}
        for app in apps.values():  # warm: connections made, statements prepared, caches full
            client = app.test_client()
            for request_id in ids[:200]:
                client.get(f"/open311/v2/requests/{request_id}.json")
        for round_ in range(args.rounds):
            order = list(ways)
            rng.shuffle(order)
            for way in order:
                client = apps[way].test_client()
                for _ in range(args.calls):
                    path = f"/open311/v2/requests/{rng.choice(ids)}.json"
                    begin = time.perf_counter()
                    response = client.get(path)
                    timings[way].append(time.perf_counter() - begin)
                    if response.status_code != 200:
                        failures[way][response.status_code] += 1
            print(f"round {round_ + 1} of {args.rounds} done")
        report(timings, failures, args)
    finally:
        for app in apps.values():
            app.extensions["open311.engine"].dispose()
        if bouncer is not None:
            bouncer.stop()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def report(
    timings: dict[tuple[str, str], list[float]],
    failures: dict[tuple[str, str], Counter[int]],
    args: argparse.Namespace,
) -> None:
    base = statistics.median(timings["direct", "on"])
    print(
        f"\nGET requests/{{id}}.json, in-process, 1 client, {args.rounds} rounds x "
        f"{args.calls} calls a way, {args.requests:,} requests seeded ({sys.platform}, "
        f"{os.cpu_count()} cores)\n"
    )
    print("| route | prepared | median ms | p90 ms | p99 ms | vs direct+on | not 200 |")
    print("|---|---|---|---|---|---|---|")
    for (route, prepared), values in timings.items():
        ordered = sorted(values)
        median = statistics.median(ordered)
        p90 = ordered[int(len(ordered) * 0.9)]
        p99 = ordered[int(len(ordered) * 0.99)]
        print(
            f"| {route} | {prepared} | {median * 1e3:.2f} | {p90 * 1e3:.2f} | {p99 * 1e3:.2f} "
            f"| {(median - base) * 1e3:+.2f} ms | {dict(failures[route, prepared]) or 0} |"
        )


if __name__ == "__main__":
    main()
