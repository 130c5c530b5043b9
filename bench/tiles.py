"""The map's vector tiles (issue 17): GET /tiles/requests/{z}/{x}/{y}.mvt at several zooms and
filters, a districts tile and a revalidation (If-None-Match, 304), each against its floor.

The tiles are those a person looking at the densest part of the city asks for: the z12, z13 and
z14 tiles holding the ~550 m cell with the most requests (map_shapes' centre: downtown Los
Angeles in the seed), the z10 and z8 tiles over it (the whole city in one or a few tiles,
aggregated into grid cells), and the z12 tile with status=open, with the third most requested
service there, and with the data's last 30 days.

Each floor is the fastest hand-written statement that makes the same tile, chosen on the
seeded data from two plans (as map_shapes chooses): the tile's requests found through the 2-D
GiST index by the tile's envelope in degrees, then read from the table; or found as one range
of the tile-key index (migration 0020) and read from it alone. The floor runs through bare
psycopg2 and fetches the tile's bytes; the API adds HTTP, Flask, the jurisdiction's scope and
the ETag's version statement. The issue's bar: a dense z12 tile in under 50 ms p50.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import floor
from loadgen import HttpClient, Outcome
from map_shapes import _box, _centre, _median_ms
from scenarios import Context, GetPaths, Scenario, Target

# The bar for the dense z12 tile; the others are reported.
DENSE_TARGET = Target(0.5, max_p50_single_ms=50.0)
EXTENT, BUFFER, CELL_ZOOMS, KEY_ZOOM, POINTS_FROM = 4096, 64, 6, 24, 14


def _tile_of(lat: float, long: float, z: int) -> tuple[int, int, int]:
    side = 1 << z
    x = int((long + 180.0) / 360.0 * side)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * side)
    return z, x, y


def _latitude(fraction: float) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * fraction))))


def _envelope(z: int, x: int, y: int, margin: float) -> tuple[float, float, float, float]:
    side = 1 << z
    return (
        (x - margin) / side * 360.0 - 180.0,
        _latitude((y + 1 + margin) / side),
        (x + 1 + margin) / side * 360.0 - 180.0,
        _latitude((y - margin) / side),
    )


def _key_range(z: int, x: int, y: int) -> tuple[int, int]:
    def spread(value: int) -> int:
        return sum(((value >> bit) & 1) << (2 * bit) for bit in range(KEY_ZOOM))

    shift = 2 * (KEY_ZOOM - z)
    prefix = spread(x) | (spread(y) << 1)
    return prefix << shift, ((prefix + 1) << shift) - 1


# --- the floors' statements ----------------------------------------------------------------------

_BY_GIST = "r.location && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)"
_BY_KEY = (
    "open311_tile_key(r.location) BETWEEN %(key_from)s AND %(key_to)s AND r.location IS NOT NULL"
)
_PUBLIC = "r.jurisdiction_id = %(j)s AND r.service_id <> ALL(%(blackbox)s)"

_POINTS = """
SELECT ST_AsMVT(t.*, 'requests', 4096, 'geom') FROM (
    SELECT ST_AsMVTGeom(ST_Transform(r.location, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s),
                        4096, 64, true) AS geom,
           r.service_request_id, r.status::text AS status, s.service_code,
           to_char(r.requested_datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
               AS requested_datetime
    FROM service_request r JOIN service s ON s.id = r.service_id
    WHERE {where}) t
WHERE t.geom IS NOT NULL"""


_POINTS_BY_ARITHMETIC = """
SELECT ST_AsMVT(t.*, 'requests', 4096, 'geom') FROM (
    SELECT ST_MakePoint(
               round(((ST_X(r.location) + 180.0) / 360.0 * %(side)s - %(x)s) * 4096),
               round(((1.0 - ln(tan(pi() / 4 + radians(ST_Y(r.location)) / 2)) / pi()) / 2.0
                      * %(side)s - %(y)s) * 4096)) AS geom,
           r.service_request_id, r.status::text AS status, s.service_code,
           to_char(r.requested_datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
               AS requested_datetime
    FROM service_request r JOIN service s ON s.id = r.service_id
    WHERE {where}) t"""


# Grid cells at their centres: by the key's leading bits (the index), or by arithmetic on
# the coordinates (any index).
def _within_tile(cell: str, axis: int) -> str:
    return " | ".join(f"(({cell} >> {i + axis}) & {1 << i})" for i in range(CELL_ZOOMS))


_CELLS_BY_KEY = f"""
SELECT ST_AsMVT(t.*, 'requests', 4096, 'geom') FROM (
    SELECT ST_MakePoint(({_within_tile("c.cell", 0)}) * 64 + 32,
                        ({_within_tile("c.cell", 1)}) * 64 + 32) AS geom, c.count, c.open
    FROM (
        SELECT open311_tile_key(r.location) >> %(cell_shift)s AS cell, count(*)::int AS count,
               count(*) FILTER (WHERE r.status = 'open')::int AS open
        FROM service_request r WHERE {{where}} GROUP BY 1) c) t"""
_CELLS_BY_ARITHMETIC = """
SELECT ST_AsMVT(t.*, 'requests', 4096, 'geom') FROM (
    SELECT ST_MakePoint(c.cx * 64 + 32, c.cy * 64 + 32) AS geom, c.count, c.open
    FROM (
        SELECT floor(((ST_X(r.location) + 180.0) / 360.0 * %(side)s - %(x)s) * 64) AS cx,
               floor(((1.0 - ln(tan(pi() / 4 + radians(ST_Y(r.location)) / 2)) / pi()) / 2.0
                      * %(side)s - %(y)s) * 64) AS cy,
               count(*)::int AS count, count(*) FILTER (WHERE r.status = 'open')::int AS open
        FROM service_request r WHERE {where} AND ST_Intersects(r.location, ST_MakeEnvelope(
            %(tile_w)s, %(tile_s)s, %(tile_e)s, %(tile_n)s, 4326))
        GROUP BY 1, 2) c) t"""

_DISTRICTS = """
SELECT ST_AsMVT(t.*, 'districts', 4096, 'geom') FROM (
    SELECT ST_AsMVTGeom(ST_Transform(ST_Simplify(d.geom, %(tolerance)s, true), 3857),
                        ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom,
           d.id, d.name, COALESCE(NULLIF(d.title, ''), d.name) AS title
    FROM district d
    WHERE d.layer_id = %(layer)s AND d.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)
) t WHERE t.geom IS NOT NULL"""

_VERSION = (
    "SELECT (SELECT max(updated_datetime) FROM service_request), catalogue_changed_at "
    "FROM jurisdiction WHERE id = %(j)s"
)


class TileFloor:
    """One tile statement per call through bare psycopg2; the tile's bytes fetched, nothing
    else done with them (the API only hands them on too). `settings`: SET LOCALs of its plan."""

    def __init__(self, dsn: dict[str, Any], sql: str, params: dict[str, Any], settings: str):
        self.connection = floor.connect(dsn, autocommit=False)
        self.cursor = self.connection.cursor()
        self.sql, self.params, self.settings = sql, params, settings

    def call(self) -> Outcome:
        if self.settings:
            self.cursor.execute(self.settings)
        self.cursor.execute(self.sql, self.params)
        row = self.cursor.fetchone()
        self.connection.rollback()
        size = len(row[0]) if isinstance(row[0], bytes | memoryview) else 0
        return Outcome(ok=True, nbytes=size, rows=1)

    def close(self) -> None:
        self.connection.close()


class Revalidate(HttpClient):
    """GET one tile with If-None-Match of its ETag: a 304 each time."""

    def __init__(self, base_url: str, path: str):
        super().__init__(base_url)
        self.path = path
        self.etag: str | None = None

    def call(self) -> Outcome:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        self.connection.request("GET", self.path, headers=headers)
        response = self.connection.getresponse()
        response.read()
        if response.status == 200 and self.etag is None:
            self.etag = response.getheader("ETag")
            return self.call()
        if response.status != 304:
            return Outcome(ok=False, error=f"GET {self.path} -> {response.status}")
        return Outcome(ok=True, nbytes=0, rows=0)


# --- scenarios ------------------------------------------------------------------------------------


def _scope(ctx: Context, cur: Any) -> dict[str, Any]:
    cur.execute(
        "SELECT ARRAY(SELECT id FROM service WHERE jurisdiction_id = %s AND type = 'blackbox')",
        (ctx.jurisdiction_pk,),
    )
    return {"j": ctx.jurisdiction_pk, "blackbox": list(cur.fetchone()[0])}


def _filters(ctx: Context, cur: Any) -> dict[str, Any]:
    """The z12 tile's third most requested service and the data's last 30 days."""
    lat, long = _centre(ctx, cur)
    cur.execute(
        """SELECT s.service_code, s.id FROM service_request r JOIN service s ON s.id = r.service_id
           WHERE r.jurisdiction_id = %s AND r.location && ST_MakeEnvelope(%s, %s, %s, %s, 4326)
           GROUP BY 1, 2 ORDER BY count(*) DESC OFFSET 2 LIMIT 1""",
        (ctx.jurisdiction_pk, *_box(lat, long, 4)),
    )
    service = cur.fetchone()
    cur.execute(
        "SELECT max(requested_datetime) FROM service_request WHERE jurisdiction_id = %s",
        (ctx.jurisdiction_pk,),
    )
    newest = cur.fetchone()[0].replace(microsecond=0)
    return {"service": service, "window": (newest - timedelta(days=30), newest)}


def _requests_scenario(ctx: Context, cur: Any, z: int, variant: str) -> Scenario:
    lat, long = _centre(ctx, cur)
    z, x, y = _tile_of(lat, long, z)
    params: dict[str, Any] = {"z": z, "x": x, "y": y, **_scope(ctx, cur)}
    west, south, east, north = _envelope(z, x, y, BUFFER / EXTENT)
    params |= {"w": west, "s": south, "e": east, "n": north}
    params["key_from"], params["key_to"] = _key_range(z, x, y)
    query: dict[str, str] = {}
    extra = ""
    if variant == "open":
        query["status"], extra = "open", " AND r.status = 'open'"
    elif variant == "service":
        code, service_pk = _filters(ctx, cur)["service"]
        query["service_code"], extra = code, " AND r.service_id = %(service)s"
        params["service"] = service_pk
    elif variant == "30d":
        start, end = _filters(ctx, cur)["window"]
        query["start_date"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        query["end_date"] = end.strftime("%Y-%m-%dT%H:%M:%SZ")
        extra = " AND r.requested_datetime >= %(start)s AND r.requested_datetime <= %(end)s"
        params |= {"start": start, "end": end}
    if z >= POINTS_FROM:
        candidates = {
            "GiST, then the table": _POINTS.format(where=f"{_PUBLIC} AND {_BY_GIST}{extra}"),
            "tile key, index only": _POINTS.format(where=f"{_PUBLIC} AND {_BY_KEY}{extra}"),
            "tile key, index only, tile units by arithmetic": _POINTS_BY_ARITHMETIC.format(
                where=f"{_PUBLIC} AND {_BY_KEY}{extra}"
            ),
        }
        params["side"] = 1 << z
        shape = "each request a point"
    else:
        tile_w, tile_s, tile_e, tile_n = _envelope(z, x, y, 0)
        params |= {"side": 1 << z, "cell_shift": 2 * (KEY_ZOOM - z - CELL_ZOOMS)}
        params |= {"tile_w": tile_w, "tile_s": tile_s, "tile_e": tile_e, "tile_n": tile_n}
        candidates = {
            "GiST, then the table": _CELLS_BY_ARITHMETIC.format(
                where=f"{_PUBLIC} AND {_BY_GIST}{extra}"
            ),
            "tile key, index only": _CELLS_BY_KEY.format(where=f"{_PUBLIC} AND {_BY_KEY}{extra}"),
        }
        shape = "grid cells with counts"
    # Each candidate under the planner settings that give its plan (undone with its savepoint).
    settings = {name: "" if name.startswith("GiST") else _NO_BITMAP for name in candidates}
    timed = {}
    for name, sql in candidates.items():
        cur.execute("SAVEPOINT tile_candidate")
        if settings[name]:
            cur.execute(settings[name])
        timed[name] = _median_ms(cur, sql, params)
        cur.execute("ROLLBACK TO SAVEPOINT tile_candidate")
    chosen = min(timed, key=timed.__getitem__)
    note = "floor plan: " + ", ".join(
        f"{'**' if n == chosen else ''}{n} {ms:.1f} ms{'**' if n == chosen else ''}"
        for n, ms in sorted(timed.items(), key=lambda kv: kv[1])
    )
    cur.execute(
        f"SELECT count(*) FROM service_request r WHERE {_PUBLIC} AND {_BY_KEY}{extra}", params
    )
    count = cur.fetchone()[0]
    query["jurisdiction_id"] = _jurisdiction_id(cur, ctx)
    path = f"/tiles/requests/{z}/{x}/{y}.mvt?{urlencode(query)}"
    name = f"tile_z{z}" + ("" if variant == "all" else f"_{variant}")
    dense = z == 12 and variant == "all"
    sql, floor_settings = candidates[chosen], settings[chosen]
    dsn = ctx.dsn
    return Scenario(
        name=name,
        title=f"requests tile z{z}/{x}/{y}" + (f" ({variant})" if variant != "all" else ""),
        target=DENSE_TARGET if dense else None,
        api=lambda i: GetPaths(ctx.base_url, [path], i, ctx.seed),
        floor=lambda i: TileFloor(dsn, sql, params, floor_settings),
        probe=("GET", path, None),
        floor_sql=sql,
        floor_params=params,
        notes=[f"{count:,} requests in the tile ({shape})", note],
    )


_NO_BITMAP = "SET LOCAL enable_bitmapscan = off"


def _jurisdiction_id(cur: Any, ctx: Context) -> str:
    cur.execute("SELECT jurisdiction_id FROM jurisdiction WHERE id = %s", (ctx.jurisdiction_pk,))
    return cur.fetchone()[0]


def _districts_scenario(ctx: Context, cur: Any) -> Scenario:
    lat, long = _centre(ctx, cur)
    z, x, y = _tile_of(lat, long, 12)
    cur.execute(
        "SELECT id, name FROM boundary_layer WHERE jurisdiction_id = %s AND name = %s",
        (ctx.jurisdiction_pk, "council_districts"),
    )
    layer_pk, layer = cur.fetchone()
    west, south, east, north = _envelope(z, x, y, BUFFER / EXTENT)
    tile_west, _s, tile_east, _n = _envelope(z, x, y, 0)
    params = {
        "z": z,
        "x": x,
        "y": y,
        "layer": layer_pk,
        "w": west,
        "s": south,
        "e": east,
        "n": north,
        "tolerance": (tile_east - tile_west) / EXTENT / 4,
    }
    path = f"/tiles/districts/{z}/{x}/{y}.mvt?" + urlencode(
        {"layer": layer, "jurisdiction_id": _jurisdiction_id(cur, ctx)}
    )
    dsn = ctx.dsn
    return Scenario(
        name="tile_districts_z12",
        title=f"districts tile z{z}/{x}/{y} ({layer})",
        target=None,
        api=lambda i: GetPaths(ctx.base_url, [path], i, ctx.seed),
        floor=lambda i: TileFloor(dsn, _DISTRICTS, params, ""),
        probe=("GET", path, None),
        floor_sql=_DISTRICTS,
        floor_params=params,
    )


def _revalidate_scenario(ctx: Context, cur: Any) -> Scenario:
    lat, long = _centre(ctx, cur)
    z, x, y = _tile_of(lat, long, 12)
    path = f"/tiles/requests/{z}/{x}/{y}.mvt?jurisdiction_id={_jurisdiction_id(cur, ctx)}"
    params = _scope(ctx, cur)
    dsn = ctx.dsn
    return Scenario(
        name="tile_z12_304",
        title="the dense z12 tile again, If-None-Match: 304",
        target=None,
        api=lambda i: Revalidate(ctx.base_url, path),
        floor=lambda i: TileFloor(dsn, _VERSION, params, ""),
        probe=("GET", path, None),
        floor_sql=_VERSION,
        floor_params=params,
        notes=["floor: the version statement the ETag stands on"],
    )


def builders() -> dict[str, Callable[[Context, Any], Scenario]]:
    """Scenario name -> builder, in the order they are measured."""
    made: dict[str, Callable[[Context, Any], Scenario]] = {}
    for z in (12, 13, 14, 10, 8):
        made[f"tile_z{z}"] = lambda ctx, cur, z=z: _requests_scenario(ctx, cur, z, "all")
    for variant in ("open", "service", "30d"):
        made[f"tile_z12_{variant}"] = lambda ctx, cur, v=variant: _requests_scenario(
            ctx, cur, 12, v
        )
    made["tile_districts_z12"] = _districts_scenario
    made["tile_z12_304"] = _revalidate_scenario
    return made


BUILDERS = builders()
