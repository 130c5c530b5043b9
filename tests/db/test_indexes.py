"""Each query shape of GET requests uses the index made for it, in the statements the product
runs: the domain's plan of the arguments (request_search.plan), turned into SQL by
search_queries.page_sql, exactly as GET requests does.

The demo city with its history plus 4,000 synthetic requests (34,000 requests, ANALYZEd by the
load) stand in for a real table. That is enough for the planner to choose these indexes on its
own, so no test turns sequential scans off: each checks the plan PostgreSQL would really pick.

Alembic's autogenerate compares indexes by name and columns only: it sees neither a partial
index's WHERE nor a generated column's expression, so the last tests pin those against the
models.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Index, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from open311.db import search_queries
from open311.db.base import Base
from open311.db.models import ServiceRequest
from open311.demo.seed import seed_demo_city
from open311.demo.synthetic import SyntheticSpec
from open311.domain import request_search
from open311.domain.request_search import SearchArgs
from open311.values import Status

UNTIL = datetime(2026, 7, 1, tzinfo=UTC)
DOWNTOWN = (-118.27, 34.03, -118.23, 34.07)  # west, south, east, north
CITY_HALL = (34.0537, -118.2427)  # lat, long
# As GET requests names it: the statements resolve the jurisdiction themselves.
LOS_ANGELES = search_queries.Unresolved("lacity.org")


@pytest.fixture(scope="module")
def loaded(demo_connection: Connection) -> Iterator[Connection]:
    savepoint = demo_connection.begin_nested()
    with Session(bind=demo_connection, join_transaction_mode="create_savepoint") as session:
        seed_demo_city(session, synthetic=SyntheticSpec(4_000, seed=11, until=UNTIL))
        # Every table's statistics from this module's rows: an ANALYZE in another module's
        # rolled-back transaction leaves its row counts behind (pg_class is updated in place),
        # and the plans checked here would then depend on which modules ran first.
        session.execute(text("ANALYZE"))
        session.commit()
    yield demo_connection
    savepoint.rollback()


@pytest.fixture
def connection(loaded: Connection) -> Iterator[Connection]:
    savepoint = loaded.begin_nested()
    yield loaded
    savepoint.rollback()


def indexes_used(db: Session, args: SearchArgs, windows: bool = False) -> set[str]:
    """The names of the indexes in the plan of the page statement GET requests runs for
    `args` (`windows`: as when search_queries.reads_windows says so)."""
    search, _paging = request_search.plan(db, LOS_ANGELES, args, now=UNTIL)
    scope = search_queries.resolve_scope(db, LOS_ANGELES)  # as find_page does for a list
    sql, params = search_queries.page_sql(scope, search, "json", windows=windows)
    with db.connection().connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        [plan] = cursor.fetchone()[0]
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            found.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return found


def test_open_requests_in_a_bounding_box_use_the_partial_gist_index(db):
    args = SearchArgs(bbox=DOWNTOWN, statuses=(Status.open,))
    assert "ix_service_request_location_open" in indexes_used(db, args)


def test_all_requests_in_a_bounding_box_use_the_full_gist_index(db):
    assert "idx_service_request_location" in indexes_used(db, SearchArgs(bbox=DOWNTOWN))


@pytest.mark.parametrize(
    ("statuses", "index"),
    [
        ((), "idx_service_request_location"),
        ((Status.open,), "ix_service_request_location_open"),
    ],
)
def test_a_radius_search_uses_a_gist_index(db, statuses, index):
    # The box that surely holds the circle lets the GiST index find candidates; the exact
    # metric test then keeps those within 500 m.
    args = SearchArgs(near=(*CITY_HALL, 500.0), statuses=statuses)
    assert index in indexes_used(db, args)


SINCE = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "args",
    [
        SearchArgs(updated_after=SINCE, sort="updated_datetime"),
        # The keyset cursor of the next page.
        SearchArgs(sort="updated_datetime", cursor=("updated_datetime", SINCE, 1)),
        SearchArgs(
            updated_after=SINCE, sort="updated_datetime", cursor=("updated_datetime", SINCE, 1)
        ),
    ],
    ids=["updated_after", "cursor", "updated_after-cursor"],
)
def test_the_change_feed_uses_the_updated_index(db, args):
    assert "ix_service_request_updated" in indexes_used(db, args)


def test_full_text_search_uses_the_gin_index(db):
    used = indexes_used(db, SearchArgs(text="broken light"))
    assert "ix_service_request_search_vector" in used


@pytest.mark.parametrize("page_size", [None, 1000], ids=["standard", "paged"])
def test_open_requests_of_a_window_newest_first_use_the_status_index(db, page_size):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    args = SearchArgs(statuses=(Status.open,), start=start, page_size=page_size)
    assert "ix_service_request_status_requested" in indexes_used(db, args)


def test_an_agencys_window_newest_first_uses_the_agency_index(db):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    args = SearchArgs(agency="Street Lighting Bureau", start=start, page_size=100)
    assert "ix_service_request_agency_requested" in indexes_used(db, args)


@pytest.mark.parametrize(
    "args",
    [
        SearchArgs(),  # the standard query: the last 90 days
        SearchArgs(start=datetime(2026, 5, 1, tzinfo=UTC), end=datetime(2026, 6, 1, tzinfo=UTC)),
    ],
    ids=["standard", "start-end"],
)
def test_a_date_window_newest_first_uses_the_requested_index(db, args):
    assert "ix_service_request_requested" in indexes_used(db, args)


def test_a_districts_requests_come_from_the_district_index(db):
    # The district's side of the join is found through (district_id, service_request_pk), not by
    # probing request_district's primary key for every request of the city.
    used = indexes_used(
        db, SearchArgs(district="DOWNTOWN LOS ANGELES", page_size=100, sort="requested_datetime")
    )
    assert "ix_request_district_district_request" in used
    assert "pk_request_district" not in used


def test_open_requests_of_a_district_newest_first_use_request_district_indexes(db):
    # Either direction is a good plan: from the district's index to the requests (what the
    # planner picks on 1M requests), or from the open requests newest first, probing
    # request_district's primary key; both use an index on request_district.
    args = SearchArgs(district="DOWNTOWN LOS ANGELES", statuses=(Status.open,), page_size=100)
    used = indexes_used(db, args)
    assert used & {"ix_request_district_district_request", "pk_request_district"}


# --- estimates the planner can make (issue 16) ---------------------------------------------------
#
# The planner multiplies the selectivities of the conditions it is given. Written as `&&` plus
# ST_X/ST_Y BETWEEN, with the jurisdiction and the blackbox services as sub-selects, a box
# holding 148,836 of a million requests was estimated at 4 rows; the plan then read and sorted
# them all (282 ms) where walking the time index stopped after 1,000 (12 ms).

CITY = (-118.67, 33.70, -118.15, 34.34)  # all of Los Angeles
BLOCKS = (-118.2527, 34.0467, -118.2327, 34.0607)  # the blocks around City Hall


def estimated_and_actual(db: Session, args: SearchArgs) -> tuple[float, int]:
    """The planner's estimate of the requests matching `args`, and how many do."""
    search, _paging = request_search.plan(db, LOS_ANGELES, args, now=UNTIL)
    scope = search_queries.resolve_scope(db, LOS_ANGELES)
    sql, params = search_queries.count_sql(scope, search, cap=10**9)
    with db.connection().connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        [plan] = cursor.fetchone()[0]
        cursor.execute(sql, params)
        [actual] = cursor.fetchone()
    node = plan["Plan"]
    while node["Node Type"] in ("Aggregate", "Limit", "Subquery Scan"):
        node = node["Plans"][0]
    return node["Plan Rows"], actual


