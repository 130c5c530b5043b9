"""Each query shape of GET requests and the back office uses the index made for it (issue 4).

The demo city with its history plus 4,000 synthetic requests (34,000 requests, ANALYZEd by the
load) stand in for a real table. That is enough for the planner to choose these indexes on its
own, so no test turns sequential scans off: each checks the plan PostgreSQL would really pick.

Alembic's autogenerate compares indexes by name and columns only: it sees neither a partial
index's WHERE nor a generated column's expression, so the last tests pin those against the
models.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, Index, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from open311.db.base import Base
from open311.db.models import District, ServiceRequest
from open311.demo.seed import seed_demo_city
from open311.demo.synthetic import SyntheticSpec

UNTIL = datetime(2026, 7, 1, tzinfo=UTC)
DOWNTOWN = {"west": -118.27, "south": 34.03, "east": -118.23, "north": 34.07}
CITY_HALL = {"long": -118.2427, "lat": 34.0537}


@pytest.fixture(scope="module")
def loaded(demo_connection: Connection) -> Iterator[Connection]:
    savepoint = demo_connection.begin_nested()
    with Session(bind=demo_connection, join_transaction_mode="create_savepoint") as session:
        seed_demo_city(session, synthetic=SyntheticSpec(4_000, seed=11, until=UNTIL))
        session.commit()
    yield demo_connection
    savepoint.rollback()


@pytest.fixture
def connection(loaded: Connection) -> Iterator[Connection]:
    savepoint = loaded.begin_nested()
    yield loaded
    savepoint.rollback()


def indexes_used(db: Session, sql: str, **params: Any) -> set[str]:
    """The names of the indexes in the plan of `sql`."""
    [plan] = db.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), params).scalar_one()
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            found.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return found


def test_open_requests_in_a_bounding_box_use_the_partial_gist_index(db):
    sql = (
        "SELECT id FROM service_request WHERE status = 'open' "
        "AND location && ST_MakeEnvelope(:west, :south, :east, :north, 4326)"
    )
    assert "ix_service_request_location_open" in indexes_used(db, sql, **DOWNTOWN)


def test_all_requests_in_a_bounding_box_use_the_full_gist_index(db):
    sql = (
        "SELECT id FROM service_request "
        "WHERE location && ST_MakeEnvelope(:west, :south, :east, :north, 4326)"
    )
    assert "idx_service_request_location" in indexes_used(db, sql, **DOWNTOWN)


@pytest.mark.parametrize(
    ("status_clause", "index"),
    [
        ("", "idx_service_request_location"),
        ("AND status = 'open'", "ix_service_request_location_open"),
    ],
)
def test_a_radius_search_uses_a_gist_index(db, status_clause, index):
    # The bounding box of the radius (0.01 degrees is over 900 m here) lets the GiST index find
    # candidates; the exact metric test on geography then keeps those within 500 m.
    sql = (
        "SELECT id FROM service_request "
        "WHERE location && ST_Expand(ST_SetSRID(ST_MakePoint(:long, :lat), 4326), 0.01) "
        "AND ST_DWithin(location::geography, "
        "ST_SetSRID(ST_MakePoint(:long, :lat), 4326)::geography, 500) "
        f"{status_clause}"
    )
    assert index in indexes_used(db, sql, **CITY_HALL)


@pytest.mark.parametrize(
    "where",
    [
        "updated_datetime > :since",
        # The keyset cursor of the next page.
        "(updated_datetime, id) > (:since, 1)",
    ],
)
def test_the_change_feed_uses_the_updated_index(db, where):
    sql = f"SELECT id FROM service_request WHERE {where} ORDER BY updated_datetime, id LIMIT 1000"
    since = datetime(2026, 6, 1, tzinfo=UTC)
    assert "ix_service_request_updated" in indexes_used(db, sql, since=since)


def test_full_text_search_uses_the_gin_index(db):
    sql = (
        "SELECT id FROM service_request "
        "WHERE search_vector @@ websearch_to_tsquery('english', 'broken light')"
    )
    assert "ix_service_request_search_vector" in indexes_used(db, sql)


def test_open_requests_of_a_window_newest_first_use_the_status_index(db):
    sql = (
        "SELECT id FROM service_request WHERE status = 'open' "
        "AND requested_datetime >= :start ORDER BY requested_datetime DESC, id DESC LIMIT 1000"
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert "ix_service_request_status_requested" in indexes_used(db, sql, start=start)


def test_an_agencys_window_newest_first_uses_the_agency_index(db):
    sql = (
        "SELECT id FROM service_request WHERE agency_responsible = :agency "
        "AND requested_datetime >= :start ORDER BY requested_datetime DESC, id DESC LIMIT 100"
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    used = indexes_used(db, sql, agency="Street Lighting Bureau", start=start)
    assert "ix_service_request_agency_requested" in used


def test_a_date_window_newest_first_uses_the_requested_index(db):
    sql = (
        "SELECT id FROM service_request WHERE requested_datetime BETWEEN :start AND :end "
        "ORDER BY requested_datetime DESC, id DESC LIMIT 1000"
    )
    start, end = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    assert "ix_service_request_requested" in indexes_used(db, sql, start=start, end=end)


def downtown_council(db: Session) -> int:
    return db.scalar(select(District.id).where(District.name == "DOWNTOWN LOS ANGELES"))


def test_a_districts_requests_come_from_the_covering_index(db):
    # The district's side of the join alone: an index-only scan, the heap never visited.
    sql = "SELECT service_request_pk FROM request_district WHERE district_id = :district"
    used = indexes_used(db, sql, district=downtown_council(db))
    assert used == {"ix_request_district_district_request"}


def test_open_requests_of_a_district_newest_first_use_request_district_indexes(db):
    # Either direction is a good plan: from the district's index to the requests (what the
    # planner picks here and on 1M requests), or from the open requests newest first, probing
    # request_district's primary key; both use an index on request_district.
    sql = (
        "SELECT r.id FROM service_request r "
        "JOIN request_district rd ON rd.service_request_pk = r.id "
        "WHERE rd.district_id = :district AND r.status = 'open' "
        "ORDER BY r.requested_datetime DESC, r.id DESC LIMIT 100"
    )
    used = indexes_used(db, sql, district=downtown_council(db))
    assert used & {"ix_request_district_district_request", "pk_request_district"}


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
