"""The several-machine arrangement's figures (issue 18): replication lag under bench/'s POST
load, and which node answers the reads.

Measures a cluster that `open311 cluster up` started (--root/--base-port; the default is the
lead's var/cluster on 15400), on the demo data it was seeded with; it starts and stops nothing.

1. **Lag under POST load.** bench/'s `post` scenario (the same form bodies: the default
   jurisdiction's realtime services, their required attributes, random points of its service
   area) through nginx, from `--concurrency` client processes for `--duration` s each, with an
   API key of a high rate limit made for the run (`open311 apikey create`). Meanwhile a sampler
   reads, every `--sample-ms`, the primary's pg_stat_replication (write, flush and replay lag;
   sent_lsn - replay_lsn and pg_current_wal_lsn() - replay_lsn in bytes) and the replica's own
   view (received but not replayed bytes; the age of its last replayed transaction while it has
   WAL left to apply, which is what db/replicas.py judges a replica by).
   The floor, in the same run and at the same concurrency: bench/'s POST floor (INSERT of the
   row, the district lookup, INSERT of its request_district rows, COMMIT through bare psycopg2
   on the primary), once as the cluster commits (Patroni's synchronous standby with the
   cluster's synchronous_commit, remote_apply in `make cluster`: COMMIT waits for the replica
   to apply it; the report says which) and once with
   `SET synchronous_commit = local` on the floor's connections: the difference between the
   two is what synchronous replication costs a write, apart from what the API costs.
2. **Reads per node.** A GET mix of bench/'s read calls (the 90-day requests list, requests by
   id, services.json, a 500 m radius search) through nginx for `--read-duration` s, with no LSN
   cookie (a client that wrote nothing). Counted per app node (each node's /metrics:
   open311_http_requests_total of GET and open311_database_reads_total by target) and per
   database node (pg_stat_database's transactions and rows read in database open311 on each
   PostgreSQL, by superuser connections), with an idle window of `--idle` s taken before the
   POSTs for the background (the workers' jobs) to compare with.
3. **Reading one's own write.** `--pairs` times a POST through nginx, then at once a GET of
   the new request by id, with the POST's Open311-Commit-LSN and then without it: statuses
   (a 404 is a replica that had not replayed the write) and the reads by target.

Prints the tables and writes bench/CLUSTER.md and bench/cluster.json. Leaves behind the run's
API key and the requests its POSTs filed (in the cluster's demo database).

    .venv/bin/python bench/cluster.py                                   # var/cluster, ~2 min
    .venv/bin/python bench/cluster.py --root var/cluster-bench --base-port 15600
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import floor  # noqa: E402
import report  # noqa: E402
import run as bench  # noqa: E402  (bench/run.py: post_inputs, context_for, _cpu_times)
import scenarios  # noqa: E402
from loadgen import Measurement, measure  # noqa: E402

from open311.cluster.topology import (  # noqa: E402
    CLUSTER_ROOT,
    DATABASE,
    DEFAULT_BASE_PORT,
    Topology,
)
from open311.config import LOCAL_CLUSTER_APP_ROLE  # noqa: E402

OPEN311 = str(ROOT / ".venv" / "bin" / "open311")
PREFIX = scenarios.PREFIX
# The run's own API key: far above what two cores can POST, so no call meets a 429.
RATE_LIMIT = "1000000/minute"
COMMANDS: list[str] = []


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=CLUSTER_ROOT, help="the cluster's root")
    parser.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT, help="its nginx port")
    parser.add_argument("--concurrency", default="1,4,8", help="POST clients, comma-separated")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per POST run")
    parser.add_argument("--read-clients", type=int, default=4, help="GET clients")
    parser.add_argument("--read-duration", type=float, default=15.0, help="seconds of GETs")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle baseline")
    parser.add_argument(
        "--pairs", type=int, default=50, help="POST-then-GET pairs, with and without the LSN"
    )
    parser.add_argument(
        "--commits", type=int, default=1000, help="commits each way in the commit-cost loop"
    )
    parser.add_argument("--sample-ms", type=float, default=100.0, help="lag sampling period")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per side")
    parser.add_argument("--report", type=Path, default=HERE / "CLUSTER.md")
    parser.add_argument("--json", type=Path, default=HERE / "cluster.json")
    parser.add_argument(
        "--rewrite",
        action="store_true",
        help="measure nothing: write --report again from the results in --json",
    )
    return parser.parse_args(argv)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank, as loadgen's: p99 of 100 samples is the 99th."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def spread(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


# --- the lag sampler ---------------------------------------------------------------------------

# The primary's view of each standby. A lag column is NULL once the standby has caught up and no
# WAL comes (PostgreSQL shows the last value for a moment, then NULL): counted as 0.
PRIMARY_VIEW = """
    SELECT application_name, sync_state,
           (sent_lsn - replay_lsn)::bigint,
           (pg_current_wal_lsn() - replay_lsn)::bigint,
           coalesce(extract(epoch FROM write_lag) * 1000, 0)::float8,
           coalesce(extract(epoch FROM flush_lag) * 1000, 0)::float8,
           coalesce(extract(epoch FROM replay_lag) * 1000, 0)::float8
    FROM pg_stat_replication ORDER BY application_name
