"""The map's vector tiles as SQL: requests and districts as Mapbox vector tiles (ST_AsMVT).

PostgreSQL writes each tile itself (ST_AsMVT; districts clipped and simplified by
ST_AsMVTGeom, requests put in tile units by arithmetic), so Python only hands the bytes on.
What a requests tile holds follows the public list's rules exactly: the statement's WHERE is
search_queries' own (`where_conditions` with a resolved Scope: one jurisdiction, no blackbox service
unless the settings publish them, the status, service_code and date filters),
and a feature carries public fields only (service_request_id, status, service_code,
requested_datetime): nothing of the requester, nor the description or address.

How a tile meets the index: its requests are one range of the tile-key index (migration 0020,
`open311_tile_key`: a point's Z-order code at zoom 24), read index-only; through the 2-D GiST
index and the table's scattered pages a dense tile cost several times as much (bench/tiles.py).
status=open alone is the exception: the open requests' own GiST index (see _IN_ENVELOPE).

At low zooms a tile may cover a whole city, hundreds of thousands of requests: below
POINTS_FROM_ZOOM a tile holds one point per grid cell (64 x 64 cells a tile) with the `count`
of requests in it and how many of them are `open`, at the cell's centre (a click on one
zooms in). From POINTS_FROM_ZOOM on, every request is a point with its id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from open311.db import search_queries

# The conditions of a public list, shared rather than written again (see the module docstring).
from open311.db.search_queries import RequestSearch, Scope, where_conditions
from open311.values import Status

EXTENT = 4096  # tile units on a side (the MVT default)
BUFFER = 64  # tile units ST_AsMVTGeom keeps beyond each edge (districts' outlines)
POINTS_FROM_ZOOM = 14
MAX_ZOOM = 22
REQUESTS_LAYER = "requests"
DISTRICTS_LAYER = "districts"


@dataclass(frozen=True)
class Tile:
    """A tile of the XYZ scheme (EPSG:3857, y counted from the north)."""

    z: int
    x: int
    y: int

    @property
    def exists(self) -> bool:
        if not 0 <= self.z <= MAX_ZOOM:
            return False
        side = 1 << self.z
        return 0 <= self.x < side and 0 <= self.y < side

    def bounds(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees, widened by `margin` tiles on every side
        (clamped to the world)."""
        side = 1 << self.z
        west = (self.x - margin) / side * 360.0 - 180.0
        east = (self.x + 1 + margin) / side * 360.0 - 180.0
        north = _latitude((self.y - margin) / side)
        south = _latitude((self.y + 1 + margin) / side)
        return max(west, -180.0), south, min(east, 180.0), north


def _latitude(fraction: float) -> float:
    """The latitude at `fraction` of the Web Mercator world's height from its top."""
    fraction = min(max(fraction, 0.0), 1.0)
    return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * fraction))))


def _tile_params(tile: Tile) -> dict[str, Any]:
    west, south, east, north = tile.bounds(margin=BUFFER / EXTENT)
    return {
        "z": tile.z,
        "x": tile.x,
        "y": tile.y,
        "box_w": west,
        "box_s": south,
        "box_e": east,
        "box_n": north,
        "extent": EXTENT,
        "buffer": BUFFER,
    }


