"""The soak and fault run: mixed reads and writes for a while, PostgreSQL restarted mid-load.

Serves a seeded scratch database (bench/run.py's helpers: the same seed, the same `open311 serve`,
nginx in front of gunicorn) with `open311 worker` beside it, rate limits off, and drives it from
8 client processes for `--minutes`: GET requests.json (the 90-day window, a bbox), a request by
id, services.json, the change feed, a CSV export now and then, and POST requests.json with an
Idempotency-Key per POST (a POST that got a 503 or a connection error is sent again with the
same key). Halfway through, the project-local cluster is stopped (`pg_ctl stop -m fast`) and
started again ~5 s later. Then checks: no non-2xx/3xx and no exception outside the outage, each
process's RSS at start and end, statuses during the outage (writes: 503 with Retry-After, never
500), the time from the database being back to the first 200, and that every POST answered 2xx is
in the database. Writes bench/SOAK.md; prints a line a minute.

    .venv/bin/python bench/soak.py --reuse-db open311_bench_bb15c230          # 30 minutes
    .venv/bin/python bench/soak.py --requests 200000 --minutes 2

Run on demand, never in CI: it stops the shared local cluster for a few seconds.
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import json
import multiprocessing as mp
import os
import random
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402  (bench/run.py: seeding, serving, scenarios' context)
import scenarios  # noqa: E402

from open311.db.cluster import LocalCluster  # noqa: E402

CLIENTS = 8
# Relative weights of the calls a client makes (the export goes by time, see EXPORT_EVERY_S).
MIX = {
    "window90": 15,
    "bbox_open": 15,
    "by_id": 30,
    "services": 10,
    "changes": 10,
    "post": 20,
}
EXPORT_EVERY_S = 120.0  # each client exports once per this many seconds, staggered
OUTAGE_S = 5.0
POST_ATTEMPTS = 60


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="duration of the load")
    parser.add_argument("--requests", type=int, default=200_000, help="requests to seed")
    parser.add_argument("--reuse-db", metavar="NAME", help="a seeded scratch database to reuse")
    parser.add_argument("--keep-db", action="store_true", help="do not drop a new database")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument(
        "--fault-at", type=float, default=None, help="minute of the restart (default: halfway)"
    )
    parser.add_argument("--outage", type=float, default=OUTAGE_S, help="seconds stopped")
    parser.add_argument("--report", type=Path, default=HERE / "SOAK.md")
    return parser.parse_args(argv)


# --- processes and memory -----------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def server_processes(serve_pid: int, worker_pid: int) -> dict[str, int]:
    """label -> pid: open311 serve, nginx master and workers, gunicorn master and workers,
    open311 worker."""
    found = {"open311 serve": serve_pid, "open311 worker": worker_pid}
    stack = [serve_pid]
    while stack:
        pid = stack.pop()
        for child in sorted(_children(pid)):
            line = _cmdline(child)
            if "nginx" in line:
                label = "nginx master" if "master" in line or pid == serve_pid else "nginx worker"
            elif "gunicorn" in line or "open311" in line:
                label = "gunicorn master" if pid == serve_pid else "gunicorn worker"
            else:
                label = line.split(" ")[0] or "?"
            n = 1
            key = label
            while key in found:
                n += 1
                key = f"{label} {n}"
            found[key] = child
            stack.append(child)
    # The worker's own children (threads are not processes; a fork would show here).
    return found


def rss_snapshot(processes: dict[str, int]) -> dict[str, tuple[int, int | None]]:
    return {label: (pid, rss_kb(pid)) for label, pid in processes.items()}


# --- the clients -------------------------------------------------------------------------------


def _connection(base: str) -> http.client.HTTPConnection:
    host, port = base.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=120)


def _exchange(conn, method, path, body, headers):
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response, data


def client_process(index: int, base: str, makers: dict[str, Any], deadline: float, out: str):
    """One client: calls from the mix until the deadline, one record per attempt, as a line of
    JSON: [t0 (wall), t1, kind, status or exception name, retry-after?, attempt, id]."""
    rng = random.Random(1000 + index)
    clients = {kind: make(index) for kind, make in makers.items()}
    kinds = list(MIX)
    weights = [MIX[k] for k in kinds]
    conn = _connection(base)
    next_export = time.time() + 20 + index * EXPORT_EVERY_S / CLIENTS
    with open(out, "a", buffering=1) as sink:

        def record(t0, t1, kind, status, retry_after=None, attempt=1, sr_id=None):
            sink.write(json.dumps([t0, t1, kind, status, retry_after, attempt, sr_id]) + "\n")

        while time.time() < deadline:
            if "export_csv" in clients and time.time() >= next_export:
                kind = "export_csv"
                next_export += EXPORT_EVERY_S
            else:
                kind = rng.choices(kinds, weights)[0]
            client = clients[kind]
            method, path, body, headers = client.next_request()
            headers = dict(headers)
            if kind == "post":
                headers["Idempotency-Key"] = str(uuid.uuid4())
            for attempt in range(1, POST_ATTEMPTS + 1):
                t0 = time.time()
                try:
                    response, data = _exchange(conn, method, path, body, headers)
                except Exception as exc:  # noqa: BLE001 - every exception counts, by kind
                    conn.close()
                    conn = _connection(base)
                    record(t0, time.time(), kind, type(exc).__name__, None, attempt)
                    if kind == "post":
                        time.sleep(0.5)
                        continue
                    time.sleep(0.1)
                    break
                t1 = time.time()
                status = response.status
                retry_after = response.getheader("Retry-After")
                sr_id = None
                if kind == "post" and 200 <= status < 300:
                    try:
                        document = json.loads(data)
                        item = document[0] if isinstance(document, list) else document
                        sr_id = item.get("service_request_id") or ("token:" + str(item["token"]))
                    except Exception:  # noqa: BLE001
                        sr_id = "unparsed:" + data[:80].decode(errors="replace")
                record(t0, t1, kind, status, retry_after, attempt, sr_id)
                if 200 <= status < 400:
                    observe = getattr(client, "observe", None)
                    if observe is not None:
                        observe(response, data)
                    break
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = _connection(base)
                if kind == "post" and status == 503:
                    time.sleep(min(float(retry_after or 1), 2.0))
                    continue
                time.sleep(0.1)  # an error: go on with another call, not in a hot loop
                break
    conn.close()


class Tally:
    """Reads the clients' record files as they grow."""

    def __init__(self, files: list[Path]):
        self.files = files
        self.offsets = dict.fromkeys(files, 0)
        self.records: list[list[Any]] = []

    def read(self) -> list[list[Any]]:
        fresh = []
        for f in self.files:
            if not f.exists():
                continue
            with f.open("rb") as handle:
                handle.seek(self.offsets[f])
                chunk = handle.read()
            end = chunk.rfind(b"\n") + 1
            self.offsets[f] += end
            for line in chunk[:end].splitlines():
                fresh.append(json.loads(line))
        self.records += fresh
        return fresh


