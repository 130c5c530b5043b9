"""The benchmark's scenarios: what each asks the API, and the floor's equivalent SQL.

Parameters come from the seeded data (the densest open area, the busiest district, a point
60% into the change feed), so a list endpoint is compared where it returns a full page.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import floor
from loadgen import Client, HttpClient

PREFIX = "/open311/v2"
PAGE = 1000
JSON_HEADERS = {"Accept": "application/json"}
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class Target:
    """The bar at 8 clients: API throughput at least `min_ratio` of the floor's, and the
    API's p99 under `max_p99_ms` where given; and, where given, the API's p50 at 1 client
    under `max_p50_single_ms`."""

    min_ratio: float
    max_p99_ms: float | None = None
    max_p50_single_ms: float | None = None

    def text(self) -> str:
        parts = [f"ratio >= {self.min_ratio:g}"]
        if self.max_p99_ms is not None:
            parts.append(f"p99 < {self.max_p99_ms:g} ms")
        if self.max_p50_single_ms is not None:
            parts.append(f"p50 at 1 client < {self.max_p50_single_ms:g} ms")
        return ", ".join(parts)

    def met(self, ratio: float, api_p99: float, single_p50: float | None = None) -> bool:
        if self.max_p50_single_ms is not None and (
            single_p50 is None or single_p50 >= self.max_p50_single_ms
        ):
            return False
        return ratio >= self.min_ratio and (self.max_p99_ms is None or api_p99 < self.max_p99_ms)


LIST_TARGET = Target(1.0)


@dataclass
class Scenario:
    name: str
    title: str
    target: Target | None
    api: Callable[[int], Client]  # client index -> a client, built in its own process
    floor: Callable[[int], Client]
    # One representative API call whose SQL is captured and EXPLAINed (method, path, body).
    probe: tuple[str, str, bytes | None]
    floor_sql: str
    floor_params: Sequence[Any]
    notes: list[str] = field(default_factory=list)
    writes: bool = False
    # Headers the probe is sent with (the staff API's bearer token).
    probe_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    """What the scenarios are built from: where the API and the database are, and the data."""

    base_url: str  # http://127.0.0.1:PORT
    dsn: dict[str, Any]
    jurisdiction_pk: int
    api_key: str
    api_client_pk: int
    features: set[str]  # query parameters and paths the running API offers
    districts_sql: str  # district_queries.DISTRICTS_AT as psycopg2 SQL
    seed: int = 4


# --- API clients ------------------------------------------------------------------------------


def _rows_of_json(body: bytes) -> int | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, list):
        return len(document)
    if isinstance(document, dict) and isinstance(document.get("features"), list):
        return len(document["features"])
    return None


class GetPaths(HttpClient):
    """GET one path after another from a list (random start per client)."""

    def __init__(self, base_url: str, paths: Sequence[str], index: int, seed: int):
        super().__init__(base_url)
        self.paths = list(paths)
        self.position = random.Random(seed * 1000 + index).randrange(len(self.paths))

    def next_request(self):
        path = self.paths[self.position % len(self.paths)]
        self.position += 1
        return "GET", path, None, JSON_HEADERS

    def count_rows(self, body: bytes) -> int | None:
        return _rows_of_json(body)


class FollowNext(HttpClient):
    """The change feed: start at `start`, then follow `Link: <...>; rel="next"` page after page;
    back to the start when a page has no next link."""

    def __init__(self, base_url: str, start: str):
        super().__init__(base_url)
        self.start = self.path = start

    def next_request(self):
        return "GET", self.path, None, JSON_HEADERS

    def observe(self, response, body: bytes) -> None:
        self.path = self.start
        for part in (response.getheader("Link") or "").split(","):
            if 'rel="next"' in part and "<" in part:
                url = part[part.index("<") + 1 : part.index(">")]
                parts = urlsplit(url)
                self.path = parts.path + ("?" + parts.query if parts.query else "")

    def count_rows(self, body: bytes) -> int | None:
        return _rows_of_json(body)


class PostForms(HttpClient):
    def __init__(self, base_url: str, bodies: Sequence[bytes], index: int):
        super().__init__(base_url)
        self.bodies = bodies
        self.position = index * 7919

    def next_request(self):
        body = self.bodies[self.position % len(self.bodies)]
        self.position += 1
        return "POST", f"{PREFIX}/requests.json", body, FORM_HEADERS

    def count_rows(self, body: bytes) -> int | None:
        return _rows_of_json(body)


class GetOnce(HttpClient):
    """The same GET every time (an export)."""

    def __init__(self, base_url: str, path: str):
        super().__init__(base_url)
        self.path = path

    def next_request(self):
        return "GET", self.path, None, {}

    def count_rows(self, body: bytes) -> int | None:
        return max(body.count(b"\n") - 1, 0)


# --- the scenarios ------------------------------------------------------------------------------


def _requests_path(params: dict[str, Any], suffix: str = ".json") -> str:
    query = urlencode(params)
    return f"{PREFIX}/requests{suffix}" + (f"?{query}" if query else "")


def window90(ctx: Context, cur: Any) -> Scenario:
    """GET requests.json with no parameters: the last 90 days, newest first, at most 1000."""
    sql = f"""SELECT {floor.REQUEST_COLUMNS} FROM {floor.REQUEST_FROM}
        WHERE r.jurisdiction_id = %s
          AND r.requested_datetime >= %s AND r.requested_datetime <= %s
        ORDER BY r.requested_datetime DESC, r.id DESC LIMIT {PAGE}"""
    start, end = floor.window()
    cur.execute(
        "SELECT count(*) FROM service_request WHERE jurisdiction_id = %s "
        "AND requested_datetime BETWEEN %s AND %s",
        (ctx.jurisdiction_pk, start, end),
    )
    in_window = cur.fetchone()[0]
    pk, dsn = ctx.jurisdiction_pk, ctx.dsn
    path = _requests_path({})
    return Scenario(
        name="window90",
        title="90-day default window (GET requests.json, no parameters)",
        target=LIST_TARGET,
        api=lambda i: GetPaths(ctx.base_url, [path], i, ctx.seed),
        floor=lambda i: floor.QueryFloor(dsn, sql, lambda: (pk, *floor.window())),
        probe=("GET", path, None),
        floor_sql=sql,
        floor_params=(pk, start, end),
        notes=[f"{in_window:,} requests in the last 90 days; a page holds at most {PAGE}"],
    )


def by_id(ctx: Context, cur: Any) -> Scenario:
    cur.execute(
        "SELECT service_request_id FROM service_request WHERE jurisdiction_id = %s "
        # Blackbox services' requests answer 404 unless published (domain/publication.py).
        "AND service_id NOT IN (SELECT id FROM service WHERE type = 'blackbox') "
        "ORDER BY random() LIMIT 20000",
        (ctx.jurisdiction_pk,),
    )
    ids = [row[0] for row in cur.fetchall()]
    sql = f"""SELECT {floor.REQUEST_COLUMNS} FROM {floor.REQUEST_FROM}
        WHERE r.jurisdiction_id = %s AND r.service_request_id = %s"""
    pk, dsn = ctx.jurisdiction_pk, ctx.dsn
    paths = [f"{PREFIX}/requests/{sr_id}.json" for sr_id in ids]

    def floor_client(index: int) -> Client:
        chooser = random.Random(ctx.seed * 1000 + index)
        return floor.QueryFloor(dsn, sql, lambda: (pk, chooser.choice(ids)))

    return Scenario(
        name="by_id",
        title="one request by id (GET requests/{id}.json), random existing ids",
        target=Target(0.25, 10.0),
        api=lambda i: GetPaths(ctx.base_url, paths, i, ctx.seed),
        floor=floor_client,
        probe=("GET", paths[0], None),
        floor_sql=sql,
        floor_params=(pk, ids[0]),
        notes=[f"{len(ids):,} ids drawn at random from the table"],
    )


def _answer(attribute: dict[str, Any], rng: random.Random) -> list[str]:
    datatype = attribute["datatype"]
    values = [v["key"] for v in attribute.get("values") or []]
    if datatype == "singlevaluelist" and values:
        return [rng.choice(values)]
    if datatype == "multivaluelist" and values:
        return rng.sample(values, k=min(len(values), rng.choice((1, 2))))
    if datatype == "number":
        return [str(rng.randint(1, 5))]
    if datatype == "datetime":
        moment = datetime.now(UTC) - timedelta(hours=rng.randint(1, 48))
        return [moment.strftime("%Y-%m-%dT%H:%M:%SZ")]
    return ["seen from the street, reported by the benchmark"]


def post(
    ctx: Context,
    cur: Any,
    definitions: dict[str, dict[str, Any]],
    services: dict[str, tuple[int, str | None]],
) -> Scenario:
    """POST requests.json: form bodies a mobile app would send, at random points of the city.

    `definitions`: service code -> its GET services/{code}.json document; `services`: service
    code -> (service pk, agency the routing rule names) for the floor's INSERT.
    """
    rng = random.Random(ctx.seed)
    cur.execute(
        "SELECT ST_Y(p.geom), ST_X(p.geom) FROM jurisdiction j, "
        "LATERAL ST_Dump(ST_GeneratePoints(j.service_area, 2000, %s)) p "
        "WHERE j.id = %s AND j.service_area IS NOT NULL",
        (ctx.seed, ctx.jurisdiction_pk),
    )
    points = cur.fetchall()
    if not points:  # no service area: points where requests were filed before
        cur.execute(
            "SELECT ST_Y(location), ST_X(location) FROM service_request "
            "WHERE location IS NOT NULL ORDER BY random() LIMIT 2000"
        )
        points = cur.fetchall()
    bodies: list[bytes] = []
    submissions: list[dict[str, Any]] = []
    codes = sorted(definitions)
    for n in range(2000):
        code = rng.choice(codes)
        lat, long = points[n % len(points)]
        lat, long = round(lat, 6), round(long, 6)
        description = f"Benchmark report {n}: please have a look"
        pairs: list[tuple[str, str]] = [
            ("api_key", ctx.api_key),
            ("service_code", code),
            ("lat", str(lat)),
            ("long", str(long)),
            ("description", description),
        ]
        if rng.random() < 0.5:
            pairs.append(("email", f"resident{n}@example.org"))
        answers: dict[str, Any] = {}
        for attribute in definitions[code]["attributes"]:
            if not attribute["variable"] or not attribute["required"]:
                continue
            given = _answer(attribute, rng)
            multi = attribute["datatype"] == "multivaluelist"
            key = f"attribute[{attribute['code']}]" + ("[]" if multi else "")
            pairs += [(key, value) for value in given]
            answers[attribute["code"]] = given if multi else given[0]
        bodies.append(urlencode(pairs).encode())
        service_pk, agency = services[code]
        submissions.append(
            {
                "service_pk": service_pk,
                "agency": agency,
                "description": description,
                "lat": lat,
                "long": long,
                "answers": answers,
            }
        )
    dsn = ctx.dsn
    return Scenario(
        name="post",
        title="POST requests.json (validation, routing, work order, commit)",
        target=Target(0.25),
        api=lambda i: PostForms(ctx.base_url, bodies, i),
        floor=lambda i: floor.PostFloor(
            dsn, ctx.districts_sql, ctx.jurisdiction_pk, ctx.api_client_pk, submissions, i * 7919
        ),
        probe=("POST", f"{PREFIX}/requests.json", bodies[0]),
        floor_sql=ctx.districts_sql,
        floor_params={
            "lat": submissions[0]["lat"],
            "long": submissions[0]["long"],
            "jurisdiction": ctx.jurisdiction_pk,
        },
        notes=[
            f"services {', '.join(codes)}; required attributes answered; "
            f"points drawn in the service area (ST_GeneratePoints); floor: INSERT + "
            "district lookup + INSERT request_district + COMMIT"
        ],
        writes=True,
    )


def _densest_cell(ctx: Context, cur: Any, step_long: float, step_lat: float) -> tuple:
    """(west, south, east, north, open rows) of the grid cell holding the most open requests."""
    cur.execute(
        """SELECT floor(ST_X(location) / %(x)s) AS i, floor(ST_Y(location) / %(y)s) AS j,
                  count(*)
           FROM service_request
           WHERE jurisdiction_id = %(j)s AND status = 'open' AND location IS NOT NULL
           GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1""",
        {"x": step_long, "y": step_lat, "j": ctx.jurisdiction_pk},
    )
    i, j, count = cur.fetchone()
    return (i * step_long, j * step_lat, (i + 1) * step_long, (j + 1) * step_lat, count)


def _list_sql(where: str, order: str = "r.requested_datetime DESC, r.id DESC", extra: str = ""):
    return f"""SELECT {floor.REQUEST_COLUMNS}{extra}
        FROM {floor.REQUEST_FROM}
        WHERE r.jurisdiction_id = %s AND {where}
        ORDER BY {order} LIMIT {PAGE}"""


def _open_in_box(ctx: Context, cur: Any, box: tuple[float, float, float, float]) -> int:
    cur.execute(
        "SELECT count(*) FROM service_request WHERE jurisdiction_id = %s AND status = 'open' "
        "AND location && ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
        (ctx.jurisdiction_pk, *box),
    )
    return cur.fetchone()[0]


def bbox_open(ctx: Context, cur: Any) -> Scenario:
    """Open requests in a box of a few km² centred where they are densest, newest first: the
    smallest square of 2 to 10 km side that holds a full page of them."""
    west, south, east, north, _count = _densest_cell(ctx, cur, 0.006, 0.005)
    lat, long = (south + north) / 2, (west + east) / 2
    for side_km in (2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0):
        half_lat = side_km / 2 / 110.57
        half_long = side_km / 2 / (111.32 * math.cos(math.radians(lat)))
        box = tuple(
            round(v, 6)
            for v in (long - half_long, lat - half_lat, long + half_long, lat + half_lat)
        )
        count = _open_in_box(ctx, cur, box)
        if count >= PAGE:
            break
    west, south, east, north = box
    path = _requests_path(
        {"bbox": f"{west},{south},{east},{north}", "status": "open", "page_size": PAGE}
    )
    sql = _list_sql(
        "r.status = 'open' AND r.location && ST_MakeEnvelope(%s, %s, %s, %s, 4326) "
        "AND ST_X(r.location) BETWEEN %s AND %s AND ST_Y(r.location) BETWEEN %s AND %s"
    )
    params = (ctx.jurisdiction_pk, west, south, east, north, west, east, south, north)
    dsn = ctx.dsn
    return Scenario(
        name="bbox_open",
        title="open requests in a bbox of a few km² (status=open, page_size=1000)",
        target=LIST_TARGET,
        api=lambda i: GetPaths(ctx.base_url, [path], i, ctx.seed),
        floor=lambda i: floor.QueryFloor(dsn, sql, lambda: params),
        probe=("GET", path, None),
        floor_sql=sql,
        floor_params=params,
        notes=[
            f"bbox {west},{south},{east},{north} ({side_km:g} km x {side_km:g} km around the "
            f"densest open area) holds {count:,} open requests"
        ],
    )


def radius(ctx: Context, cur: Any) -> Scenario:
    """Every request within 500 m of the densest point (a ~550 m grid cell's centre).

    The WHERE is the API's (open311.db.search_queries): the GiST box around the circle, then
    a test that the coordinates alone prove inside (near_scales) or else ST_DWithin on
    geography; distance is ST_Distance on geography, to the centimetre."""
    from open311.db.search_queries import Near, near_box, near_scales

    west, south, east, north, _count = _densest_cell(ctx, cur, 0.006, 0.005)
    lat, long = round((south + north) / 2, 6), round((west + east) / 2, 6)
    near = Near(lat, long, 500.0)
    box = near_box(near)
    kx, ky = near_scales(near)
    point = "ST_SetSRID(ST_MakePoint(%(long)s, %(lat)s), 4326)"
    where = (
        "r.location && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326) AND ("
        "power(ST_X(r.location) - %(long)s, 2) * %(kx2)s"
        " + power(ST_Y(r.location) - %(lat)s, 2) * %(ky2)s <= %(inside2)s"
        f" OR ST_DWithin(r.location::geography, {point}::geography, %(radius)s))"
    )
    distance = f"round(ST_Distance(r.location::geography, {point}::geography) * 100) / 100"
    sql = f"""SELECT {floor.REQUEST_COLUMNS}, {distance}
        FROM {floor.REQUEST_FROM}
        WHERE r.jurisdiction_id = %(j)s AND {where}
        ORDER BY r.requested_datetime DESC, r.id DESC LIMIT {PAGE}"""
    params = {
        "j": ctx.jurisdiction_pk,
        "lat": lat,
        "long": long,
        "radius": 500.0,
        "w": box[0],
        "s": box[1],
        "e": box[2],
        "n": box[3],
        "kx2": kx * kx,
        "ky2": ky * ky,
        "inside2": (500.0 * (1 - 1e-9)) ** 2,
    }
    cur.execute(
        f"SELECT count(*) FROM service_request r WHERE r.jurisdiction_id = %(j)s AND {where}",
        params,
    )
    within = cur.fetchone()[0]
    path = _requests_path({"lat": lat, "long": long, "radius": 500, "page_size": PAGE})
    dsn = ctx.dsn
    return Scenario(
        name="radius",
        title="every request within 500 m of a point (lat/long/radius, page_size=1000)",
        target=LIST_TARGET,
        api=lambda i: GetPaths(ctx.base_url, [path], i, ctx.seed),
        floor=lambda i: floor.QueryFloor(dsn, sql, lambda: params, extra=("distance",)),
        probe=("GET", path, None),
        floor_sql=sql,
        floor_params=params,
        notes=[f"{within:,} requests within 500 m of {lat},{long}"],
    )


def district_open(ctx: Context, cur: Any) -> Scenario:
    """Open requests of the council district that has the most of them, newest first."""
    cur.execute(
        """SELECT l.name, d.name, d.id, count(*)
           FROM request_district rd
           JOIN service_request r ON r.id = rd.service_request_pk
           JOIN district d ON d.id = rd.district_id
           JOIN boundary_layer l ON l.id = rd.layer_id
           WHERE r.status = 'open' AND l.jurisdiction_id = %s
             AND l.name = 'council_districts'
           GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 1""",
        (ctx.jurisdiction_pk,),
    )
    layer, district, district_pk, count = cur.fetchone()
    path = _requests_path(
        {"layer": layer, "district": district, "status": "open", "page_size": PAGE}
    )
    sql = _list_sql(
        "r.status = 'open' AND EXISTS (SELECT 1 FROM request_district rd "
        "WHERE rd.service_request_pk = r.id AND rd.district_id = ANY(%s))"
    )
    params = (ctx.jurisdiction_pk, [district_pk])
    dsn = ctx.dsn
    return Scenario(
        name="district_open",
        title="one council district's open requests (layer, district, status=open, page_size)",
        target=LIST_TARGET,
        api=lambda i: GetPaths(ctx.base_url, [path], i, ctx.seed),
        floor=lambda i: floor.QueryFloor(dsn, sql, lambda: params),
        probe=("GET", path, None),
        floor_sql=sql,
        floor_params=params,
        notes=[f"{layer} {district} has {count:,} open requests"],
    )


def changes(ctx: Context, cur: Any) -> Scenario:
    """The change feed at depth: updated_after a point 60% into the updated_datetime order,
    then page after page of 1000 by the keyset cursor of the Link header."""
    cur.execute(
        "SELECT count(*) FROM service_request WHERE jurisdiction_id = %s", (ctx.jurisdiction_pk,)
    )
    total = cur.fetchone()[0]
    cur.execute(
        "SELECT updated_datetime FROM service_request WHERE jurisdiction_id = %s "
        "ORDER BY updated_datetime, id OFFSET %s LIMIT 1",
        (ctx.jurisdiction_pk, int(total * 0.6)),
    )
    after = cur.fetchone()[0]
    cur.execute(
        "SELECT count(*) FROM service_request WHERE jurisdiction_id = %s AND updated_datetime > %s",
        (ctx.jurisdiction_pk, after),
    )
    remaining = cur.fetchone()[0]
    stamp = after.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path = _requests_path({"updated_after": stamp, "sort": "updated_datetime", "page_size": PAGE})
    # The API keeps updated_after in its next links and adds the cursor's row comparison.
    sql = f"""SELECT {floor.REQUEST_COLUMNS}, r.updated_datetime, r.id
        FROM {floor.REQUEST_FROM}
        WHERE r.jurisdiction_id = %s AND r.updated_datetime > %s
          AND (r.updated_datetime, r.id) > (%s, %s)
        ORDER BY r.updated_datetime, r.id LIMIT {PAGE}"""
    fixed = (ctx.jurisdiction_pk, after)
    dsn = ctx.dsn
    return Scenario(
        name="changes",
        title="change feed at depth (updated_after, sort=updated_datetime, cursor pages of 1000)",
        target=LIST_TARGET,
        api=lambda i: FollowNext(ctx.base_url, path),
        floor=lambda i: floor.KeysetFloor(dsn, sql, fixed, (after, 0)),
        probe=("GET", path, None),
        floor_sql=sql,
        floor_params=(*fixed, after, 0),
        notes=[
            f"updated_after {stamp} (60% into {total:,} requests): {remaining:,} newer, "
            f"{math.ceil(remaining / PAGE)} pages; each client follows its own Link chain"
        ],
    )


def export_csv_year(ctx: Context, cur: Any) -> Scenario:
    """GET exports/requests.csv for the last 365 days, oldest first, streamed."""
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=365)
    cur.execute(
        "SELECT count(*) FROM service_request WHERE jurisdiction_id = %s "
        "AND requested_datetime BETWEEN %s AND %s",
        (ctx.jurisdiction_pk, start, end),
    )
    count = cur.fetchone()[0]
    query = urlencode(
        {
            "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_date": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    path = f"{PREFIX}/exports/requests.csv?{query}"
    sql = f"""SELECT {floor.REQUEST_COLUMNS} FROM {floor.REQUEST_FROM}
        WHERE r.jurisdiction_id = %s
          AND r.requested_datetime >= %s AND r.requested_datetime <= %s
        ORDER BY r.requested_datetime, r.id"""
    params = (ctx.jurisdiction_pk, start, end)
    dsn = ctx.dsn
    return Scenario(
        name="export_csv_year",
        title="CSV export of one year (exports/requests.csv, start_date/end_date 365 days)",
        target=None,
        api=lambda i: GetOnce(ctx.base_url, path),
        floor=lambda i: floor.ExportFloor(dsn, sql, params, floor.FIELDS, floor.DATETIME_FIELDS),
        probe=("GET", path, None),
        floor_sql=sql,
        floor_params=params,
        notes=[
            f"{count:,} requests in the year; the floor streams through a named cursor into "
            "csv.writer writing to a null sink"
        ],
    )


# What the API must offer (GET requests query parameters, OpenAPI paths) for a scenario to run.
REQUIRES: dict[str, tuple[str, ...]] = {
    "bbox_open": ("bbox", "page_size"),
    "radius": ("radius", "page_size"),
    "district_open": ("district", "layer", "page_size"),
    "changes": ("updated_after", "sort", "page_size", "cursor"),
    "export_csv_year": ("/open311/v2/exports/requests.{fmt}",),
}


def unavailable(name: str, features: set[str]) -> str | None:
    """Why the running API cannot serve the scenario yet, or None."""
    lacking = [f for f in REQUIRES.get(name, ()) if f not in features]
    return f"the API does not offer {', '.join(lacking)} yet" if lacking else None


BUILDERS: dict[str, Callable[..., Scenario]] = {
    "bbox_open": bbox_open,
    "radius": radius,
    "district_open": district_open,
    "changes": changes,
    "window90": window90,
    "by_id": by_id,
    "export_csv_year": export_csv_year,
}