# The tile's requests are one range of the tile-key index (migration 0020): its keys are the
# Z-order (Morton) codes of the points at zoom KEY_ZOOM, so a tile at zoom z <= KEY_ZOOM is
# every key sharing its 2z leading bits. The index holds what a tile needs (the point, status,
# service, date and id): an index-only scan reads the tile's requests in key order from a few
# hundred index pages, where the GiST index then the table read thousands of scattered pages.
KEY_ZOOM = 24
_IN_TILE = (
    "open311_tile_key(r.location) BETWEEN %(key_from)s AND %(key_to)s AND r.location IS NOT NULL"
)
_REQUESTED = """to_char(r.requested_datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""

# Each request a point, in tile units: Web Mercator's x is linear in longitude and its y is
# ln(tan(pi/4 + lat/2)), so plain arithmetic on the coordinates gives what ST_Transform and
# ST_AsMVTGeom would, rounded to the same unit, in two thirds of the time (a dense z14 tile's
# 15,000 points; the key range holds no point outside the tile, so there is nothing to clip).
_EXACT_X = "((ST_X(r.location) + 180.0) / 360.0 * %(side)s - %(x)s) * %(extent)s"
_EXACT_Y = (
    "((1.0 - ln(tan(pi() / 4 + radians(ST_Y(r.location)) / 2)) / pi()) / 2.0 * %(side)s"
    " - %(y)s) * %(extent)s"
)
_TILE_X = f"round({_EXACT_X})"
_TILE_Y = f"round({_EXACT_Y})"
_POINTS = f"""
SELECT ST_AsMVT(t.*, '{REQUESTS_LAYER}', %(extent)s, 'geom')
FROM (
    SELECT ST_MakePoint({_TILE_X}, {_TILE_Y}) AS geom,
           r.service_request_id, r.status::text AS status, s.service_code,
           {_REQUESTED} AS requested_datetime
    FROM service_request r
    JOIN service s ON s.id = r.service_id
    WHERE {{where}}
) t"""

# One point per grid cell: the cell is the key's leading bits (a cell is a tile CELL_ZOOMS
# zooms deeper). Per request only what the index holds is read and counted (a dense z12 tile
# holds 150,000 requests: reading each one's point, or its id for a cell of one, doubled the
# tile's time); a cell's column and row within its tile are the last 2 x CELL_ZOOMS bits of its
# key, uninterleaved (_within_tile), and its point is the cell's centre, in tile units.
CELL_ZOOMS = 6  # 64 x 64 cells a tile
CELL_UNITS = EXTENT >> CELL_ZOOMS


def _within_tile(cell: str, axis: int) -> str:
    """SQL for a cell's column (axis 0) or row (axis 1) within its tile: bit i of it is bit
    2i + axis of the cell's Z-order code."""
    return " | ".join(f"(({cell} >> {i + axis}) & {1 << i})" for i in range(CELL_ZOOMS))


_CELLS = f"""
SELECT ST_AsMVT(t.*, '{REQUESTS_LAYER}', %(extent)s, 'geom')
FROM (
    SELECT ST_MakePoint(({_within_tile("c.cell", 0)}) * {CELL_UNITS} + {CELL_UNITS // 2},
                        ({_within_tile("c.cell", 1)}) * {CELL_UNITS} + {CELL_UNITS // 2})
               AS geom,
           c.count, c.open
    FROM (
        SELECT open311_tile_key(r.location) >> %(cell_shift)s AS cell,
               count(*)::int AS count,
               count(*) FILTER (WHERE r.status = 'open')::int AS open
        FROM service_request r
        WHERE {{where}}
        GROUP BY 1
    ) c
) t"""


# Open requests only (status=open, the map's most asked filter): a few percent of the table,
# which the partial GiST index over open requests (ix_service_request_location_open) finds by
# the tile's envelope without reading the others; through the tile key, a dense z12 tile's
# 1,200 open requests meant reading all its 150,000 (45 ms against 3). The envelope's float
# boxes let through points a hair outside the tile: the tile units drop them, and the cells
# are the key's cells, found by arithmetic.
_IN_ENVELOPE = "r.location && ST_MakeEnvelope(%(tile_w)s, %(tile_s)s, %(tile_e)s, %(tile_n)s, 4326)"
_INSIDE = (
    f"{_EXACT_X} >= 0 AND {_EXACT_X} < %(extent)s AND {_EXACT_Y} >= 0 AND {_EXACT_Y} < %(extent)s"
)
_OPEN_CELLS = f"""
SELECT ST_AsMVT(t.*, '{REQUESTS_LAYER}', %(extent)s, 'geom')
FROM (
    SELECT ST_MakePoint(c.cx * {CELL_UNITS} + {CELL_UNITS // 2},
                        c.cy * {CELL_UNITS} + {CELL_UNITS // 2}) AS geom,
           c.count, c.open
    FROM (
        SELECT floor({_EXACT_X} / {CELL_UNITS}) AS cx, floor({_EXACT_Y} / {CELL_UNITS}) AS cy,
               count(*)::int AS count,
               count(*) FILTER (WHERE r.status = 'open')::int AS open
        FROM service_request r
        WHERE {{where}}
        GROUP BY 1, 2
    ) c
) t"""


