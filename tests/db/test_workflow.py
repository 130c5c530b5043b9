"""Work orders through a workflow: routing to crews, follow-ups, SLA times, states, the log."""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from open311.cli import main
from open311.db.models import (
    Activity,
    Agency,
    BoundaryLayer,
    CityHoliday,
    Crew,
    District,
    RequestDistrict,
    RoutingRule,
    ServiceRequest,
    Workflow,
    WorkOrder,
)
from open311.db.session import make_engine, make_session_factory
from open311.domain import activity
from open311.domain.workflow import (
    TRANSITIONS,
    cancel_request,
    reassign,
    reroute_open_work_orders,
    resolve_crew,
    start,
    transition,
)
from open311.errors import InvalidInput
from open311.values import CrewKind, Status, WorkOrderState
from tests.factories import (
    make_agency,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_request,
    make_rule,
    make_service,
    make_work_order,
    make_workflow,
)
from tests.helpers import scratch_database

LA = ZoneInfo("America/Los_Angeles")
STAFF = "staff:alice"
TOWER = "staff:opg-dispatch"
S = WorkOrderState


def la(*args: int) -> datetime:
    return datetime(*args, tzinfo=LA)


def local(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(LA).replace(tzinfo=None)


@dataclass
class Town:
    """Los Angeles' abandoned-vehicle process, as the issue describes it."""

    layer: BoundaryLayer
    cd1: District
    cd2: District
    ladot: Agency
    opg: Agency
    east: Crew  # LADOT field crew of CD1
    west: Crew  # LADOT field crew of CD2
    desk: Crew  # LADOT triage
    supervisor: Crew
    records: Crew  # LADOT's fixed records desk
    tow: Crew  # OPG fixed crews
    impound: Crew
    workflow: Workflow
    rule: RoutingRule


@pytest.fixture
def town(db: Session) -> Town:
    jurisdiction = make_jurisdiction(
        db, time_zone="America/Los_Angeles", holiday_country="US", holiday_subdivision="CA"
    )
    layer = make_boundary_layer(db, jurisdiction, "council_districts")
    cd1 = make_district(db, layer, "CD1", (-118.30, 34.00, -118.20, 34.10))
    cd2 = make_district(db, layer, "CD2", (-118.50, 34.00, -118.30, 34.10))
    ladot = make_agency(db, jurisdiction, "LADOT", name="Department of Transportation")
    opg = make_agency(db, jurisdiction, "OPG", name="Official Police Garages")
    east = make_crew(db, ladot, "PE-EAST", districts=[cd1], name="Parking Enforcement East")
    west = make_crew(db, ladot, "PE-WEST", districts=[cd2], name="Parking Enforcement West")
    desk = make_crew(db, ladot, "PE-DESK", CrewKind.triage, name="Parking Enforcement Desk")
    supervisor = make_crew(db, ladot, "PE-SUPER", CrewKind.supervisor)
    records = make_crew(db, ladot, "AV-RECORDS", name="Abandoned Vehicle records desk")
    tow = make_crew(db, opg, "OPG-TOW", name="OPG tow dispatch")
    impound = make_crew(db, opg, "OPG-IMPOUND", name="OPG impound lot")
    workflow = make_workflow(
        db,
        jurisdiction,
        {
            "code": "INSPECT",
            "name": "Inspect the vehicle",
            "target_hours": 24,
            "public_note": "A parking officer will inspect the vehicle.",
        },
        {
            "code": "TAG",
            "name": "Tag the vehicle with a 72-hour notice",
            "target_hours": 8,
            "public_note": "A 72-hour notice was posted on the vehicle.",
        },
        {
            "code": "REINSPECT",
            "name": "Re-inspect after the 72-hour waiting period",
            "wait_hours": 72,
            "target_hours": 8,
            "outcomes": {"gone": None, "still_there": "TOW"},
        },
        {
            "code": "TOW",
            "name": "Tow the vehicle",
            "agency_id": opg.id,
            "crew_role": "fixed",
            "crew_id": tow.id,
            "target_hours": 24,
            "public_note": "The vehicle is being towed.",
        },
        {
            "code": "IMPOUND",
            "name": "Hold the vehicle at the impound lot",
            "agency_id": opg.id,
            "crew_role": "fixed",
            "crew_id": impound.id,
            "target_hours": 4,
        },
        {
            "code": "NOTIFY",
            "name": "Notify the registered owner",
            "crew_role": "fixed",
            "crew_id": records.id,
            "target_hours": 16,
        },
        code="ABANDONED-VEHICLE",
    )
    service = make_service(db, jurisdiction, "ABANDONED-VEHICLE")
    rule = make_rule(
        db,
        service,
        ladot,
        layer=layer,
        fallback_crew=desk,
        workflow=workflow,
        sla_days=10,
        sla_clock="business",
    )
    db.expire_all()  # relationships (workflow.steps, step.agency) as the app would load them
    return Town(
        layer,
        cd1,
        cd2,
        ladot,
        opg,
        east,
        west,
        desk,
        supervisor,
        records,
        tow,
        impound,
        workflow,
        rule,
    )


def file_request(
    db: Session, town: Town, at: datetime, district: District | None = None
) -> ServiceRequest:
    """A request filed at `at`, placed in `district` (None: address only, needs a location)."""
    if district is None:
        request = make_request(
            db,
            town.rule.service,
            lat=None,
            long=None,
            address="200 N Spring St",
            needs_location=True,
            requested_datetime=at,
            updated_datetime=at,
        )
    else:
        request = make_request(db, town.rule.service, requested_datetime=at, updated_datetime=at)
        db.add(
            RequestDistrict(
                service_request_pk=request.id, layer_id=district.layer_id, district_id=district.id
            )
        )
        db.flush()
    return request


def work(
    db: Session,
    order: WorkOrder,
    at: datetime,
    *,
    actor: str = STAFF,
    outcome: str | None = None,
    note: str | None = None,
    public_note: str | None = None,
) -> list[WorkOrder]:
    """The crew starts and finishes a work order at `at`; returns the follow-ups."""
    assert transition(db, order, S.in_progress, actor=actor, now=at) == []
    return transition(
        db, order, S.done, actor=actor, now=at, outcome=outcome, note=note, public_note=public_note
    )


def log(db: Session, request: ServiceRequest) -> list[Activity]:
    return list(
        db.scalars(
            select(Activity).where(Activity.service_request_pk == request.id).order_by(Activity.id)
        )
    )


def count_log(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Activity))


