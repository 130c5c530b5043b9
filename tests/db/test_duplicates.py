"""Duplicates on real Los Angeles points: detection at intake, confirm, undo and merge.

The points are the city's own: reports of graffiti on S Gaffey St in San Pedro from the MyLA311
sample the demo seed imports (1230 and 1214 S Gaffey St are 17 m apart, 629 W 14th St is 203 m
from the first). The demo city's history is all from 2017-2020 and closed there, so only the
requests filed here meet.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, text

from open311.db import duplicate_queries
from open311.db.models import Activity, ServiceRequest
from open311.domain import catalogue, duplicates, intake, jurisdictions, workflow
from open311.errors import InvalidInput
from open311.values import DuplicateState, ServiceType, Status
from tests.factories import make_jurisdiction, make_request, make_service

GAFFEY_1230 = (33.73280359, -118.2922555)
GAFFEY_1214 = (33.73295877, -118.2922483)  # 17 m north
W_14TH_629 = (33.73138964, -118.2908618)  # 203 m south-east
NOW = datetime.now(UTC)
ACTOR = "staff:sup"


@pytest.fixture
def connection(demo_connection: Connection) -> Iterator[Connection]:
    savepoint = demo_connection.begin_nested()
    yield demo_connection
    savepoint.rollback()


@pytest.fixture
def la(db):
    return jurisdictions.resolve(db, "lacity.org")


def file(
    db, la, point: tuple[float, float] | None, *, service: str = "GRAFFITI", at=None, **kw: Any
) -> ServiceRequest:
    answers = {"GRAFFITI": {"SURFACE": ["WALL"]}, "OTHER": {}}[service]
    lat, long = point if point is not None else (None, None)
    submission = intake.Submission(
        service_code=service,
        lat=lat,
        long=long,
        description="Graffiti on the wall",
        attributes=answers,
        **kw,
    )
    return intake.submit(db, la, None, submission, at or NOW, actor="staff:calltaker")


def activity_kinds(db, request: ServiceRequest) -> list[str]:
    return list(
        db.scalars(
            select(Activity.kind)
            .where(Activity.service_request_pk == request.id)
            .order_by(Activity.id)
        )
    )


def indexes_used(db, sql: str, params: dict[str, Any]) -> set[str]:
    """The names of the indexes in the plan of `sql` (as tests/db/test_indexes.py)."""
    [plan] = db.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), params).scalar_one()
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            found.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return found


def test_a_report_17_m_from_an_open_one_is_a_suspected_duplicate(db, la):
    first = file(db, la, GAFFEY_1230)
    second = file(db, la, GAFFEY_1214, at=NOW + timedelta(minutes=5))

    assert first.duplicate_of is None
    assert second.duplicate_of is first
    assert second.duplicate_state is DuplicateState.suspected
    assert second.service_notice.startswith(
        f"This looks like request {first.service_request_id}, which was already reported nearby."
    )
    assert second.service_notice.endswith(first.service.service_notice)
    entry = db.scalar(
        select(Activity).where(
            Activity.service_request_pk == second.id, Activity.kind == "duplicate_suspected"
        )
    )
    assert entry is not None and not entry.public
    assert entry.details["parent"] == first.service_request_id
    assert 16.0 < entry.details["distance_m"] < 18.5


@pytest.mark.parametrize(
    "case", ["200 m away", "another service", "outside the window", "parent closed", "no point"]
)
def test_what_is_not_a_duplicate(db, la, case):
    at = NOW + timedelta(minutes=5)
    if case == "outside the window":
        file(db, la, GAFFEY_1230, at=NOW - timedelta(hours=la.duplicate_window_hours + 1))
    else:
        first = file(
            db, la, GAFFEY_1230, service="OTHER" if case == "another service" else "GRAFFITI"
        )
        if case == "parent closed":
            workflow.cancel_request(db, first, actor=ACTOR, reason="painted over", now=NOW)
    point = {"200 m away": W_14TH_629, "no point": None}.get(case, GAFFEY_1214)
    extra = {"address_string": "1214 S GAFFEY ST"} if point is None else {}

    second = file(db, la, point, at=at, **extra)

    assert second.duplicate_of is None and second.duplicate_state is None
    assert second.service_notice == second.service.service_notice
    assert "duplicate_suspected" not in activity_kinds(db, second)


def test_radius_zero_turns_detection_off(db, la):
    la.duplicate_radius_m = 0
    file(db, la, GAFFEY_1230)

    second = file(db, la, GAFFEY_1214, at=NOW + timedelta(minutes=5))

    assert second.duplicate_of is None


def test_the_nearest_open_request_wins_and_links_go_to_the_root(db, la):
    far = file(db, la, (33.73311193, -118.2922487))  # 1204 S Gaffey, 34 m from 1230
    near = file(db, la, GAFFEY_1214, at=NOW + timedelta(minutes=1))  # 17 m from 1204: links
    assert near.duplicate_of is far

    # 1230 is 17 m from `near` (a duplicate itself) and 34 m from `far`: linked to `far`.
    third = file(db, la, GAFFEY_1230, at=NOW + timedelta(minutes=2))

    assert third.duplicate_of is far


def test_confirm_merges_into_the_parent(db, la):
    first = file(db, la, GAFFEY_1230)
    second = file(db, la, GAFFEY_1214, at=NOW + timedelta(minutes=5))

    parent = duplicates.confirm(db, second, actor=ACTOR, now=NOW + timedelta(hours=1))

    assert parent is first
    assert second.duplicate_state is DuplicateState.confirmed
    assert second.status is Status.closed
    assert second.status_notes.startswith(f"Duplicate of request {first.service_request_id}")
    assert workflow.current_status(db, second) == "duplicate"
    assert first.status is Status.open
    merged = db.scalar(
        select(Activity).where(
            Activity.service_request_pk == first.id, Activity.kind == "duplicate_merged"
        )
    )
    assert merged.public and merged.status == "open"
    assert merged.summary == (
        f"Another report of this problem (request {second.service_request_id}) "
        "was merged into this one."
    )
    assert all(w.state.value == "cancelled" for w in second.work_orders)


def test_undo_clears_a_suspected_link(db, la):
    file(db, la, GAFFEY_1230)
    second = file(db, la, GAFFEY_1214, at=NOW + timedelta(minutes=5))

    duplicates.undo(db, second, actor=ACTOR, now=NOW + timedelta(hours=1))

    assert second.duplicate_of is None and second.duplicate_state is None
    assert second.service_notice == second.service.service_notice
    assert second.status is Status.open
    assert activity_kinds(db, second)[-1] == "duplicate_undone"
    with pytest.raises(InvalidInput, match="not linked"):
        duplicates.undo(db, second, actor=ACTOR, now=NOW)
    with pytest.raises(InvalidInput, match="not a suspected duplicate"):
        duplicates.confirm(db, second, actor=ACTOR, now=NOW)


def test_a_merge_is_not_undone_and_not_repeated(db, la):
    first = file(db, la, GAFFEY_1230)
    second = file(db, la, GAFFEY_1214, at=NOW + timedelta(minutes=5))
    duplicates.confirm(db, second, actor=ACTOR, now=NOW)

    with pytest.raises(InvalidInput, match="a merge is not undone"):
        duplicates.undo(db, second, actor=ACTOR, now=NOW)
    with pytest.raises(InvalidInput, match="already merged"):
        duplicates.merge(db, second, first, actor=ACTOR, now=NOW)


def test_merging_into_a_merged_request_goes_to_its_parent_and_brings_the_children(db, la):
    root = file(db, la, W_14TH_629)
    middle = file(db, la, GAFFEY_1230)
    child = file(db, la, GAFFEY_1214, at=NOW + timedelta(minutes=5))
    assert child.duplicate_of is middle
    other = file(db, la, W_14TH_629, service="OTHER")

    duplicates.merge(db, middle, root, actor=ACTOR, now=NOW)
    assert child.duplicate_of is root  # brought along, still suspected
    assert child.duplicate_state is DuplicateState.suspected
    assert activity_kinds(db, child)[-1] == "duplicate_relinked"

    # `middle` was merged: merging into it merges into `root`, whatever the service.
    parent = duplicates.merge(db, other, middle, actor=ACTOR, now=NOW)
    assert parent is root and other.duplicate_of is root


def test_merge_refusals_change_nothing(db, la):
    first = file(db, la, GAFFEY_1230)
    second = file(db, la, GAFFEY_1214, at=NOW + timedelta(minutes=5))
    closed = file(db, la, W_14TH_629)
    workflow.cancel_request(db, closed, actor=ACTOR, reason="gone", now=NOW)
    elsewhere = make_request(
        db, make_service(db, make_jurisdiction(db, jurisdiction_id="elsewhere.example"), "X")
    )
    db.flush()
    before = db.scalar(select(func.count()).select_from(Activity))

    with pytest.raises(InvalidInput, match="into itself"):
        duplicates.merge(db, first, first, actor=ACTOR, now=NOW)
    with pytest.raises(InvalidInput, match="undo that link first"):
        duplicates.merge(db, first, second, actor=ACTOR, now=NOW)  # second -> first already
    with pytest.raises(InvalidInput, match="is closed"):
        duplicates.merge(db, closed, first, actor=ACTOR, now=NOW)
    with pytest.raises(InvalidInput, match="not of the jurisdiction"):
        duplicates.merge(db, elsewhere, first, actor=ACTOR, now=NOW)

    assert db.scalar(select(func.count()).select_from(Activity)) == before
    assert first.status is Status.open and first.duplicate_of is None
    assert second.duplicate_state is DuplicateState.suspected


def test_the_detection_query_uses_a_gist_index(db, la):
    # Statistics, so the plan is the one the planner would choose on a loaded table.
    db.execute(text("ANALYZE service_request"))
    graffiti = catalogue.get_service(db, la, "GRAFFITI").id
    sql, params = duplicate_queries.nearby_sql(
        jurisdiction_pk=la.id,
        service_pk=graffiti,
        lat=GAFFEY_1230[0],
        long=GAFFEY_1230[1],
        radius_m=la.duplicate_radius_m,
        since=datetime(2017, 1, 1, tzinfo=UTC),
        until=NOW,
        exclude_pk=0,
    )

    # Either GiST index on location serves it (the partial one over open requests, or the
    # full one); which, the planner decides from statistics other tests leave behind.
    spatial = {"ix_service_request_location_open", "idx_service_request_location"}
    assert spatial & indexes_used(db, sql, params)


def test_a_blackbox_request_is_merged_with_no_published_one(db, la):
    """Each side's public notes name the other, so a merge either way would publish the id of a
    blackbox service's request (not published, OPEN311_PUBLISH_BLACKBOX off)."""
    public = file(db, la, GAFFEY_1230)
    feedback = make_request(db, make_service(db, la, "FEEDBACK-X", type=ServiceType.blackbox))
    db.flush()
    before = db.scalar(select(func.count()).select_from(Activity))

    for request, parent in ((public, feedback), (feedback, public)):
        with pytest.raises(InvalidInput, match="cannot be merged: one is of a blackbox service"):
            duplicates.merge(db, request, parent, actor=ACTOR, now=NOW)

    assert db.scalar(select(func.count()).select_from(Activity)) == before
    assert public.duplicate_of is None and feedback.duplicate_of is None
    assert public.status is Status.open and feedback.status is Status.open
