"""The API benchmark: the API under gunicorn against its floor, on N seeded requests.

Creates a scratch database on the project-local cluster, migrates and seeds it (timing the seed),
serves it with `open311 serve` as in production, and for each scenario and each concurrency
drives the API from separate client processes on loopback, then runs the floor (the same SQL
through bare psycopg2 and json.dumps) from as many processes, on the same data. Prints the table,
the commands and the machine, and writes bench/RESULTS.md and bench/plans/*.txt.

    .venv/bin/python bench/run.py                       # 1,000,000 requests, ~15 minutes
    .venv/bin/python bench/run.py --requests 20000 --duration 3
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy.engine import URL, make_url

from open311.config import LOCAL_CLUSTER_APP_ROLE as APP_ROLE
from open311.db.cluster import LocalCluster, prepare_database

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import cpu  # noqa: E402
import floor  # noqa: E402
import map_shapes  # noqa: E402
import pyspy  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
import tiles  # noqa: E402
import work_queue  # noqa: E402
from loadgen import measure  # noqa: E402

OPEN311 = str(ROOT / ".venv" / "bin" / "open311")
PORT_FILE = ROOT / "var" / "postgres.port"
CLUSTER_DIR = ROOT / "var" / "postgres"
# The 1M seed's bar (issue 16; issue 4's was 90 s).
SEED_TARGET_S = 60
READ_ORDER = [
    "bbox_open",
    "radius",
    "district_open",
    "changes",
    "window90",
    "by_id",
    "export_csv_year",
    *map_shapes.BUILDERS,  # `--scenarios map` for these alone
    *work_queue.BUILDERS,  # the staff API's crew queue; `--scenarios queue` for these alone
    *tiles.BUILDERS,  # the map's vector tiles; `--scenarios tiles` for these alone
    "post",  # last: it adds requests to the last 90 days and to the change feed
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="requests to seed")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per measurement (API and floor)"
    )
    parser.add_argument(
        "--workers", type=int, default=3, help="gunicorn workers (open311 serve --workers)"
    )
    parser.add_argument("--concurrency", default="1,8", help="client counts, comma-separated")
    parser.add_argument(
        "--scenarios", default="all", help=f"comma-separated subset of: {', '.join(READ_ORDER)}"
    )
    parser.add_argument(
        "--reuse-db", metavar="NAME", help="use this seeded scratch database, skip seeding"
    )
    parser.add_argument(
        "--keep-db", action="store_true", help="do not drop the database at the end"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of one-client warm-up per scenario"
    )
    parser.add_argument(
        "--busy",
        type=float,
        default=20.0,
        help="re-measure a pair when others used more than this %% of the CPU meanwhile",
    )
    parser.add_argument("--retries", type=int, default=1, help="re-measurements allowed per pair")
    parser.add_argument(
        "--results",
        type=Path,
        default=HERE / "RESULTS.md",
        help="where to write the report (default bench/RESULTS.md)",
    )
    parser.add_argument("--plans", type=Path, default=HERE / "plans", help="EXPLAIN output folder")
    parser.add_argument(
        "--profile",
        metavar="PY_SPY",
        help="path of a py-spy: after measuring, profile each scenario's gunicorn workers at the "
        "highest concurrency into --profiles",
    )
    parser.add_argument("--profiles", type=Path, default=HERE / "profiles", help="py-spy output")
    return parser.parse_args(argv)


# --- commands, recorded as they ran ------------------------------------------------------------

COMMANDS: list[str] = []


def run(args: list[str], env: dict[str, str] | None = None, quiet: bool = False) -> str:
    shown = " ".join(shlex.quote(a.replace(str(ROOT) + "/", "")) for a in args)
    if env and "DATABASE_URL" in env:
        shown = f"DATABASE_URL={hidden(env['DATABASE_URL'])} {shown}"
    COMMANDS.append(shown)
    if not quiet:
        print(f"$ {shown}", flush=True)
    result = subprocess.run(
        args, env=(os.environ | env) if env else None, cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"failed ({result.returncode}): {shown}\n{result.stdout}{result.stderr}")
    return result.stdout


# --- the database --------------------------------------------------------------------------------


def cluster_port() -> int:
    """The local cluster's port, after `open311 db up` (which also brings a cluster made before
    passwords to them, and does nothing when all is in place)."""
    run([OPEN311, "db", "up"], env={})
    return int(PORT_FILE.read_text())


def admin_connection(port: int) -> Any:
    """The local cluster's superuser (its password from var/): for creating and dropping the
    benchmark's databases only; the app and the floor connect as the app's role (dsn_of)."""
    connection = LocalCluster(CLUSTER_DIR, port).connect_superuser()
    connection.autocommit = True
    return connection


def create_database(admin: Any, name: str) -> None:
    """A database for the app's role, with PostGIS, as `open311 db up` makes the demo's (an
    existing one is left as it is but for what the role must own)."""
    prepare_database(admin, name, APP_ROLE)


def dsn_of(port: int, name: str) -> dict[str, Any]:
    """The app role's connection parameters of database `name` of the local cluster."""
    password = LocalCluster(CLUSTER_DIR, port).app_password_file.read_text().strip()
    return {
        "host": "127.0.0.1",
        "port": port,
        "user": APP_ROLE,
        "password": password,
        "dbname": name,
    }