def test_abandoned_vehicle_end_to_end(db: Session, town: Town):
    filed = la(2026, 10, 19, 9, 0)  # a Monday
    request = file_request(db, town, filed, town.cd1)

    inspect = start(db, request, town.rule, actor="api:myla311", now=filed)
    assert (inspect.agency, inspect.crew, inspect.state) == (town.ladot, town.east, S.assigned)
    assert inspect.parent_id is None and inspect.not_before is None
    # 24 business hours: Monday 8, Tuesday 9, Wednesday 7.
    assert local(inspect.due_at) == datetime(2026, 10, 21, 15, 0)
    # 10 business days of 9 hours, across the end of DST (2026-11-01).
    assert local(request.expected_datetime) == datetime(2026, 11, 2, 9, 0)
    assert request.status_notes == "A parking officer will inspect the vehicle."

    [tag] = work(db, inspect, la(2026, 10, 20, 11, 0), note="Inoperable, expired tags")
    assert (tag.parent_id, tag.agency, tag.crew, tag.state) == (
        inspect.id,
        town.ladot,
        town.east,
        S.assigned,
    )
    assert (inspect.state, inspect.closed_at) == (S.done, la(2026, 10, 20, 11, 0))
    assert local(tag.due_at) == datetime(2026, 10, 21, 10, 0)  # 6 h Tuesday, 2 h Wednesday
    assert request.status is Status.open
    assert request.status_notes == "A 72-hour notice was posted on the vehicle."

    [reinspect] = work(db, tag, la(2026, 10, 21, 10, 0))
    assert (reinspect.parent_id, reinspect.crew) == (tag.id, town.east)
    # The legal waiting period is 72 elapsed hours; the target counts from its end.
    assert local(reinspect.not_before) == datetime(2026, 10, 24, 10, 0)  # a Saturday
    assert local(reinspect.due_at) == datetime(2026, 10, 26, 16, 0)  # Monday 08:00 + 8 h
    assert request.status_notes == "A 72-hour notice was posted on the vehicle."  # no note

    [tow] = work(db, reinspect, la(2026, 10, 26, 11, 0), outcome="still_there")
    assert reinspect.outcome == "still_there"
    assert (tow.parent_id, tow.agency, tow.crew, tow.state) == (
        reinspect.id,
        town.opg,
        town.tow,
        S.assigned,
    )
    # 24 business hours from Monday 11:00 use up Wednesday exactly: Wednesday 17:00.
    assert local(tow.due_at) == datetime(2026, 10, 28, 17, 0)
    assert tow.not_before is None
    assert request.status_notes == "The vehicle is being towed."

    [impound] = work(db, tow, la(2026, 10, 27, 10, 0), actor=TOWER)
    assert (impound.parent_id, impound.agency, impound.crew) == (tow.id, town.opg, town.impound)
    assert local(impound.due_at) == datetime(2026, 10, 27, 14, 0)

    [notify] = work(db, impound, la(2026, 10, 27, 12, 0), actor=TOWER)
    assert (notify.parent_id, notify.agency, notify.crew) == (impound.id, town.ladot, town.records)
    assert local(notify.due_at) == datetime(2026, 10, 29, 10, 0)  # 5 + 9 + 2 hours
    assert request.status is Status.open

    closed_at = la(2026, 10, 28, 9, 0)
    told = "Owner notified by certified mail."
    assert work(db, notify, closed_at, note="Called twice, no answer", public_note=told) == []
    assert request.status is Status.closed
    assert request.status_notes == told  # the internal note stays internal
    assert request.updated_datetime == closed_at
    orders = db.scalars(select(WorkOrder).where(WorkOrder.service_request_pk == request.id)).all()
    assert [order.state for order in orders] == [S.done] * 6
    assert [order.step.code for order in orders] == [
        "INSPECT",
        "TAG",
        "REINSPECT",
        "TOW",
        "IMPOUND",
        "NOTIFY",
    ]

    entries = log(db, request)
    public = [(entry.kind, entry.status, entry.summary) for entry in entries if entry.public]
    assert public == [
        ("routed", "open", "A parking officer will inspect the vehicle."),  # automatic
        ("status_notes", "in_progress", "Work in progress: Inspect the vehicle"),
        ("status_notes", "in_progress", "A 72-hour notice was posted on the vehicle."),
        ("status_notes", "in_progress", "The vehicle is being towed."),
        ("request_closed", "fixed", "Closed: Owner notified by certified mail."),
    ]
    internal = [entry for entry in entries if not entry.public]
    assert [entry.kind for entry in internal].count("work_order_created") == 6
    assert [entry.kind for entry in internal].count("work_order_state") == 12
    assert {entry.actor for entry in entries} == {"api:myla311", STAFF, TOWER}
    for entry in internal:
        assert entry.work_order_id is not None
    done_tow = next(
        entry
        for entry in internal
        if entry.work_order_id == tow.id and entry.details.get("to") == "done"
    )
    assert done_tow.actor == TOWER
    assert done_tow.details == {
        "from": "in_progress",
        "to": "done",
        "note": None,
        "outcome": None,
        "follow_up_ids": [impound.id],
    }
    created_tow = next(
        entry
        for entry in internal
        if entry.work_order_id == tow.id and entry.kind == "work_order_created"
    )
    assert created_tow.details["crew"] == "OPG-TOW"
    assert created_tow.details["parent_id"] == reinspect.id