def ok(status: Any) -> bool:
    return isinstance(status, int) and 200 <= status < 400


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


# --- the fault ----------------------------------------------------------------------------------


class Fault:
    """Stop the local cluster, wait, start it; started again whatever happens to this script."""

    def __init__(self, port: int, outage: float):
        self.cluster = LocalCluster(bench.CLUSTER_DIR, port)
        self.outage = outage
        self.stopped = False
        self.timeline: list[tuple[float, str]] = []
        atexit.register(self.ensure_started)

    def note(self, what: str) -> None:
        self.timeline.append((time.time(), what))
        print(f"  {datetime.now(UTC):%H:%M:%S.%f}"[:-3] + f" fault: {what}", flush=True)

    def run(self) -> None:
        self.note("pg_ctl stop -m fast")
        self.stopped = True
        try:
            self.cluster.stop()
            self.note("stopped")
            time.sleep(self.outage)
        finally:
            self.ensure_started()

    def ensure_started(self) -> None:
        if not self.stopped:
            return
        self.note("pg_ctl start")
        for _attempt in range(5):
            try:
                self.cluster.start()
                break
            except Exception as exc:  # noqa: BLE001 - try again: the cluster is shared
                print(f"  start failed ({exc}); again", flush=True)
                time.sleep(1)
        self.stopped = False
        self.note("started (pg_ctl start -w returned)")


