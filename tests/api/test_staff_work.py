"""The staff API's work views: queues, transitions, reassignment, notes, locating, cancelling and
the staff view of a request; each seen from the roles that may and may not, and from the public
GeoReport API afterwards."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import Connection, event, func, select
from sqlalchemy.orm import Session

from open311.db.models import (
    Activity,
    Agency,
    BoundaryLayer,
    Crew,
    District,
    Jurisdiction,
    RequestDistrict,
    ServiceRequest,
    StaffUser,
    WorkOrder,
)
from open311.domain import intake, staff
from open311.values import CrewKind, StaffRole
from open311.wire.datetimes import format_w3c
from tests.api.helpers import bearer, items_of, next_link, url
from tests.factories import (
    make_agency,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_rule,
    make_service,
    make_workflow,
)

API = "/api/v1"
# A point in each district of the town, and one far outside its service area.
IN_CD1 = (34.05, -118.25)
IN_CD2 = (34.05, -118.40)
OUTSIDE = (40.7, -74.0)
PAST = datetime.now(UTC) - timedelta(days=2)


@dataclass
class Town:
    """A small city: two council districts, a street bureau with a field crew for each, a
    triage desk and supervisors, and a two-step pothole workflow."""

    city: Jurisdiction
    layer: BoundaryLayer
    cd1: District
    cd2: District
    bos: Agency
    east: Crew  # covers CD1
    west: Crew  # covers CD2
    desk: Crew  # triage: address-only requests
    boss: Crew  # supervisors
    other_crew: Crew  # a crew of another agency


@pytest.fixture
def town(db: Session) -> Town:
    area = from_shape(MultiPolygon([box(-118.6, 33.9, -118.1, 34.2)]), srid=4326)
    city = make_jurisdiction(db, service_area=area)
    layer = make_boundary_layer(db, city, "council_districts")
    cd1 = make_district(db, layer, "CD1", (-118.30, 34.00, -118.20, 34.10))
    cd2 = make_district(db, layer, "CD2", (-118.50, 34.00, -118.30, 34.10))
    bos = make_agency(db, city, "BOS", name="Bureau of Street Services")
    east = make_crew(db, bos, "EAST", districts=[cd1], name="East crew")
    west = make_crew(db, bos, "WEST", districts=[cd2], name="West crew")
    desk = make_crew(db, bos, "DESK", CrewKind.triage, name="Street desk")
    boss = make_crew(db, bos, "BOSS", CrewKind.supervisor, name="Supervisors")
    other_crew = make_crew(db, make_agency(db, city, "LADOT"), "TOW", name="Tow crew")
    workflow = make_workflow(
        db,
        city,
        {
            "code": "INSPECT",
            "name": "Inspect the pothole",
            "outcomes": {"needs_repair": "REPAIR", "nothing_found": None},
        },
        {"code": "REPAIR", "name": "Repair the pothole", "public_note": "Repair scheduled"},
        code="POTHOLE",
    )
    pothole = make_service(db, city, "POT", service_name="Pothole")
    make_rule(db, pothole, bos, layer_id=layer.id, workflow=workflow, sla_days=5)
    return Town(city, layer, cd1, cd2, bos, east, west, desk, boss, other_crew)


def token_of(db: Session, role: StaffRole, username: str, crews: list[Crew] = ()) -> str:
    """A live token of a new user. The password hash is a placeholder: these users never sign
    in, and five scrypt hashes per test would triple the module's run time. The user works
    for every jurisdiction there is (the town's)."""
    user = StaffUser(
        username=username, display_name=username, role=role, password_hash="-", crews=list(crews)
    )
    user.jurisdictions = list(db.scalars(select(Jurisdiction)))
    db.add(user)
    _token, plain = staff.issue_token(db, user, now=datetime.now(UTC), lifetime=timedelta(hours=1))
    return plain


@pytest.fixture
def people(db: Session, town: Town) -> dict[str, dict[str, str]]:
    """Request headers of each kind of caller; `none` sends no token."""
    tokens = {
        "admin": token_of(db, StaffRole.administrator, "ada"),
        "supervisor": token_of(db, StaffRole.supervisor, "sam"),
        "call_taker": token_of(db, StaffRole.call_taker, "cat"),
        "crew": token_of(db, StaffRole.crew_member, "eve", [town.east]),
        "other_crew": token_of(db, StaffRole.crew_member, "walt", [town.west]),
    }
    return {name: bearer(token) for name, token in tokens.items()} | {"none": {}}


def file(
    db: Session,
    where: tuple[float, float] | None = IN_CD1,
    *,
    at: datetime | None = PAST,
    description: str = "Deep pothole",
) -> ServiceRequest:
    """File a request as production does: validated, stored, routed, first work order open."""
    city = db.scalar(select(Jurisdiction))
    submission = intake.Submission(
        service_code="POT",
        lat=where[0] if where else None,
        long=where[1] if where else None,
        address_string=None if where else "200 N Spring St",
        description=description,
        first_name="Grace",
        last_name="Hopper",
        email="grace@example.org",
        phone="555-0100",
    )
    request = intake.submit(db, city, None, submission, at)
    db.flush()
    return request


def order_of(db: Session, request: ServiceRequest) -> WorkOrder:
    """The request's newest work order."""
    return db.scalars(
        select(WorkOrder)
        .where(WorkOrder.service_request_pk == request.id)
        .order_by(WorkOrder.id.desc())
        .execution_options(populate_existing=True)
    ).first()


def snapshot(db: Session) -> tuple[Any, ...]:
    """Everything a refused call must leave as it was, read as plain columns."""
    return (
        db.scalar(select(func.count()).select_from(Activity)),
        db.execute(
            select(WorkOrder.id, WorkOrder.state, WorkOrder.crew_id, WorkOrder.outcome).order_by(
                WorkOrder.id
            )
        ).all(),
        db.execute(
            select(
                ServiceRequest.id,
                ServiceRequest.status,
                ServiceRequest.status_notes,
                ServiceRequest.updated_datetime,
                ServiceRequest.needs_location,
                func.ST_AsText(ServiceRequest.location),
            ).order_by(ServiceRequest.id)
        ).all(),
        db.scalar(select(func.count()).select_from(RequestDistrict)),
    )


def public(client, request: ServiceRequest, fmt: str = "json", **query: str) -> dict[str, Any]:
    (item,) = items_of(
        client.get(url(f"requests/{request.service_request_id}", fmt), query_string=query), fmt
    )
    return item


def error(response, status: int) -> str:
    assert response.status_code == status, response.data
    assert response.content_type.startswith("application/json")
    (problem,) = response.json[:1]
    assert problem["code"] == status
    return " ".join(p["description"] for p in response.json)


# --- who may do what ---------------------------------------------------------------------------


@dataclass
class Case:
    method: str
    path: Callable[[ServiceRequest, WorkOrder, Town], str]
    body: Callable[[Town], dict[str, Any] | None]
    allowed: dict[str, int]  # caller -> status; every other caller gets 403, `none` 401
    located: bool = True  # whether the request has a point (locate needs one without)


CASES = {
    "queue": Case(
        "GET",
        lambda r, w, t: f"{API}/work-orders",
        lambda t: None,
        {"admin": 200, "supervisor": 200, "crew": 200, "other_crew": 200},
    ),
    "queue of another crew": Case(
        "GET",
        lambda r, w, t: f"{API}/work-orders?crew={t.east.id}",
        lambda t: None,
        {"admin": 200, "supervisor": 200, "crew": 200},
    ),
    "work order": Case(
        "GET",
        lambda r, w, t: f"{API}/work-orders/{w.id}",
        lambda t: None,
        {"admin": 200, "supervisor": 200, "crew": 200},
    ),
    "transition": Case(
        "POST",
        lambda r, w, t: f"{API}/work-orders/{w.id}/transitions",
        lambda t: {"to": "in_progress", "note": "on my way"},
        {"admin": 200, "supervisor": 200, "crew": 200},
    ),
    "reassign": Case(
        "POST",
        lambda r, w, t: f"{API}/work-orders/{w.id}/reassign",
        lambda t: {"crew_id": t.west.id},
        {"admin": 200, "supervisor": 200},
    ),
    "request": Case(
        "GET",
        lambda r, w, t: f"{API}/requests/{r.service_request_id}",
        lambda t: None,
        {"admin": 200, "supervisor": 200, "call_taker": 200, "crew": 200},
    ),
    "note": Case(
        "POST",
        lambda r, w, t: f"{API}/requests/{r.service_request_id}/notes",
        lambda t: {"note": "Called the requester back"},
        {"admin": 201, "supervisor": 201, "call_taker": 201, "crew": 201},
    ),
    "locate": Case(
        "POST",
        lambda r, w, t: f"{API}/requests/{r.service_request_id}/location",
        lambda t: {"lat": IN_CD2[0], "long": IN_CD2[1]},
        {"admin": 200, "supervisor": 200, "call_taker": 200},
        located=False,
    ),
    "cancel": Case(
        "POST",
        lambda r, w, t: f"{API}/requests/{r.service_request_id}/cancel",
        lambda t: {"reason": "Reported twice"},
        {"admin": 200, "supervisor": 200},
    ),
}
CALLERS = ("admin", "supervisor", "call_taker", "crew", "other_crew", "none")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name", list(CASES))
def test_roles_and_crews(client, db, town, people, name, caller):
    case = CASES[name]
    request = file(db, IN_CD1 if case.located else None)
    order = order_of(db, request)
    if not case.located:
        # Triage found the address; the east crew is asked to look, so a crew member's refusal
        # is about the role, not the crew.
        order.crew = town.east
        db.flush()
    before = snapshot(db)

    response = client.open(
        case.path(request, order, town),
        method=case.method,
        json=case.body(town),
        headers=people[caller],
    )

    expected = 401 if caller == "none" else case.allowed.get(caller, 403)
    assert response.status_code == expected, response.data
    if expected in (401, 403):
        error(response, expected)
        assert snapshot(db) == before


@pytest.mark.parametrize(
    "path",
    ["/work-orders/999999", "/work-orders/999999/transitions", "/requests/NOPE"],
)
def test_unknown_work_orders_and_requests_are_404(client, people, path):
    method = "POST" if path.endswith("transitions") else "GET"
    response = client.open(
        API + path,
        method=method,
        json={"to": "done"} if method == "POST" else None,
        headers=people["admin"],
    )
    error(response, 404)


def test_the_requester_is_shown_to_call_takers_never_to_crews(client, db, town, people):
    request = file(db)
    path = f"{API}/requests/{request.service_request_id}"

    for caller in ("admin", "supervisor", "call_taker"):
        view = client.get(path, headers=people[caller]).json
        assert view["requester"] == {
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "grace@example.org",
            "phone": "555-0100",
        }
    crew_view = client.get(path, headers=people["crew"])
    assert crew_view.status_code == 200
    assert "requester" not in crew_view.json
    assert b"Hopper" not in crew_view.data and b"grace@" not in crew_view.data


def test_a_crew_member_may_view_a_request_their_crew_worked_before(client, db, town, people):
    request = file(db)
    order = order_of(db, request)
    # East finished inspecting; the repair went to West. East still sees the request.
    order.crew = town.west
    db.flush()
    path = f"{API}/requests/{request.service_request_id}"
    assert client.get(path, headers=people["crew"]).status_code == 403
    assert client.get(path, headers=people["other_crew"]).status_code == 200


# --- the staff view of a request ---------------------------------------------------------------


def test_staff_view_of_a_request(client, db, town, people):
    request = file(db)
    order = order_of(db, request)
    client.post(
        f"{API}/requests/{request.service_request_id}/notes",
        json={"note": "Gate code 4711"},
        headers=people["call_taker"],
    )

    view = client.get(f"{API}/requests/{request.service_request_id}", headers=people["admin"]).json

    assert view["service_request_id"] == request.service_request_id
    assert view["service_code"] == "POT" and view["service_name"] == "Pothole"
    assert view["status"] == "open" and view["update_status"] == "open"
    assert (view["lat"], view["long"]) == pytest.approx(IN_CD1)
    assert view["needs_location"] is False and view["channel"] == "api"
    assert view["districts"] == {"council_districts": "CD1"}
    assert view["duplicate_of"] is None and view["duplicate_state"] is None
    assert view["agency_responsible"] == "Bureau of Street Services"
    (item,) = view["work_orders"]
    assert item["id"] == order.id and item["state"] == "assigned"
    assert item["crew"] == {"id": town.east.id, "code": "EAST", "name": "East crew"}
    assert item["agency"] == "BOS" and item["step"] == "INSPECT" and item["parent_id"] is None
    kinds = [entry["kind"] for entry in view["activity"]]
    assert kinds == ["submitted", "routed", "work_order_created", "internal_note"]
    note = view["activity"][-1]
    assert note["public"] is False and note["status"] is None
    assert note["actor"] == "staff:cat" and note["summary"] == "Gate code 4711"


def test_the_duplicate_link_is_shown(client, db, people):
    first, second = file(db), file(db)
    second.duplicate_of_pk, second.duplicate_state = first.id, "suspected"
    db.flush()

    view = client.get(f"{API}/requests/{second.service_request_id}", headers=people["admin"]).json

    assert view["duplicate_of"] == first.service_request_id
    assert view["duplicate_state"] == "suspected"


# --- transitions, seen from the public API -----------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_starting_work_tells_citizens(client, db, town, people, fmt):
    request = file(db)
    order = order_of(db, request)
    assert public(client, request)["status_notes"] is None

    response = client.post(
        f"{API}/work-orders/{order.id}/transitions",
        json={"to": "in_progress", "note": "gate code 4711", "public_note": "A crew is on site"},
        headers=people["crew"],
    )

    assert response.status_code == 200, response.data
    assert response.json["work_order"]["state"] == "in_progress"
    assert response.json["work_order"]["request"]["service_request_id"] == (
        request.service_request_id
    )
    assert response.json["follow_ups"] == []
    updated = db.scalar(
        select(ServiceRequest.updated_datetime).where(ServiceRequest.id == request.id)
    )
    assert updated > PAST + timedelta(days=1)
    item = public(client, request, fmt)
    assert item["status"] == "open"
    assert item["status_notes"] == "A crew is on site"
    assert item["updated_datetime"] == format_w3c(updated)
    extended = client.get(
        url(f"requests/{request.service_request_id}", fmt), query_string={"extensions": "true"}
    )
    assert b"A crew is on site" in extended.data
    assert b"4711" not in extended.data
    log = db.scalars(select(Activity).where(Activity.service_request_pk == request.id)).all()
    assert {entry.actor for entry in log if entry.at > PAST} == {"staff:eve"}


def test_the_workflow_to_its_end_closes_the_request(client, db, town, people):
    request = file(db)
    inspect = order_of(db, request)
    headers = people["crew"]

    def move(order_id: int, to: str, **extra: Any) -> dict[str, Any]:
        response = client.post(
            f"{API}/work-orders/{order_id}/transitions", json={"to": to, **extra}, headers=headers
        )
        assert response.status_code == 200, response.data
        return response.json

    move(inspect.id, "in_progress")
    done = move(inspect.id, "done", outcome="needs_repair", note="30 cm wide")
    assert done["work_order"]["state"] == "done" and done["work_order"]["outcome"] == "needs_repair"
    (repair,) = done["follow_ups"]
    assert repair["step"] == "REPAIR" and repair["parent_id"] == inspect.id
    assert repair["crew"]["code"] == "EAST" and repair["state"] == "assigned"
    assert public(client, request)["status_notes"] == "Repair scheduled"

    move(repair["id"], "in_progress")
    last = move(repair["id"], "done")

    assert last["follow_ups"] == []
    for fmt in ("json", "xml"):
        item = public(client, request, fmt)
        assert item["status"] == "closed"
        assert item["status_notes"] == "Completed: Repair the pothole"
    notes = public(client, request, "json", extensions="true")["notes"]
    assert [note["summary"] for note in notes][-1] == "Closed: Completed: Repair the pothole"
    assert all("30 cm" not in (note["summary"] or "") for note in notes)


@pytest.mark.parametrize(
    ("state", "body", "message"),
    [
        ("assigned", {"to": "flying"}, "to: Must be one of"),
        ("assigned", {"to": "done"}, "cannot go from assigned to done"),
        ("in_progress", {"to": "done", "outcome": "repainted"}, "not one of step INSPECT"),
        ("assigned", {"to": "in_progress", "outcome": "needs_repair"}, "only accepted when"),
        ("done", {"to": "in_progress"}, "done is final"),
        ("assigned", {"to": "done", "colour": "red"}, "colour: Unknown field"),
        ("assigned", {}, "to: Missing data"),
    ],
)
def test_refused_transitions_change_nothing(client, db, people, state, body, message):
    request = file(db)
    order = order_of(db, request)
    order.state = state
    db.flush()
    before = snapshot(db)

    response = client.post(
        f"{API}/work-orders/{order.id}/transitions", json=body, headers=people["crew"]
    )

    assert message in error(response, 400)
    assert snapshot(db) == before


def test_work_order_detail_has_its_internal_log(client, db, town, people):
    request = file(db)
    order = order_of(db, request)
    client.post(
        f"{API}/work-orders/{order.id}/transitions",
        json={"to": "in_progress", "note": "pothole is 30 cm"},
        headers=people["crew"],
    )

    detail = client.get(f"{API}/work-orders/{order.id}", headers=people["crew"]).json

    assert detail["id"] == order.id and detail["state"] == "in_progress"
    assert detail["request"]["service_request_id"] == request.service_request_id
    entries = {entry["kind"]: entry for entry in detail["activity"]}
    assert entries["work_order_created"]["public"] is False
    state = entries["work_order_state"]
    assert state["actor"] == "staff:eve" and "30 cm" in state["summary"]
    assert entries["status_notes"]["public"] is True
    assert entries["status_notes"]["status"] == "in_progress"


# --- reassignment -------------------------------------------------------------------------------


def test_reassign_moves_a_work_order_between_queues(client, db, town, people):
    request = file(db)
    order = order_of(db, request)

    response = client.post(
        f"{API}/work-orders/{order.id}/reassign",
        json={"crew_id": town.west.id, "note": "East is flooded"},
        headers=people["supervisor"],
    )

    assert response.status_code == 200, response.data
    assert response.json["crew"]["code"] == "WEST"
    east = client.get(f"{API}/work-orders", headers=people["crew"]).json
    west = client.get(f"{API}/work-orders", headers=people["other_crew"]).json
    assert order.id not in [item["id"] for item in east]
    assert order.id in [item["id"] for item in west]
    entry = db.scalar(
        select(Activity).where(Activity.kind == "work_order_reassigned").order_by(Activity.id)
    )
    assert entry.actor == "staff:sam" and "East is flooded" in entry.summary
    assert client.get(f"{API}/work-orders/{order.id}", headers=people["crew"]).status_code == 403


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (lambda t: {"crew_id": 999999}, "no crew 999999"),
        (lambda t: {"crew_id": t.other_crew.id}, "not a crew of BOS"),
        (lambda t: {"note": "no crew"}, "crew_id: Missing data"),
        (lambda t: {"crew_id": "west"}, "crew_id: Not a valid integer"),
    ],
)
def test_refused_reassignments_change_nothing(client, db, town, people, body, message):
    order = order_of(db, file(db))
    before = snapshot(db)

    response = client.post(
        f"{API}/work-orders/{order.id}/reassign", json=body(town), headers=people["admin"]
    )

    assert message in error(response, 400)
    assert snapshot(db) == before