def seed_supports_requests() -> bool:
    help_text = subprocess.run(
        [OPEN311, "seed", "--help"], capture_output=True, text=True, cwd=ROOT
    ).stdout
    return "--requests" in help_text


def seed(requests: int, env: dict[str, str], dsn: dict[str, Any]) -> dict[str, Any]:
    """`open311 seed --requests N`, timed; before that option exists, the demo seed plus a
    stand-in fill of synthetic rows made here (reported as such, no seed time against target)."""
    if seed_supports_requests():
        started = time.perf_counter()
        output = run([OPEN311, "seed", "--requests", str(requests)], env=env)
        seconds = time.perf_counter() - started
        print(output.strip()[-2000:])
        return {"seconds": seconds, "how": f"open311 seed --requests {requests}", "output": output}
    run([OPEN311, "seed"], env=env)
    started = time.perf_counter()
    added = stand_in_fill(dsn, requests)
    seconds = time.perf_counter() - started
    return {
        "seconds": None,
        "how": (
            f"open311 seed (demo city, 30k real requests) + {added:,} synthetic rows made by "
            f"bench/run.py in {seconds:.0f} s: `open311 seed --requests` does not exist yet"
        ),
        "output": "",
    }


def stand_in_fill(dsn: dict[str, Any], requests: int) -> int:
    """Until `open311 seed --requests` lands: copies of the real requests' points, jittered by
    ~100 m, over the last two years (recent ones mostly open), then routed to districts."""
    connection = psycopg2.connect(**dsn, options="-c timezone=UTC")
    with connection, connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM service_request")
        missing = max(requests - cur.fetchone()[0], 0)
        cur.execute(
            """
            WITH locs AS (SELECT array_agg(location) AS a FROM service_request
                          WHERE location IS NOT NULL),
                 svc AS (SELECT array_agg(id ORDER BY id) AS ids,
                                array_agg(agency_responsible ORDER BY id) AS agencies
                         FROM service WHERE type <> 'blackbox'),
                 g AS (SELECT n, now() - random() * interval '730 days' AS at,
                              random() AS u, random() AS v, random() AS w
                       FROM generate_series(1, %s) n)
            INSERT INTO service_request
                (service_request_id, jurisdiction_id, service_id, status, agency_responsible,
                 requested_datetime, updated_datetime, location, attribute_values, channel)
            SELECT 'B' || g.n, j.id, svc.ids[1 + g.n %% cardinality(svc.ids)],
                   CASE WHEN g.u < 0.1 + 0.6 * greatest(0, 1 - extract(epoch FROM now() - g.at)
                                                         / (86400 * 120))
                        THEN 'open' ELSE 'closed' END,
                   svc.agencies[1 + g.n %% cardinality(svc.ids)],
                   g.at, least(g.at + g.w * interval '30 days', now()),
                   ST_SetSRID(ST_MakePoint(
                       ST_X(locs.a[1 + g.n %% cardinality(locs.a)]) + (g.v - 0.5) * 0.002,
                       ST_Y(locs.a[1 + g.n %% cardinality(locs.a)]) + (g.w - 0.5) * 0.002), 4326),
                   '{}'::jsonb, 'bench'
            FROM g, locs, svc, (SELECT id FROM jurisdiction ORDER BY id LIMIT 1) j
            """,
            (missing,),
        )
    connection.close()

    from sqlalchemy import select

    from open311 import create_app
    from open311.db.district_queries import route_located_requests
    from open311.db.models import Jurisdiction

    app = create_app({"DATABASE_URL": url_of(dsn)})
    with app.app_context():
        from open311.api import database

        session = database.session()
        for jurisdiction in session.scalars(select(Jurisdiction)):
            route_located_requests(session, jurisdiction)
        session.commit()
        session.close()
    app.extensions["open311.engine"].dispose()
    return missing


