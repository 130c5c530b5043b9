"""The crews' queue scenarios: GET /api/v1/work-orders (staff API) by crew, district, bbox,
overdue and due_before, each against a floor that runs the best plan for its shape.

The seed's backlog (open311/demo/synthetic.py: one work order per request routed to a district
crew, open while the request is open) is what they read. The API is called as a supervisor
(every crew of Los Angeles), with a bearer token from POST /api/v1/login; the user is made once
per database with `open311 user create`. Parameters come from the data, so that each shape
returns a full page: the crew and the council district with the most open work orders, the
smallest box around the densest open work that holds a page. The floors name the city as the
request's (`r.jurisdiction_id`, as the API does): through `s.jurisdiction_id` the planner
misjudged how many requests the city's services hold, and the box's best plan (walking open work
in due order) took 40 ms where the plan it chose took 250 (issue 16).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import floor
from loadgen import Outcome
from scenarios import JSON_HEADERS, LIST_TARGET, Context, GetPaths, Scenario

QUEUE_PATH = "/api/v1/work-orders"
PAGE = 100  # the queue's default page size (domain/queue.DEFAULT_PAGE_SIZE)
USERNAME = "bench-queue"
# A scratch database's user, made by the benchmark and dropped with it.
PASSWORD = "bench-queue-password"
OPEN_STATES = ("new", "assigned", "in_progress")
ROOT = Path(__file__).resolve().parent.parent
OPEN311 = str(ROOT / ".venv" / "bin" / "open311")

# What a queue item shows (api/staff/work_schemas.QueueItemOut), as plain columns.
QUEUE_COLUMNS = """
    w.id, w.title, w.state, w.priority, w.outcome, w.not_before, w.due_at, w.escalated_at,
    w.closed_at, w.created_at, w.updated_at, c.id, c.code, c.name, a.code, st.code,
    w.parent_id, r.service_request_id, s.service_code, s.service_name, r.status, r.address,
    ST_Y(r.location), ST_X(r.location), r.description, r.requested_datetime"""
QUEUE_FROM = """work_order w
    JOIN service_request r ON r.id = w.service_request_pk
    JOIN service s ON s.id = r.service_id
    JOIN agency a ON a.id = w.agency_id
    LEFT JOIN crew c ON c.id = w.crew_id
    LEFT JOIN workflow_step st ON st.id = w.step_id"""
QUEUE_ORDER = "w.due_at ASC NULLS LAST, w.priority DESC, w.id"
_OPEN = "w.state IN ('new', 'assigned', 'in_progress')"


def _iso(moment: datetime | None) -> str | None:
    """marshmallow's DateTime as the API renders it (the connection runs in UTC)."""
    return None if moment is None else moment.isoformat()


def queue_item(row: Sequence[Any]) -> dict[str, Any]:
    (wid, title, state, priority, outcome, not_before, due_at, escalated_at, closed_at,
     created_at, updated_at, crew_id, crew_code, crew_name, agency, step, parent_id,
     sr_id, service_code, service_name, status, address, lat, long, description,
     requested) = row  # fmt: skip
    return {
        "agency": agency,
        "closed_at": _iso(closed_at),
        "created_at": _iso(created_at),
        "crew": None if crew_id is None else {"code": crew_code, "id": crew_id, "name": crew_name},
        "due_at": _iso(due_at),
        "escalated_at": _iso(escalated_at),
        "id": wid,
        "not_before": _iso(not_before),
        "outcome": outcome,
        "parent_id": parent_id,
        "priority": priority,
        "request": {
            "address": address,
            "description": description,
            "lat": lat,
            "long": long,
            "requested_datetime": _iso(requested),
            "service_code": service_code,
            "service_name": service_name,
            "service_request_id": sr_id,
            "status": status,
        },
        "state": state,
        "step": step,
        "title": title,
        "updated_at": _iso(updated_at),
    }