# --- notes --------------------------------------------------------------------------------------


def test_public_and_internal_notes(client, db, town, people):
    request = file(db)
    path = f"{API}/requests/{request.service_request_id}/notes"

    internal = client.post(path, json={"note": "Requester is rude"}, headers=people["crew"])
    told = client.post(
        path,
        json={"note": "We will look at it this week", "public": True},
        headers=people["call_taker"],
    )

    assert internal.status_code == 201 and told.status_code == 201
    assert told.json["status_notes"] == "We will look at it this week"
    for fmt in ("json", "xml"):
        extended = client.get(
            url(f"requests/{request.service_request_id}", fmt),
            query_string={"extensions": "true"},
        )
        assert b"We will look at it this week" in extended.data
        assert b"rude" not in extended.data
    notes = public(client, request, extensions="true")["notes"]
    assert notes[-1]["summary"] == "We will look at it this week"
    assert public(client, request)["status_notes"] == "We will look at it this week"


def test_a_note_on_one_work_order(client, db, town, people):
    request = file(db)
    order = order_of(db, request)
    response = client.post(
        f"{API}/requests/{request.service_request_id}/notes",
        json={"note": "Bring cones", "work_order_id": order.id},
        headers=people["crew"],
    )
    assert response.status_code == 201
    detail = client.get(f"{API}/work-orders/{order.id}", headers=people["crew"]).json
    assert detail["activity"][-1]["summary"] == "Bring cones"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "note: Missing data"),
        ({"note": ""}, "note: Length must be between 1"),
        ({"note": "   "}, "a note needs some text"),
        ({"note": "x", "public": "maybe"}, "public: Not a valid boolean"),
        ({"note": "x", "work_order_id": "OTHER"}, "is not a work order of request"),
    ],
)
def test_refused_notes_change_nothing(client, db, people, body, message):
    request, other = file(db), file(db)
    if body.get("work_order_id") == "OTHER":
        body = body | {"work_order_id": order_of(db, other).id}
    before = snapshot(db)

    response = client.post(
        f"{API}/requests/{request.service_request_id}/notes", json=body, headers=people["admin"]
    )

    assert message in error(response, 400)
    assert snapshot(db) == before


