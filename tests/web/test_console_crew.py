"""The crew's board (/staff/crew) through the test client: nearest first, overdue first, start,
finish with a public note and a photo (the request closes and residents read the note), scope,
CSRF and roles."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from open311.db.models import Activity, Crew, Jurisdiction, Media, ServiceRequest, WorkOrder
from open311.domain import intake, staff
from open311.values import StaffRole, Status, WorkOrderState
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
from tests.helpers import jpeg_with_gps

PASSWORD = "crew board test pass 311"
PAST = datetime.now(UTC) - timedelta(days=3)
# Points of the east district: the depot, a street 300 m from it, and one 5 km away.
DEPOT = (34.050, -118.250)
NEAR = (34.0527, -118.250)
FAR = (34.050, -118.196)


@pytest.fixture
def town(db: Session) -> dict[str, Crew]:
    """A city of two districts with a field crew each and a one-step graffiti workflow."""
    area = from_shape(MultiPolygon([box(-118.6, 33.9, -118.1, 34.2)]), srid=4326)
    city = make_jurisdiction(db, service_area=area, time_zone="America/Los_Angeles")
    layer = make_boundary_layer(db, city, "council_districts")
    east_district = make_district(db, layer, "CD1", (-118.30, 34.00, -118.10, 34.10))
    west_district = make_district(db, layer, "CD2", (-118.50, 34.00, -118.30, 34.10))
    agency = make_agency(db, city, "OCB", name="Office of Community Beautification")
    east = make_crew(db, agency, "EAST", districts=[east_district], name="East crew")
    west = make_crew(db, agency, "WEST", districts=[west_district], name="West crew")
    workflow = make_workflow(
        db, city, {"code": "REMOVE", "name": "Remove the graffiti"}, code="GRAFFITI"
    )
    service = make_service(db, city, "GRF", service_name="Graffiti")
    make_rule(db, service, agency, layer_id=layer.id, workflow=workflow, sla_days=3)
    return {"east": east, "west": west}


def file(db: Session, where: tuple[float, float], description: str, address: str) -> WorkOrder:
    """A request filed and routed as production does; its first work order (assigned)."""
    city = db.scalar(select(Jurisdiction))
    submission = intake.Submission(
        service_code="GRF",
        lat=where[0],
        long=where[1],
        address_string=address,
        description=description,
        email="resident@example.org",
    )
    request = intake.submit(db, city, None, submission, PAST)
    db.flush()
    return db.scalars(select(WorkOrder).where(WorkOrder.service_request_pk == request.id)).one()


def user(db: Session, name: str, role: StaffRole, crews: list[Crew] = ()) -> str:
    staff.create_user(
        db,
        name,
        password=PASSWORD,
        role=role,
        crews=crews,
        jurisdictions=list(db.scalars(select(Jurisdiction))),
    )
    db.flush()
    return name


def token_of(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, username: str) -> None:
    form = {
        "username": username,
        "password": PASSWORD,
        "csrf_token": token_of(client, "/staff/sign-in"),
    }
    assert client.post("/staff/sign-in", data=form).status_code == 303


def order_on_board(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'id="work-order-(\d+)"', page)]


@pytest.fixture
def crew_client(client, db, town):
    sign_in(client, user(db, "eve", StaffRole.crew_member, [town["east"]]))
    return client


def test_without_a_position_overdue_comes_first_then_due_date(crew_client, db, town):
    later = file(db, NEAR, "Tag on a wall", "10 Main St")
    overdue = file(db, FAR, "Tag on a fence", "900 Far Rd")
    soon = file(db, DEPOT, "Tag on a box", "1 Depot Way")
    now = datetime.now(UTC)
    later.due_at, overdue.due_at, soon.due_at = (
        now + timedelta(days=2),
        now - timedelta(hours=5),
        now + timedelta(hours=3),
    )
    db.flush()
    answer = crew_client.get("/staff/crew")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert order_on_board(page) == [overdue.id, soon.id, later.id]
    assert "Overdue since" in page and "Overdue first" in page
    assert 'href="geo:34.05,-118.196"' in page
    assert "https://www.openstreetmap.org/directions?to=34.05,-118.196" in page
    assert "resident@example.org" not in page  # crews work the place, not the person


def test_with_a_position_nearest_comes_first_and_is_remembered(crew_client, db, town):
    far = file(db, FAR, "Far away", "900 Far Rd")
    near = file(db, NEAR, "Near", "10 Main St")
    at_depot = file(db, DEPOT, "Here", "1 Depot Way")
    far.due_at = datetime.now(UTC) - timedelta(days=30)  # the most overdue, yet farthest
    db.flush()
    page = crew_client.get(f"/staff/crew?lat={DEPOT[0]}&long={DEPOT[1]}").get_data(as_text=True)
    assert order_on_board(page) == [at_depot.id, near.id, far.id]
    assert re.findall(r"[0-9.,]+ k?m away", page) == ["0 m away", "300 m away", "5.0 km away"]
    # The session keeps the position; the typed field (an address of a job) moves it.
    assert order_on_board(crew_client.get("/staff/crew").get_data(as_text=True))[0] == at_depot.id
    moved = crew_client.get("/staff/crew", query_string={"near": "far rd"}).get_data(as_text=True)
    assert order_on_board(moved)[0] == far.id
    typed = crew_client.get("/staff/crew", query_string={"near": "34.0527, -118.25"})
    assert order_on_board(typed.get_data(as_text=True))[0] == near.id
    forgotten = crew_client.get("/staff/crew?position=forget").get_data(as_text=True)
    assert order_on_board(forgotten)[0] == far.id  # the overdue one again


def test_a_place_not_found_is_said_by_the_field(crew_client, db, town):
    file(db, NEAR, "Near", "10 Main St")
    answer = crew_client.get("/staff/crew", query_string={"near": "Nowhere Lane"})
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert 'id="near-error"' in page and "Nowhere Lane" in page


def test_start_moves_the_work_order_in_progress(crew_client, db, town):
    order = file(db, NEAR, "Near", "10 Main St")
    token = token_of(crew_client, "/staff/crew")
    answer = crew_client.post(
        f"/staff/crew/work-orders/{order.id}/start", data={"csrf_token": token}
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/staff/crew")
    db.refresh(order)
    assert order.state is WorkOrderState.in_progress
    board = crew_client.get("/staff/crew").get_data(as_text=True)
    assert "Started: Remove the graffiti" in board
    assert f'href="/staff/crew/work-orders/{order.id}/finish"' in board


def test_finish_with_a_note_and_a_photo_closes_the_request_for_residents(
    crew_client, app, db, town, tmp_path
):
    app.config["OPEN311_MEDIA_DIR"] = str(tmp_path / "media")
    order = file(db, NEAR, "Near", "10 Main St")
    token = token_of(crew_client, "/staff/crew")
    crew_client.post(f"/staff/crew/work-orders/{order.id}/start", data={"csrf_token": token})
    form_page = crew_client.get(f"/staff/crew/work-orders/{order.id}/finish").get_data(as_text=True)
    assert 'capture="environment"' in form_page and 'accept="image/*"' in form_page
    answer = crew_client.post(
        f"/staff/crew/work-orders/{order.id}/finish",
        data={
            "csrf_token": token,
            "public_note": "Painted over the tag on the wall.",
            "media": (io.BytesIO(jpeg_with_gps()), "done.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    assert "Finished: Remove the graffiti" in crew_client.get("/staff/crew").get_data(as_text=True)
    request = db.get(ServiceRequest, order.service_request_pk)
    db.refresh(request)
    assert request.status is Status.closed
    photo = db.scalars(select(Media).where(Media.service_request_pk == request.id)).one()
    assert any((tmp_path / "media").rglob(photo.name))
    public = crew_client.get(
        f"/open311/v2/requests/{request.service_request_id}.json?extensions=true"
    ).json[0]
    assert any(photo.name in found for found in public["extended_attributes"]["media_urls"])
    assert public["status"] == "closed"
    assert public["status_notes"] == "Painted over the tag on the wall."
    updates = crew_client.get(
        "/open311/v2/servicerequestupdates.json",
        query_string={"service_request_id": request.service_request_id},
    ).json
    closure = [u for u in updates if u["status"] == "fixed"]
    assert closure and "Painted over the tag on the wall." in closure[-1]["description"]


def test_a_finish_refused_changes_nothing_and_says_why_by_the_field(crew_client, db, town):
    order = file(db, NEAR, "Near", "10 Main St")
    token = token_of(crew_client, "/staff/crew")
    crew_client.post(f"/staff/crew/work-orders/{order.id}/start", data={"csrf_token": token})
    entries = db.scalar(select(func.count()).select_from(Activity))
    answer = crew_client.post(
        f"/staff/crew/work-orders/{order.id}/finish",
        data={
            "csrf_token": token,
            "public_note": "  ",
            "media": (io.BytesIO(b"not a photo at all"), "x.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert 'id="public_note-error"' in page and 'id="media-error"' in page
    db.refresh(order)
    assert order.state is WorkOrderState.in_progress
    assert db.scalar(select(func.count()).select_from(Activity)) == entries
    assert db.scalar(select(func.count()).select_from(Media)) == 0


def test_starting_twice_says_why_and_changes_nothing(crew_client, db, town):
    order = file(db, NEAR, "Near", "10 Main St")
    token = token_of(crew_client, "/staff/crew")
    crew_client.post(f"/staff/crew/work-orders/{order.id}/start", data={"csrf_token": token})
    entries = db.scalar(select(func.count()).select_from(Activity))
    again = crew_client.post(
        f"/staff/crew/work-orders/{order.id}/start", data={"csrf_token": token}
    )
    assert again.status_code == 303
    board = crew_client.get("/staff/crew").get_data(as_text=True)
    assert 'class="warning" role="alert"' in board and "cannot go from in_progress" in board
    assert db.scalar(select(func.count()).select_from(Activity)) == entries


def test_another_crews_work_order_is_not_found(crew_client, db, town):
    theirs = file(db, (34.05, -118.40), "West side", "5 West Blvd")
    assert theirs.crew_id == town["west"].id
    assert theirs.id not in order_on_board(crew_client.get("/staff/crew").get_data(as_text=True))
    token = token_of(crew_client, "/staff/crew")
    assert crew_client.get(f"/staff/crew/work-orders/{theirs.id}/finish").status_code == 404
    answer = crew_client.post(
        f"/staff/crew/work-orders/{theirs.id}/start", data={"csrf_token": token}
    )
    assert answer.status_code == 404
    db.refresh(theirs)
    assert theirs.state is WorkOrderState.assigned


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(crew_client, db, town):
    order = file(db, NEAR, "Near", "10 Main St")
    answer = crew_client.post(f"/staff/crew/work-orders/{order.id}/start", data={})
    assert answer.status_code == 400
    assert "expired" in answer.get_data(as_text=True)
    db.refresh(order)
    assert order.state is WorkOrderState.assigned


@pytest.mark.parametrize("role", [StaffRole.call_taker, StaffRole.editor])
def test_call_takers_and_editors_get_the_403_page(client, db, town, role):
    sign_in(client, user(db, "someone", role))
    answer = client.get("/staff/crew")
    assert answer.status_code == 403
    assert answer.content_type.startswith("text/html")


def test_a_supervisor_sees_every_crews_work(client, db, town):
    east = file(db, NEAR, "Near", "10 Main St")
    west = file(db, (34.05, -118.40), "West side", "5 West Blvd")
    sign_in(client, user(db, "sam", StaffRole.supervisor))
    assert set(order_on_board(client.get("/staff/crew").get_data(as_text=True))) == {
        east.id,
        west.id,
    }


def test_signed_out_goes_to_sign_in(client, db, town):
    answer = client.get("/staff/crew")
    assert answer.status_code == 302
    assert "/staff/sign-in?next=/staff/crew" in answer.headers["Location"]


def test_the_board_is_written_right_to_left_in_arabic(crew_client, db, town):
    file(db, NEAR, "Near", "10 Main St")
    page = crew_client.get("/staff/crew?locale=ar").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    assert 'class="crew-card' in page


def test_finishing_a_step_with_an_outcome_opens_the_next_and_keeps_the_request_open(
    crew_client, db, town
):
    city = db.scalar(select(Jurisdiction))
    inspect_first = make_workflow(
        db,
        city,
        {
            "code": "INSPECT",
            "name": "Inspect",
            "outcomes": {"hazardous": "HAZMAT", "ordinary": None},
        },
        {"code": "HAZMAT", "name": "Remove hazardous material"},
        code="DUMPING",
    )
    dumping = make_service(db, city, "DMP", service_name="Illegal dumping")
    make_rule(
        db,
        dumping,
        town["east"].agency,
        layer_id=town["east"].districts[0].layer_id,
        workflow=inspect_first,
        sla_days=5,
    )
    submission = intake.Submission(service_code="DMP", lat=NEAR[0], long=NEAR[1])
    request = intake.submit(db, city, None, submission, PAST)
    db.flush()
    order = db.scalars(select(WorkOrder).where(WorkOrder.service_request_pk == request.id)).one()
    token = token_of(crew_client, "/staff/crew")
    crew_client.post(f"/staff/crew/work-orders/{order.id}/start", data={"csrf_token": token})
    form_page = crew_client.get(f"/staff/crew/work-orders/{order.id}/finish").get_data(as_text=True)
    assert '<option value="hazardous"' in form_page
    answer = crew_client.post(
        f"/staff/crew/work-orders/{order.id}/finish",
        data={"csrf_token": token, "public_note": "Paint cans found.", "outcome": "hazardous"},
    )
    assert answer.status_code == 303
    db.refresh(request)
    assert request.status is Status.open and request.status_notes == "Paint cans found."
    steps = db.scalars(
        select(WorkOrder.title)
        .where(WorkOrder.service_request_pk == request.id)
        .order_by(WorkOrder.id)
    ).all()
    assert steps == ["Inspect", "Remove hazardous material"]