def test_vehicle_gone_finishes_early(db: Session, town: Town):
    request = file_request(db, town, la(2026, 10, 19, 9, 0), town.cd2)
    inspect = start(db, request, town.rule, actor=STAFF, now=la(2026, 10, 19, 9, 0))
    assert inspect.crew == town.west
    [tag] = work(db, inspect, la(2026, 10, 19, 12, 0))
    [reinspect] = work(db, tag, la(2026, 10, 19, 13, 0))
    assert work(db, reinspect, la(2026, 10, 23, 9, 0), outcome="gone") == []
    assert request.status is Status.closed
    assert request.status_notes == "Completed: Re-inspect after the 72-hour waiting period"
    assert reinspect.outcome == "gone"


def test_city_holidays_move_due_times(db: Session, town: Town):
    jurisdiction_id = town.ladot.jurisdiction_id
    db.add(CityHoliday(jurisdiction_id=jurisdiction_id, day=date(2026, 10, 20), name="Parade"))
    db.flush()
    request = file_request(db, town, la(2026, 10, 19, 9, 0), town.cd1)
    inspect = start(db, request, town.rule, actor=STAFF, now=la(2026, 10, 19, 9, 0))
    # Monday 8 h, Tuesday closed, Wednesday 9 h, Thursday 7 h.
    assert local(inspect.due_at) == datetime(2026, 10, 22, 15, 0)


