"""The map's tiles against PostGIS: the right requests in the right tile, by the public list's
rules, with public fields only; grid cells at low zooms; the tile-key index and its ranges."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from open311.db import search_queries, tile_queries
from open311.db.models import Jurisdiction, Requester
from open311.db.search_queries import RequestSearch, Scope
from open311.db.tile_queries import Tile
from open311.values import ServiceType, Status
from tests.factories import (
    make_boundary_layer,
    make_district,
    make_jurisdiction,
    make_request,
    make_service,
)

CITY_HALL = (34.0537, -118.2427)  # lat, long
SANTA_MONICA = (34.0195, -118.4912)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def tile_of(lat: float, long: float, z: int) -> Tile:
    side = 1 << z
    x = int((long + 180.0) / 360.0 * side)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * side)
    return Tile(z, x, y)


def features(tile_bytes: bytes, layer: str = "requests") -> list[dict]:
    if not tile_bytes:
        return []
    return mapbox_vector_tile.decode(tile_bytes)[layer]["features"]


def ids(tile_bytes: bytes) -> set[str]:
    return {f["properties"]["service_request_id"] for f in features(tile_bytes)}


@pytest.fixture
def city(db):
    la = make_jurisdiction(db, is_default=True)
    pothole = make_service(db, la, "POT", service_name="Pothole")
    graffiti = make_service(db, la, "GRAF", service_name="Graffiti")
    feedback = make_service(db, la, "FEEDBACK", type=ServiceType.blackbox)
    lat, long = CITY_HALL
    open_one = make_request(
        db,
        pothole,
        service_request_id="SR-OPEN",
        lat=lat,
        long=long,
        requested_datetime=NOW - timedelta(days=2),
        updated_datetime=NOW - timedelta(days=2),
        address="200 N Spring St",
    )
    open_one.requester = Requester(
        email="resident@example.org", first_name="Ana", last_name="Secret", phone="555-0100"
    )
    make_request(
        db,
        graffiti,
        service_request_id="SR-CLOSED",
        status=Status.closed,
        lat=lat + 0.0004,
        long=long + 0.0004,
        requested_datetime=NOW - timedelta(days=20),
        updated_datetime=NOW - timedelta(days=1),
    )
    make_request(db, feedback, service_request_id="FB-1", lat=lat, long=long)
    make_request(
        db, pothole, service_request_id="SR-FAR", lat=SANTA_MONICA[0], long=SANTA_MONICA[1]
    )
    make_request(db, pothole, service_request_id="SR-NOWHERE", lat=None, long=None)
    other = make_jurisdiction(db, jurisdiction_id="other.example", name="Other")
    elsewhere = make_service(db, other, "POT")
    make_request(db, elsewhere, service_request_id="OTHER-1", lat=lat, long=long)
    db.flush()
    scope = search_queries.resolve_scope(db, la)
    assert scope is not None
    return scope


def tile(db, scope: Scope, z: int = 16, search: RequestSearch | None = None, at=CITY_HALL):
    return tile_queries.find_requests_tile(db, scope, search or RequestSearch(), tile_of(*at, z))


def test_a_tile_holds_its_published_requests_with_public_fields_only(db, city):
    found = features(tile(db, city))
    assert {f["properties"]["service_request_id"] for f in found} == {"SR-OPEN", "SR-CLOSED"}
    for feature in found:
        assert set(feature["properties"]) == {
            "service_request_id",
            "status",
            "service_code",
            "requested_datetime",
        }
        assert feature["geometry"]["type"] == "Point"
    by_id = {f["properties"]["service_request_id"]: f["properties"] for f in found}
    assert by_id["SR-OPEN"] == {
        "service_request_id": "SR-OPEN",
        "status": "open",
        "service_code": "POT",
        "requested_datetime": "2026-11-29T12:00:00Z",
    }
    raw = tile(db, city)
    for personal in (b"resident@example.org", b"Secret", b"555-0100", b"200 N Spring"):
        assert personal not in raw


def test_the_point_lies_where_the_request_is(db, city):
    lat, long = CITY_HALL
    z = 16
    here = tile_of(lat, long, z)
    (feature,) = [
        f for f in features(tile(db, city, z)) if f["properties"]["service_request_id"] == "SR-OPEN"
    ]
    x, y = feature["geometry"]["coordinates"]
    side = 1 << z
    # mapbox_vector_tile flips y to point north, as GeoJSON does.
    expected_x = ((long + 180) / 360 * side - here.x) * tile_queries.EXTENT
    merc = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * side
    expected_y = tile_queries.EXTENT - (merc - here.y) * tile_queries.EXTENT
    assert abs(x - expected_x) <= 1 and abs(y - expected_y) <= 1


def test_other_tiles_cities_and_blackbox_are_left_out(db, city):
    assert ids(tile(db, city, at=SANTA_MONICA)) == {"SR-FAR"}
    assert "FB-1" not in ids(tile(db, city)) and "OTHER-1" not in ids(tile(db, city))
    published = RequestSearch(blackbox=True)
    assert ids(tile(db, city, search=published)) == {"SR-OPEN", "SR-CLOSED", "FB-1"}
    empty_tile = tile_queries.find_requests_tile(db, city, RequestSearch(), Tile(16, 0, 0))
    assert empty_tile == b""


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        (RequestSearch(statuses=(Status.open,)), {"SR-OPEN"}),
        (RequestSearch(statuses=(Status.closed,)), {"SR-CLOSED"}),
        (RequestSearch(service_codes=("GRAF",)), {"SR-CLOSED"}),
        (RequestSearch(service_codes=("GRAF", "POT")), {"SR-OPEN", "SR-CLOSED"}),
        (RequestSearch(start=NOW - timedelta(days=5)), {"SR-OPEN"}),
        (RequestSearch(end=NOW - timedelta(days=5)), {"SR-CLOSED"}),
        (RequestSearch(start=NOW, end=NOW + timedelta(days=1)), set()),
    ],
    ids=["open", "closed", "service", "services", "start", "end", "empty window"],
)
def test_filters(db, city, search, expected):
    assert ids(tile(db, city, search=search)) == expected


def test_low_zooms_hold_grid_cells_with_counts(db, city):
    assert tile_queries.aggregates(Tile(tile_queries.POINTS_FROM_ZOOM - 1, 0, 0))
    assert not tile_queries.aggregates(Tile(tile_queries.POINTS_FROM_ZOOM, 0, 0))
    cells = features(tile(db, city, z=10))
    # The two downtown requests (60 m apart) share a cell; the blackbox one is not counted.
    (cell,) = cells
    assert cell["properties"] == {"count": 2, "open": 1}
    (alone,) = features(tile(db, city, z=10, at=SANTA_MONICA))
    assert alone["properties"] == {"count": 1, "open": 1}
    # At the centre of its cell, in tile units.
    x, y = alone["geometry"]["coordinates"]
    assert x % tile_queries.CELL_UNITS == tile_queries.CELL_UNITS // 2
    assert y % tile_queries.CELL_UNITS == tile_queries.CELL_UNITS // 2
    # At zoom 3 a cell is 0.7° wide: the whole city in one.
    (whole_city,) = features(tile(db, city, z=3))
    assert whole_city["properties"] == {"count": 3, "open": 2}


def test_a_cell_is_drawn_where_its_requests_are(db, city):
    """The cell's point is within a cell's width of the requests it counts."""
    lat, long = SANTA_MONICA
    for z in (5, 9, 13):
        here = tile_of(lat, long, z)
        # Downtown's two requests, 23 km away, may share the tile: their cell counts 2.
        in_tile = features(tile(db, city, z=z, at=SANTA_MONICA))
        (cell,) = [f for f in in_tile if f["properties"]["count"] == 1]
        x, y = cell["geometry"]["coordinates"]
        side = 1 << z
        expected_x = ((long + 180) / 360 * side - here.x) * tile_queries.EXTENT
        merc = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * side
        expected_y = tile_queries.EXTENT - (merc - here.y) * tile_queries.EXTENT
        assert abs(x - expected_x) <= tile_queries.CELL_UNITS / 2 + 1, z
        assert abs(y - expected_y) <= tile_queries.CELL_UNITS / 2 + 1, z


def test_a_tile_s_key_range_holds_its_points_keys(db, city):
    """open311_tile_key (migration 0020) and key_range agree at every zoom, around the world."""
    for lat, long in ((34.0537, -118.2427), (-33.86, 151.21), (64.1, -21.9), (0.0, 0.0)):
        key = db.execute(
            text("SELECT open311_tile_key(ST_SetSRID(ST_MakePoint(:long, :lat), 4326))"),
            {"lat": lat, "long": long},
        ).scalar_one()
        for z in (0, 3, 10, 12, 16, 22):
            low, high = tile_queries.key_range(tile_of(lat, long, z))
            assert low <= key <= high, (lat, long, z)
            west, south, east, north = tile_of(lat, long, z).bounds()
            assert west <= long <= east and south <= lat <= north


def test_a_tile_s_statement_can_read_the_tile_index_only(db, city):
    """The statement's key range is the index's expression (with the few rows of a test the
    planner would rather scan the table: bench/tiles.py measures the plan at size)."""
    db.execute(text("SET LOCAL enable_seqscan = off"))
    sql, params = tile_queries.requests_tile_sql(city, RequestSearch(), tile_of(*CITY_HALL, 12))
    raw = db.connection().connection.dbapi_connection
    with raw.cursor() as cursor:
        cursor.execute(tile_queries._TILE_PLANNING + "EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan using ix_service_request_tile" in plan, plan


def test_tile_bounds_and_existence():
    assert Tile(0, 0, 0).bounds() == pytest.approx((-180.0, -85.0511287798, 180.0, 85.0511287798))
    assert Tile(22, (1 << 22) - 1, 0).exists
    assert not Tile(2, 4, 0).exists and not Tile(-1, 0, 0).exists
    assert not Tile(tile_queries.MAX_ZOOM + 1, 0, 0).exists


def test_requests_version_moves_with_any_change(db, city):
    before = tile_queries.requests_version(db, city)
    db.execute(text("UPDATE service_request SET updated_datetime = now() + interval '1 day'"))
    assert tile_queries.requests_version(db, city) != before


def test_districts_tile_and_extent(db, city):
    layer_row = make_boundary_layer(db, db.get(Jurisdiction, city.pk), "council_districts")
    make_district(db, layer_row, "CD 14", bounds=(-118.30, 34.00, -118.20, 34.10), title="Downtown")
    make_district(db, layer_row, "CD 11", bounds=(-118.55, 33.95, -118.40, 34.10))
    (layer,) = tile_queries.find_layers(db, city)
    assert layer.name == "council_districts"
    found = features(
        tile_queries.find_districts_tile(db, layer, tile_of(*CITY_HALL, 12)), "districts"
    )
    assert [f["properties"]["name"] for f in found] == ["CD 14"]
    assert found[0]["properties"]["title"] == "Downtown"
    assert found[0]["geometry"]["type"] == "Polygon"
    whole = features(tile_queries.find_districts_tile(db, layer, Tile(0, 0, 0)), "districts")
    assert {f["properties"]["name"] for f in whole} == {"CD 14", "CD 11"}
    west, south, east, north = tile_queries.find_extent(db, city)
    assert (west, south, east, north) == pytest.approx((-118.55, 33.95, -118.20, 34.10))


def test_open_requests_alone_come_through_their_own_index_in_the_same_cells(db, city):
    open_only = RequestSearch(statuses=(Status.open,))
    assert tile_queries.reads_open_index(open_only)
    assert not tile_queries.reads_open_index(RequestSearch(statuses=(Status.open, Status.closed)))
    for z in (5, 8, 10):
        (both,) = [f for f in features(tile(db, city, z=z)) if f["properties"]["count"] == 2]
        # Downtown's open request in the same cell as both downtown requests (Santa Monica's
        # open request may share the tile).
        opened = features(tile(db, city, z=z, search=open_only))
        same_cell = [f for f in opened if f["geometry"] == both["geometry"]]
        assert [f["properties"] for f in same_cell] == [{"count": 1, "open": 1}], z