def url_of(dsn: dict[str, Any]) -> str:
    return URL.create(
        "postgresql+psycopg2",
        username=dsn["user"],
        password=dsn.get("password"),
        host=dsn["host"],
        port=dsn["port"],
        database=dsn["dbname"],
    ).render_as_string(hide_password=False)


def hidden(url: str) -> str:
    """`url` without its password, for what is printed and written to the results."""
    return make_url(url).render_as_string(hide_password=True)


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    from open311.db.cluster import free_port as pick

    return pick()


@contextmanager
def gunicorn(env: dict[str, str], workers: int, log_dir: Path):
    port = free_port()
    args = [OPEN311, "serve", "--port", str(port), "--workers", str(workers)]
    extra = os.environ.get("GUNICORN_CMD_ARGS")
    COMMANDS.append(
        (f"GUNICORN_CMD_ARGS={shlex.quote(extra)} " if extra else "")
        + f"DATABASE_URL={env['DATABASE_URL']} "
        + " ".join(a.replace(str(ROOT) + "/", "") for a in args)
    )
    print(f"$ {COMMANDS[-1]}", flush=True)
    access = (log_dir / "gunicorn-access.log").open("wb")
    errors = (log_dir / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        args, env=os.environ | env, cwd=ROOT, stdout=access, stderr=errors, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _headers, _body = http_get(base, "/open311/v2/discovery.json")
                if status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    "gunicorn did not start: " + (log_dir / "gunicorn.log").read_text()
                )
            time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        access.close()
        errors.close()


def http_get(base: str, path: str) -> tuple[int, dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def api_features(base: str) -> set[str]:
    """The GET requests parameters and the paths the running API documents in its OpenAPI."""
    status, _h, body = http_get(base, "/openapi.json")
    if status != 200:
        return set()
    document = json.loads(body)
    found = set(document.get("paths", {}))
    for path, operations in document.get("paths", {}).items():
        if path.endswith("/requests.{fmt}"):
            get = operations.get("get", {})
            found |= {p["name"] for p in get.get("parameters", []) if p.get("in") == "query"}
    return found


# --- background load -----------------------------------------------------------------------------


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]) - idle, sum(fields[:8])


def background_cpu(seconds: float = 1.0) -> float:
    """% of all cores busy while this benchmark does nothing: other people's work."""
    busy0, total0 = _cpu_times()
    time.sleep(seconds)
    busy1, total1 = _cpu_times()
    return 100.0 * (busy1 - busy0) / max(total1 - total0, 1)


def quiet_enough(threshold: float = 15.0, patience: float = 10.0) -> float:
    """Wait up to `patience` s for the machine to be quiet; return the last background reading."""
    deadline = time.monotonic() + patience
    load = background_cpu()
    while load > threshold and time.monotonic() < deadline:
        load = background_cpu()
    return load


# --- SQL capture and plans -----------------------------------------------------------------------