def test_rule_without_workflow_gets_one_generic_work_order(db: Session, town: Town):
    service = make_service(db, town.rule.service.jurisdiction, "GRAFFITI")
    rule = make_rule(db, service, town.ladot, layer=town.layer, sla_days=3, sla_clock="calendar")
    filed = la(2026, 10, 30, 12, 0)  # a Friday, before the end of DST
    request = make_request(db, service, requested_datetime=filed, updated_datetime=filed)
    db.add(
        RequestDistrict(
            service_request_pk=request.id, layer_id=town.layer.id, district_id=town.cd2.id
        )
    )
    db.flush()
    order = start(db, request, rule, actor=STAFF, now=filed)
    assert (order.title, order.agency, order.crew, order.step) == (
        "Resolve request",
        town.ladot,
        town.west,
        None,
    )
    # Three calendar days in local time: Monday 12:00 PST, 73 real hours later.
    assert local(request.expected_datetime) == datetime(2026, 11, 2, 12, 0)
    assert order.due_at == request.expected_datetime
    assert request.status_notes is None
    work(db, order, la(2026, 11, 2, 9, 0))
    assert (request.status, request.status_notes) == (Status.closed, "Completed: Resolve request")


def test_rule_without_sla_expects_nothing(db: Session, town: Town):
    service = make_service(db, town.rule.service.jurisdiction, "OTHER")
    rule = make_rule(db, service, town.opg)
    request = make_request(db, service)
    order = start(db, request, rule, actor=STAFF, now=datetime.now(UTC))
    assert request.expected_datetime is None
    assert (order.due_at, order.crew, order.state) == (None, None, S.new)


def test_empty_workflow_starts_nothing(db: Session, town: Town):
    service = make_service(db, town.rule.service.jurisdiction, "EMPTY")
    workflow = make_workflow(db, town.rule.service.jurisdiction, code="EMPTY")
    rule = make_rule(db, service, town.ladot, workflow=workflow, sla_days=1)
    request = make_request(db, service)
    assert start(db, request, rule, actor=STAFF, now=datetime.now(UTC)) is None
    assert request.expected_datetime is not None


# --- the state machine ------------------------------------------------------------------------

ALLOWED = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}


def test_the_allowed_transitions():
    expected = {
        (S.new, S.assigned),
        (S.new, S.cancelled),
        (S.assigned, S.in_progress),
        (S.assigned, S.new),
        (S.assigned, S.cancelled),
        (S.in_progress, S.done),
        (S.in_progress, S.assigned),
        (S.in_progress, S.cancelled),
    }
    assert expected == ALLOWED


def _snapshot(db: Session, order: WorkOrder) -> tuple:
    db.expire_all()
    request = order.service_request
    return (
        order.state,
        order.crew_id,
        order.updated_at,
        order.closed_at,
        order.outcome,
        request.status,
        request.status_notes,
        request.updated_datetime,
        count_log(db),
    )


@pytest.mark.parametrize(
    ("source", "target"), list(itertools.product(WorkOrderState, WorkOrderState))
)
def test_every_transition(db: Session, town: Town, source: WorkOrderState, target: WorkOrderState):
    request = file_request(db, town, la(2026, 10, 19, 9, 0), town.cd1)
    order = make_work_order(db, request, town.ladot, crew=town.east, state=source)
    now = la(2026, 10, 19, 10, 0)
    if (source, target) not in ALLOWED:
        before = _snapshot(db, order)
        with pytest.raises(InvalidInput, match=f"cannot go from {source} to {target}; allowed: "):
            transition(db, order, target, actor=STAFF, now=now)
        assert _snapshot(db, order) == before
        return
    transition(db, order, target, actor=STAFF, note="why", now=now)
    db.expire_all()
    assert (order.state, order.updated_at) == (target, now)
    assert order.closed_at == (now if target in (S.done, S.cancelled) else None)
    assert order.crew_id == (None if target is S.new else town.east.id)
    assert request.updated_datetime == now
    [entry] = [entry for entry in log(db, request) if entry.kind == "work_order_state"]
    assert (entry.actor, entry.public, entry.work_order_id, entry.at) == (
        STAFF,
        False,
        order.id,
        now,
    )
    assert entry.details["from"] == source and entry.details["to"] == target
    assert entry.details["note"] == "why"
    closes = target in (S.done, S.cancelled)
    assert request.status is (Status.closed if closes else Status.open)
    if closes:
        [closing] = [entry for entry in log(db, request) if entry.public]
        assert closing.kind == "request_closed"
        assert closing.details["status"] == {"from": "open", "to": "closed"}


