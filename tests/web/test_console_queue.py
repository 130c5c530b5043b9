"""The supervisor's console screens through the test client: the queue (overdue first, crew and
district filters), a work order's page and its forms (reassign, add a work order, merge a
duplicate, internal note; a refused or unsigned form changes nothing), the roles and cities
that may not, and the dashboard's figures against the staff API's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from open311.db.models import (
    Activity,
    AuditEntry,
    Contact,
    Crew,
    District,
    Jurisdiction,
    ServiceRequest,
    WorkOrder,
)
from open311.domain import intake, workflow
from open311.values import CrewKind, DuplicateState, StaffRole, Status, WorkOrderState
from tests.api.helpers import PASSWORD, bearer, make_staff
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

IN_CD1 = (34.05, -118.25)
IN_CD2 = (34.05, -118.40)
NOW = datetime.now(UTC)
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Town:
    """A city of two council districts with a crew each, a second agency's crew, and another
    city with its own crew and request."""

    city: Jurisdiction
    cd1: District
    cd2: District
    east: Crew
    west: Crew
    tow: Crew  # another agency's
    elsewhere: Jurisdiction


def _city(db: Session, jurisdiction_id: str, west: float) -> Any:
    area = from_shape(MultiPolygon([box(west, 33.9, west + 0.5, 34.2)]), srid=4326)
    city = make_jurisdiction(db, jurisdiction_id=jurisdiction_id, name=jurisdiction_id)
    flow = make_workflow(db, city, {"code": "INSPECT", "name": "Inspect"}, code="POTHOLE")
    service = make_service(db, city, f"POT-{jurisdiction_id}", service_name="Pothole")
    return city, area, flow, service


@pytest.fixture
def town(db: Session) -> Town:
    city, area, flow, service = _city(db, "town.example", -118.6)
    city.service_area = area
    layer = make_boundary_layer(db, city, "council_districts", title="Council districts")
    cd1 = make_district(db, layer, "CD1", (-118.30, 34.00, -118.20, 34.10))
    cd2 = make_district(db, layer, "CD2", (-118.50, 34.00, -118.30, 34.10))
    bos = make_agency(db, city, "BOS", name="Bureau of Street Services")
    east = make_crew(db, bos, "EAST", districts=[cd1], name="East crew")
    west = make_crew(db, bos, "WEST", districts=[cd2], name="West crew")
    make_crew(db, bos, "DESK", CrewKind.triage, name="Street desk")
    tow = make_crew(db, make_agency(db, city, "LADOT"), "TOW", name="Tow crew")
    make_rule(db, service, bos, layer_id=layer.id, workflow=flow, sla_days=5)
    other, other_area, other_flow, other_service = _city(db, "other.example", -74.3)
    other.service_area = other_area
    other_layer = make_boundary_layer(db, other, "boroughs")
    borough = make_district(db, other_layer, "B1", (-74.3, 33.9, -73.8, 34.2))
    dot = make_agency(db, other, "DOT")
    make_crew(db, dot, "NYC", districts=[borough], name="Their crew")
    make_crew(db, dot, "DESK2", CrewKind.triage, name="Their desk")
    make_rule(db, other_service, dot, layer_id=other_layer.id, workflow=other_flow)
    db.flush()
    return Town(city, cd1, cd2, east, west, tow, other)


def file(db: Session, city: Jurisdiction, where: tuple[float, float], **fields: Any) -> WorkOrder:
    """A request filed as production files them; its first work order."""
    submission = intake.Submission(
        service_code=f"POT-{city.jurisdiction_id}",
        lat=where[0],
        long=where[1],
        description=fields.pop("description", "Deep pothole"),
    )
    request = intake.submit(db, city, None, submission, fields.pop("at", NOW))
    db.flush()
    return db.scalars(select(WorkOrder).where(WorkOrder.service_request_pk == request.id)).one()


@pytest.fixture
def orders(db: Session, town: Town) -> dict[str, WorkOrder]:
    """Overdue in CD1 (east), due tomorrow in CD2 (west), and one of the other city."""
    late = file(db, town.city, IN_CD1, description="Late one")
    soon = file(db, town.city, IN_CD2, description="Soon one")
    late.due_at = NOW - timedelta(days=1)
    soon.due_at = NOW + timedelta(days=1)
    theirs = file(db, town.elsewhere, (34.0, -74.0))
    db.flush()
    assert (late.crew_id, soon.crew_id) == (town.east.id, town.west.id)
    return {"late": late, "soon": soon, "theirs": theirs}


def sign_in(client, db: Session, town: Town, role: StaffRole = StaffRole.supervisor) -> None:
    crews = [town.east] if role is StaffRole.crew_member else ()
    make_staff(db, role, f"web-{role.value.replace('_', '-')}", crews, [town.city])
    db.flush()
    page = client.get("/staff/sign-in")
    answer = client.post(
        "/staff/sign-in",
        data={
            "username": f"web-{role.value.replace('_', '-')}",
            "password": PASSWORD,
            "csrf_token": token_in(page.text),
        },
    )
    assert answer.status_code == 303, answer.text


def token_in(page: str) -> str:
    found = TOKEN.search(page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def post(client, order: WorkOrder, action: str, **form: Any):
    """A form of the work order's page, sent with the token the page carries."""
    page = client.get(f"/staff/work-orders/{order.id}")
    return client.post(
        f"/staff/work-orders/{order.id}/{action}", data={"csrf_token": token_in(page.text), **form}
    )