class QueueFloor:
    """One SELECT of a queue page per call, rendered as the API's JSON list."""

    def __init__(self, dsn: dict[str, Any], sql: str, params: Callable[[], Sequence[Any]]):
        self.connection = floor.connect(dsn)
        self.cursor = self.connection.cursor()
        self.sql, self.params = sql, params

    def call(self) -> Outcome:
        self.cursor.execute(self.sql, self.params())
        rows = self.cursor.fetchall()[:PAGE]  # the API asks for one more, to link a next page
        body = json.dumps(
            [queue_item(row) for row in rows], ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
        return Outcome(ok=bool(body), nbytes=len(body), rows=len(rows))

    def close(self) -> None:
        self.connection.close()


class StaffGetPaths(GetPaths):
    """GetPaths with the staff bearer token."""

    def __init__(self, base_url: str, paths: Sequence[str], index: int, seed: int, token: str):
        super().__init__(base_url, paths, index, seed)
        self.headers = {**JSON_HEADERS, "Authorization": f"Bearer {token}"}

    def next_request(self):
        method, path, body, _headers = super().next_request()
        return method, path, body, self.headers


_TOKENS: dict[str, str] = {}


def staff_token(ctx: Context) -> str:
    """A supervisor's bearer token for the benchmark's database (made once per run)."""
    if ctx.base_url in _TOKENS:
        return _TOKENS[ctx.base_url]
    url = _url(ctx.dsn)
    env = os.environ | {"DATABASE_URL": url, "OPEN311_NEW_USER_PASSWORD": PASSWORD}
    # On a reused database the user is there already: creating it again fails, harmlessly.
    subprocess.run(
        [OPEN311, "user", "create", USERNAME, "--role", "supervisor"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(ctx.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = json.dumps({"username": USERNAME, "password": PASSWORD})
    connection.request(
        "POST", "/api/v1/login", body=body, headers={"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200:
        raise SystemExit(f"staff login for the queue scenarios: {response.status} {answer[:200]!r}")
    _TOKENS[ctx.base_url] = json.loads(answer)["token"]
    return _TOKENS[ctx.base_url]


def _url(dsn: dict[str, Any]) -> str:
    from sqlalchemy.engine import URL

    return URL.create(
        "postgresql+psycopg2",
        username=dsn["user"],
        password=dsn.get("password"),
        host=dsn["host"],
        port=dsn["port"],
        database=dsn["dbname"],
    ).render_as_string(hide_password=False)


def _queue_sql(where: str) -> str:
    return f"""SELECT {QUEUE_COLUMNS}
        FROM {QUEUE_FROM}
        WHERE {_OPEN} AND r.jurisdiction_id = %(j)s AND {where}
        ORDER BY {QUEUE_ORDER} LIMIT {PAGE + 1}"""


def _scenario(
    ctx: Context,
    name: str,
    title: str,
    query: dict[str, Any],
    sql: str,
    params: Callable[[], dict[str, Any]],
    note: str,
) -> Scenario:
    token = staff_token(ctx)
    path = f"{QUEUE_PATH}?{urlencode(query)}" if query else QUEUE_PATH
    dsn = ctx.dsn
    return Scenario(
        name=name,
        title=title,
        target=LIST_TARGET,
        api=lambda i: StaffGetPaths(ctx.base_url, [path], i, ctx.seed, token),
        floor=lambda i: QueueFloor(dsn, sql, params),
        probe=("GET", path, None),
        floor_sql=sql,
        floor_params=params(),
        notes=[note],
        probe_headers={"Authorization": f"Bearer {token}"},
    )


def _open_count(cur: Any, ctx: Context, where: str, params: dict[str, Any]) -> int:
    cur.execute(
        f"SELECT count(*) FROM {QUEUE_FROM} WHERE {_OPEN} AND r.jurisdiction_id = %(j)s "
        f"AND {where}",
        {"j": ctx.jurisdiction_pk, **params},
    )
    return cur.fetchone()[0]


def queue_crew(ctx: Context, cur: Any) -> Scenario:
    """The queue of the crew with the most open work orders (?crew=ID)."""
    cur.execute(
        f"SELECT w.crew_id, c.code, count(*) FROM work_order w JOIN crew c ON c.id = w.crew_id "
        f"WHERE {_OPEN} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1"
    )
    crew_id, code, count = cur.fetchone()
    params = {"j": ctx.jurisdiction_pk, "crew": crew_id}
    return _scenario(
        ctx,
        "queue_crew",
        "a crew's queue (GET /api/v1/work-orders?crew=ID, 100 per page)",
        {"crew": crew_id},
        _queue_sql("w.crew_id = %(crew)s"),
        lambda: params,
        f"crew {code} (id {crew_id}) has {count:,} open work orders",
    )


def queue_district(ctx: Context, cur: Any) -> Scenario:
    """Open work of the council district with the most of it (?district=ID)."""
    cur.execute(
        f"""SELECT d.id, d.name, count(*) FROM work_order w
            JOIN request_district rd ON rd.service_request_pk = w.service_request_pk
            JOIN district d ON d.id = rd.district_id
            JOIN boundary_layer l ON l.id = d.layer_id
            WHERE {_OPEN} AND l.jurisdiction_id = %s AND l.name = 'council_districts'
            GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1""",
        (ctx.jurisdiction_pk,),
    )
    district_id, district, count = cur.fetchone()
    params = {"j": ctx.jurisdiction_pk, "district": district_id}
    where = (
        "EXISTS (SELECT 1 FROM request_district rd WHERE rd.district_id = %(district)s "
        "AND rd.service_request_pk = w.service_request_pk)"
    )
    return _scenario(
        ctx,
        "queue_district",
        "open work of one council district (GET /api/v1/work-orders?district=ID)",
        {"district": district_id},
        _queue_sql(where),
        lambda: params,
        f"council district {district} (id {district_id}) has {count:,} open work orders",
    )


def queue_bbox(ctx: Context, cur: Any) -> Scenario:
    """Open work in the smallest square (1 to 20 km side) around the densest open work that
    holds a page of it (?bbox=...)."""
    step_long, step_lat = 0.006, 0.005
    cur.execute(
        f"""SELECT floor(ST_X(r.location) / %(x)s), floor(ST_Y(r.location) / %(y)s), count(*)
            FROM work_order w JOIN service_request r ON r.id = w.service_request_pk
            WHERE {_OPEN} AND r.jurisdiction_id = %(j)s AND r.location IS NOT NULL
            GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1""",
        {"x": step_long, "y": step_lat, "j": ctx.jurisdiction_pk},
    )
    i, j, _count = cur.fetchone()
    lat, long = (j + 0.5) * step_lat, (i + 0.5) * step_long
    where = "r.location && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)"
    for side_km in (1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 14.0, 20.0):
        half_lat = side_km / 2 / 110.57
        half_long = side_km / 2 / (111.32 * math.cos(math.radians(lat)))
        box = dict(
            zip(
                "wsen",
                (
                    round(v, 6)
                    for v in (long - half_long, lat - half_lat, long + half_long, lat + half_lat)
                ),
                strict=True,
            )
        )
        count = _open_count(cur, ctx, where, box)
        if count >= PAGE:
            break
    params = {"j": ctx.jurisdiction_pk, **box}
    bbox = f"{box['w']},{box['s']},{box['e']},{box['n']}"
    return _scenario(
        ctx,
        "queue_bbox",
        "open work in a bbox (GET /api/v1/work-orders?bbox=..., a page's worth)",
        {"bbox": bbox},
        _queue_sql(where),
        lambda: params,
        f"bbox {bbox} ({side_km:g} km x {side_km:g} km) holds {count:,} open work orders",
    )


def queue_overdue(ctx: Context, cur: Any) -> Scenario:
    """Every crew's overdue work, most overdue first (?overdue=true)."""
    params_now = {"j": ctx.jurisdiction_pk}
    count = _open_count(cur, ctx, "w.due_at < now()", {})

    def params() -> dict[str, Any]:
        return {**params_now, "now": datetime.now(UTC)}

    return _scenario(
        ctx,
        "queue_overdue",
        "all crews' overdue work (GET /api/v1/work-orders?overdue=true)",
        {"overdue": "true"},
        _queue_sql("w.due_at < %(now)s"),
        params,
        f"{count:,} open work orders are overdue",
    )


def queue_due_before(ctx: Context, cur: Any) -> Scenario:
    """Work that was due more than 30 days ago (?due_before=...), all crews."""
    before = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)
    params = {"j": ctx.jurisdiction_pk, "before": before}
    count = _open_count(cur, ctx, "w.due_at < %(before)s", {"before": before})
    return _scenario(
        ctx,
        "queue_due_before",
        "work due before a date (GET /api/v1/work-orders?due_before=30 days ago)",
        {"due_before": before.strftime("%Y-%m-%dT%H:%M:%SZ")},
        _queue_sql("w.due_at < %(before)s"),
        lambda: params,
        f"{count:,} open work orders were due before {before:%Y-%m-%d}",
    )


BUILDERS: dict[str, Callable[[Context, Any], Scenario]] = {
    "queue_crew": queue_crew,
    "queue_district": queue_district,
    "queue_bbox": queue_bbox,
    "queue_overdue": queue_overdue,
    "queue_due_before": queue_due_before,
}