def test_error_names_the_allowed_moves(db: Session, town: Town):
    request = file_request(db, town, la(2026, 10, 19, 9, 0), town.cd1)
    order = make_work_order(db, request, town.ladot, crew=town.east, state=S.done)
    with pytest.raises(InvalidInput) as refused:
        transition(db, order, "in_progress", actor=STAFF, now=la(2026, 10, 19, 10, 0))
    assert str(refused.value) == (
        f"work order {order.id} cannot go from done to in_progress; allowed: none, done is final"
    )
    order = make_work_order(db, request, town.ladot, crew=town.east, state=S.assigned)
    with pytest.raises(InvalidInput, match="allowed: in_progress, new, cancelled"):
        transition(db, order, S.done, actor=STAFF, now=la(2026, 10, 19, 10, 0))
    with pytest.raises(InvalidInput, match="unknown work order state 'finished'"):
        transition(db, order, "finished", actor=STAFF, now=la(2026, 10, 19, 10, 0))


def test_assigned_needs_a_crew(db: Session, town: Town):
    request = file_request(db, town, la(2026, 10, 19, 9, 0), town.cd1)
    order = make_work_order(db, request, town.ladot)
    assert order.state is S.new
    with pytest.raises(InvalidInput, match="has no crew"):
        transition(db, order, S.assigned, actor=STAFF, now=la(2026, 10, 19, 10, 0))
    assert order.state is S.new


def test_outcomes_are_checked(db: Session, town: Town):
    filed = la(2026, 10, 19, 9, 0)
    request = file_request(db, town, filed, town.cd1)
    inspect = start(db, request, town.rule, actor=STAFF, now=filed)
    transition(db, inspect, S.in_progress, actor=STAFF, now=filed)
    # Only with done.
    with pytest.raises(InvalidInput, match="only accepted when a work order is done"):
        transition(db, inspect, S.assigned, actor=STAFF, outcome="gone", now=filed)
    # A step without outcomes takes any report, and the next position follows.
    [tag] = transition(db, inspect, S.done, actor=STAFF, outcome="plates_missing", now=filed)
    assert (inspect.outcome, tag.step.code) == ("plates_missing", "TAG")
    [reinspect] = work(db, tag, filed)
    transition(db, reinspect, S.in_progress, actor=STAFF, now=filed)
    before = _snapshot(db, reinspect)
    with pytest.raises(
        InvalidInput, match="not one of step REINSPECT's outcomes: gone, still_there"
    ):
        transition(db, reinspect, S.done, actor=STAFF, outcome="towed", now=filed)
    assert _snapshot(db, reinspect) == before
    # No outcome at all: the next position (TOW).
    [tow] = transition(db, reinspect, S.done, actor=STAFF, now=filed)
    assert tow.step.code == "TOW"


# --- cancel, reassign, reroute ------------------------------------------------------------------


def test_cancel_closes_the_request(db: Session, town: Town):
    filed = la(2026, 10, 19, 9, 0)
    request = file_request(db, town, filed, town.cd1)
    inspect = start(db, request, town.rule, actor=STAFF, now=filed)
    assert (
        transition(
            db,
            inspect,
            S.cancelled,
            actor=STAFF,
            note="Owner moved it",
            public_note="The vehicle has been moved.",
            now=filed,
        )
        == []
    )
    assert (inspect.state, inspect.closed_at) == (S.cancelled, filed)
    assert (request.status, request.status_notes) == (Status.closed, "The vehicle has been moved.")
    [closing] = [entry for entry in log(db, request) if entry.kind == "request_closed"]
    assert (closing.public, closing.status) == (True, "cancelled")
    closing = log(db, request)[-1]
    assert (closing.kind, closing.public, closing.summary) == (
        "request_closed",
        True,
        "Closed: The vehicle has been moved.",
    )