def snapshot(db: Session) -> tuple[Any, ...]:
    """What a refused form must leave as it was."""
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Activity)),
        db.scalar(select(func.count()).select_from(AuditEntry)),
        db.execute(
            select(WorkOrder.id, WorkOrder.state, WorkOrder.crew_id).order_by(WorkOrder.id)
        ).all(),
        db.execute(
            select(ServiceRequest.id, ServiceRequest.status, ServiceRequest.duplicate_of_pk)
        ).all(),
    )


def rows_of(page: str) -> list[str]:
    """The work-order ids of a queue page, in the table's order."""
    return re.findall(r'data-work-order="(\d+)"', page)


# --- the queue ---------------------------------------------------------------------------------


def test_the_queue_lists_overdue_first_and_marks_it_in_words(client, db, town, orders):
    sign_in(client, db, town)
    answer = client.get("/staff/queues")
    assert answer.status_code == 200
    page = answer.text
    assert rows_of(page) == [str(orders["late"].id), str(orders["soon"].id)]  # not the other city
    late_row = page[page.index(f'data-work-order="{orders["late"].id}"') :]
    assert "Overdue:" in late_row[: late_row.index("</tr>")]
    soon_row = page[page.index(f'data-work-order="{orders["soon"].id}"') :]
    assert "Overdue:" not in soon_row[: soon_row.index("</tr>")]
    assert f'href="/staff/work-orders/{orders["late"].id}"' in page
    assert 'data-lat="34.05"' in page  # the map's points
    assert "maplibre-gl.js" in page and "<script>" not in page


def test_the_queue_filters_by_crew_and_by_district(client, db, town, orders):
    sign_in(client, db, town)
    by_crew = client.get("/staff/queues", query_string={"crew": town.west.id}).text
    assert rows_of(by_crew) == [str(orders["soon"].id)]
    assert f'<option value="{town.west.id}" selected>' in by_crew
    by_district = client.get("/staff/queues", query_string={"district": town.cd1.id}).text
    assert rows_of(by_district) == [str(orders["late"].id)]
    both = client.get("/staff/queues", query_string={"crew": town.west.id, "district": town.cd1.id})
    assert rows_of(both.text) == []
    assert "No open work orders match." in both.text
    assert client.get("/staff/queues", query_string={"crew": "east"}).status_code == 400


# --- a work order and its forms -----------------------------------------------------------------


def test_the_work_order_page_shows_the_history_with_internal_notes(client, db, town, orders):
    sign_in(client, db, town)
    answer = post(client, orders["late"], "notes", note="Called the resident back")
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"]).text
    assert "Note added." in page
    assert "Called the resident back" in page and "internal" in page
    entry = db.scalars(select(Activity).order_by(Activity.id.desc())).first()
    assert (entry.public, entry.work_order_id) == (False, orders["late"].id)


def test_reassigning_changes_the_crew_and_writes_the_log_and_the_audit(client, db, town, orders):
    sign_in(client, db, town)
    audits = db.scalar(select(func.count()).select_from(AuditEntry))
    answer = post(client, orders["late"], "reassign", crew_id=town.west.id, note="East is out")
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith(f"/staff/work-orders/{orders['late'].id}")
    page = client.get(answer.headers["Location"]).text
    assert f"Work order {orders['late'].id} is now with West crew." in page
    db.expire_all()
    assert db.get(WorkOrder, orders["late"].id).crew_id == town.west.id
    logged = db.scalars(select(Activity).where(Activity.kind == "work_order_reassigned")).one()
    assert "East is out" in logged.summary and logged.actor.endswith("web-supervisor")
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == audits + 1
    audit = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert audit.path == f"/staff/work-orders/{orders['late'].id}/reassign"