def probe_recovery(base: str, path: str, since: float, limit: float = 60.0) -> float | None:
    """Seconds from `since` to the first 200 of GET path, polled every 50 ms."""
    while time.time() - since < limit:
        try:
            status, _h, _b = bench.http_get(base, path)
            if status == 200:
                return time.time() - since
        except OSError:
            pass
        time.sleep(0.05)
    return None


# --- putting it together ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    port = bench.cluster_port()
    admin = bench.admin_connection(port)
    name = args.reuse_db or f"open311_bench_{uuid.uuid4().hex[:8]}"
    dsn = bench.dsn_of(port, name)
    env = {"DATABASE_URL": bench.url_of(dsn), "OPEN311_RATE_LIMITS": "off"}
    log_dir = Path(f"/tmp/{name}-soak-{started_at:%H%M%S}")
    log_dir.mkdir(parents=True, exist_ok=True)
    fault = Fault(port, args.outage)
    # SIGTERM (a killed run) goes through atexit, so the cluster is started again.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    seeded = f"reused database {name}"
    result: dict[str, Any] = {}
    try:
        bench.create_database(admin, name)  # a reused one: handed to the app's role if need be
        bench.run([bench.OPEN311, "db", "upgrade"], env=env)
        if not args.reuse_db:
            seeded = bench.seed(args.requests, env, dsn)["how"]
        with psycopg2.connect(**dsn) as connection, connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM service_request")
            count = cur.fetchone()[0]
        api_key = bench.run([bench.OPEN311, "apikey", "create", "soak"], env=env).strip()
        worker_log = (log_dir / "worker.log").open("wb")
        worker = subprocess.Popen(
            [bench.OPEN311, "worker"],
            # No media sweep: the soak's database does not name the photos of var/media.
            env=os.environ | env | {"OPEN311_SWEEP_INTERVAL_S": "0"},
            cwd=bench.ROOT,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        bench.COMMANDS.append(f"DATABASE_URL={bench.hidden(env['DATABASE_URL'])} open311 worker")
        try:
            result = soak(args, env, dsn, api_key, log_dir, worker, fault)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
            worker_log.close()
        result.update(name=name, count=count, seeded=seeded, started_at=started_at)
        write_report(args, result, log_dir)
        print(f"\nwritten: {args.report}; logs in {log_dir}")
    finally:
        fault.ensure_started()
        if not args.reuse_db and not args.keep_db:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"dropped {name}")
        admin.close()
    return 0 if result.get("passed") else 1