def test_cancel_waits_for_other_open_work_orders(db: Session, town: Town):
    filed = la(2026, 10, 19, 9, 0)
    request = file_request(db, town, filed, town.cd1)
    first = start(db, request, town.rule, actor=STAFF, now=filed)
    second = make_work_order(db, request, town.opg, crew=town.tow)
    transition(db, first, S.cancelled, actor=STAFF, note="Wrong vehicle", now=filed)
    assert request.status is Status.open
    transition(db, second, S.cancelled, actor=STAFF, note="Wrong vehicle", now=filed)
    assert (request.status, request.status_notes) == (Status.closed, "Cancelled")


def test_cancel_request(db: Session, town: Town):
    filed = la(2026, 10, 19, 9, 0)
    request = file_request(db, town, filed, town.cd1)
    first = start(db, request, town.rule, actor=STAFF, now=filed)
    second = make_work_order(db, request, town.opg, crew=town.tow, state=S.in_progress)
    done = make_work_order(db, request, town.opg, crew=town.tow, state=S.done)
    with pytest.raises(InvalidInput, match="reason"):
        cancel_request(db, request, actor=STAFF, reason=" ", now=filed)
    cancelled = cancel_request(db, request, actor=STAFF, reason="Vehicle moved", now=filed)
    assert cancelled == [first, second]
    assert [first.state, second.state, done.state] == [S.cancelled, S.cancelled, S.done]
    assert (request.status, request.status_notes) == (Status.closed, "Cancelled: Vehicle moved")
    assert [entry.kind for entry in log(db, request) if entry.public].count("request_closed") == 1
    with pytest.raises(InvalidInput, match="already closed"):
        cancel_request(db, request, actor=STAFF, reason="again", now=filed)


def test_cancel_request_without_work_orders(db: Session, town: Town):
    request = file_request(db, town, la(2026, 10, 19, 9, 0), town.cd1)
    assert cancel_request(db, request, actor=STAFF, reason="Spam", now=la(2026, 10, 19, 9)) == []
    assert (request.status, request.status_notes) == (Status.closed, "Cancelled: Spam")


def test_reassign(db: Session, town: Town):
    filed = la(2026, 10, 19, 9, 0)
    request = file_request(db, town, filed, town.cd1)
    inspect = start(db, request, town.rule, actor=STAFF, now=filed)
    later = la(2026, 10, 19, 10, 0)
    reassign(db, inspect, town.west, actor=STAFF, note="East is short-handed", now=later)
    assert (inspect.crew, inspect.state, inspect.updated_at) == (town.west, S.assigned, later)
    entry = log(db, request)[-1]
    assert (entry.kind, entry.actor, entry.public) == ("work_order_reassigned", STAFF, False)
    assert entry.details["crew"] == {"from": "PE-EAST", "to": "PE-WEST"}
    assert entry.details["note"] == "East is short-handed"
    # Another agency's crew, and finished work orders, are refused; the same crew is a no-op.
    with pytest.raises(InvalidInput, match="not a crew of LADOT"):
        reassign(db, inspect, town.tow, actor=STAFF, note=None, now=later)
    entries = count_log(db)
    reassign(db, inspect, town.west, actor=STAFF, note=None, now=later)
    assert count_log(db) == entries
    transition(db, inspect, S.cancelled, actor=STAFF, now=later)
    with pytest.raises(InvalidInput, match="cancelled: it cannot be reassigned"):
        reassign(db, inspect, town.east, actor=STAFF, note=None, now=later)
    # A new work order given a crew is assigned.
    waiting = make_work_order(db, request, town.ladot)
    reassign(db, waiting, town.east, actor=STAFF, note=None, now=later)
    assert (waiting.state, waiting.crew) == (S.assigned, town.east)