def reads_open_index(search: RequestSearch) -> bool:
    """Whether a tile's requests are found through the open requests' GiST index."""
    return tuple(search.statuses) == (Status.open,)


def key_range(tile: Tile) -> tuple[int, int]:
    """The first and last tile key (Z-order code at KEY_ZOOM) inside `tile`."""
    shift = 2 * (KEY_ZOOM - tile.z)
    prefix = _spread(tile.x) | (_spread(tile.y) << 1)
    return prefix << shift, ((prefix + 1) << shift) - 1


def _spread(value: int) -> int:
    """`value`'s bits, each followed by a zero bit (the interleaving of a Z-order code)."""
    spread = 0
    for bit in range(KEY_ZOOM):
        spread |= ((value >> bit) & 1) << (2 * bit)
    return spread


def aggregates(tile: Tile) -> bool:
    """Whether a requests tile at this zoom holds grid cells rather than requests."""
    return tile.z < POINTS_FROM_ZOOM


def requests_tile_sql(scope: Scope, search: RequestSearch, tile: Tile) -> tuple[str, dict]:
    """The statement of a requests tile: the list's conditions (search's service_codes,
    statuses, start, end and blackbox; nothing else of it is read) plus the tile's envelope."""
    filters = RequestSearch(
        service_codes=search.service_codes,
        statuses=search.statuses,
        start=search.start,
        end=search.end,
        blackbox=search.blackbox,
    )
    where, params = where_conditions(scope, filters, keyset=False)
    params |= _tile_params(tile)
    params["side"] = 1 << tile.z
    if reads_open_index(search):
        west, south, east, north = tile.bounds()
        params |= {"tile_w": west, "tile_s": south, "tile_e": east, "tile_n": north}
        where += [_IN_ENVELOPE, _INSIDE]
        condition = " AND ".join(f"({w})" for w in where)
        return (_OPEN_CELLS if aggregates(tile) else _POINTS).format(where=condition), params
    where.append(_IN_TILE)
    params["key_from"], params["key_to"] = key_range(tile)
    condition = " AND ".join(f"({w})" for w in where)
    if aggregates(tile):
        params["cell_shift"] = 2 * (KEY_ZOOM - tile.z - CELL_ZOOMS)
        return _CELLS.format(where=condition), params
    return _POINTS.format(where=condition), params


def find_requests_tile(session: Session, scope: Scope, search: RequestSearch, tile: Tile) -> bytes:
    """The requests tile: MVT bytes, empty when nothing in the tile matches."""
    sql, params = requests_tile_sql(scope, search, tile)
    planning = "" if reads_open_index(search) else _TILE_PLANNING
    return _tile_bytes(session, sql, params, planning)


def requests_version(session: Session, scope: Scope) -> str:
    """What a requests tile's ETag stands on besides its filters: the newest change of any
    request (one probe of the updated_datetime index) and of the jurisdiction's catalogue
    (a service renamed, or made blackbox). Any change anywhere makes every tile new, which
    costs a reload at most; a stale tile would be wrong."""
    rows = search_queries.fetch_rows(
        session,
        "SELECT (SELECT max(updated_datetime) FROM service_request), catalogue_changed_at "
        "FROM jurisdiction WHERE id = %(pk)s",
        {"pk": scope.pk},
    )
    return ";".join(_text(value) for value in rows[0]) if rows else ""


# --- districts ----------------------------------------------------------------------------------