def soak(args, env, dsn, api_key, log_dir, worker, fault) -> dict[str, Any]:
    with bench.gunicorn(env, args.workers, log_dir) as (base, server):
        features = bench.api_features(base)
        ctx = bench.context_for(base, dsn, api_key, features)
        wanted = ["bbox_open", "changes", "window90", "by_id", "export_csv_year", "post"]
        built, missing = bench.build_scenarios(ctx, wanted)
        if missing:
            raise SystemExit(f"scenarios missing: {missing}")
        by_name = {s.name: s for s in built}
        makers: dict[str, Any] = {
            "window90": by_name["window90"].api,
            "bbox_open": by_name["bbox_open"].api,
            "by_id": by_name["by_id"].api,
            "changes": by_name["changes"].api,
            "post": by_name["post"].api,
            "export_csv": by_name["export_csv_year"].api,
            "services": lambda i: scenarios.GetPaths(
                base, [f"{scenarios.PREFIX}/services.json"], i, 4
            ),
        }
        probe_path = by_name["window90"].probe[1]
        processes = server_processes(server.pid, worker.pid)
        rss_start = rss_snapshot(processes)
        print("processes: " + ", ".join(f"{k} {v}" for k, v in processes.items()), flush=True)

        duration = args.minutes * 60
        t_start = time.time()
        deadline = t_start + duration
        fault_at = t_start + (args.fault_at * 60 if args.fault_at is not None else duration / 2)
        files = [log_dir / f"client-{i}.jsonl" for i in range(args.clients)]
        mpctx = mp.get_context("fork")
        clients = [
            mpctx.Process(
                target=client_process,
                args=(i, base, makers, deadline, str(files[i])),
                daemon=True,
            )
            for i in range(args.clients)
        ]
        for process in clients:
            process.start()
        tally = Tally(files)
        recovery: dict[str, Any] = {}
        minute = 0
        rss_minutes: list[tuple[int, dict[str, tuple[int, int | None]]]] = []
        while any(p.is_alive() for p in clients):
            now = time.time()
            if not recovery and now >= fault_at:
                fault.run()
                back = fault.timeline[-1][0]
                seconds = probe_recovery(base, probe_path, back)
                recovery = {"back": back, "probe_s": seconds}
                fault.note(
                    f"first 200 to GET requests.json after {seconds:.2f} s"
                    if seconds is not None
                    else "no 200 within 60 s"
                )
            if now >= t_start + (minute + 1) * 60:
                minute += 1
                rss_minutes.append((minute, progress(minute, tally.read(), processes, 60)))
            time.sleep(0.2)
        for process in clients:
            process.join(timeout=10)
        rest = time.time() - (t_start + minute * 60)
        progress(f"{minute}+{rest:.0f}s", tally.read(), processes, max(rest, 1))
        rss_end = rss_snapshot(processes)
        alive = {label: Path(f"/proc/{pid}").exists() for label, pid in processes.items()}
        # The logs of nginx, for the report: where open311 serve keeps them.
        serve_dir = bench.ROOT / "var" / "serve" / base.rsplit(":", 1)[1]
        nginx_errors = ""
        for candidate in (serve_dir / "error.log", serve_dir / "logs" / "error.log"):
            if candidate.exists():
                nginx_errors = candidate.read_text(errors="replace")[-4000:]
                (log_dir / "nginx-error.log").write_text(candidate.read_text(errors="replace"))
    return {
        "records": tally.records,
        "t_start": t_start,
        "t_end": time.time(),
        "processes": processes,
        "rss_start": rss_start,
        "rss_end": rss_end,
        "rss_minutes": rss_minutes,
        "alive": alive,
        "timeline": fault.timeline,
        "recovery": recovery,
        "nginx_errors": nginx_errors,
        "dsn": dsn,
    }


def progress(minute, fresh, processes, seconds) -> dict[str, tuple[int, int | None]]:
    """The minute's line on stdout; returns the RSS snapshot taken for it."""
    snapshot = rss_snapshot(processes)
    bad = Counter(f"{r[2]}:{r[3]}" for r in fresh if not ok(r[3]))
    workers = " ".join(
        f"{(rss or 0) / 1024:.0f}M"
        for label, (_pid, rss) in snapshot.items()
        if label.startswith("gunicorn worker")
    )
    others = " ".join(
        f"{label} {(rss or 0) / 1024:.0f}M"
        for label, (_pid, rss) in snapshot.items()
        if label in ("nginx master", "nginx worker", "open311 worker")
    )
    print(
        f"{datetime.now(UTC):%H:%M:%S} min {minute}: {len(fresh):6d} calls "
        f"({len(fresh) / seconds:5.1f}/s), not 2xx/3xx {sum(bad.values())}"
        + (f" {dict(bad)}" if bad else "")
        + f"; RSS gunicorn workers {workers}, {others}",
        flush=True,
    )
    return snapshot


def posts_present(dsn: dict[str, Any], ids: list[str]) -> tuple[int, list[str]]:
    with psycopg2.connect(**dsn) as connection, connection.cursor() as cur:
        cur.execute(
            "SELECT service_request_id FROM service_request WHERE service_request_id = ANY(%s)",
            (ids,),
        )
        found = {row[0] for row in cur.fetchall()}
    return len(found), [i for i in ids if i not in found][:20]


def filed_since(dsn: dict[str, Any], since: float) -> int:
    with psycopg2.connect(**dsn) as connection, connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM service_request WHERE requested_datetime >= to_timestamp(%s) "
            "AND description LIKE 'Benchmark report %%'",
            (since - 1,),
        )
        return cur.fetchone()[0]