def test_address_only_request_goes_to_triage_then_its_district(db: Session, town: Town):
    filed = la(2026, 10, 19, 9, 0)
    request = file_request(db, town, filed, district=None)
    inspect = start(db, request, town.rule, actor="api:myla311", now=filed)
    assert (inspect.crew, inspect.state) == (town.desk, S.assigned)
    # Still without a location: nothing to reroute.
    assert reroute_open_work_orders(db, request, actor=STAFF, now=filed) == []

    # Staff find the point; routing records its districts (here directly) and reroutes.
    request.needs_location = False
    db.add(
        RequestDistrict(
            service_request_pk=request.id, layer_id=town.layer.id, district_id=town.cd2.id
        )
    )
    db.flush()
    transition(db, inspect, S.in_progress, actor="staff:desk", now=filed)
    located = la(2026, 10, 19, 11, 0)
    assert reroute_open_work_orders(db, request, actor=STAFF, now=located) == [inspect]
    assert (inspect.crew, inspect.state, inspect.updated_at) == (town.west, S.assigned, located)
    entry = log(db, request)[-1]
    assert (entry.kind, entry.actor, entry.public) == ("work_order_rerouted", STAFF, False)
    assert entry.details["crew"] == {"from": "PE-DESK", "to": "PE-WEST"}
    assert entry.details["state"] == {"from": "in_progress", "to": "assigned"}
    # Once with a field crew, it stays there.
    assert reroute_open_work_orders(db, request, actor=STAFF, now=located) == []


def test_resolve_crew(db: Session, town: Town):
    request = file_request(db, town, la(2026, 10, 19, 9, 0), town.cd2)
    jurisdiction = town.rule.service.jurisdiction
    neighbourhoods = make_boundary_layer(db, jurisdiction, "neighborhood_councils")
    nc = make_district(db, neighbourhoods, "NC1")
    db.add(
        RequestDistrict(
            service_request_pk=request.id, layer_id=neighbourhoods.id, district_id=nc.id
        )
    )
    # Street Services: a crew for the neighbourhood (lower id) and one for the council district.
    bos = make_agency(db, jurisdiction, "BOS")
    nc_crew = make_crew(db, bos, "BOS-NC1", districts=[nc])
    cd_crew = make_crew(db, bos, "BOS-CD2", districts=[town.cd2])
    db.flush()

    def crew(agency: Agency, role: str, **kw) -> Crew | None:
        return resolve_crew(db, request, agency, role, **kw)

    # The rule's layer is preferred over a lower crew id; without a rule, the lowest id wins.
    assert crew(bos, "district", rule=town.rule) == cd_crew
    assert crew(bos, "district") == nc_crew
    # A rule without a layer always takes its fallback.
    town.rule.layer_id = None
    assert crew(town.ladot, "district", rule=town.rule) == town.desk
    town.rule.layer = town.layer
    # No district crew: the rule's fallback if it is the agency's, else the triage crew.
    town.rule.fallback_crew = town.records
    assert crew(town.opg, "district", rule=town.rule) is None
    # Another layer's district is second best; with neither, BOS has no crew at all.
    cd_crew.districts = []
    db.flush()
    assert crew(bos, "district", rule=town.rule) == nc_crew
    nc_crew.districts = []
    db.flush()
    assert crew(bos, "district", rule=town.rule) is None
    make_crew(db, bos, "BOS-DESK", CrewKind.triage)
    assert crew(bos, "district", rule=town.rule).code == "BOS-DESK"
    db.execute(
        text("DELETE FROM request_district WHERE service_request_pk = :id"), {"id": request.id}
    )
    assert crew(town.ladot, "district", rule=town.rule) == town.records
    # Queues and fixed crews.
    assert crew(town.ladot, "triage") == town.desk
    assert crew(town.ladot, "supervisor") == town.supervisor
    assert crew(town.opg, "supervisor") is None
    assert crew(town.opg, "fixed", step_crew=town.tow) == town.tow
    # An address-only request: triage, or the fallback when the agency has no triage crew.
    request.needs_location = True
    assert crew(town.ladot, "district", rule=town.rule) == town.desk
    assert crew(bos, "district", rule=town.rule).code == "BOS-DESK"
    town.rule.fallback_crew = town.tow
    assert crew(town.opg, "district", rule=town.rule) == town.tow


# --- the activity log ---------------------------------------------------------------------------