# --- locating an address-only request -----------------------------------------------------------


def test_locating_routes_to_the_district_crew(client, db, town, people):
    request = file(db, None)
    order = order_of(db, request)
    assert order.crew_id == town.desk.id and request.needs_location

    response = client.post(
        f"{API}/requests/{request.service_request_id}/location",
        json={"lat": IN_CD2[0], "long": IN_CD2[1]},
        headers=people["call_taker"],
    )

    assert response.status_code == 200, response.data
    view = response.json
    assert view["needs_location"] is False
    assert view["districts"] == {"council_districts": "CD2"}
    (item,) = view["work_orders"]
    assert item["crew"]["code"] == "WEST" and item["state"] == "assigned"
    kinds = [entry["kind"] for entry in view["activity"]]
    assert kinds[-2:] == ["located", "work_order_rerouted"]
    assert {entry["actor"] for entry in view["activity"][-2:]} == {"staff:cat"}
    item = public(client, request)
    assert (item["lat"], item["long"]) == pytest.approx(IN_CD2)
    west = client.get(f"{API}/work-orders", headers=people["other_crew"]).json
    assert order.id in [entry["id"] for entry in west]


@pytest.mark.parametrize(
    ("located", "body", "message"),
    [
        (False, {"lat": 91, "long": -118.4}, "lat: Must be greater than or equal to -90"),
        (False, {"lat": 34.05, "long": -181}, "long: Must be greater than or equal to -180"),
        (False, {"lat": 34.05}, "long: Missing data"),
        (False, {"lat": "north", "long": -118.4}, "lat: Not a valid number"),
        (False, {"lat": OUTSIDE[0], "long": OUTSIDE[1]}, "outside the service area"),
        (True, {"lat": IN_CD2[0], "long": IN_CD2[1]}, "already has a location"),
    ],
)
def test_refused_locations_change_nothing(client, db, people, located, body, message):
    request = file(db, IN_CD1 if located else None)
    before = snapshot(db)

    response = client.post(
        f"{API}/requests/{request.service_request_id}/location",
        json=body,
        headers=people["supervisor"],
    )

    assert message in error(response, 400)
    assert snapshot(db) == before