def write_report(args, result: dict[str, Any], log_dir: Path) -> None:
    records = result["records"]
    timeline = result["timeline"]
    stop_t = next((t for t, w in timeline if w.startswith("pg_ctl stop")), None)
    back_t = result["recovery"].get("back")
    probe_s = result["recovery"].get("probe_s")
    outage_end = back_t + (probe_s or 0) if back_t else None

    def in_outage(r) -> bool:
        return stop_t is not None and r[1] >= stop_t and r[0] <= outage_end

    kinds = list(MIX) + ["export_csv"]
    steady = [r for r in records if not in_outage(r)]
    outage = [r for r in records if in_outage(r)]
    statuses: dict[str, Counter] = defaultdict(Counter)
    latencies: dict[str, list[float]] = defaultdict(list)
    for r in steady:
        statuses[r[2]][str(r[3])] += 1
        if ok(r[3]):
            latencies[r[2]].append((r[1] - r[0]) * 1000)
    errors = Counter(f"{r[2]} {r[3]}" for r in steady if not ok(r[3]))
    outage_statuses: dict[str, Counter] = defaultdict(Counter)
    for r in outage:
        label = str(r[3])
        if r[3] == 503:
            label += " with Retry-After" if r[4] else " WITHOUT Retry-After"
        outage_statuses[r[2]][label] += 1
    outage_500 = sum(1 for r in outage if r[3] == 500)
    posts_503_bare = sum(1 for r in outage if r[2] == "post" and r[3] == 503 and not r[4])
    post_outage_bad = Counter(
        str(r[3]) for r in outage if r[2] == "post" and not ok(r[3]) and r[3] != 503
    )
    # First 2xx per kind after the database was back (the clients' view).
    first_ok: dict[str, float] = {}
    if back_t:
        for r in sorted(records, key=lambda r: r[1]):
            if ok(r[3]) and r[2] not in first_ok and r[1] >= back_t:
                first_ok[r[2]] = r[1] - back_t
    post_ids = [r[6] for r in records if r[2] == "post" and ok(r[3]) and r[6]]
    unique_ids = sorted(set(post_ids))
    present, absent = posts_present(result["dsn"], unique_ids)
    filed = filed_since(result["dsn"], result["t_start"])
    retried = Counter(r[5] for r in records if r[2] == "post" and r[5] > 1)
    retried_keys_ok = sum(1 for r in records if r[2] == "post" and r[5] > 1 and ok(r[3]))
    elapsed = result["t_end"] - result["t_start"]

    passed = (
        not errors
        and outage_500 == 0
        and posts_503_bare == 0
        and not absent
        and probe_s is not None
        and probe_s <= 10
    )
    result["passed"] = passed
    invocation = ".venv/bin/python bench/soak.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        "# Soak and fault run",
        "",
        "How to reproduce: from the project root, with the local cluster (`open311 db up`),",
        "`.venv/bin/python bench/soak.py` (see bench/README.md). Overwritten by every run.",
        "",
        f"Run: {result['started_at']:%Y-%m-%d %H:%M} UTC, `{invocation.strip()}`",
        f"Database: `{result['name']}`, {result['count']:,} requests ({result['seeded']}); "
        f"`open311 serve --workers {args.workers}` (nginx in front of gunicorn) and "
        f"`open311 worker`, OPEN311_RATE_LIMITS=off; {args.clients} client processes; "
        f"load for {elapsed / 60:.1f} min; logs were in `{log_dir}`.",
        "",
        f"**Verdict: {'passed' if passed else 'FAILED'}** — errors outside the outage: "
        f"{sum(errors.values())}; 500s during the outage: {outage_500}; recovery (database "
        f"back → first 200): {probe_s:.2f} s; POSTs answered 2xx present: "
        f"{present}/{len(unique_ids)}."
        if probe_s is not None
        else "**Verdict: FAILED** — no 200 within 60 s of the database being back.",
        "",
        "## Calls outside the outage",
        "",
        "| kind | calls | statuses | p50 ms | p99 ms |",
        "|---|---:|---|---:|---:|",
    ]
    for kind in kinds:
        c = statuses.get(kind, Counter())
        lines.append(
            f"| {kind} | {sum(c.values()):,} | "
            + ", ".join(f"{s}: {n:,}" for s, n in sorted(c.items()))
            + f" | {percentile(latencies[kind], 50):.1f} | {percentile(latencies[kind], 99):.1f} |"
        )
    total = sum(sum(c.values()) for c in statuses.values())
    lines += [
        f"| all | {total:,} | {total / elapsed:.1f} calls/s | | |",
        "",
        "Every attempt is a call (a retried POST counts once per attempt). Latency of the "
        "calls answered 2xx/3xx, nearest rank.",
        "",
        "### Errors (non-2xx/3xx and exceptions) outside the outage",
        "",
    ]
    lines += [f"- {k}: {n}" for k, n in errors.most_common()] or ["- none"]
    lines += [
        "",
        "## Memory (RSS)",
        "",
        "| process | pid | load begins | after 1 min | end | end − 1 min |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    warm = dict(result["rss_minutes"]).get(1, result["rss_start"])
    for label, (pid, start) in result["rss_start"].items():
        after = warm.get(label, (pid, None))[1]
        end = result["rss_end"].get(label, (pid, None))[1]
        change = f"{(end - after) / 1024:+.1f} MB" if after and end else "—"
        gone = "" if result["alive"].get(label) else " (gone at the end)"
        lines.append(
            f"| {label}{gone} | {pid} | {(start or 0) / 1024:.1f} MB | "
            f"{(after or 0) / 1024:.1f} MB | {(end or 0) / 1024:.1f} MB | {change} |"
        )
    lines += [
        "",
        "Load begins: the first calls (the workers have answered one call of each scenario); "
        "after 1 min: warm (caches, pools and allocator arenas filled); end: when the last "
        "client finished. Per minute, the gunicorn workers (MB):",
        "",
    ]
    worker_labels = [k for k in result["rss_start"] if k.startswith("gunicorn worker")]
    lines.append("| minute | " + " | ".join(worker_labels) + " |")
    lines.append("|---:|" + "---:|" * len(worker_labels))
    for minute, snap in result["rss_minutes"]:
        lines.append(
            f"| {minute} | "
            + " | ".join(f"{(snap[k][1] or 0) / 1024:.1f}" for k in worker_labels)
            + " |"
        )
    lines += ["", "## The fault: PostgreSQL stopped and started mid-load", ""]
    t0 = result["t_start"]
    for t, what in timeline:
        lines.append(
            f"- +{t - t0:7.2f} s ({datetime.fromtimestamp(t, UTC):%H:%M:%S.%f}"[:-3] + f"): {what}"
        )
    lines += [
        "",
        f"Recovery: the first 200 to `GET requests.json` (polled every 50 ms from the moment "
        f"`pg_ctl start -w` returned) came after **{probe_s:.2f} s**"
        if probe_s is not None
        else "Recovery: **no 200 within 60 s**",
        "(target ≤ 10 s, nothing restarted). First 2xx per kind from the clients after that "
        "moment: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(first_ok.items(), key=lambda kv: kv[1]))
        + ".",
        "",
        "Statuses of the calls that overlapped the outage (from `pg_ctl stop` to that first 200):",
        "",
        "| kind | statuses |",
        "|---|---|",
    ]
    for kind in kinds:
        c = outage_statuses.get(kind)
        if c:
            lines.append(
                f"| {kind} | " + ", ".join(f"{s}: {n}" for s, n in sorted(c.items())) + " |"
            )
    lines += [
        "",
        f"500s during the outage: **{outage_500}**; POSTs answered 503 without Retry-After: "
        f"{posts_503_bare}; POSTs answered something else than 2xx or 503 during it: "
        + (", ".join(f"{s}: {n}" for s, n in post_outage_bad.items()) or "none")
        + f". POST retries with the same Idempotency-Key: {sum(retried.values())} "
        f"attempts, {retried_keys_ok} of them answered 2xx.",
        "",
        "## Every POST answered 2xx is in the database",
        "",
        f"{len(post_ids):,} POSTs answered 2xx, {len(unique_ids):,} distinct service_request_ids; "
        f"**{present:,} of them found** in service_request"
        + (f"; missing: {', '.join(absent)}" if absent else "")
        + f". Rows filed by the run (description 'Benchmark report …' since the start): "
        f"{filed:,} (more than the ids would be a request filed twice, or one filed whose answer "
        "never arrived).",
        "",
    ]
    if result["nginx_errors"].strip():
        lines += ["## nginx error log (tail)", "", "```", result["nginx_errors"][-2500:], "```", ""]
    lines += ["## Commands", "", "```"] + bench.COMMANDS + ["```", ""]
    args.report.write_text("\n".join(lines))
    print(lines[8])


if __name__ == "__main__":
    sys.exit(main())
