"""The crews' queue (GET /api/v1/work-orders) walks open work in due order on the partial
indexes made for it, in the statement the product runs (work_queries.queue_statement), rather
than reading every work order of the table and sorting the open ones.

The demo city with its history plus 4,000 synthetic requests and their backlog (one work order
per request routed to a district crew, almost all of them done) stand in for a real table; the
load ANALYZEs it. No test turns sequential scans off: each checks the plan PostgreSQL picks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from open311.db import work_queries
from open311.db.models import District, WorkOrder
from open311.db.work_queries import QueueFilter
from open311.demo.seed import seed_demo_city
from open311.demo.synthetic import SyntheticSpec
from open311.values import OPEN_WORK_ORDER_STATES, WorkOrderState

UNTIL = datetime(2026, 7, 1, tzinfo=UTC)
NOW = UNTIL  # the backlog's open work orders were due before the end of its window
DOWNTOWN = (-118.27, 34.03, -118.23, 34.07)  # west, south, east, north


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


def plan_of(db: Session, wanted: QueueFilter) -> dict[str, Any]:
    statement = work_queries.queue_statement(wanted)
    compiled = statement.compile(
        dialect=postgresql.psycopg2.dialect(), compile_kwargs={"render_postcompile": True}
    )
    with db.connection().connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params)
        [plan] = cursor.fetchone()[0]
    return plan["Plan"]


def scans(node: dict[str, Any]) -> set[tuple[str, str | None]]:
    """(node type, index name) of every scan of work_order in the plan."""
    found: set[tuple[str, str | None]] = set()
    if node.get("Relation Name") == "work_order":
        found.add((node["Node Type"], node.get("Index Name")))
    for child in node.get("Plans", []):
        found |= scans(child)
    return found


def queue(**kwargs: Any) -> QueueFilter:
    return QueueFilter(
        crew_ids=kwargs.pop("crew_ids", None),
        states=OPEN_WORK_ORDER_STATES,
        jurisdiction_ids=(1,),
        limit=101,
        **kwargs,
    )


def busiest_crew(db: Session) -> int:
    return db.scalars(
        select(WorkOrder.crew_id)
        .where(WorkOrder.state.in_(OPEN_WORK_ORDER_STATES))
        .group_by(WorkOrder.crew_id)
        .order_by(text("count(*) DESC"))
        .limit(1)
    ).one()


def test_the_backlog_is_there_and_mostly_done(db):
    states = dict(
        db.execute(select(WorkOrder.state, text("count(*)")).group_by(WorkOrder.state)).all()
    )
    assert states[WorkOrderState.done] > 3_000
    assert 0 < states[WorkOrderState.assigned] + states[WorkOrderState.in_progress] < 200


def test_a_crews_queue_uses_the_open_crew_index(db):
    used = scans(plan_of(db, queue(crew_ids=(busiest_crew(db),))))
    assert {index for _kind, index in used} == {"ix_work_order_open_crew_due"}


@pytest.mark.parametrize(
    "wanted",
    [
        queue(overdue_at=NOW),
        queue(due_before=NOW - timedelta(days=30)),
        queue(),
    ],
    ids=["overdue", "due_before", "everything-open"],
)
def test_every_crews_queue_walks_the_open_due_index(db, wanted):
    used = scans(plan_of(db, wanted))
    assert {index for _kind, index in used} == {"ix_work_order_open_due"}


def test_a_boxs_queue_reads_only_open_work(db):
    """A box may be walked either way: open work in due order, each request's point tested, or
    the box's requests found first (the GiST or tile-key index) and their work orders looked
    up; the statistics decide which is cheaper. Never every work order of the table."""
    used = scans(plan_of(db, queue(bbox=DOWNTOWN)))
    assert ("Seq Scan", None) not in used
    assert {index for _kind, index in used} <= {
        "ix_work_order_open_due",
        "ix_work_order_open_crew_due",
        "ix_work_order_service_request_pk",
    }


def test_a_districts_queue_reads_only_open_work(db):
    district = (
        db.scalars(
            select(District.id).where(District.name == "14").order_by(District.id).limit(1)
        ).first()
        or db.scalars(select(District.id).order_by(District.id).limit(1)).one()
    )
    used = scans(plan_of(db, queue(district_id=district)))
    assert ("Seq Scan", None) not in used
    assert {index for _kind, index in used} <= {
        "ix_work_order_open_due",
        "ix_work_order_open_crew_due",
        "ix_work_order_service_request_pk",
    }