# --- cancelling ---------------------------------------------------------------------------------


def test_cancel_closes_the_request_and_tells_why(client, db, town, people):
    request = file(db)
    path = f"{API}/requests/{request.service_request_id}/cancel"

    response = client.post(
        path,
        json={"reason": "private road", "status": "not_councils_responsibility"},
        headers=people["supervisor"],
    )

    assert response.status_code == 200, response.data
    view = response.json
    assert view["status"] == "closed" and view["update_status"] == "not_councils_responsibility"
    assert [item["state"] for item in view["work_orders"]] == ["cancelled"]
    for fmt in ("json", "xml"):
        item = public(client, request, fmt)
        assert item["status"] == "closed" and item["status_notes"] == "Cancelled: private road"
    again = client.post(path, json={"reason": "twice"}, headers=people["supervisor"])
    assert "already closed" in error(again, 400)


def test_cancel_with_a_public_note(client, db, people):
    request = file(db)
    client.post(
        f"{API}/requests/{request.service_request_id}/cancel",
        json={"reason": "duplicate of a call", "public_note": "Already being handled"},
        headers=people["admin"],
    )
    item = public(client, request)
    assert item["status"] == "closed" and item["status_notes"] == "Already being handled"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "reason: Missing data"),
        ({"reason": ""}, "reason: Length must be between 1"),
        ({"reason": "  "}, "a reason is required"),
        ({"reason": "x", "status": "fixed"}, "status: Must be one of"),
        ({"reason": "x", "status": "open"}, "status: Must be one of"),
    ],
)
def test_refused_cancellations_change_nothing(client, db, people, body, message):
    request = file(db)
    before = snapshot(db)

    response = client.post(
        f"{API}/requests/{request.service_request_id}/cancel", json=body, headers=people["admin"]
    )

    assert message in error(response, 400)
    assert snapshot(db) == before


