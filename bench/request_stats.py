"""Request statistics at size: a year by week and district over N requests, through the API.

Makes (or reuses) a database on the project-local cluster seeded with `open311 seed
--requests N` (Los Angeles' real MyLA311 requests plus synthetic ones over three years),
times the rollup's first load (`open311 stats refresh --full`) and two incremental refreshes
(500 recent closings and 500 new requests; 500 of the oldest closings moved to now), serves
the API with `open311 serve` (one worker) and times GET /open311/v2/stats/requests.json
?group_by=district&period=week over the last 52 weeks (and its .csv and .png), then, in the
same run, the floor: the same figures from raw SQL over service_request without the rollups.

    .venv/bin/python bench/request_stats.py                    # 1,000,000 requests
    .venv/bin/python bench/request_stats.py --requests 50000
    .venv/bin/python bench/request_stats.py --reuse-db open311_bench_stats
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402

JURISDICTION = "lacity.org"

# The floor: every figure of the answer from service_request and request_district alone, in
# one statement per figure family (what the rollups save each call from doing).
FLOOR_COUNTS = """
SELECT d.name, date_trunc('week', r.{column} AT TIME ZONE %(tz)s)::date AS week,
       count(*){extra}
FROM service_request r
JOIN service s ON s.id = r.service_id AND s.type <> 'blackbox'
LEFT JOIN request_district rd ON rd.service_request_pk = r.id AND rd.layer_id = %(layer)s
LEFT JOIN district d ON d.id = rd.district_id
WHERE r.jurisdiction_id = %(j)s AND r.{column} >= %(start)s AND r.{column} < %(end)s {where}
GROUP BY 1, 2
"""
FLOOR_BACKLOG = """
SELECT d.name, e.week_end, count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.at - r.requested_datetime))
FROM (SELECT w::date AS week_end, least(w AT TIME ZONE %(tz)s, now()) AS at
      FROM generate_series(%(first_end)s::timestamp, %(last_end)s::timestamp, '7 days') w) e
JOIN service_request r ON r.requested_datetime < e.at
     AND NOT (r.status = 'closed' AND r.updated_datetime < e.at)