@pytest.mark.parametrize(
    "args",
    [
        SearchArgs(bbox=CITY),
        SearchArgs(bbox=DOWNTOWN),
        SearchArgs(bbox=BLOCKS),
        SearchArgs(bbox=CITY, statuses=(Status.closed,)),
        SearchArgs(near=(*CITY_HALL, 10_000.0)),
        SearchArgs(near=(*CITY_HALL, 1_000.0)),
    ],
    ids=["city", "downtown", "blocks", "city-closed", "radius-10km", "radius-1km"],
)
def test_the_planner_estimates_an_area_within_a_factor_of_two(db, args):
    estimated, actual = estimated_and_actual(db, args)
    assert actual > 50
    assert actual / 2 <= estimated <= actual * 2


@pytest.mark.parametrize("statuses", [(Status.closed,), (Status.open, Status.closed)])
@pytest.mark.parametrize("area", ["bbox", "near"])
def test_counting_an_area_holding_most_of_the_city_walks_no_gist_index(db, area, statuses):
    # X-Total-Count of a city-wide area counts up to its cap in whatever order: reading the
    # GiST index first would read every request of the city (what the estimate of 4 rows did).
    args = SearchArgs(statuses=statuses, page=2, page_size=10)
    args = replace(args, bbox=CITY) if area == "bbox" else replace(args, near=(*CITY_HALL, 3e4))
    search, _paging = request_search.plan(db, LOS_ANGELES, args, now=UNTIL)
    scope = search_queries.resolve_scope(db, LOS_ANGELES)
    sql, params = search_queries.count_sql(scope, search, cap=1000)
    with db.connection().connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        [plan] = cursor.fetchone()[0]
    assert not any("Index Name" in node for node in plan_nodes(plan["Plan"]))