class _Recorder:
    """Every statement sent on the app's connections, through SQLAlchemy or on a bare DBAPI
    cursor (open311.db.search_queries writes its own SQL): a psycopg2 cursor class that notes
    what it executes, installed on each new connection of the app's engine."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any, bool]] = []
        recorder = self

        class Cursor(psycopg2.extensions.cursor):
            def execute(self, query, vars=None):
                recorder.statements.append((_text(query), vars, False))
                return super().execute(query, vars)

            def executemany(self, query, vars_list):
                recorder.statements.append((_text(query), None, True))
                return super().executemany(query, vars_list)

        self.cursor_class = Cursor


def _text(query: Any) -> str:
    return query.decode() if isinstance(query, bytes) else str(query)


def capture_sql(
    url: str, probe: tuple[str, str, bytes | None], extra_headers: dict[str, str] | None = None
) -> list[tuple[str, Any, bool]]:
    """The statements the app runs for one request: the same code as under gunicorn, in-process."""
    from sqlalchemy import event

    from open311 import create_app

    app = create_app({"DATABASE_URL": url})
    engine = app.extensions["open311.engine"]
    recorder = _Recorder()

    def install(dbapi_connection, _record):
        dbapi_connection.cursor_factory = recorder.cursor_class

    event.listen(engine, "connect", install)
    method, path, body = probe
    client = app.test_client()
    headers = {"Content-Type": scenarios.FORM_HEADERS["Content-Type"]} if body else {}
    headers.update(extra_headers or {})
    response = client.open(path, method=method, data=body, headers=headers)
    response.get_data()
    response.close()
    engine.dispose()
    return recorder.statements


def explain(cursor: Any, sql: str, params: Any) -> str:
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
    return "\n".join(row[0] for row in cursor.fetchall())


def write_plans(folder: Path, scenario: scenarios.Scenario, url: str, dsn: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    statements = capture_sql(url, scenario.probe, scenario.probe_headers)
    connection = floor.connect(dsn)  # the app's session settings: the plans it gets
    method, path, _body = scenario.probe
    parts = [
        f"# {scenario.name}: {scenario.title}",
        f"# API call: {method} {path}",
        f"# {len(statements)} statements ran for it (as sent to PostgreSQL, in order)",
        "",
    ]
    with connection.cursor() as cursor:
        for n, (sql, params, many) in enumerate(statements, 1):
            parts.append(f"## API statement {n}{' (executemany)' if many else ''}")
            parts.append(sql.strip())
            parts.append(f"-- parameters: {_short(params)}")
            head = sql.lstrip().upper()
            if head.startswith("PREPARE"):
                cursor.execute(sql, params)  # so that its EXECUTE can be explained below
                parts.append("(prepared here too; its EXECUTE is explained)")
            elif head.startswith(("SELECT", "WITH", "EXECUTE")) and not many:
                try:
                    parts.append(explain(cursor, sql, params))
                except psycopg2.Error as exc:
                    parts.append(f"(EXPLAIN failed: {exc})")
            else:
                parts.append("(not re-run for EXPLAIN: a write, a cursor or a transaction verb)")
            parts.append("")
        parts.append("## floor SQL")
        parts.append(scenario.floor_sql.strip())
        parts.append(f"-- parameters: {_short(scenario.floor_params)}")
        parts.append(explain(cursor, scenario.floor_sql, scenario.floor_params))
    connection.close()
    (folder / f"{scenario.name}.txt").write_text("\n".join(parts) + "\n")


def _short(params: Any) -> str:
    text = repr(params)
    return text if len(text) < 600 else text[:600] + " ..."


# --- putting it together -------------------------------------------------------------------------


def context_for(base: str, dsn: dict[str, Any], api_key: str, features: set[str]):
    from sqlalchemy.dialects import postgresql

    from open311.db.district_queries import DISTRICTS_AT

    connection = psycopg2.connect(**dsn, options="-c timezone=UTC")
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM jurisdiction ORDER BY id LIMIT 1")
        jurisdiction_pk = cur.fetchone()[0]
        cur.execute(
            "SELECT id FROM api_client WHERE key_hash = %s",
            (hashlib.sha256(api_key.encode()).hexdigest(),),
        )
        api_client_pk = cur.fetchone()[0]
    connection.close()
    return scenarios.Context(
        base_url=base,
        dsn=dsn,
        jurisdiction_pk=jurisdiction_pk,
        api_key=api_key,
        api_client_pk=api_client_pk,
        features=features,
        districts_sql=str(DISTRICTS_AT.compile(dialect=postgresql.psycopg2.dialect())),
    )


def post_inputs(base: str, cur: Any, jurisdiction_pk: int):
    """Definitions of the realtime services a city app files most, and their floor inputs."""
    status, _h, body = http_get(base, "/open311/v2/services.json")
    services = [s for s in json.loads(body) if s["type"] == "realtime"]
    definitions = {}
    for service in services:
        code = service["service_code"]
        status, _h, body = http_get(base, f"/open311/v2/services/{code}.json")
        if status == 200:
            definitions[code] = json.loads(body)
    cur.execute(
        "SELECT s.service_code, s.id, coalesce(a.name, s.agency_responsible) FROM service s "
        "LEFT JOIN routing_rule rr ON rr.service_id = s.id "
        "LEFT JOIN agency a ON a.id = rr.agency_id WHERE s.jurisdiction_id = %s",
        (jurisdiction_pk,),
    )
    floor_inputs = {code: (pk, agency) for code, pk, agency in cur.fetchall()}
    return definitions, floor_inputs


def build_scenarios(ctx: scenarios.Context, wanted: list[str]) -> tuple[list, dict[str, str]]:
    built: list[scenarios.Scenario] = []
    missing: dict[str, str] = {}
    connection = psycopg2.connect(**ctx.dsn, options="-c timezone=UTC")
    with connection.cursor() as cur:
        for name in wanted:
            if name == "post":
                definitions, floor_inputs = post_inputs(ctx.base_url, cur, ctx.jurisdiction_pk)
                built.append(scenarios.post(ctx, cur, definitions, floor_inputs))
                continue
            builder = (
                scenarios.BUILDERS.get(name)
                or map_shapes.BUILDERS.get(name)
                or work_queue.BUILDERS.get(name)
                or tiles.BUILDERS.get(name)
            )
            if builder is None:
                missing[name] = "not built yet"
                continue
            reason = scenarios.unavailable(name, ctx.features)
            if reason:
                missing[name] = reason
                continue
            built.append(builder(ctx, cur))
    connection.close()
    return built, missing


def check_once(scenario: scenarios.Scenario) -> None:
    """One call of each side before timing: a scenario that fails outright stops the run."""
    for side, make in (("API", scenario.api), ("floor", scenario.floor)):
        client = make(0)
        outcome = client.call()
        close = getattr(client, "close", None)
        if close:
            close()
        if not outcome.ok:
            raise SystemExit(f"{scenario.name}: the {side} call failed: {outcome.error}")


def measure_pair(
    scenario: scenarios.Scenario, concurrency: int, args: argparse.Namespace, roots: set[int]
) -> report.Row:
    """The API, then the floor, at one concurrency. When other people's processes took more
    than --busy % of the machine meanwhile, measure again (--retries times) and keep the
    quietest pair."""
    best: report.Row | None = None
    for attempt in range(1 + args.retries):
        quiet_enough()
        with cpu.OtherLoad(roots) as api_load:
            api = measure(scenario.api, concurrency, args.duration)
        with cpu.OtherLoad(roots) as floor_load:
            floor_run = measure(scenario.floor, concurrency, args.duration)
        row = report.Row(
            scenario.name,
            scenario.title,
            concurrency,
            api,
            floor_run,
            scenario.target,
            max(api_load.percent, floor_load.percent),
        )
        if best is None or row.background_cpu < best.background_cpu:
            best = row
        if best.background_cpu <= args.busy or attempt == args.retries:
            break
        print(f"  (others used {row.background_cpu:.0f}% of the CPU meanwhile: measuring again)")
    assert best is not None
    return best


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = READ_ORDER if args.scenarios == "all" else args.scenarios.split(",")
    if "map" in wanted:
        wanted = [name for name in wanted if name != "map"] + list(map_shapes.BUILDERS)
    if "queue" in wanted:
        wanted = [name for name in wanted if name != "queue"] + list(work_queue.BUILDERS)
    if "tiles" in wanted:
        wanted = [name for name in wanted if name != "tiles"] + list(tiles.BUILDERS)
    unknown = [name for name in wanted if name not in READ_ORDER]
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(unknown)}; known: {', '.join(READ_ORDER)}")
    wanted = [name for name in READ_ORDER if name in wanted]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    started_at = datetime.now(UTC)

    port = cluster_port()
    admin = admin_connection(port)
    name = args.reuse_db or f"open311_bench_{uuid.uuid4().hex[:8]}"
    dsn = dsn_of(port, name)
    url = url_of(dsn)
    # No rate limits: the benchmark is one client making a million calls.
    env = {"DATABASE_URL": url, "OPEN311_RATE_LIMITS": "off"}
    log_dir = Path(f"/tmp/{name}-logs")
    log_dir.mkdir(exist_ok=True)
    seeded: dict[str, Any] = {"seconds": None, "how": f"reused database {name}", "output": ""}
    try:
        # A reused database too: one made before the app's role gets handed to it.
        create_database(admin, name)
        if not args.reuse_db:
            COMMANDS.append(
                f"psql -h 127.0.0.1 -p {port} -U postgres -c 'CREATE DATABASE \"{name}\"'"
                f" (and, in it, CREATE EXTENSION postgis; ALTER SCHEMA public OWNER TO {APP_ROLE})"
            )
        # Also on a reused database: the code under test may have brought new migrations.
        run([OPEN311, "db", "upgrade"], env=env)
        if not args.reuse_db:
            seeded = seed(args.requests, env, dsn)
        connection = floor.connect(dsn)
        with connection.cursor() as cur:
            COMMANDS.append(f"psql -d {name} -c 'VACUUM (ANALYZE)'")
            cur.execute("VACUUM (ANALYZE)")
            cur.execute("SELECT count(*) FROM service_request")
            count = cur.fetchone()[0]
            machine = report.machine(cur)
        connection.close()
        api_key = run([OPEN311, "apikey", "create", "bench"], env=env).strip()
        print(
            f"{count:,} requests in {name}; seed: {seeded['how']}"
            + (f", {seeded['seconds']:.1f} s" if seeded["seconds"] else "")
        )
        rows: list[report.Row] = []
        roots = {os.getpid()} | {pid for pid in [cpu.postmaster_pid(CLUSTER_DIR)] if pid}
        with gunicorn(env, args.workers, log_dir) as (base, server):
            features = api_features(base)
            ctx = context_for(base, dsn, api_key, features)
            built, missing = build_scenarios(ctx, wanted)
            for scenario in built:
                for note in scenario.notes:
                    print(f"{scenario.name}: {note}")
                check_once(scenario)
                write_plans(args.plans, scenario, url, dsn)
            for scenario in built:
                if args.warmup > 0:
                    measure(scenario.api, 1, args.warmup)
                    measure(scenario.floor, 1, args.warmup)
                for concurrency in concurrencies:
                    row = measure_pair(scenario, concurrency, args, roots)
                    single = [r for r in rows if r.scenario == scenario.name and r.concurrency == 1]
                    if single:
                        row.single_client_p50 = single[0].api.p50
                    rows.append(row)
                    print(report.text_table([row]).splitlines()[-1], flush=True)
                    for example in row.api.error_examples + row.floor.error_examples:
                        print(f"  error: {example}")
                if args.profile:
                    written = pyspy.profile_api(
                        scenario,
                        max(concurrencies),
                        args.duration,
                        server.pid,
                        args.profile,
                        args.profiles,
                    )
                    print(f"  profile: {written}")
        print()
        print(report.text_table(rows))
        write_results(args, rows, built, missing, seeded, machine, count, name, started_at)
        summary = args.results.with_name("results.json")
        print(f"\nwritten: {args.results}, {summary}, {args.plans}/*.txt")
    finally:
        if not args.keep_db and not args.reuse_db:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"dropped {name}")
        elif args.keep_db:
            print(f"kept {name}: rerun with --reuse-db {name}")
        admin.close()
    return 0


def write_results(args, rows, built, missing, seeded, machine, count, name, started_at) -> None:
    seed_line = seeded["how"]
    if seeded["seconds"] is not None:
        verdict = (
            "met"
            if seeded["seconds"] <= SEED_TARGET_S and args.requests >= 1_000_000
            else (
                "NOT met"
                if seeded["seconds"] > SEED_TARGET_S
                else "not judged (fewer than 1,000,000)"
            )
        )
        seed_line += (
            f": {seeded['seconds']:.1f} s wall "
            f"(target <= {SEED_TARGET_S} s at 1,000,000: {verdict})"
        )
    invocation = ".venv/bin/python bench/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        "# Benchmark results",
        "",
        "How to reproduce: from the project root, with the local cluster (`open311 db up`),",
        "`.venv/bin/python bench/run.py` (1,000,000 requests, about 15 minutes); see",
        "bench/README.md for the options and how to read this. This file is overwritten by",
        "every run.",
        "",
        f"Run: {started_at:%Y-%m-%d %H:%M} UTC, `{invocation.strip()}`",
        f"{count:,} requests in the scratch database `{name}`; {args.duration:g} s per "
        f"measurement; gunicorn `--workers {args.workers}` (sync workers, as `open311 serve`).",
        "",
        f"Seed: {seed_line}",
        "",
        *_seed_report(seeded["output"]),
        markdown_table_with_notes(rows),
        "",
        "Ratio = API req/s / floor req/s. Targets are judged at 8 clients; `rows` is the items "
        "in a response (API/floor), `errors` the failed calls (API/floor), `other CPU %` the share "
        "of the cores that other people's processes (not gunicorn, the clients or PostgreSQL) "
        "used while the pair was measured, the higher of the two (a lower bound).",
        "",
        "## Targets",
        "",
        *_targets(rows, seeded, args.requests),
        "",
        "## Scenarios",
        "",
    ]
    for scenario in built:
        lines.append(
            f"- **{scenario.name}**: {scenario.title}. `{scenario.probe[0]} "
            f"{scenario.probe[1][:160]}`" + "".join(f"; {n}" for n in scenario.notes)
        )
    for scenario_name, reason in missing.items():
        lines.append(f"- **{scenario_name}**: not measured: {reason}")
    lines += ["", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in machine.items()]
    lines += ["", "## Commands", "", "```"] + COMMANDS + ["```", ""]
    lines += [
        "Plans: `EXPLAIN (ANALYZE, BUFFERS)` of each statement the API ran for one call, and of",
        "the floor's SQL, in bench/plans/<scenario>.txt.",
        "",
    ]
    args.results.write_text("\n".join(lines))
    args.results.with_name("results.json").write_text(
        json.dumps(
            {
                "started_at": started_at.isoformat(),
                "requests": count,
                "seed": {k: v for k, v in seeded.items() if k != "output"},
                "machine": machine,
                "rows": [
                    {
                        "scenario": r.scenario,
                        "clients": r.concurrency,
                        "api": _stats(r.api),
                        "floor": _stats(r.floor),
                        "ratio": r.ratio,
                        "met": r.met,
                        "other_cpu": r.background_cpu,
                    }
                    for r in rows
                ],
            },
            indent=1,
        )
    )


def _targets(rows: list[report.Row], seeded: dict[str, Any], requests: int) -> list[str]:
    """One line per target: met or not, with the figures it was judged on."""
    lines = []
    for row in rows:
        if not row.judged or row.target is None:
            continue
        verdict = "met" if row.met else "**not met**"
        lines.append(
            f"- {row.scenario} ({row.target.text()}): {verdict}: ratio {row.ratio:.2f}, "
            f"API p99 {row.api.p99:.1f} ms"
            + (
                f", API p50 at 1 client {row.single_client_p50:.1f} ms"
                if row.single_client_p50 is not None
                else ""
            )
            + f", {row.api.errors} errors"
        )
    if seeded["seconds"] is not None and requests >= 1_000_000:
        verdict = "met" if seeded["seconds"] <= SEED_TARGET_S else "**not met**"
        lines.append(
            f"- seed of 1,000,000 (<= {SEED_TARGET_S} s): {verdict}: {seeded['seconds']:.1f} s"
        )
    missing = {r.scenario for r in rows}
    lines += [f"- {name}: not measured" for name in READ_ORDER if name not in missing]
    return lines


def _seed_report(output: str) -> list[str]:
    """The seed's own account of where its time went (its last lines), as a quote."""
    lines = [line for line in output.strip().splitlines() if line.strip()][-4:]
    return [f"> {line}" for line in lines] + [""] if lines else []


def markdown_table_with_notes(rows: list[report.Row]) -> str:
    return report.markdown_table(rows)


def _stats(m) -> dict[str, Any]:
    return {
        "rate": m.rate,
        "p50_ms": m.p50,
        "p99_ms": m.p99,
        "completed": m.completed,
        "errors": m.errors,
        "rows": m.rows,
        "mean_bytes": m.mean_bytes,
    }


if __name__ == "__main__":
    sys.exit(main())