JOIN service s ON s.id = r.service_id AND s.type <> 'blackbox'
LEFT JOIN request_district rd ON rd.service_request_pk = r.id AND rd.layer_id = %(layer)s
LEFT JOIN district d ON d.id = rd.district_id
WHERE r.jurisdiction_id = %(j)s
GROUP BY 1, 2
"""


def timed(samples: int, call) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, n={len(ordered)}"


def floor(dsn: dict[str, Any], start: date, end: date) -> None:
    """The same figures from the raw rows, as one would without rollups."""
    connection = psycopg2.connect(**dsn, options="-c timezone=UTC")
    with connection, connection.cursor() as cur:
        cur.execute(
            "SELECT j.id, j.time_zone, l.id FROM jurisdiction j JOIN boundary_layer l"
            " ON l.jurisdiction_id = j.id JOIN routing_rule rr ON rr.layer_id = l.id"
            " WHERE j.jurisdiction_id = %s GROUP BY 1, 2, 3 ORDER BY count(*) DESC LIMIT 1",
            (JURISDICTION,),
        )
        j, tz, layer = cur.fetchone()
        zone = ZoneInfo(tz)
        first = start - timedelta(days=start.weekday())
        params = {
            "j": j,
            "tz": tz,
            "layer": layer,
            "start": datetime.combine(first, datetime.min.time(), zone),
            "end": datetime.combine(end + timedelta(days=1), datetime.min.time(), zone),
            "first_end": first + timedelta(days=7),
            "last_end": end - timedelta(days=end.weekday()) + timedelta(days=7),
        }
        cur.execute(FLOOR_COUNTS.format(column="requested_datetime", extra="", where=""), params)
        cur.fetchall()
        cur.execute(
            FLOOR_COUNTS.format(
                column="updated_datetime",
                extra=", percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY"
                " extract(epoch FROM r.updated_datetime - r.requested_datetime) / 3600)",
                where="AND r.status = 'closed'",
            ),
            params,
        )
        cur.fetchall()
        cur.execute(FLOOR_BACKLOG, params)
        cur.fetchall()
    connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="requests to seed")
    parser.add_argument("--reuse-db", help="an already seeded database of the local cluster")
    parser.add_argument("--samples", type=int, default=30, help="timed calls per query")
    parser.add_argument("--floor-samples", type=int, default=3, help="timed floor runs")
    args = parser.parse_args(argv)

    port = bench.cluster_port()
    admin = bench.admin_connection(port)
    name = args.reuse_db or "open311_bench_stats"
    dsn = bench.dsn_of(port, name)
    env = {"DATABASE_URL": bench.url_of(dsn), "OPEN311_RATE_LIMITS": "off"}
    # The seed's bulk statements on a shared machine may outlast the API's 5 s.
    loading = env | {"OPEN311_STATEMENT_TIMEOUT_MS": "0"}
    bench.create_database(admin, name)
    bench.run([bench.OPEN311, "db", "upgrade"], env=env)
    connection = psycopg2.connect(**dsn)
    with connection, connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM service_request")
        present = cur.fetchone()[0]
    if present < args.requests and not args.reuse_db:
        seeded = bench.seed(args.requests, loading, dsn)
        print(f"seed: {seeded['how']} in {seeded['seconds'] or 0:.0f} s")
        with connection, connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM service_request")
            present = cur.fetchone()[0]
    connection.autocommit = True
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE)")
    print(f"requests in the database: {present:,}")

    started = time.perf_counter()
    print(bench.run([bench.OPEN311, "stats", "refresh", "--full"], env=loading).strip())
    print(f"rollup rebuild (open311 stats refresh --full): {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cur:
        # Five busy minutes of a big city: 500 of the newest open requests closed, 500 filed.
        cur.execute(
            "UPDATE service_request SET status = 'closed', updated_datetime = now()"
            " WHERE id IN (SELECT id FROM service_request WHERE status = 'open'"
            " ORDER BY requested_datetime DESC LIMIT 500)"
        )
        cur.execute(
            "INSERT INTO service_request (jurisdiction_id, service_id, status,"
            " requested_datetime, updated_datetime, description)"
            " SELECT jurisdiction_id, service_id, 'open', now(), now(), 'bench'"
            " FROM service_request WHERE service_request_id LIKE 'SYN-%%' LIMIT 500"
        )
    started = time.perf_counter()
    print(bench.run([bench.OPEN311, "stats", "refresh"], env=loading).strip())
    print(f"refresh after 500 closings and 500 new requests: {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cur:
        # The worst case: a note on each of the 500 oldest closed requests moves their
        # closings (updated_datetime) to now, so every day since 2017 is recomputed.
        cur.execute(
            "UPDATE service_request SET updated_datetime = now() WHERE id IN"
            " (SELECT id FROM service_request WHERE status = 'closed' ORDER BY id LIMIT 500)"
        )
    started = time.perf_counter()
    print(bench.run([bench.OPEN311, "stats", "refresh"], env=loading).strip())
    print(f"refresh after 500 of the oldest closings moved: {time.perf_counter() - started:.1f} s")

    end = datetime.now(UTC).astimezone(ZoneInfo("America/Los_Angeles")).date()
    start = end - timedelta(weeks=52) + timedelta(days=1)
    query = (
        f"/open311/v2/stats/requests.json?jurisdiction_id={JURISDICTION}&group_by=district"
        f"&period=week&start_date={start.isoformat()}&end_date={end.isoformat()}"
    )
    log_dir = Path(f"/tmp/{name}-logs")
    log_dir.mkdir(exist_ok=True)
    with bench.gunicorn(env, 1, log_dir) as (base, _server):
        for fmt in ("json", "csv", "png"):
            path = query.replace("requests.json", f"requests.{fmt}")
            status, _headers, body = bench.http_get(base, path)
            assert status == 200, body[:500]
            for _ in range(3):
                bench.http_get(base, path)  # warm
            times = timed(args.samples, lambda path=path: bench.http_get(base, path))
            print(f"API {fmt:4}: {summary(times)}  ({len(body):,} bytes)  GET {path}")
    times = timed(args.floor_samples, lambda: floor(dsn, start, end))
    print(f"floor (raw SQL, no rollups): {summary(times)}")
    with connection.cursor() as cur:
        for key, value in bench.report.machine(cur).items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