def test_activity_cannot_be_rewritten(db: Session, town: Town):
    request = file_request(db, town, la(2026, 10, 19, 9, 0), town.cd1)
    entry = activity.record(db, request, actor=STAFF, kind="note", summary="Called the requester")
    db.flush()
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text("UPDATE activity SET summary = 'nothing' WHERE id = :id"), {"id": entry.id})
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text("DELETE FROM activity WHERE id = :id"), {"id": entry.id})
    db.expire_all()
    assert db.get(Activity, entry.id).summary == "Called the requester"


# --- two staff at once (committed data, so a database of its own) -------------------------------


@pytest.fixture(scope="module")
def committed_url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def committed(committed_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(committed_url)
    yield make_session_factory(engine)
    engine.dispose()


def committed_order(committed: sessionmaker[Session], state: WorkOrderState) -> tuple[int, int]:
    """A committed work order of step ONE (followed by TWO); returns its id and request's."""
    with committed() as setup:
        jurisdiction = make_jurisdiction(
            setup,
            jurisdiction_id=f"{uuid.uuid4().hex[:8]}.example",
            time_zone="America/Los_Angeles",
        )
        agency = make_agency(setup, jurisdiction, "LADOT")
        crew = make_crew(setup, agency, "PE-EAST", name="Parking Enforcement East")
        workflow = make_workflow(
            setup,
            jurisdiction,
            {"code": "ONE", "name": "Inspect", "outcomes": {"gone": None, "there": "TWO"}},
            {"code": "TWO", "name": "Tow"},
        )
        service = make_service(setup, jurisdiction, "ABANDONED-VEHICLE")
        make_rule(setup, service, agency, workflow=workflow, fallback_crew=crew)
        request = make_request(setup, service)
        order = make_work_order(
            setup, request, agency, crew=crew, state=state, step=workflow.steps[0], title="Inspect"
        )
        setup.commit()
        return order.id, request.id


def test_two_staff_cannot_complete_the_same_work_order(committed: sessionmaker[Session]):
    order_id, request_pk = committed_order(committed, S.in_progress)

    now = datetime.now(UTC)
    first, second = committed(), committed()
    mine, theirs = first.get(WorkOrder, order_id), second.get(WorkOrder, order_id)
    assert transition(first, mine, S.done, actor="staff:a", now=now)  # holds the row lock
    outcome: list[object] = []

    def complete_too() -> None:
        try:
            outcome.append(transition(second, theirs, S.done, actor="staff:b", now=now))
        except InvalidInput as exc:
            outcome.append(exc)
        finally:
            second.rollback()

    racer = threading.Thread(target=complete_too)
    racer.start()
    racer.join(timeout=0.5)
    assert racer.is_alive()  # waiting for the lock
    first.commit()
    racer.join(timeout=10)
    first.close()
    second.close()
    [refused] = outcome
    assert isinstance(refused, InvalidInput)
    assert "cannot go from done to done" in str(refused)
    with committed() as check:
        orders = check.scalars(
            select(WorkOrder).where(WorkOrder.service_request_pk == request_pk)
        ).all()
        assert [order.state for order in orders] == [S.done, S.assigned]
        assert (
            check.scalar(
                select(func.count())
                .select_from(Activity)
                .where(Activity.work_order_id == order_id, Activity.kind == "work_order_state")
            )
            == 1
        )


def test_cli_moves_and_shows_work_orders(committed_url: str, committed: sessionmaker[Session]):
    order_id, _request_pk = committed_order(committed, S.assigned)
    runner = CliRunner()

    def cli(*args: str) -> Result:
        return runner.invoke(main, list(args), env={"DATABASE_URL": committed_url})

    moved = cli("workorder", "move", str(order_id), "in_progress")
    assert moved.exit_code == 0, moved.output
    assert f"work order {order_id}: Inspect [in_progress]" in moved.output
    refused = cli("workorder", "move", str(order_id), "new")
    assert refused.exit_code == 1
    assert "cannot go from in_progress to new; allowed: done, assigned, cancelled" in refused.output
    done = cli("workorder", "move", str(order_id), "done", "--outcome", "there", "--note", "Still")
    assert done.exit_code == 0, done.output
    assert re.search(r"follow-up work order \d+: Tow \[assigned\]", done.output)
    shown = cli("workorder", "show", str(order_id))
    assert shown.exit_code == 0, shown.output
    assert "outcome: there" in shown.output
    assert "in_progress -> done, outcome there: Still" in shown.output
    assert cli("workorder", "show", "999999").exit_code == 1