# --- the queue: order, filters, paging, one statement -------------------------------------------


@pytest.fixture
def queue(db: Session, town: Town) -> dict[str, WorkOrder]:
    """Five work orders of the east crew with set due times and priorities, one of the west."""
    soon = datetime.now(UTC) + timedelta(hours=4)
    plan = {
        "a": (soon + timedelta(hours=1), 0),
        "b": (soon + timedelta(hours=1), 5),
        "c": (None, 9),
        "d": (soon, 0),
        "e": (soon + timedelta(hours=1), 5),
    }
    orders = {}
    for name, (due_at, priority) in plan.items():
        order = order_of(db, file(db, description=f"Pothole {name}"))
        order.due_at, order.priority = due_at, priority
        orders[name] = order
    orders["w"] = order_of(db, file(db, IN_CD2, description="Pothole w"))
    orders["w"].due_at = soon
    db.flush()
    return orders


def ids(response) -> list[int]:
    assert response.status_code == 200, response.data
    return [item["id"] for item in response.json]


def names(response, queue: dict[str, WorkOrder]) -> str:
    by_id = {order.id: name for name, order in queue.items()}
    return "".join(by_id[i] for i in ids(response))


def test_queue_order_and_items(client, db, town, people, queue):
    response = client.get(f"{API}/work-orders", headers=people["crew"])

    assert names(response, queue) == "dbeac"
    item = response.json[0]
    assert set(item) == {
        "id", "title", "state", "priority", "outcome", "not_before", "due_at", "escalated_at",
        "closed_at", "created_at", "updated_at", "crew", "agency", "step", "parent_id", "request",
    }  # fmt: skip
    assert item["crew"] == {"id": town.east.id, "code": "EAST", "name": "East crew"}
    assert item["agency"] == "BOS" and item["step"] == "INSPECT"
    assert item["request"]["description"] == "Pothole d"
    assert item["request"]["service_code"] == "POT" and item["request"]["status"] == "open"
    assert (item["request"]["lat"], item["request"]["long"]) == pytest.approx(IN_CD1)
    assert set(item["request"]) == {
        "service_request_id", "service_code", "service_name", "status", "address", "lat",
        "long", "description", "requested_datetime",
    }  # fmt: skip


