"""Escalation of overdue work orders: once each, never the closed or not-yet-due, even with
several escalators (threads, cron runs of the CLI) at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from open311.db.models import Activity, Agency, Crew, ServiceRequest, WorkOrder
from open311.db.session import make_engine, make_session_factory
from open311.domain.escalation import escalate_overdue
from open311.values import OPEN_WORK_ORDER_STATES, CrewKind
from open311.values import WorkOrderState as S
from tests.factories import (
    make_agency,
    make_crew,
    make_jurisdiction,
    make_request,
    make_service,
    make_work_order,
)
from tests.helpers import scratch_database

NOW = datetime(2026, 10, 21, 18, 0, tzinfo=UTC)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def make_city(session: Session) -> tuple[ServiceRequest, Agency, Crew, Crew]:
    """A request, its agency, a field crew and the agency's supervisor crew."""
    jurisdiction = make_jurisdiction(session, jurisdiction_id=f"{uuid.uuid4().hex[:8]}.example")
    agency = make_agency(session, jurisdiction, "LADOT")
    crew = make_crew(session, agency, "PE-EAST")
    supervisor = make_crew(session, agency, "PE-SUPER", CrewKind.supervisor)
    request = make_request(session, make_service(session, jurisdiction, "ABANDONED-VEHICLE"))
    return request, agency, crew, supervisor


def escalations(session: Session, work_order_ids: list[int]) -> Counter[int]:
    """How many "escalated" entries each work order has."""
    return Counter(
        session.scalars(
            select(Activity.work_order_id).where(
                Activity.kind == "escalated", Activity.work_order_id.in_(work_order_ids)
            )
        )
    )


def test_overdue_work_orders_escalate_once(db: Session):
    request, agency, crew, supervisor = make_city(db)
    # An agency without a supervisor crew: its work orders keep their crew.
    garage = make_agency(db, request.service.jurisdiction, "OPG")
    tow = make_crew(db, garage, "OPG-TOW")

    def order(state: S, due: timedelta | None, **kw) -> WorkOrder:
        return make_work_order(
            db,
            request,
            kw.pop("agency", agency),
            crew=kw.pop("crew", crew),
            state=state,
            due_at=None if due is None else NOW + due,
            **kw,
        )

    assigned = order(S.assigned, -hours(1))
    unassigned = order(S.new, -hours(2), crew=None)
    started = order(S.in_progress, -hours(0.5), agency=garage, crew=tow)
    never = [
        order(S.assigned, hours(1)),  # not yet due
        order(S.assigned, timedelta(0)),  # due this very moment: not overdue yet
        order(S.assigned, None),  # no target
        order(S.done, -hours(5)),
        order(S.cancelled, -hours(5)),
        order(S.assigned, -hours(5), escalated_at=NOW - hours(4)),  # escalated before
    ]

    escalated = escalate_overdue(db, now=NOW)
    assert escalated == [unassigned.id, assigned.id, started.id]  # most overdue first
    db.expire_all()
    for escalated_order in (assigned, unassigned, started):
        assert (escalated_order.escalated_at, escalated_order.priority) == (NOW, 1)
        assert escalated_order.updated_at == NOW
    assert (assigned.crew, unassigned.crew, started.crew) == (supervisor, supervisor, tow)
    assert unassigned.state is S.new  # escalation changes who, not the state
    for untouched in never:
        assert untouched.priority == 0
    assert never[-1].escalated_at == NOW - hours(4)

    entries = db.scalars(
        select(Activity).where(Activity.kind == "escalated").order_by(Activity.id)
    ).all()
    assert [entry.work_order_id for entry in entries] == escalated
    first = entries[1]
    assert (first.actor, first.public, first.at) == ("system:escalation", False, NOW)
    assert first.details == {
        "previous_crew_id": crew.id,
        "previous_crew": "PE-EAST",
        "crew_id": supervisor.id,
        "due_at": (NOW - hours(1)).isoformat(),
        "priority": 1,
    }
    assert entries[0].details["previous_crew"] is None

    # The next run finds nothing left to escalate.
    assert escalate_overdue(db, now=NOW) == []
    assert escalations(db, escalated) == dict.fromkeys(escalated, 1)