# Simplified in degrees before the transform, to a quarter of a tile unit: at low zooms a
# city's districts have far more vertices than the tile can show, and transforming them all
# would cost more than the tile is worth. ST_AsMVTGeom then snaps and clips in tile units.
_DISTRICTS = f"""
SELECT ST_AsMVT(t.*, '{DISTRICTS_LAYER}', %(extent)s, 'geom')
FROM (
    SELECT ST_AsMVTGeom(
               ST_Transform(ST_Simplify(d.geom, %(tolerance)s, true), 3857),
               ST_TileEnvelope(%(z)s, %(x)s, %(y)s), %(extent)s, %(buffer)s, true) AS geom,
           d.id, d.name, COALESCE(NULLIF(d.title, ''), d.name) AS title
    FROM district d
    WHERE d.layer_id = %(layer)s
      AND d.geom && ST_MakeEnvelope(%(box_w)s, %(box_s)s, %(box_e)s, %(box_n)s, 4326)
) t
WHERE t.geom IS NOT NULL"""


@dataclass(frozen=True)
class Layer:
    """A boundary layer of the jurisdiction, as the map names it."""

    id: int
    name: str
    title: str
    version: str  # when it was imported, and how many districts it has: for the ETag


def find_layers(session: Session, scope: Scope) -> list[Layer]:
    """The jurisdiction's boundary layers, by name."""
    rows = search_queries.fetch_rows(
        session,
        """SELECT l.id, l.name, COALESCE(NULLIF(l.title, ''), l.name), l.imported_at,
                  (SELECT count(*) FROM district d WHERE d.layer_id = l.id)
           FROM boundary_layer l WHERE l.jurisdiction_id = %(pk)s ORDER BY l.name, l.id""",
        {"pk": scope.pk},
    )
    return [Layer(pk, name, title, f"{_text(at)};{count}") for pk, name, title, at, count in rows]


def find_districts_tile(session: Session, layer: Layer, tile: Tile) -> bytes:
    """The districts of `layer` in the tile (id, name, title): MVT bytes, empty when none."""
    params = _tile_params(tile)
    west, _s, east, _n = tile.bounds()
    params |= {"layer": layer.id, "tolerance": (east - west) / EXTENT / 4}
    return _tile_bytes(session, _DISTRICTS, params)


def find_extent(session: Session, scope: Scope) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of the jurisdiction's districts, else of its service area,
    else of its requests' locations (the map's first view); None when it has none of them."""
    rows = search_queries.fetch_rows(
        session,
        """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
               SELECT COALESCE(
                   (SELECT ST_Extent(d.geom)::geometry FROM district d
                    JOIN boundary_layer l ON l.id = d.layer_id WHERE l.jurisdiction_id = %(pk)s),
                   (SELECT ST_Envelope(service_area) FROM jurisdiction WHERE id = %(pk)s),
                   (SELECT ST_Extent(location)::geometry FROM (
                        SELECT location FROM service_request
                        WHERE jurisdiction_id = %(pk)s AND location IS NOT NULL
                        ORDER BY requested_datetime DESC LIMIT 1000) newest)) AS e
           ) x WHERE e IS NOT NULL""",
        {"pk": scope.pk},
    )
    return tuple(rows[0]) if rows else None  # type: ignore[return-value]


# How a tile statement is planned, for this transaction only (SET LOCAL; the tile is the
# request's last statement). Measured over 1,000,000 requests (bench/tiles.py): the planner
# preferred a bitmap scan of the tile-key index, which then reads the table's scattered pages
# (a dense z14 tile: 180 ms against 60 for the index-only scan). The app's connections
# already run without JIT and parallel workers (db/session.make_engine), which a tile's few
# thousand rows would not repay either.
_TILE_PLANNING = "SET LOCAL enable_bitmapscan = off; "


def _tile_bytes(
    session: Session, sql: str, params: dict[str, Any], planning: str = _TILE_PLANNING
) -> bytes:
    rows = search_queries.fetch_rows(session, planning + sql, params)
    value = rows[0][0] if rows else None
    return bytes(value) if value is not None else b""


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