def test_a_queue_item_is_the_work_order_as_its_own_view_shows_it(client, people, queue):
    """The queue builds its items without marshmallow (work_schemas.queue_item); one work order
    read alone goes through QueueItemOut: both give the same document."""
    listed = client.get(f"{API}/work-orders", headers=people["admin"]).json
    assert len(listed) == len(queue)
    for item in listed:
        alone = client.get(f"{API}/work-orders/{item['id']}", headers=people["admin"]).json
        alone.pop("activity")
        assert item == alone


def test_queue_crews(client, town, people, queue):
    get = client.get
    admin = people["admin"]
    assert names(get(f"{API}/work-orders", headers=admin), queue) == "dwbeac"
    assert names(get(f"{API}/work-orders?crew={town.west.id}", headers=admin), queue) == "w"
    both = f"crew={town.west.id},{town.east.id}"
    assert names(get(f"{API}/work-orders?{both}", headers=admin), queue) == "dwbeac"
    repeated = f"crew={town.west.id}&crew={town.east.id}"
    assert names(get(f"{API}/work-orders?{repeated}", headers=admin), queue) == "dwbeac"
    assert names(get(f"{API}/work-orders", headers=people["other_crew"]), queue) == "w"
    refused = get(f"{API}/work-orders?crew={town.east.id}", headers=people["other_crew"])
    assert "your own crews" in error(refused, 403)
    mixed = get(f"{API}/work-orders?{both}", headers=people["crew"])
    assert error(mixed, 403)