"""
# The replica's own view: WAL received and not yet applied, and (as db/replicas.py's STATUS)
# the age of the last transaction replayed while some is left to apply, else 0.
REPLICA_VIEW = """
    SELECT (pg_last_wal_receive_lsn() - pg_last_wal_replay_lsn())::bigint,
           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
                ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000
           END::float8
"""


@dataclass(frozen=True)
class Sample:
    """One reading of both views (the replica's taken just after the primary's)."""

    at: float
    standby: str
    sync_state: str
    sent_minus_replay: int
    current_minus_replay: int
    write_lag_ms: float
    flush_lag_ms: float
    replay_lag_ms: float
    unapplied_bytes: int
    replay_age_ms: float


def _sample_loop(topology: Topology, period_s: float, stop: Any, out: Any) -> None:
    primary, replica = topology.primary(), topology.replicas()[0]
    samples: list[tuple] = []
    with (
        closing(topology.superuser_connection(primary)) as on_primary,
        closing(topology.superuser_connection(replica)) as on_replica,
    ):
        on_primary.autocommit = on_replica.autocommit = True
        p, r = on_primary.cursor(), on_replica.cursor()
        tick = time.perf_counter()
        while not stop.is_set():
            p.execute(PRIMARY_VIEW)
            rows = p.fetchall()
            r.execute(REPLICA_VIEW)
            unapplied, age = r.fetchone()
            row = next((x for x in rows if x[0] == replica.name), rows[0] if rows else None)
            if row is not None:
                samples.append((time.perf_counter(), *row, unapplied or 0, age or 0.0))
            tick += period_s
            time.sleep(max(0.0, tick - time.perf_counter()))
    out.put(samples)


@contextmanager
def sampling(topology: Topology, period_s: float):
    """Samples taken in a process of their own while the body runs (the load's processes are
    forked by loadgen, so nothing here shares a connection with them)."""
    ctx = mp.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    process = ctx.Process(target=_sample_loop, args=(topology, period_s, stop, out), daemon=True)
    process.start()
    taken: list[Sample] = []
    try:
        yield taken
    finally:
        stop.set()
        taken.extend(Sample(*row) for row in out.get(timeout=30))
        process.join(timeout=10)


def lag_summary(samples: list[Sample]) -> dict[str, Any]:
    return {
        "samples": len(samples),
        "sync_states": sorted({s.sync_state for s in samples}),
        "write_lag_ms": spread([s.write_lag_ms for s in samples]),
        "flush_lag_ms": spread([s.flush_lag_ms for s in samples]),
        "replay_lag_ms": spread([s.replay_lag_ms for s in samples]),
        "sent_minus_replay_bytes": spread([float(s.sent_minus_replay) for s in samples]),
        "current_minus_replay_bytes": spread([float(s.current_minus_replay) for s in samples]),
        "replica_unapplied_bytes": spread([float(s.unapplied_bytes) for s in samples]),
        "replica_replay_age_ms": spread([s.replay_age_ms for s in samples]),
    }


# --- the machine's CPU -------------------------------------------------------------------------


@contextmanager
def machine_busy():
    """% of both cores busy while the body runs (everything: cluster, clients, other people)."""
    busy0, total0 = bench._cpu_times()
    result: dict[str, float] = {}
    try:
        yield result
    finally:
        busy1, total1 = bench._cpu_times()
        result["percent"] = 100.0 * (busy1 - busy0) / max(total1 - total0, 1)


# --- the POST load and its floors --------------------------------------------------------------


class LocalCommitFloor(floor.PostFloor):
    """bench/'s POST floor with `SET synchronous_commit = local`: COMMIT returns once the WAL
    is flushed on the primary, without waiting for the synchronous standby."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor.execute("SET synchronous_commit = local")
        self.connection.commit()


def measurement_stats(m: Measurement) -> dict[str, Any]:
    return {
        "clients": m.concurrency,
        "completed": m.completed,
        "errors": m.errors,
        "seconds": round(m.seconds, 3),
        "rate": m.rate,
        "p50_ms": m.p50 if m.completed else None,
        "p99_ms": m.p99 if m.completed else None,
        "error_examples": m.error_examples,
    }


