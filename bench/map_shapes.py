"""The map's query shapes at every size (issue 16): boxes from a city block to the whole city,
with and without status, service_code and dates; circles from 100 m to 10 km, newest first and
nearest first; a district of each boundary layer.

Each floor is the best plan for its shape that hand-written SQL can get from the table's
indexes: for every shape the candidates below are timed on the seeded data (the median of a
few runs, after one to warm the cache) and the fastest becomes the floor, so the API is held
to whichever of "read the area's index, then sort" and "walk the time index and test each row"
is right at that size. The scenario's notes name the plan chosen and the times of all of them.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import floor
import psycopg2.errors
from scenarios import PAGE, Context, GetPaths, Scenario, Target, _requests_path

# Issue 16's bar for every map shape: at least the floor's throughput at 8 clients, p99 under
# 250 ms at 8 clients and p50 under 50 ms at 1 client.
MAP_TARGET = Target(1.0, max_p99_ms=250.0, max_p50_single_ms=50.0)

BOX_SIDES_KM = (0.5, 1, 2, 4, 7, 10, 20, 40)  # 0.25 km² to 1,600 km²
FILTERED_SIDES_KM = (1, 4, 20)  # with status, service_code or dates
RADII_M = (100, 500, 1000, 2000, 5000, 10000)
NEAREST_RADII_M = (100, 1000, 10000)

# The columns the page subquery carries to the floor's rendering (floor.REQUEST_COLUMNS).
_PAGE_COLUMNS = """r.id, r.service_request_id, r.status, r.status_notes, r.description,
    r.agency_responsible, r.service_notice, r.requested_datetime, r.updated_datetime,
    r.expected_datetime, r.address, r.address_id, r.zipcode, r.location, r.media_url,
    r.service_id"""
_NEWEST = "r.requested_datetime DESC, r.id DESC"
_POINT = "ST_SetSRID(ST_MakePoint(%(long)s, %(lat)s), 4326)"
_DISTANCE = f"ST_Distance(r.location::geography, {_POINT}::geography)"


def _page(where: str, order: str, distance: bool, fence: bool) -> str:
    """A page of 1000 chosen in a subquery, then joined to its service and rendered as the
    floor renders. `fence`: the matching rows are found first (OFFSET 0 keeps the planner
    from walking an index in the page's order), then sorted."""
    extra = f", {_DISTANCE} AS distance" if distance else ""
    outer_order = order.replace(_DISTANCE, "r.distance")
    rendered = floor.REQUEST_COLUMNS + (", round(r.distance * 100) / 100" if distance else "")
    if fence:
        inner = f"""SELECT * FROM (
            SELECT {_PAGE_COLUMNS}{extra} FROM service_request r
            WHERE r.jurisdiction_id = %(j)s AND {where} OFFSET 0) r
        ORDER BY {outer_order} LIMIT {PAGE}"""
    else:
        inner = f"""SELECT {_PAGE_COLUMNS}{extra} FROM service_request r
            WHERE r.jurisdiction_id = %(j)s AND {where}
            ORDER BY {order} LIMIT {PAGE}"""
    return f"""SELECT {rendered} FROM ({inner}) r
        JOIN service s ON s.id = r.service_id ORDER BY {outer_order}"""


# A candidate plan slower than this is stopped: it is not the fastest, and on 10,000,000 rows
# sorting a city's requests takes minutes.
GIVE_UP_MS = 2000


def _median_ms(cur: Any, sql: str, params: dict[str, Any], runs: int = 3) -> float:
    """The median time of `runs` runs after one to warm the cache; a plan that takes over a
    second is timed once, one that takes over GIVE_UP_MS is stopped (infinity)."""
    start = time.perf_counter()
    cur.execute("SAVEPOINT candidate")
    cur.execute(f"SET LOCAL statement_timeout = {GIVE_UP_MS}")
    try:
        cur.execute(sql, params)  # warm
        cur.fetchall()
    except psycopg2.errors.QueryCanceled:
        cur.execute("ROLLBACK TO SAVEPOINT candidate")
        return math.inf
    cur.execute("RELEASE SAVEPOINT candidate")
    cur.execute("SET LOCAL statement_timeout = 0")  # SET LOCAL outlives the release
    warm = (time.perf_counter() - start) * 1000
    if warm > 1000:
        return warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        cur.execute(sql, params)
        cur.fetchall()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _best(cur: Any, candidates: dict[str, str], params: dict[str, Any]) -> tuple[str, str, str]:
    """(name, SQL, note) of the fastest candidate on this data."""
    timed = {name: _median_ms(cur, sql, params) for name, sql in candidates.items()}
    name = min(timed, key=timed.__getitem__)
    note = "floor plan: " + ", ".join(
        f"{'**' if n == name else ''}{n} "
        + (f"{ms:.1f} ms" if ms < math.inf else f"over {GIVE_UP_MS} ms")
        + ("**" if n == name else "")
        for n, ms in sorted(timed.items(), key=lambda kv: kv[1])
    )
    return name, candidates[name], note


def _box(lat: float, long: float, side_km: float) -> tuple[float, float, float, float]:
    half_lat = side_km / 2 / 110.57
    half_long = side_km / 2 / (111.32 * math.cos(math.radians(lat)))
    return tuple(
        round(v, 6) for v in (long - half_long, lat - half_lat, long + half_long, lat + half_lat)
    )


_CENTRES: dict[tuple[str, int], tuple[float, float]] = {}


def _centre(ctx: Context, cur: Any) -> tuple[float, float]:
    """(lat, long) of the centre of the ~550 m cell holding the most requests (found once per
    database: it reads the whole table)."""
    key = (str(ctx.dsn.get("dbname")), ctx.jurisdiction_pk)
    if key not in _CENTRES:
        _CENTRES[key] = _densest(ctx, cur)
    return _CENTRES[key]


def _densest(ctx: Context, cur: Any) -> tuple[float, float]:
    cur.execute(
        """SELECT floor(ST_X(location) / 0.006), floor(ST_Y(location) / 0.005), count(*)
           FROM service_request WHERE jurisdiction_id = %s AND location IS NOT NULL
           GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1""",
        (ctx.jurisdiction_pk,),
    )
    i, j, _count = cur.fetchone()
    return round((j + 0.5) * 0.005, 6), round((i + 0.5) * 0.006, 6)


def _n(count: int | str) -> str:
    return f"{count:,}" if isinstance(count, int) else count


def _count(cur: Any, where: str, params: dict[str, Any]) -> int | str:
    """How many requests match, or "many" when counting takes over GIVE_UP_MS."""
    cur.execute("SAVEPOINT counting")
    cur.execute(f"SET LOCAL statement_timeout = {GIVE_UP_MS}")
    try:
        cur.execute(
            f"SELECT count(*) FROM service_request r WHERE r.jurisdiction_id = %(j)s AND {where}",
            params,
        )
    except psycopg2.errors.QueryCanceled:
        cur.execute("ROLLBACK TO SAVEPOINT counting")
        return "too many to count quickly:"
    count = cur.fetchone()[0]
    cur.execute("RELEASE SAVEPOINT counting")
    cur.execute("SET LOCAL statement_timeout = 0")
    return count


def _scenario(
    ctx: Context,
    name: str,
    title: str,
    query: dict[str, Any],
    sql: str,
    params: dict[str, Any],
    notes: list[str],
    distance: bool = False,
) -> Scenario:
    path = _requests_path({**query, "page_size": PAGE})
    dsn = ctx.dsn
    extra = ("distance",) if distance else ()
    return Scenario(
        name=name,
        title=title,
        target=MAP_TARGET,
        api=lambda i: GetPaths(ctx.base_url, [path], i, ctx.seed),
        floor=lambda i: floor.QueryFloor(dsn, sql, lambda: params, extra=extra),
        probe=("GET", path, None),
        floor_sql=sql,
        floor_params=params,
        notes=notes,
    )


# --- boxes --------------------------------------------------------------------------------------

_IN_BOX = "ST_X(r.location) BETWEEN %(w)s AND %(e)s AND ST_Y(r.location) BETWEEN %(s)s AND %(n)s"
_ENVELOPE = "r.location && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)"
_BOX_INDEXED = f"{_ENVELOPE} AND {_IN_BOX}"


def _walked(test: str) -> str:
    """`test` in a form no index serves and the planner estimates at 0.995 (an IS NOT NULL
    of an expression), so that the plan walks an index in the page's order and tests each row."""
    return f"(CASE WHEN {test} THEN true END) IS NOT NULL"


_BOX_TESTED = _walked(_BOX_INDEXED)


def _box_candidates(extra_where: str) -> dict[str, str]:
    return {
        "area index, then sort": _page(_BOX_INDEXED + extra_where, _NEWEST, False, fence=True),
        "walk the time order": _page(_BOX_TESTED + extra_where, _NEWEST, False, fence=False),
        "windows back in time": _windows_page(_walked(_IN_BOX) + extra_where, False),
    }


def _windows_page(where: str, distance: bool) -> str:
    """Newest first through the space-time index (migration 0019): windows of 1, 2, 4...
    hours back from the newest request, each window's requests in the area (%(w)s..%(n)s)
    found by the 3-D GiST index and sorted, read in order until the page is full."""
    extra = f", {_DISTANCE} AS distance" if distance else ""
    rendered = floor.REQUEST_COLUMNS + (", round(r.distance * 100) / 100" if distance else "")
    window = _walked(
        "r.requested_datetime >= w.since"
        " AND (r.requested_datetime < w.until OR (w.k = 0 AND r.requested_datetime = w.until))"
    )
    return f"""SELECT {rendered} FROM (
        SELECT page.* FROM (SELECT (SELECT max(requested_datetime) FROM service_request) AS top
                            OFFSET 0) t
        CROSS JOIN LATERAL (
            SELECT CASE WHEN k = 21 THEN timestamptz '0001-01-01 00:00:00+00'
                        ELSE t.top - interval '1 hour' * 2 ^ k END AS since,
                   CASE WHEN k = 0 THEN t.top
                        ELSE t.top - interval '1 hour' * 2 ^ (k - 1) END AS until, k
            FROM generate_series(0, 21) AS k) w
        CROSS JOIN LATERAL (
            SELECT {_PAGE_COLUMNS}{extra} FROM service_request r
            WHERE r.jurisdiction_id = %(j)s AND r.location IS NOT NULL AND {where}
              AND open311_spacetime(r.location, r.requested_datetime) &&& ST_MakeLine(
                    open311_spacetime(ST_MakePoint(%(w)s, %(s)s), w.since),
                    open311_spacetime(ST_MakePoint(%(e)s, %(n)s), w.until))
              AND {window}
            ORDER BY {_NEWEST} LIMIT {PAGE}) page
        LIMIT {PAGE}) r
        JOIN service s ON s.id = r.service_id ORDER BY {_NEWEST}"""


def _box_scenario(
    ctx: Context, cur: Any, side_km: float, variant: str, filters: dict[str, Any]
) -> Scenario:
    lat, long = _centre(ctx, cur)
    west, south, east, north = _box(lat, long, side_km)
    params: dict[str, Any] = {"j": ctx.jurisdiction_pk}
    params |= {"w": west, "s": south, "e": east, "n": north}
    query: dict[str, Any] = {"bbox": f"{west},{south},{east},{north}"}
    extra_where = ""
    described = "no other filter"
    if variant == "open":
        extra_where = " AND r.status = 'open'"
        query["status"] = "open"
        described = "status=open"
    elif variant == "service":
        code, service_pk = filters["service"]
        extra_where = " AND r.service_id = %(service)s"
        params["service"] = service_pk
        query["service_code"] = code
        described = f"service_code={code}"
    elif variant == "30d":
        start, end = filters["window"]
        extra_where = " AND r.requested_datetime >= %(start)s AND r.requested_datetime <= %(end)s"
        params |= {"start": start, "end": end}
        query |= {
            "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_date": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        described = "the last 30 days (start_date, end_date)"
    plan, sql, note = _best(cur, _box_candidates(extra_where), params)
    held = _count(cur, _BOX_INDEXED + extra_where, params)
    area = side_km * side_km
    suffix = "" if variant == "all" else f"_{variant}"
    return _scenario(
        ctx,
        f"box_{area:g}km2{suffix}",
        f"a {area:g} km² bbox, {described}, newest first",
        query,
        sql,
        params,
        [f"{side_km:g} km x {side_km:g} km around {lat},{long}: {_n(held)} requests match", note],
    )


# --- circles ------------------------------------------------------------------------------------


def _near_where(radius: float, lat: float, long: float) -> tuple[str, str, dict[str, Any], str]:
    """(indexed WHERE, unindexable WHERE, params, the exact test alone) of the requests within
    `radius` metres, as
    the API tests them (open311.db.search_queries: a box that surely holds the circle, then
    arithmetic that proves most points inside, else ST_DWithin on geography)."""
    from open311.db.search_queries import Near, near_box, near_scales

    near = Near(lat, long, radius)
    west, south, east, north = near_box(near)
    kx, ky = near_scales(near)
    exact = (
        "(power(ST_X(r.location) - %(long)s, 2) * %(kx2)s"
        " + power(ST_Y(r.location) - %(lat)s, 2) * %(ky2)s <= %(inside2)s"
        f" OR ST_DWithin(r.location::geography, {_POINT}::geography, %(radius)s))"
    )
    envelope = "r.location && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)"
    params = {
        "lat": lat,
        "long": long,
        "radius": float(radius),
        "w": west,
        "s": south,
        "e": east,
        "n": north,
        "kx2": kx * kx,
        "ky2": ky * ky,
        "inside2": (radius * (1 - 1e-9)) ** 2,
    }
    return f"{envelope} AND {exact}", _walked(f"{envelope} AND {exact}"), params, _walked(exact)


def _near_scenario(ctx: Context, cur: Any, radius: int, nearest: bool) -> Scenario:
    lat, long = _centre(ctx, cur)
    indexed, tested, params, exact = _near_where(radius, lat, long)
    params["j"] = ctx.jurisdiction_pk
    query: dict[str, Any] = {"lat": lat, "long": long, "radius": radius}
    if nearest:
        order = f"{_DISTANCE}, r.id"
        query["sort"] = "distance"
        candidates = {
            "area index, then sort": _page(indexed, order, True, fence=True),
            "rings, nearest first": _rings_page(params, radius),
        }
    else:
        candidates = {
            "area index, then sort": _page(indexed, _NEWEST, True, fence=True),
            "walk the time order": _page(tested, _NEWEST, True, fence=False),
            "windows back in time": _windows_page(exact, True),
        }
    _plan, sql, note = _best(cur, candidates, params)
    held = _count(cur, indexed, params)
    order_name = "nearest first" if nearest else "newest first"
    return _scenario(
        ctx,
        f"near_{radius}m" + ("_nearest" if nearest else ""),
        f"within {radius:,} m of a point (lat/long/radius), {order_name}",
        query,
        sql,
        params,
        [f"{_n(held)} requests within {radius:,} m of {lat},{long}", note],
        distance=True,
    )


def _rings_page(params: dict[str, Any], radius: float) -> str:
    """Nearest first, ring by ring (25 m, 50 m, 100 m... to the radius): each ring's box read
    from the GiST index, its distances computed and sorted, the rings read in order until the
    page is full. Adds the rings to `params`."""
    from open311.db.search_queries import Near, near_box, near_rings

    rings = near_rings(radius)
    boxes = [near_box(Near(params["lat"], params["long"], outer)) for _inner, outer in rings]
    params |= {
        "rf": [inner for inner, _outer in rings],
        "rt": [outer for _inner, outer in rings],
        **{key: [box[i] for box in boxes] for i, key in enumerate(("rw", "rs", "re", "rn"))},
    }
    return f"""SELECT {floor.REQUEST_COLUMNS}, round(r.distance * 100) / 100 FROM (
        SELECT page.* FROM unnest(%(rf)s::float8[], %(rt)s::float8[], %(rw)s::float8[],
                                  %(rs)s::float8[], %(re)s::float8[], %(rn)s::float8[])
                           AS ring(from_m, to_m, w, s, e, n)
        CROSS JOIN LATERAL (
            SELECT d.* FROM (
                SELECT {_PAGE_COLUMNS}, {_DISTANCE} AS distance FROM service_request r
                WHERE r.jurisdiction_id = %(j)s
                  AND r.location && ST_MakeEnvelope(ring.w, ring.s, ring.e, ring.n, 4326)
                OFFSET 0) d
            WHERE d.distance >= ring.from_m AND d.distance < ring.to_m
            ORDER BY d.distance, d.id LIMIT {PAGE}) page
        LIMIT {PAGE}) r
        JOIN service s ON s.id = r.service_id ORDER BY r.distance, r.id"""


# --- districts ----------------------------------------------------------------------------------


def _district_scenario(ctx: Context, cur: Any, layer: str) -> Scenario:
    cur.execute(
        """SELECT d.name, d.id, count(*) FROM request_district rd
           JOIN district d ON d.id = rd.district_id
           JOIN boundary_layer l ON l.id = rd.layer_id
           WHERE l.jurisdiction_id = %s AND l.name = %s
           GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1""",
        (ctx.jurisdiction_pk, layer),
    )
    district, district_pk, held = cur.fetchone()
    params = {"j": ctx.jurisdiction_pk, "d": district_pk}
    exists = (
        "EXISTS (SELECT 1 FROM request_district rd "
        "WHERE rd.service_request_pk = r.id AND rd.district_id = %(d)s)"
    )
    joined = (
        "r.id IN (SELECT rd.service_request_pk FROM request_district rd "
        "WHERE rd.district_id = %(d)s)"
    )
    candidates = {
        "district's rows, then sort": _page(joined, _NEWEST, False, fence=True),
        "walk the time order": _page(_walked(exists), _NEWEST, False, fence=False),
    }
    _plan, sql, note = _best(cur, candidates, params)
    return _scenario(
        ctx,
        f"district_{layer}",
        f"the largest district of {layer} (layer, district), newest first",
        {"layer": layer, "district": district},
        sql,
        params,
        [f"{layer} {district} holds {held:,} requests", note],
    )


# --- the list of scenarios ----------------------------------------------------------------------


_FILTERS: dict[tuple[str, int], dict[str, Any]] = {}


def _filters(ctx: Context, cur: Any) -> dict[str, Any]:
    key = (str(ctx.dsn.get("dbname")), ctx.jurisdiction_pk)
    if key not in _FILTERS:
        _FILTERS[key] = _find_filters(ctx, cur)
    return _FILTERS[key]


def _find_filters(ctx: Context, cur: Any) -> dict[str, Any]:
    """The service of the service_code shapes (the third most requested within 2 km of the
    centre: a few percent of the requests there) and the last 30 days of the data."""
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


def builders() -> dict[str, Callable[[Context, Any], Scenario]]:
    """Scenario name -> builder, in the order they are measured."""
    made: dict[str, Callable[[Context, Any], Scenario]] = {}

    def box(side: float, variant: str) -> Callable[[Context, Any], Scenario]:
        return lambda ctx, cur: _box_scenario(ctx, cur, side, variant, _filters(ctx, cur))

    for side in BOX_SIDES_KM:
        made[f"box_{side * side:g}km2"] = box(side, "all")
    for variant in ("open", "service", "30d"):
        for side in FILTERED_SIDES_KM:
            made[f"box_{side * side:g}km2_{variant}"] = box(side, variant)
    for radius in RADII_M:
        made[f"near_{radius}m"] = lambda ctx, cur, r=radius: _near_scenario(ctx, cur, r, False)
    for radius in NEAREST_RADII_M:
        made[f"near_{radius}m_nearest"] = lambda ctx, cur, r=radius: _near_scenario(
            ctx, cur, r, True
        )
    for layer in ("council_districts", "neighborhood_councils"):
        made[f"district_{layer}"] = lambda ctx, cur, name=layer: _district_scenario(ctx, cur, name)
    return made


BUILDERS = builders()