def test_queue_states(client, db, people, queue):
    headers = people["crew"]
    for name, to in [("a", "in_progress"), ("b", "in_progress"), ("b", "done")]:
        client.post(
            f"{API}/work-orders/{queue[name].id}/transitions",
            json={"to": to, "outcome": "nothing_found"} if to == "done" else {"to": to},
            headers=headers,
        )
    get = client.get
    assert names(get(f"{API}/work-orders", headers=headers), queue) == "deac"
    assert names(get(f"{API}/work-orders?state=in_progress", headers=headers), queue) == "a"
    assert names(get(f"{API}/work-orders?state=done,assigned", headers=headers), queue) == "dbec"


def test_queue_district_bbox_and_due(client, town, people, queue):
    admin = people["admin"]

    def get(query: str) -> str:
        return names(client.get(f"{API}/work-orders?{query}", headers=admin), queue)

    assert get(f"district={town.cd2.id}") == "w"
    assert get(f"district={town.cd1.id}") == "dbeac"
    assert get("bbox=-118.45,34.0,-118.35,34.1") == "w"
    assert get("bbox=-118.29,34.0,-118.21,34.1") == "dbeac"
    assert get("bbox=-74.1,40.6,-73.9,40.8") == ""
    due = format_w3c(queue["d"].due_at + timedelta(minutes=1))
    assert get(f"due_before={due}") == "dw"
    assert get("overdue=true") == ""
    assert get("overdue=false") == "dwbeac"