def cluster_commit(topology: Topology) -> str:
    """The cluster's synchronous_commit (Patroni's configuration): what "as the cluster
    commits" means in this run."""
    primary = topology.primary()
    assert primary is not None
    with closing(topology.superuser_connection(primary)) as connection, connection.cursor() as cur:
        cur.execute("SHOW synchronous_commit")
        return cur.fetchone()[0]


def post_runs(
    topology: Topology, post: scenarios.Scenario, ctx: scenarios.Context, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """At each concurrency: the API through nginx, the floor as the cluster commits, the floor
    with synchronous_commit=local; each with the lag sampled meanwhile."""
    local_floor = _local_floor(post, ctx)
    sides = (
        ("API via nginx", post.api),
        (f"floor, synchronous_commit={cluster_commit(topology)}", post.floor),
        ("floor, synchronous_commit=local", local_floor),
    )
    # At the highest concurrency: every gunicorn worker of both nodes serves its first POSTs
    # (slow: imports, caches) before the measurement.
    if args.warmup > 0:
        for _name, make in sides:
            measure(make, max(_concurrencies(args)), args.warmup)
    period = args.sample_ms / 1000
    rows = []
    for clients in _concurrencies(args):
        for name, make in sides:
            with machine_busy() as busy, sampling(topology, period) as samples:
                measured = measure(make, clients, args.duration)
            row = {
                "side": name,
                **measurement_stats(measured),
                "lag": lag_summary(samples),
                "machine_busy_percent": busy["percent"],
            }
            rows.append(row)
            print(_post_line(row), flush=True)
            for example in measured.error_examples:
                print(f"  error: {example}")
    return rows


def _concurrencies(args: argparse.Namespace) -> list[int]:
    return [int(c) for c in args.concurrency.split(",")]


def _local_floor(post: scenarios.Scenario, ctx: scenarios.Context):
    """The post scenario's floor client, made as LocalCommitFloor (same inputs, same offsets)."""
    probe = post.floor(0)
    submissions = probe.submissions
    probe.close()
    return lambda i: LocalCommitFloor(
        ctx.dsn, ctx.districts_sql, ctx.jurisdiction_pk, ctx.api_client_pk, submissions, i * 7919
    )


def _post_line(row: dict[str, Any]) -> str:
    lag = row["lag"]
    return (
        f"{row['side']:<32} {row['clients']:>2} clients: {row['rate']:7.1f}/s "
        f"p50 {_ms(row['p50_ms'])} p99 {_ms(row['p99_ms'])} ms, errors {row['errors']}; "
        f"replay lag p50/p99/max {_triple(lag['replay_lag_ms'])} ms, "
        f"sent-replay {_triple(lag['sent_minus_replay_bytes'], 0)} B"
    )


# --- what a commit costs, with and without the standby ---------------------------------------


def commit_cost(topology: Topology, rounds: int) -> dict[str, Any]:
    """The smallest write transaction, `rounds` times each way on one superuser connection to
    the primary, alternating: as the cluster commits (waiting for the synchronous standby's
    flush) and with `SET LOCAL synchronous_commit = local`. Alternating puts both under the
    same noise of a shared machine, which whole runs one after the other do not.

    The write is a transactional WAL message (pg_logical_emit_message): one WAL record, so
    COMMIT must flush and wait, and no table touched. (A transaction that only takes an xid,
    `SELECT txid_current()`, writes no record of its own and commits asynchronously.)"""
    primary = topology.primary()
    assert primary is not None
    times: dict[str, list[float]] = {"on": [], "local": []}
    with (
        closing(topology.superuser_connection(primary)) as connection,
        connection.cursor() as cur,
    ):
        for n in range(2 * rounds):
            way = "local" if n % 2 else "on"
            started = time.perf_counter()
            if way == "local":
                cur.execute("SET LOCAL synchronous_commit = local")
            cur.execute("SELECT pg_logical_emit_message(true, 'open311-bench', '')")
            connection.commit()
            times[way].append((time.perf_counter() - started) * 1000)
    return {way: {"count": len(ms), **spread(ms)} for way, ms in times.items()}


# --- reads per node -----------------------------------------------------------------------------


class GetMix(scenarios.GetPaths):
    """bench/'s GET client, with the run's API key in X-API-Key (its reads limit is the key's)
    and the kind of each call noted, for the counts per kind."""

    def __init__(self, base_url: str, calls: list[tuple[str, str]], api_key: str, index: int):
        super().__init__(base_url, [path for _kind, path in calls], index, seed=18)
        self.headers = scenarios.JSON_HEADERS | {"X-API-Key": api_key}

    def next_request(self):
        method, path, body, _headers = super().next_request()
        return method, path, body, self.headers


def read_calls(ctx: scenarios.Context, cur: Any) -> list[tuple[str, str]]:
    """(kind, path) in a shuffled mix: for every 10 calls, 4 by id, 2 of the 90-day list, 2
    services.json, 2 radius searches around a filed request's point."""
    rng = random.Random(18)
    cur.execute(
        "SELECT service_request_id, ST_Y(location), ST_X(location) FROM service_request "
        "WHERE jurisdiction_id = %s AND location IS NOT NULL "
        "AND service_id NOT IN (SELECT id FROM service WHERE type = 'blackbox') "
        "ORDER BY random() LIMIT 2000",
        (ctx.jurisdiction_pk,),
    )
    found = cur.fetchall()
    calls: list[tuple[str, str]] = []
    for n in range(1000):
        sr_id, lat, long = found[n % len(found)]
        slot = n % 10
        if slot < 4:
            calls.append(("by_id", f"{PREFIX}/requests/{sr_id}.json"))
        elif slot < 6:
            calls.append(("list_90d", f"{PREFIX}/requests.json"))
        elif slot < 8:
            calls.append(("services", f"{PREFIX}/services.json"))
        else:
            query = urlencode({"lat": round(lat, 6), "long": round(long, 6), "radius": 500})
            calls.append(("radius_500m", f"{PREFIX}/requests.json?{query}"))
    rng.shuffle(calls)
    return calls


_SERIES = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(port: int, token: str) -> dict[tuple[str, frozenset], float]:
    """One app node's /metrics (directly, not through nginx): (name, labels) -> value."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    if response.status != 200:
        raise SystemExit(f"/metrics of :{port} answered {response.status}: {body[:200]}")
    series = {}
    for line in body.splitlines():
        match = _SERIES.match(line)
        if match and not line.startswith("#"):
            labels = frozenset(_LABEL.findall(match["labels"] or ""))
            series[(match["name"], labels)] = float(match["value"])
    return series


def node_counts(before: dict, after: dict) -> dict[str, Any]:
    """GETs answered (but /metrics itself) and database reads by target, between two scrapes.

    The first scrape counted itself as one read on the primary (it reads gauges from the
    database after its counters are written out): taken off here."""
    gets = 0.0
    by_target: Counter[str] = Counter()
    for (name, labels), value in after.items():
        delta = value - before.get((name, labels), 0.0)
        given = dict(labels)
        if name == "open311_http_requests_total" and given.get("method") == "GET":
            if given.get("route") != "/metrics":
                gets += delta
        elif name == "open311_database_reads_total":
            by_target[given.get("target", "?")] += delta
    if by_target["primary"] >= 1:
        by_target["primary"] -= 1
    return {"gets": int(gets), "database_reads": {k: int(v) for k, v in by_target.items()}}


def database_counts(topology: Topology) -> dict[str, dict[str, int]]:
    """Transactions (xact_commit + xact_rollback: a read's session ends in ROLLBACK) and rows
    read (tup_returned + tup_fetched) of the app's database on each PostgreSQL node, from
    pg_stat_database."""
    counts = {}
    for node in topology.database_nodes():
        with closing(topology.superuser_connection(node)) as connection:
            connection.autocommit = True
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT xact_commit + xact_rollback, tup_returned + tup_fetched "
                    "FROM pg_stat_database WHERE datname = %s",
                    (DATABASE,),
                )
                transactions, rows = cur.fetchone()
                counts[node.name] = {"transactions": int(transactions), "rows": int(rows)}
    return counts


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in after}


# PostgreSQL's backends flush their counts to pg_stat_database within a second of going idle:
# waiting this long after a load lets its last transactions be counted.
SETTLE_S = 2.0


@dataclass(frozen=True)
class Idle:
    """What each database node did over `seconds` without load: the background."""

    seconds: float
    counts: dict[str, dict[str, int]]


def idle_baseline(topology: Topology, seconds: float) -> Idle:
    """Taken before any load: after the POSTs, the workers still work through what they
    queued (deliveries, work orders), which is no idle background."""
    before, started = database_counts(topology), time.perf_counter()
    time.sleep(seconds)
    after, took = database_counts(topology), time.perf_counter() - started
    return Idle(took, {name: _delta(after[name], before[name]) for name in after})


def reads_run(
    topology: Topology,
    calls: list[tuple[str, str]],
    api_key: str,
    idle: Idle,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The GET mix, bracketed by the counters of every app node and database node."""
    token = topology.app_env()["OPEN311_METRICS_TOKEN"]
    roles = {node.name: node.role() for node in topology.database_nodes()}
    settle_s = SETTLE_S
    time.sleep(settle_s)
    if args.warmup > 0:
        measure(lambda i: GetMix(topology.url, calls, api_key, i), args.read_clients, args.warmup)
        time.sleep(settle_s)
    scrapes = {port: scrape(port, token) for port in topology.app_ports()}
    counts_before, counted_from = database_counts(topology), time.perf_counter()
    with machine_busy() as busy:
        measured = measure(
            lambda i: GetMix(topology.url, calls, api_key, i), args.read_clients, args.read_duration
        )
    time.sleep(settle_s)
    counts_after, between_s = database_counts(topology), time.perf_counter() - counted_from
    nodes = {
        f"app{i}": node_counts(scrapes[port], scrape(port, token))
        for i, port in enumerate(topology.app_ports())
    }
    kinds = Counter(kind for kind, _path in calls)
    return {
        **measurement_stats(measured),
        "machine_busy_percent": busy["percent"],
        "mix": dict(kinds),
        "app_nodes": nodes,
        "database_nodes": {
            name: {
                "role": roles[name],
                "window": _delta(counts_after[name], counts_before[name]),
                "idle": idle.counts[name],
            }
            for name in counts_before
        },
        "window_s": measured.seconds,
        # pg_stat_database was read this far apart (the load, the settling, the forks) ...
        "counted_over_s": between_s,
        # ... and, for the background, idle_s apart before the load.
        "idle_s": idle.seconds,
    }


# --- reading one's own writes --------------------------------------------------------------------


def _exchange(
    base: tuple[str, int], method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes, float]:
    connection = http.client.HTTPConnection(*base, timeout=60)
    started = time.perf_counter()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return response.status, dict(response.getheaders()), data, time.perf_counter() - started


def read_your_writes(
    topology: Topology, post: scenarios.Scenario, api_key: str, pairs: int
) -> dict[str, Any]:
    """`pairs` times: POST a request through nginx, then at once GET it by id through nginx;
    first bringing the POST's Open311-Commit-LSN back each time, then never (a client that
    drops the header and the cookie). Synchronous replication makes the replica flush a
    commit before it returns, not replay it: without the LSN a replica may answer before it
    has the row (404); with it, the app must give the read a replica that has replayed it, or
    the primary."""
    token = topology.app_env()["OPEN311_METRICS_TOKEN"]
    base = ("127.0.0.1", topology.http_port)
    bodies = post.api(0).bodies
    results = {}
    for with_lsn in (True, False):
        before = {port: scrape(port, token) for port in topology.app_ports()}
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        for n in range(pairs):
            body = bodies[(n * 31 + (0 if with_lsn else 7)) % len(bodies)]
            status, headers, data, _s = _exchange(
                base, "POST", f"{PREFIX}/requests.json", body, scenarios.FORM_HEADERS
            )
            if status != 200:
                raise SystemExit(f"read-your-writes: POST answered {status}: {data[:200]!r}")
            sr_id = json.loads(data)[0]["service_request_id"]
            lsn = headers.get("Open311-Commit-LSN")
            asked = scenarios.JSON_HEADERS | {"X-API-Key": api_key}
            if with_lsn and lsn:
                asked["Open311-Commit-LSN"] = lsn
            status, _h, _d, took = _exchange(
                base, "GET", f"{PREFIX}/requests/{sr_id}.json", None, asked
            )
            statuses[status] += 1
            latencies.append(took * 1000)
        targets: Counter[str] = Counter()
        for port in topology.app_ports():
            counted = node_counts(before[port], scrape(port, token))["database_reads"]
            targets.update(counted)
        results["with_lsn" if with_lsn else "without_lsn"] = {
            "pairs": pairs,
            "get_statuses": {str(k): v for k, v in sorted(statuses.items())},
            "get_p50_ms": percentile(latencies, 50),
            "get_p99_ms": percentile(latencies, 99),
            "database_reads": dict(targets),
        }
        print(
            f"read-your-writes, {'with' if with_lsn else 'without'} the LSN: GET statuses "
            f"{dict(statuses)}, reads by target {dict(targets)}",
            flush=True,
        )
    return results


# --- setup ---------------------------------------------------------------------------------------


def make_api_key(topology: Topology) -> str:
    name = f"bench-cluster-{uuid.uuid4().hex[:6]}"
    args = [OPEN311, "apikey", "create", name, "--rate-limit", RATE_LIMIT]
    where = f"--root {shlex.quote(_shown_path(topology.root))} --base-port {topology.base_port}"
    COMMANDS.append(
        f'eval "$(.venv/bin/open311 cluster {where} env)" && '
        + " ".join(shlex.quote(a.replace(str(ROOT) + "/", "")) for a in args)
    )
    result = subprocess.run(
        args, env=os.environ | topology.app_env(), cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"open311 apikey create failed: {result.stdout}{result.stderr}")
    return result.stdout.strip().splitlines()[-1].strip()


def _shown_path(path: Path) -> str:
    return str(path).replace(str(ROOT) + "/", "")


def check_once(name: str, make: Any) -> None:
    client = make(0)
    try:
        outcome = client.call()
    finally:
        client.close()
    if not outcome.ok:
        raise SystemExit(f"{name}: the first call failed: {outcome.error}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rewrite:
        args.report.write_text(markdown(json.loads(args.json.read_text())))
        print(f"written: {args.report}")
        return 0
    started_at = datetime.now(UTC)
    topology = Topology(root=args.root.resolve(), base_port=args.base_port)
    primary, replicas = topology.primary(), topology.replicas()
    if primary is None or not replicas:
        raise SystemExit(
            f"no primary and replica at {topology.root} (base port {topology.base_port}): "
            "`open311 cluster --root ... --base-port ... up` first"
        )
    print(
        f"cluster {topology.root} at {topology.url}: primary {primary.name}, "
        f"replica {', '.join(r.name for r in replicas)}"
    )
    dsn = {
        "host": "127.0.0.1",
        "port": primary.pg_port,
        "user": LOCAL_CLUSTER_APP_ROLE,
        "password": topology.app_password(),
        "dbname": DATABASE,
    }
    api_key = make_api_key(topology)
    ctx = bench.context_for(topology.url, dsn, api_key, set())
    with closing(floor.connect(dsn)) as connection, connection.cursor() as cur:
        machine = report.machine(cur)
        cur.execute("SHOW synchronous_standby_names")
        machine["synchronous_standby_names (primary)"] = cur.fetchone()[0]
        definitions, floor_inputs = bench.post_inputs(topology.url, cur, ctx.jurisdiction_pk)
        post = scenarios.post(ctx, cur, definitions, floor_inputs)
        calls = read_calls(ctx, cur)
    check_once("POST via nginx", post.api)
    check_once("the floor", post.floor)
    for kind in sorted({kind for kind, _path in calls}):
        first = [next(call for call in calls if call[0] == kind)]
        check_once(f"GET {kind}", lambda i, first=first: GetMix(topology.url, first, api_key, i))
    idle = idle_baseline(topology, args.idle)
    commits = commit_cost(topology, args.commits)
    print(
        f"commit, synchronous_commit={cluster_commit(topology)} / local: p50 "
        f"{_ms(commits['on']['p50'], 2)} / {_ms(commits['local']['p50'], 2)} ms, p99 "
        f"{_ms(commits['on']['p99'], 2)} / {_ms(commits['local']['p99'], 2)} ms",
        flush=True,
    )
    posts = post_runs(topology, post, ctx, args)
    reads = reads_run(topology, calls, api_key, idle, args)
    print(_reads_text(reads))
    own_writes = read_your_writes(topology, post, api_key, args.pairs) if args.pairs else {}
    result = {
        "started_at": started_at.isoformat(),
        "argv": sys.argv[1:] if argv is None else argv,
        "cluster": {"root": str(topology.root), "base_port": topology.base_port},
        "primary": primary.name,
        "replica": replicas[0].name,
        "synchronous_commit": cluster_commit(topology),
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": machine,
        "commits": commits,
        "posts": posts,
        "reads": reads,
        "read_your_writes": own_writes,
        "commands": COMMANDS,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    args.report.write_text(markdown(result))
    print(f"\nwritten: {args.report}, {args.json}")
    return 0


# --- the report ----------------------------------------------------------------------------------


def _ms(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.{digits}f}"


def _triple(values: dict[str, float | None], digits: int = 1) -> str:
    return "/".join(
        "-" if values[k] is None else (f"{values[k]:,.0f}" if not digits else _ms(values[k]))
        for k in ("p50", "p99", "max")
    )


def _reads_text(reads: dict[str, Any]) -> str:
    lines = [
        f"GET mix via nginx, {reads['clients']} clients: {reads['rate']:.1f}/s, p50 "
        f"{_ms(reads['p50_ms'])} p99 {_ms(reads['p99_ms'])} ms, errors {reads['errors']}"
    ]
    for name, counts in reads["app_nodes"].items():
        lines.append(f"  {name}: {counts['gets']} GETs, database reads {counts['database_reads']}")
    for name, counts in reads["database_nodes"].items():
        background = _background(reads, counts)
        lines.append(
            f"  {name} ({counts['role']}): {counts['window']['transactions']} transactions, "
            f"{counts['window']['rows']} rows read (idle over as long: {background[0]:.0f}, "
            f"{background[1]:.0f})"
        )
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    shown = " ".join(shlex.quote(a) for a in result["argv"])
    posts, reads = result["posts"], result["reads"]
    lines = [
        "# The cluster's figures: replication lag under POST load, reads per node",
        "",
        f"Measured {result['started_at'][:19]} UTC on the cluster at "
        f"{_shown_path(Path(result['cluster']['root']))} "
        f"(base port {result['cluster']['base_port']}; primary {result['primary']}, synchronous "
        f"replica {result['replica']}) by `.venv/bin/python bench/cluster.py {shown}`.",
        "",
        "Everything (etcd, both PostgreSQL nodes, pgbouncers, Redis, the two app nodes and their "
        "workers, nginx, the load's client processes and the sampler) shares one machine's two "
        "cores, and other people's work ran beside it: the figures are noisy, the comparisons "
        "within one run are what they are for. `busy %` is the whole machine's CPU use meanwhile.",
        "",
        "## 1. Replication lag under POST load",
        "",
        "bench/'s `post` scenario (form bodies for the default jurisdiction's realtime services, "
        "required attributes answered, random points of its service area) POSTed through nginx, "
        "and bench/'s POST floor (INSERT + district lookup + INSERT request_district + COMMIT, "
        "bare psycopg2 on the primary) as the cluster commits (synchronous_commit="
        f"{result.get('synchronous_commit', 'on')}: COMMIT waits for the synchronous standby) "
        "and with `SET synchronous_commit = local` "
        "(COMMIT waits for the primary's own disk only). The API-floor difference is the API's "
        "own work. The floor's on-local difference would be what synchronous replication costs "
        "a write, but on a shared machine it is smaller than the noise between whole runs: the "
        "alternating measurement below gives it.",
        "",
        "| side | clients | req/s | p50 ms | p99 ms | errors | busy % |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in posts:
        lines.append(
            f"| {row['side']} | {row['clients']} | {row['rate']:.1f} | {_ms(row['p50_ms'])} | "
            f"{_ms(row['p99_ms'])} | {row['errors']} | {row['machine_busy_percent']:.0f} |"
        )
    commits = result["commits"]
    lines += [
        "",
        "Whole runs one after the other differ by more than a standby's flush on a shared "
        "machine, so the cost of the synchronous standby is also measured alone: the smallest "
        "write transaction (one WAL record, `SELECT pg_logical_emit_message(true, ...)`, and "
        f"COMMIT), {commits['on']['count']} times each way on one superuser connection to the "
        "primary, alternating, as the cluster commits and with `SET LOCAL synchronous_commit = "
        "local`:",
        "",
        "| commit | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|",
    ]
    cluster_label = f"synchronous_commit={result.get('synchronous_commit', 'on')} (the standby's)"
    for way, label in (("on", cluster_label), ("local", "local")):
        row = commits[way]
        lines.append(
            f"| {label} | {_ms(row['p50'], 2)} | {_ms(row['p99'], 2)} | {_ms(row['max'], 2)} |"
        )
    lines += [
        "",
        "The lag during each POST run of the first table, sampled every "
        f"{result['args']['sample_ms']} ms (p50/p99/max; with fewer than 100 samples in a run, "
        "p99 is the largest). From "
        "the primary's pg_stat_replication: write, flush and replay lag (ms; NULL, once the "
        "standby has caught up and no WAL comes, counted as 0) and sent_lsn - replay_lsn, "
        "pg_current_wal_lsn() - replay_lsn (bytes). From the replica itself: WAL received but not "
        "yet replayed (bytes), and the age of its last replayed transaction while WAL is left to "
        "apply, else 0 (ms; what db/replicas.py compares with OPEN311_REPLICA_MAX_LAG_S).",
        "",
        "| side | clients | samples | write lag ms | flush lag ms | replay lag ms | "
        "sent-replay B | current-replay B | replica: unreplayed B | replica: replay age ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in posts:
        lag = row["lag"]
        lines.append(
            f"| {row['side']} | {row['clients']} | {lag['samples']} | "
            f"{_triple(lag['write_lag_ms'])} | {_triple(lag['flush_lag_ms'])} | "
            f"{_triple(lag['replay_lag_ms'])} | {_triple(lag['sent_minus_replay_bytes'], 0)} | "
            f"{_triple(lag['current_minus_replay_bytes'], 0)} | "
            f"{_triple(lag['replica_unapplied_bytes'], 0)} | "
            f"{_triple(lag['replica_replay_age_ms'])} |"
        )
    states = sorted({s for row in posts for s in row["lag"]["sync_states"]})
    lines += [
        "",
        f"The standby's sync_state in pg_stat_replication throughout: {', '.join(states)}.",
        "",
        "## 2. Reads per node",
        "",
        f"A GET mix through nginx ({_mix(reads['mix'])}) from {reads['clients']} client "
        f"processes for {reads['window_s']:.1f} s, with no LSN cookie (a client that wrote "
        f"nothing): {reads['rate']:.1f} calls/s, p50 {_ms(reads['p50_ms'])} ms, p99 "
        f"{_ms(reads['p99_ms'])} ms, {reads['completed']} answered 200, {reads['errors']} "
        f"errors, machine busy {reads['machine_busy_percent']:.0f}%.",
        "",
        "Per app node (each node's /metrics, directly, before and after: GETs answered, and "
        "open311_database_reads_total by the node the read was given to; a GET that needs no "
        "database, or serves from a cache, opens no session and is not a database read):",
        "",
        "| app node | GETs | database reads: " + " | ".join(_targets(reads)) + " |",
        "|---|---|" + "---|" * len(_targets(reads)),
    ]
    for name, counts in reads["app_nodes"].items():
        cells = [str(counts["database_reads"].get(t, 0)) for t in _targets(reads)]
        lines.append(f"| {name} | {counts['gets']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per database node (pg_stat_database of database open311, by superuser connections, "
        f"read {reads['counted_over_s']:.1f} s apart: before the load and 2 s after it, so that "
        "the backends have flushed their counts): transactions (xact_commit + xact_rollback; a "
        "read's session ends in ROLLBACK) and rows read (tup_returned + tup_fetched). The "
        f"background was read over {reads['idle_s']:.1f} s without load before the POSTs (the "
        "workers' jobs on the primary; the app processes check a replica's status only when a "
        "read asks for one, so those checks count in the window) and is shown scaled to the "
        "same length:",
        "",
        "| database node | role | transactions | rows read | idle: transactions | idle: rows |",
        "|---|---|---|---|---|---|",
    ]
    for name, counts in reads["database_nodes"].items():
        background = _background(reads, counts)
        lines.append(
            f"| {name} | {counts['role']} | {counts['window']['transactions']} | "
            f"{counts['window']['rows']:,} | {background[0]:.0f} | {background[1]:,.0f} |"
        )
    lines += _own_writes_markdown(result.get("read_your_writes") or {})
    lines += ["", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in result["machine"].items()]
    lines += ["", "## Commands", "", "```"]
    lines += [f".venv/bin/python bench/cluster.py {shown}", *result["commands"], "```", ""]
    return "\n".join(lines)


def _own_writes_markdown(own: dict[str, Any]) -> list[str]:
    if not own:
        return []
    lines = [
        "",
        "## 3. Reading one's own write at once",
        "",
        f"{own['with_lsn']['pairs']} times: POST a request through nginx, then at once GET it by "
        "id through nginx, first bringing back the POST's `Open311-Commit-LSN` header, then "
        "without it (a client that drops the header and the `open311_lsn` cookie). Synchronous "
        "replication waits for the standby's flush, not its replay: without the LSN a replica "
        "may answer before it has the row (404); with it the app waits for a replica that has "
        "replayed it, or reads from the primary. Statuses of the GETs, their latency, and the "
        "GETs' database reads by target on both app nodes (a POST is no read: not counted):",
        "",
        "| GET after the POST | statuses | p50 ms | p99 ms | reads by target |",
        "|---|---|---|---|---|",
    ]
    for key, label in (("with_lsn", "with the LSN"), ("without_lsn", "without it")):
        row = own[key]
        statuses = ", ".join(f"{k}: {v}" for k, v in row["get_statuses"].items())
        targets = ", ".join(f"{k}: {v}" for k, v in sorted(row["database_reads"].items()))
        lines.append(
            f"| {label} | {statuses} | {_ms(row['get_p50_ms'])} | {_ms(row['get_p99_ms'])} | "
            f"{targets} |"
        )
    return lines


def _background(reads: dict[str, Any], counts: dict[str, Any]) -> tuple[float, float]:
    """The idle window's transactions and rows, scaled to the length of the load's window."""
    scale = reads["counted_over_s"] / reads["idle_s"]
    return counts["idle"]["transactions"] * scale, counts["idle"]["rows"] * scale


def _mix(kinds: dict[str, int]) -> str:
    total = sum(kinds.values())
    return ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in sorted(kinds.items()))


def _targets(reads: dict[str, Any]) -> list[str]:
    found = {t for counts in reads["app_nodes"].values() for t in counts["database_reads"]}
    return sorted(found, key=lambda t: (t != "primary", t))


if __name__ == "__main__":
    raise SystemExit(main())