@pytest.mark.parametrize(
    ("crew", "problem"),
    [
        (lambda t: "99999999", "Choose a crew from the list."),
        (lambda t: "", "Choose a crew from the list."),
        (lambda t: str(t.tow.id), "is not a crew of BOS"),
    ],
)
def test_a_bad_crew_is_shown_next_to_the_field_and_changes_nothing(
    client, db, town, orders, crew, problem
):
    sign_in(client, db, town)
    before = snapshot(db)
    answer = post(client, orders["late"], "reassign", crew_id=crew(town))
    assert answer.status_code == 200
    assert problem in answer.text
    assert "Nothing was changed" in answer.text
    assert 'aria-invalid="true"' in answer.text or 'class="problems"' in answer.text
    assert snapshot(db) == before


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(client, db, town, orders):
    sign_in(client, db, town)
    before = snapshot(db)
    answer = client.post(
        f"/staff/work-orders/{orders['late'].id}/reassign", data={"crew_id": town.west.id}
    )
    assert answer.status_code == 400
    assert "expired or did not come from this site" in answer.text
    assert snapshot(db) == before


def test_adding_a_work_order_gives_the_request_another_crew_s_work(client, db, town, orders):
    sign_in(client, db, town)
    answer = post(
        client,
        orders["late"],
        "work-orders",
        crew_id=town.tow.id,
        title="Tow the blocking car",
        priority="3",
        due_at="",
        note="Car over the hole",
    )
    assert answer.status_code == 303, answer.text
    assert "Tow the blocking car" in client.get(answer.headers["Location"]).text
    added = db.scalars(
        select(WorkOrder).where(
            WorkOrder.service_request_pk == orders["late"].service_request_pk,
            WorkOrder.id != orders["late"].id,
        )
    ).one()
    assert (added.crew_id, added.title, added.priority, added.state) == (
        town.tow.id,
        "Tow the blocking car",
        3,
        WorkOrderState.assigned,
    )


def test_adding_a_work_order_without_a_title_or_in_the_past_is_refused(client, db, town, orders):
    sign_in(client, db, town)
    before = snapshot(db)
    untitled = post(client, orders["late"], "work-orders", crew_id=town.west.id, title=" ")
    assert untitled.status_code == 200
    assert "Give the work order a title." in untitled.text
    past = post(
        client,
        orders["late"],
        "work-orders",
        crew_id=town.west.id,
        title="Sweep",
        due_at="2020-01-01T08:00",
    )
    assert past.status_code == 200
    assert "due_at: a due time is a moment with a zone, later than now" in past.text
    assert 'value="Sweep"' in past.text  # what was typed is kept
    assert snapshot(db) == before


def test_merging_a_duplicate_closes_it_into_the_other_request(client, db, town, orders):
    sign_in(client, db, town)
    twin = file(db, town.city, IN_CD1, description="Same hole")
    parent = db.get(ServiceRequest, orders["late"].service_request_pk)
    answer = post(client, twin, "merge", parent=parent.service_request_id, reason="Same hole")
    assert answer.status_code == 303, answer.text
    assert "was merged into request" in client.get(answer.headers["Location"]).text
    db.expire_all()
    merged = db.get(ServiceRequest, twin.service_request_pk)
    assert (merged.status, merged.duplicate_of_pk, merged.duplicate_state) == (
        Status.closed,
        parent.id,
        DuplicateState.confirmed,
    )
    assert db.get(WorkOrder, twin.id).state == WorkOrderState.cancelled


def test_merging_into_an_unknown_or_another_city_s_request_is_refused(client, db, town, orders):
    sign_in(client, db, town)
    before = snapshot(db)
    theirs = db.get(ServiceRequest, orders["theirs"].service_request_pk)
    for parent in ("nope-1", theirs.service_request_id):
        answer = post(client, orders["late"], "merge", parent=parent)
        assert answer.status_code == 200
        assert f"No request {parent} in this city." in answer.text
    assert snapshot(db) == before