def test_queue_overdue(client, db, people, queue):
    queue["a"].due_at = datetime.now(UTC) - timedelta(hours=1)
    db.flush()
    get = client.get
    assert names(get(f"{API}/work-orders?overdue=true", headers=people["crew"]), queue) == "a"
    assert names(get(f"{API}/work-orders?overdue=0", headers=people["crew"]), queue) == "dbec"


def test_queue_pages(client, people, queue):
    headers = people["crew"]
    first = client.get(f"{API}/work-orders?page_size=2&state=assigned", headers=headers)
    assert names(first, queue) == "db"
    second = client.get(next_link(first), headers=headers)
    assert names(second, queue) == "ea"
    assert "state=assigned" in next_link(first) and "page=2" in next_link(first)
    third = client.get(next_link(second), headers=headers)
    assert names(third, queue) == "c" and next_link(third) is None
    beyond = client.get(f"{API}/work-orders?page=9", headers=headers)
    assert ids(beyond) == [] and next_link(beyond) is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=flying", "state: flying not allowed"),
        ("bbox=1,2,3", "bbox: must be minLng,minLat,maxLng,maxLat"),
        ("bbox=-118.2,34.1,-118.3,34.0", "minLng must not exceed maxLng"),
        ("due_before=yesterday", "due_before: 'yesterday' is not a W3C datetime"),
        ("due_before=2026-02-30T10:00:00Z", "not a valid date"),
        ("overdue=perhaps", "overdue: Not a valid boolean"),
        ("page_size=501", "page_size: Must be greater than or equal to 1"),
        ("page=0", "page: Must be greater than or equal to 1"),
        ("crew=east", "crew: 'east' is not an id"),
        ("district=CD1", "district: Not a valid integer"),
        ("colour=red", "colour: Unknown field"),
    ],
)
def test_bad_queue_arguments_are_400(client, people, queue, query, message):
    response = client.get(f"{API}/work-orders?{query}", headers=people["admin"])
    assert message in error(response, 400)


@pytest.fixture
def statements(connection: Connection) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and their parameters) run on the test's connection meanwhile."""
    seen: list[tuple[str, Any]] = []

    def count(_conn, _cursor, statement, parameters, *_args) -> None:
        seen.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", count)
    yield seen
    event.remove(connection, "before_cursor_execute", count)


def queue_selects(statements: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(sql, params) for sql, params in statements if "FROM work_order" in sql]


def test_the_queue_is_one_statement_however_long(client, db, town, people, queue, statements):
    headers = people["admin"]
    client.get(f"{API}/work-orders?page_size=1", headers=headers)
    few = len(statements)
    statements.clear()

    response = client.get(f"{API}/work-orders?page_size=500", headers=headers)

    assert len(response.json) == 6
    assert len(statements) == few
    ((sql, _params),) = queue_selects(statements)
    assert "JOIN service_request" in sql and "JOIN crew" in sql


def test_the_bounding_box_can_use_the_gist_index(client, connection, people, queue, statements):
    client.get(f"{API}/work-orders?bbox=-118.45,34.0,-118.35,34.1", headers=people["admin"])
    ((sql, params),) = queue_selects(statements)
    assert "service_request.location && ST_MakeEnvelope(" in sql

    # The planner's choice of join order on a handful of rows depends on statistics left by
    # other tests, so this asks the narrower question: is the queue's bbox condition, exactly
    # as the queue writes it, one the GiST index can serve?
    # The condition up to the envelope's closing parenthesis (its arguments hold "%(name)s").
    envelope = r"service_request\.location && ST_MakeEnvelope\((?:[^()]|\([^()]*\))*\)"
    condition = re.search(envelope, sql).group(0)
    # Neither a sequential scan nor a whole-index scan (of any index, filtering each row) is
    # allowed: only a bitmap scan, which needs an index that serves the condition itself.
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    connection.exec_driver_sql("SET LOCAL enable_indexscan = off")
    # Nor a whole scan of the space-time or tile-key index, whose predicate (location IS NOT
    # NULL) the condition implies (dropped in this test's transaction only, rolled back).
    connection.exec_driver_sql("DROP INDEX ix_service_request_spacetime")
    connection.exec_driver_sql("DROP INDEX ix_service_request_tile")  # the same, for the tiles
    (plan,) = connection.exec_driver_sql(
        f"EXPLAIN (FORMAT JSON) SELECT id FROM service_request WHERE {condition}", params
    ).scalar_one()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
    connection.exec_driver_sql("SET LOCAL enable_indexscan = on")
    assert "idx_service_request_location" in json.dumps(plan)