def test_limit_takes_the_most_overdue(db: Session):
    request, agency, crew, _supervisor = make_city(db)
    orders = [
        make_work_order(db, request, agency, crew=crew, due_at=NOW - hours(n)) for n in (1, 3, 2)
    ]
    assert escalate_overdue(db, now=NOW, limit=2) == [orders[1].id, orders[2].id]
    assert escalate_overdue(db, now=NOW, limit=2) == [orders[0].id]


def test_the_scan_can_use_its_partial_index(db: Session):
    query = (
        select(WorkOrder)
        .where(
            WorkOrder.state.in_(OPEN_WORK_ORDER_STATES),
            WorkOrder.escalated_at.is_(None),
            WorkOrder.due_at < NOW,
        )
        .order_by(WorkOrder.due_at, WorkOrder.id)
        .limit(10)
        .with_for_update(skip_locked=True)
    )
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    db.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(db.scalars(text(f"EXPLAIN {sql}")))
    # Its own index, or the crew queue's index of every open work order in due order
    # (migration 0018), which serves it as well: either way no sort of the whole table.
    assert "ix_work_order_escalation_due" in plan or "ix_work_order_open_due" in plan
    assert "Sort" not in plan
    assert "LockRows" in plan


# --- several escalators at once: committed rows in a database of their own --------------------


@pytest.fixture(scope="module")
def escalation_url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def sessions(escalation_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(escalation_url)
    yield make_session_factory(engine)
    engine.dispose()


def committed_overdue(sessions: sessionmaker[Session], count: int) -> list[int]:
    with sessions() as session:
        request, agency, crew, _supervisor = make_city(session)
        overdue = [
            make_work_order(session, request, agency, crew=crew, due_at=NOW - hours(n % 7 + 1))
            for n in range(count)
        ]
        make_work_order(session, request, agency, crew=crew, due_at=NOW + hours(1))
        session.commit()
        return [order.id for order in overdue]


def test_two_escalators_at_once_take_each_order_once(sessions: sessionmaker[Session]):
    overdue = committed_overdue(sessions, 60)
    start = threading.Barrier(2)
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def escalator(name: str) -> None:
        mine: list[int] = []
        try:
            start.wait(timeout=10)
            while True:
                with sessions() as session:
                    batch = escalate_overdue(session, now=NOW, actor=f"system:{name}", limit=7)
                    session.commit()
                if not batch:
                    break
                mine.extend(batch)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        taken[name] = mine

    threads = [threading.Thread(target=escalator, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert not set(taken["a"]) & set(taken["b"])
    assert sorted(taken["a"] + taken["b"]) == sorted(overdue)
    with sessions() as session:
        assert escalations(session, overdue) == dict.fromkeys(overdue, 1)
        priorities = session.scalars(
            select(func.max(WorkOrder.priority)).where(WorkOrder.id.in_(overdue))
        ).one()
        assert priorities == 1


def test_a_locked_order_is_skipped_not_waited_for(sessions: sessionmaker[Session]):
    overdue = committed_overdue(sessions, 10)
    with sessions() as holding, sessions() as other:
        held = escalate_overdue(holding, now=NOW, limit=4)  # uncommitted: rows stay locked
        other.execute(text("SET LOCAL lock_timeout = '5s'"))  # a wait would fail, not hang
        rest = escalate_overdue(other, now=NOW)
        other.commit()
        holding.commit()
    assert len(held) == 4 and len(rest) == 6
    assert sorted(held + rest) == sorted(overdue)
    with sessions() as session:
        assert escalations(session, overdue) == dict.fromkeys(overdue, 1)


def _run_cli(url: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "open311.cli", "escalate"],
        env=os.environ | {"DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_cli_escalates_then_finds_nothing(escalation_url: str, sessions: sessionmaker[Session]):
    # Due in the past of the real clock the command uses.
    with sessions() as session:
        request, agency, crew, _supervisor = make_city(session)
        real_now = datetime.now(UTC)
        ids = [
            make_work_order(session, request, agency, crew=crew, due_at=real_now - hours(n)).id
            for n in (1, 2, 3)
        ]
        session.commit()
    first = _run_cli(escalation_url)
    assert re.fullmatch(r"escalated \d+ work orders?", first)
    assert int(first.split()[1]) >= 3
    assert _run_cli(escalation_url) == "escalated 0 work orders"
    with sessions() as session:
        assert escalations(session, ids) == dict.fromkeys(ids, 1)
