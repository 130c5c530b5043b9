# ruff: noqa: F811
"""Work orders a supervisor adds to a request outside its workflow (issue 13): who may, where
they go, how they are logged, and that the request stays open until they are done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from open311.db.models import Activity, AuditEntry, ServiceRequest, WorkOrder
from open311.domain import escalation
from open311.wire.datetimes import format_w3c

# town and people are test_staff_work's fixtures, imported to be used as such (F811).
from tests.api.test_staff_work import (  # noqa: F401
    API,
    error,
    file,
    order_of,
    people,
    public,
    snapshot,
    town,
)
from tests.factories import make_agency, make_crew, make_jurisdiction


def add(client, request: ServiceRequest, headers: dict[str, str], **body: Any):
    return client.post(
        f"{API}/requests/{request.service_request_id}/work-orders", json=body, headers=headers
    )


def move(client, headers: dict[str, str], order_id: int, to: str, **extra: Any) -> dict:
    response = client.post(
        f"{API}/work-orders/{order_id}/transitions", json={"to": to, **extra}, headers=headers
    )
    assert response.status_code == 200, response.data
    return response.json


@pytest.mark.parametrize(
    ("caller", "status"),
    [
        ("admin", 201),
        ("supervisor", 201),
        ("call_taker", 403),
        ("crew", 403),
        ("other_crew", 403),
        ("none", 401),
    ],
)
def test_who_may_add_work(client, db, town, people, caller, status):
    request = file(db)
    before = snapshot(db)
    response = add(client, request, people[caller], crew_id=town.west.id, title="Sweep glass")
    assert response.status_code == status, response.data
    if status != 201:
        assert snapshot(db) == before


def test_added_work_goes_to_the_crews_queue_and_is_logged(client, db, town, people):
    request = file(db)
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    response = add(
        client,
        request,
        people["supervisor"],
        crew_id=town.west.id,
        title="Sweep the broken glass",
        due_at=format_w3c(due),
        note="Reported by the inspector",
        priority=2,
    )

    assert response.status_code == 201, response.data
    added = response.json
    assert added["crew"]["code"] == "WEST" and added["agency"] == "BOS"
    assert added["state"] == "assigned" and added["step"] is None and added["priority"] == 2
    assert datetime.fromisoformat(added["due_at"]) == due
    assert added["request"]["service_request_id"] == request.service_request_id
    # In the chosen crew's queue, out of the other crew's reach.
    west = client.get(f"{API}/work-orders", headers=people["other_crew"]).json
    assert added["id"] in [item["id"] for item in west]
    east = client.get(f"{API}/work-orders", headers=people["crew"]).json
    assert added["id"] not in [item["id"] for item in east]
    assert client.get(f"{API}/work-orders/{added['id']}", headers=people["crew"]).status_code == 403
    # Logged internally with the actor, and in the audit.
    entry = db.scalar(
        select(Activity).where(Activity.work_order_id == added["id"]).order_by(Activity.id)
    )
    assert entry.actor == "staff:sam" and entry.kind == "work_order_created"
    assert not entry.public and "Sweep the broken glass" in entry.summary
    assert entry.details["added"] is True and entry.details["crew"] == "WEST"
    audit = db.scalars(select(AuditEntry).where(AuditEntry.actor == "staff:sam")).all()
    assert [(a.method, a.route) for a in audit] == [
        ("POST", "/api/v1/requests/<service_request_id>/work-orders")
    ]
    assert "note" in audit[0].fields
    # Citizens are told nothing of it.
    notes = public(client, request, "json", extensions="true")["notes"]
    assert all("glass" not in (note["summary"] or "") for note in notes)


def test_added_work_keeps_the_request_open_until_done(client, db, town, people):
    request = file(db)
    inspect = order_of(db, request)
    added = add(
        client, request, people["supervisor"], crew_id=town.west.id, title="Check the drain"
    ).json

    # The workflow ends (nothing found), but the added work order is still open.
    move(client, people["crew"], inspect.id, "in_progress")
    ended = move(client, people["crew"], inspect.id, "done", outcome="nothing_found")
    assert ended["follow_ups"] == []
    assert public(client, request)["status"] == "open"

    # Its crew finishes it: now the request closes.
    move(client, people["other_crew"], added["id"], "in_progress")
    last = move(client, people["other_crew"], added["id"], "done", public_note="All done.")
    assert last["follow_ups"] == []
    for fmt in ("json", "xml"):
        item = public(client, request, fmt)
        assert item["status"] == "closed" and item["status_notes"] == "All done."


def test_finishing_added_work_leaves_the_workflow_open(client, db, town, people):
    request = file(db)
    inspect = order_of(db, request)
    added = add(client, request, people["admin"], crew_id=town.west.id, title="Cone it off").json

    move(client, people["other_crew"], added["id"], "in_progress")
    move(client, people["other_crew"], added["id"], "done")

    assert public(client, request)["status"] == "open"
    assert order_of(db, request).id == added["id"]
    db.refresh(inspect)
    assert inspect.state.value == "assigned"


def test_added_work_is_escalated_when_overdue(client, db, town, people):
    request = file(db)
    due = datetime.now(UTC) + timedelta(hours=1)
    added = add(
        client,
        request,
        people["supervisor"],
        crew_id=town.west.id,
        title="Call the owner",
        due_at=format_w3c(due),
    ).json

    escalated = escalation.escalate_overdue(db, now=due + timedelta(minutes=1))

    assert added["id"] in escalated
    order = db.get(WorkOrder, added["id"])
    db.refresh(order)
    assert order.escalated_at is not None and order.crew_id == town.boss.id


def test_without_a_due_time_it_is_due_in_one_business_day(client, db, town, people):
    request = file(db)
    added = add(client, request, people["supervisor"], crew_id=town.east.id, title="Photo").json
    due = datetime.fromisoformat(added["due_at"])
    assert datetime.now(UTC) < due <= datetime.now(UTC) + timedelta(days=5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (lambda t, o: {"crew_id": 999999, "title": "x"}, "no crew 999999"),
        (lambda t, o: {"crew_id": o.id, "title": "x"}, "not a crew of the request's city"),
        (lambda t, o: {"title": "x"}, "crew_id: Missing data"),
        (lambda t, o: {"crew_id": t.west.id}, "title: Missing data"),
        (lambda t, o: {"crew_id": t.west.id, "title": " "}, "title"),
        (
            lambda t, o: {"crew_id": t.west.id, "title": "x", "due_at": "2020-01-01T00:00:00Z"},
            "later than now",
        ),
        (lambda t, o: {"crew_id": t.west.id, "title": "x", "due_at": "soon"}, "due_at"),
        (lambda t, o: {"crew_id": t.west.id, "title": "x", "priority": 10}, "priority"),
        (lambda t, o: {"crew_id": t.west.id, "title": "x", "colour": "red"}, "Unknown field"),
    ],
)
def test_refused_additions_change_nothing(client, db: Session, town, people, body, message):
    request = file(db)
    elsewhere = make_crew(
        db, make_agency(db, make_jurisdiction(db, jurisdiction_id="far.example"), "FAR"), "FAR1"
    )
    before = snapshot(db)
    response = add(client, request, people["supervisor"], **body(town, elsewhere))
    assert message in error(response, 400)
    assert snapshot(db) == before


def test_a_closed_request_gets_no_added_work(client, db, town, people):
    request = file(db)
    client.post(
        f"{API}/requests/{request.service_request_id}/cancel",
        json={"reason": "Duplicate call"},
        headers=people["supervisor"],
    )
    before = snapshot(db)
    response = add(client, request, people["supervisor"], crew_id=town.west.id, title="x")
    assert "is closed" in error(response, 400)
    assert snapshot(db) == before