@pytest.mark.parametrize("box", [CITY, DOWNTOWN, BLOCKS], ids=["city", "downtown", "blocks"])
def test_newest_first_in_a_box_of_any_size_can_read_the_space_time_index(db, box):
    used = indexes_used(db, SearchArgs(bbox=box, page_size=1000), windows=True)
    assert "ix_service_request_spacetime" in used
    assert "idx_service_request_location" not in used


def test_nearest_first_reads_the_gist_index_ring_by_ring(db):
    args = SearchArgs(near=(*CITY_HALL, 10_000.0), sort="distance", page_size=100)
    search, _paging = request_search.plan(db, LOS_ANGELES, args, now=UNTIL)
    scope = search_queries.resolve_scope(db, LOS_ANGELES)
    sql, params = search_queries.page_sql(scope, search, "json")
    with db.connection().connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        [plan] = cursor.fetchone()[0]
    nodes = list(plan_nodes(plan["Plan"]))
    assert any(node["Node Type"] == "Function Scan" for node in nodes)  # the rings
    assert any(node.get("Index Name") == "idx_service_request_location" for node in nodes)
    # The rings stop once the page is full: the requests read from the table are a small
    # multiple of the page, far fewer than the 10 km circle holds.
    read = sum(
        node["Actual Rows"] * node["Actual Loops"]
        for node in nodes
        if node.get("Relation Name") == "service_request"
    )
    _estimated, within = estimated_and_actual(db, SearchArgs(near=(*CITY_HALL, 10_000.0)))
    assert 101 <= read <= 1000 < within


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def test_near_rings_cover_the_radius_once_nearest_first():
    rings = search_queries.near_rings(1000.0)
    assert rings[0] == (0.0, 25.0)
    assert all(a[1] == b[0] for a, b in zip(rings, rings[1:], strict=False))
    assert rings[-1][0] < 1000.0 < rings[-1][1]  # d = radius is in the last ring
    assert search_queries.near_rings(1000.0, after=150.0)[0] == (100.0, 200.0)


# --- what autogenerate cannot compare --------------------------------------------------------


def partial_indexes() -> list[Index]:
    return [
        index
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"]["where"] is not None
    ]


def test_partial_index_predicates_are_the_models(db):
    assert "ix_service_request_location_open" in {index.name for index in partial_indexes()}
    for index in partial_indexes():
        table = index.table.name
        predicate = index.dialect_options["postgresql"]["where"]
        where = str(predicate.compile(dialect=postgresql.dialect()))
        # The same predicate on a scratch copy of the table, as PostgreSQL normalises it.
        db.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS scratch_{table} (LIKE {table})"))
        db.execute(text(f"CREATE INDEX scratch_{index.name} ON scratch_{table} (id) WHERE {where}"))
        wanted, actual = (
            db.scalar(
                text(
                    "SELECT pg_get_expr(x.indpred, x.indrelid) FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid WHERE i.relname = :name"
                ),
                {"name": name},
            )
            for name in (f"scratch_{index.name}", index.name)
        )
        assert actual == wanted, index.name


def test_the_search_vector_expression_is_the_models(db):
    column = ServiceRequest.__table__.c.search_vector
    expression = column.computed.sqltext.text
    db.execute(
        text(
            "CREATE TEMP TABLE scratch_vector (description text, address text, "
            f"search_vector tsvector GENERATED ALWAYS AS ({expression}) STORED)"
        )
    )
    generated = (
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
        "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
        "WHERE d.adrelid = CAST(:table AS regclass) AND a.attname = 'search_vector'"
    )
    wanted = db.scalar(text(generated), {"table": "scratch_vector"})
    assert db.scalar(text(generated), {"table": "service_request"}) == wanted
    assert "'english'" in wanted