def test_another_city_s_work_order_is_not_found(client, db, town, orders):
    sign_in(client, db, town)
    assert client.get(f"/staff/work-orders/{orders['theirs'].id}").status_code == 404
    before = snapshot(db)
    answer = post(client, orders["late"], "reassign", crew_id=town.west.id)  # a token
    assert answer.status_code == 303
    page = client.get("/staff/queues").text
    refused = client.post(
        f"/staff/work-orders/{orders['theirs'].id}/reassign",
        data={"csrf_token": token_in(page), "crew_id": town.west.id},
    )
    assert refused.status_code == 404
    assert snapshot(db)[2] != before[2]  # only the first reassign changed anything


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [StaffRole.call_taker, StaffRole.crew_member, StaffRole.editor])
def test_other_roles_get_the_403_page(client, db, town, orders, role):
    sign_in(client, db, town, role)
    for path in ("/staff/queues", "/staff/dashboard", f"/staff/work-orders/{orders['late'].id}"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert answer.content_type.startswith("text/html")
    page = client.get("/staff").text
    refused = client.post(
        f"/staff/work-orders/{orders['late'].id}/reassign",
        data={"csrf_token": token_in(page), "crew_id": town.west.id},
    )
    assert refused.status_code == 403
    db.expire_all()
    assert db.get(WorkOrder, orders["late"].id).crew_id == town.east.id


def test_an_administrator_may_and_signed_out_is_sent_to_sign_in(client, db, town, orders):
    answer = client.get("/staff/queues?crew=1")
    assert answer.status_code == 302
    assert "/staff/sign-in?next=" in answer.headers["Location"]
    sign_in(client, db, town, StaffRole.administrator)
    assert client.get("/staff/queues").status_code == 200
    assert client.get("/staff/dashboard").status_code == 200


# --- the dashboard ------------------------------------------------------------------------------


def cells(page: str, row: str) -> dict[str, str]:
    """The named cells (data-name) of the table row marked data-figures=`row`."""
    start = page.index(f'data-figures="{row}"')
    found = page[start : page.index("</tr>", start)]
    return dict(re.findall(r'data-name="(\w+)">([^<]*)<', found))


def test_the_dashboard_shows_the_staff_api_s_figures_for_the_same_days(client, db, town, orders):
    today = NOW.date()
    for hours, wait in ((30, 12.0), (20, None), (5, 50.0)):
        db.add(
            Contact(
                jurisdiction_id=town.city.id,
                channel="phone",
                queued_at=NOW - timedelta(hours=hours),
                answered_at=NOW - timedelta(hours=hours) + timedelta(seconds=wait or 0)
                if wait
                else None,
                ended_at=NOW - timedelta(hours=hours) + timedelta(seconds=300),
                abandoned=wait is None,
            )
        )
    for state in ("in_progress", "done"):
        workflow.transition(db, orders["soon"], state, actor="staff:test", now=NOW, crews=None)
    db.flush()
    _boss, token = make_staff(db, StaffRole.supervisor, "api-boss", (), [town.city])
    sign_in(client, db, town)
    first, last = today - timedelta(days=3), today
    page = client.get(
        "/staff/dashboard",
        query_string={"period": "day", "start": first.isoformat(), "end": last.isoformat()},
    )
    assert page.status_code == 200, page.text
    window = {"start": first.isoformat(), "end": (last + timedelta(days=1)).isoformat()}
    contacts = client.get("/api/v1/stats/contacts", query_string=window, headers=bearer(token))
    crews = client.get("/api/v1/stats/work-orders", query_string=window, headers=bearer(token))
    assert contacts.status_code == crews.status_code == 200
    shown = cells(page.text, "contacts-total")
    total = contacts.json["total"]
    assert total["offered"] == 3 and total["abandoned"] == 1
    assert {name: int(shown[name]) for name in ("offered", "answered", "abandoned")} == {
        name: total[name] for name in ("offered", "answered", "abandoned")
    }
    assert float(shown["service_level_pct"]) == pytest.approx(total["service_level_pct"], abs=0.05)
    shown = cells(page.text, "work-orders-total")
    total = crews.json["total"]
    assert total["done"] == 1 and total["overdue"] == 1
    assert {name: int(shown[name]) for name in ("done", "on_time", "overdue")} == {
        name: total[name] for name in ("done", "on_time", "overdue")
    }


def test_the_dashboard_charts_are_drawn_for_the_session(client, db, town, orders):
    sign_in(client, db, town)
    page = client.get("/staff/dashboard").text
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 3
    for source in sources:
        answer = client.get(source.replace("&amp;", "&"))
        assert answer.status_code == 200, source
        assert answer.content_type == "image/svg+xml"
        assert answer.data.lstrip().startswith(b"<?xml")
    assert client.get("/staff/charts/nothing.svg").status_code == 404


def test_a_bad_window_is_said_on_the_dashboard(client, db, town):
    sign_in(client, db, town)
    answer = client.get(
        "/staff/dashboard", query_string={"start": "2026-11-05", "end": "2026-11-01"}
    )
    assert answer.status_code == 200
    assert "start must be before end" in answer.text
    assert "start: not a date (YYYY-MM-DD)" in client.get("/staff/dashboard?start=yesterday").text


def test_the_queue_is_paged_in_its_order(client, db, town, orders, monkeypatch):
    monkeypatch.setattr("open311.web.staff.queue.PAGE_SIZE", 1)
    sign_in(client, db, town)
    first = client.get("/staff/queues", query_string={"crew": "", "district": ""}).text
    assert rows_of(first) == [str(orders["late"].id)]
    assert 'rel="next"' in first and 'rel="prev"' not in first
    second = client.get("/staff/queues", query_string={"page": 2}).text
    assert rows_of(second) == [str(orders["soon"].id)]
    assert 'rel="prev"' in second and 'rel="next"' not in second