@pytest.mark.parametrize(
    ("search", "windows"),
    [
        # A few hundred requests, under 5% of the table: the windows (with the bar lowered
        # for this small table; on 1,000,000 requests it is 5,000).
        (search_queries.RequestSearch(bbox=search_queries.BBox(*BLOCKS)), True),
        (search_queries.RequestSearch(near=search_queries.Near(*CITY_HALL, 500.0)), True),
        # Most of the city: walking the time index finds a page at once.
        (search_queries.RequestSearch(bbox=search_queries.BBox(*CITY)), False),
        # Open requests have their own small GiST index; nearest first has its rings.
        (
            search_queries.RequestSearch(
                bbox=search_queries.BBox(*BLOCKS), statuses=(Status.open,)
            ),
            False,
        ),
        (
            search_queries.RequestSearch(
                near=search_queries.Near(*CITY_HALL, 500.0),
                sort=search_queries.Sort("distance", False),
            ),
            False,
        ),
        # Another selective filter: the planner picks that filter's index.
        (
            search_queries.RequestSearch(
                bbox=search_queries.BBox(*BLOCKS), service_codes=("STREETLIGHT",)
            ),
            False,
        ),
        (search_queries.RequestSearch(), False),
        # Dates bound the windows: whatever the area's size.
        (
            search_queries.RequestSearch(
                bbox=search_queries.BBox(*CITY), start=datetime(2026, 5, 1, tzinfo=UTC)
            ),
            True,
        ),
    ],
    ids=["blocks", "circle", "city", "open", "nearest", "service", "no-area", "dates"],
)
def test_windows_are_read_where_they_beat_both_2d_plans(db, monkeypatch, search, windows):
    monkeypatch.setattr(search_queries, "_SORT_AT_MOST", 50)
    assert search_queries.reads_windows(db, search) is windows


# --- the space-time page and the rings give what a plain sort gives ------------------------------


def reference_ids(db: Session, search: search_queries.RequestSearch) -> list[int]:
    """The ids a plain filter-and-sort of the whole table gives (no index, no windows)."""
    scope = search_queries.resolve_scope(db, LOS_ANGELES)
    conditions, params = search_queries.where_conditions(scope, search)  # the cursor's too
    where = " AND ".join(f"({condition})" for condition in conditions)
    order = search_queries._order(search.sort, distance=search_queries._DISTANCE)
    with db.connection().connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.id FROM service_request r WHERE {where} ORDER BY {order} "
            f"LIMIT {search.limit + 1} OFFSET {search.offset}",
            params,
        )
        return [row[0] for row in cursor.fetchall()]


def page_ids(db: Session, search: search_queries.RequestSearch, windows: bool = False) -> list[int]:
    scope = search_queries.resolve_scope(db, LOS_ANGELES)
    sql, params = search_queries.page_sql(scope, search, "rows", windows=windows)
    with db.connection().connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[-1] for row in cursor.fetchall()]


@pytest.mark.parametrize("windows", [False, True], ids=["planner", "windows"])
@pytest.mark.parametrize("limit", [5, 1000], ids=["small", "full"])
@pytest.mark.parametrize(
    "area",
    [
        {"bbox": search_queries.BBox(*CITY)},
        {"bbox": search_queries.BBox(*BLOCKS)},
        {"near": search_queries.Near(*CITY_HALL, 2000.0)},
        {
            "near": search_queries.Near(*CITY_HALL, 2000.0),
            "sort": search_queries.Sort("distance", False),
        },
        {"statuses": (Status.closed,), "bbox": search_queries.BBox(*DOWNTOWN)},
        {"end": datetime(2026, 3, 1, tzinfo=UTC), "bbox": search_queries.BBox(*DOWNTOWN)},
        {
            "start": datetime(2024, 6, 1, tzinfo=UTC),
            "end": datetime(2026, 3, 1, tzinfo=UTC),
            "bbox": search_queries.BBox(*DOWNTOWN),
        },
    ],
    ids=["city", "blocks", "circle", "nearest", "closed", "before-march", "june-to-march"],
)
def test_area_pages_are_what_a_plain_sort_gives(db, area, limit, windows):
    search = search_queries.RequestSearch(limit=limit, **area)
    first = page_ids(db, search, windows)
    assert first == reference_ids(db, search)
    assert len(first) > min(limit, 50)
    # The next page by its cursor, and a page by its offset.
    if len(first) > limit:
        scope = search_queries.resolve_scope(db, LOS_ANGELES)
        sql, params = search_queries.page_sql(scope, search, "rows", windows=windows)
        with db.connection().connection.cursor() as cursor:
            cursor.execute(sql, params)
            last = cursor.fetchall()[limit - 1]
        key = last[-2]
        key = float(key) if search.sort.field == "distance" else datetime.fromisoformat(key)
        following = replace(search, after=(key, last[-1]))
        assert page_ids(db, following, windows) == reference_ids(db, following)
    offset = replace(search, offset=limit // 2 + 3)
    assert page_ids(db, offset, windows) == reference_ids(db, offset)
