"""The call-taker's intake screen (/staff/intake) through the test client, on the Los Angeles
demo city: questions of every datatype, the caller's language, the duplicate warning, filing
(one request and one contact, the answer used), recording a call on an open request or as
answered, refusals that leave nothing, CSRF, roles and sign-in.

Graffiti on S Gaffey St in San Pedro (as tests/api/test_staff_intake.py): the city's own
history there is closed, so only what a test files is open nearby.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from open311.db import contact_queries
from open311.db.models import Contact, Crew, Jurisdiction, ServiceRequest, StaffUser
from open311.domain import intake, jurisdictions, staff
from open311.values import ContactChannel, ContactOutcome, Datatype, StaffRole, Status
from tests.factories import make_attribute, make_jurisdiction, make_service

PASSWORD = "intake screen test pass 311"
GAFFEY_1230 = (33.73280359, -118.2922555)
GAFFEY_1214 = (33.73295877, -118.2922483)  # 17 m north
CALLER_EMAIL = "marguerite.caller@example.org"


@pytest.fixture
def connection(demo_connection: Connection) -> Iterator[Connection]:
    savepoint = demo_connection.begin_nested()
    yield demo_connection
    savepoint.rollback()


@pytest.fixture
def la(db: Session) -> Jurisdiction:
    return jurisdictions.resolve(db, "lacity.org")


def make_user(db: Session, la: Jurisdiction, role: StaffRole) -> StaffUser:
    crews = [db.scalar(select(Crew).order_by(Crew.id).limit(1))]
    user = staff.create_user(
        db,
        f"intake-{role.value.replace('_', '-')}",
        password=PASSWORD,
        role=role,
        crews=crews if role is StaffRole.crew_member else (),
        jurisdictions=[la],
    )
    db.flush()
    return user


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, username: str) -> None:
    form = {
        "username": username,
        "password": PASSWORD,
        "csrf_token": csrf_of(client.get("/staff/sign-in").get_data(as_text=True)),
    }
    assert client.post("/staff/sign-in", data=form).status_code == 303


@pytest.fixture
def taker(db: Session, la: Jurisdiction) -> StaffUser:
    return make_user(db, la, StaffRole.call_taker)


@pytest.fixture
def desk(client, taker: StaffUser):
    """The test client signed in as a call-taker."""
    sign_in(client, taker.username)
    return client


def post(client, **fields) -> tuple[int, str, str | None]:
    """POST the intake form with the screen's CSRF token: (status, page, Location)."""
    token = csrf_of(client.get("/staff/intake").get_data(as_text=True))
    answer = client.post("/staff/intake", data={"csrf_token": token, **fields})
    return answer.status_code, answer.get_data(as_text=True), answer.headers.get("Location")


def graffiti_call(**more) -> dict[str, object]:
    return {
        "channel": "phone",
        "service_code": "GRAFFITI",
        "attribute[SURFACE]": "WALL",
        "lat": str(GAFFEY_1214[0]),
        "long": str(GAFFEY_1214[1]),
        "address_string": "1214 S Gaffey St",
        "description": "Tags on the laundromat's wall",
        "first_name": "Marguerite",
        "email": CALLER_EMAIL,
        "phone": "+1 310 555 0142",
        **more,
    }


def counts(db: Session) -> tuple[int, int]:
    requests = db.scalar(select(func.count()).select_from(ServiceRequest))
    calls = db.scalar(select(func.count()).select_from(Contact))
    return requests, calls


def open_graffiti(db: Session, la: Jurisdiction, where: tuple[float, float]) -> ServiceRequest:
    submission = intake.Submission(
        service_code="GRAFFITI",
        lat=where[0],
        long=where[1],
        address_string="1230 S Gaffey St",
        description="Graffiti on the wall",
        attributes={"SURFACE": ["WALL"]},
    )
    request = intake.submit(db, la, None, submission)
    db.flush()
    return request


def test_signed_out_goes_to_sign_in(client, la):
    answer = client.get("/staff/intake")
    assert answer.status_code == 302
    assert "/staff/sign-in?next=/staff/intake" in answer.headers["Location"]


@pytest.mark.parametrize("role", [StaffRole.crew_member, StaffRole.editor])
def test_other_roles_get_the_403_page(client, db, la, role):
    sign_in(client, make_user(db, la, role).username)
    answer = client.get("/staff/intake")
    assert answer.status_code == 403
    assert answer.mimetype == "text/html"


@pytest.mark.parametrize("role", [StaffRole.supervisor, StaffRole.administrator])
def test_supervisors_and_administrators_take_calls_too(client, db, la, role):
    sign_in(client, make_user(db, la, role).username)
    assert client.get("/staff/intake").status_code == 200


def test_the_screen(desk):
    answer = desk.get("/staff/intake")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert '<option value="GRAFFITI"' in page
    for channel in ("phone", "tty", "walk_in", "email"):
        assert f'<option value="{channel}"' in page
    assert '<option value="es" lang="es"' in page
    assert 'id="intake-map"' in page and "intake.js" in page
    assert 'data-area="{&#34;type&#34;:&#34;' in page  # the city's outline, simplified
    assert len(answer.data) < 200_000, len(answer.data)
    assert 'name="q"' in page
    # Every field has a label.
    for field_id in re.findall(r'<(?:input|select|textarea)[^>]* id="([^"]+)"', page):
        assert f'for="{field_id}"' in page, field_id


def test_questions_of_every_datatype(desk, db, la):
    make_service(
        db,
        la,
        "ALLTYPES",
        attributes=[
            make_attribute("NOTE", variable=False, description="Crews come within a week."),
            make_attribute("PLATE", Datatype.string, required=True),
            make_attribute("COUNT", Datatype.number),
            make_attribute("SEEN", Datatype.datetime),
            make_attribute("DETAILS", Datatype.text),
            make_attribute("COLOUR", Datatype.singlevaluelist, values=[("RED", "Red")]),
            make_attribute(
                "DAYS", Datatype.multivaluelist, values=[("MON", "Monday"), ("TUE", "Tuesday")]
            ),
        ],
    )
    page = desk.get("/staff/intake?service_code=ALLTYPES").get_data(as_text=True)
    assert "Crews come within a week." in page
    assert 'type="text" id="q-PLATE" name="attribute[PLATE]"' in page
    assert 'type="number" step="any" id="q-COUNT"' in page
    assert 'type="datetime-local" id="q-SEEN"' in page
    assert '<textarea id="q-DETAILS" name="attribute[DETAILS]"' in page
    assert '<select id="q-COLOUR" name="attribute[COLOUR]"' in page
    assert '<option value="RED"' in page
    assert 'type="checkbox" name="attribute[DAYS][]" value="MON"' in page
    assert 'for="q-PLATE">Question PLATE <span class="required">' in page


def test_duplicate_warning_for_an_open_request_nearby(desk, db, la):
    existing = open_graffiti(db, la, GAFFEY_1230)
    before = counts(db)
    status, page, _ = post(desk, action="refresh", **graffiti_call())
    assert status == 200
    assert re.search(r"Possible duplicate: open requests of this service within \d+ m: 1\.", page)
    assert f'value="{existing.service_request_id}"' in page  # record the call on it
    assert "17 m away" in page
    assert counts(db) == before
    # The partial intake.js fetches when the point moves: the same list.
    partial = desk.get(
        "/staff/intake/duplicates",
        query_string={"service_code": "GRAFFITI", "lat": GAFFEY_1214[0], "long": GAFFEY_1214[1]},
    ).get_data(as_text=True)
    assert f'data-id="{existing.service_request_id}"' in partial
    assert 'data-lat="33.7328' in partial


def test_no_warning_without_an_open_request(desk, db, la):
    status, page, _ = post(desk, action="refresh", **graffiti_call())
    assert status == 200
    assert "No open request of this service within" in page
    assert "Possible duplicate" not in page


def test_filing_makes_one_request_and_one_contact(desk, db, la, taker):
    open_graffiti(db, la, GAFFEY_1230)
    before = counts(db)
    fields = graffiti_call(channel="tty", action="file", article_id="graffiti-removal")
    status, _page, location = post(desk, **fields)
    assert status == 303, _page
    assert counts(db) == (before[0] + 1, before[1] + 1)
    filed = db.scalars(select(ServiceRequest).order_by(ServiceRequest.id.desc()).limit(1)).one()
    assert f"filed={filed.service_request_id}" in location
    assert filed.channel == "tty" and filed.status is Status.open
    assert filed.attribute_values == {"SURFACE": "WALL"}
    assert filed.requester.email == CALLER_EMAIL
    assert filed.duplicate_of is not None  # detected as the API does
    contact = db.scalars(select(Contact).order_by(Contact.id.desc()).limit(1)).one()
    assert contact.channel is ContactChannel.tty
    assert contact.outcome is ContactOutcome.request
    assert contact.staff_user_id == taker.id
    assert contact.language == "en"
    assert [r.id for r in contact.requests] == [filed.id]
    assert contact_queries.articles_of(db, [contact.id]) == {contact.id: ["graffiti-removal"]}
    confirmation = desk.get(location).get_data(as_text=True)
    assert f"Request {filed.service_request_id} filed." in confirmation
    assert f'href="/requests/{filed.service_request_id}"' in confirmation
    assert "Likely duplicate of" in confirmation
    assert 'id="next-call"' in confirmation
    assert CALLER_EMAIL not in confirmation


def test_refusals_leave_nothing_and_show_next_to_the_field(desk, db):
    before = counts(db)
    status, page, _ = post(desk, **graffiti_call(action="file", email="not an address"))
    assert status == 200
    assert counts(db) == before
    assert re.search(r'id="email-error">[^<]*[Nn]ot a valid email', page)
    assert "Nothing was saved" in page
    fields = graffiti_call(action="file")
    del fields["lat"], fields["long"], fields["address_string"]
    status, page, _ = post(desk, **fields)
    assert status == 200
    assert counts(db) == before
    assert "a location is required" in page
    fields = graffiti_call(action="file")
    del fields["attribute[SURFACE]"], fields["lat"], fields["long"], fields["address_string"]
    status, page, _ = post(desk, **fields)
    assert status == 200
    assert counts(db) == before
    # Every problem at once, each next to its field and listed at the top.
    assert re.search(r'id="attribute-SURFACE-error">attribute SURFACE is required', page)
    assert '<a href="#q-SURFACE">attribute SURFACE is required' in page
    assert '<a href="#f-address_string">a location is required' in page
    # What was typed stays.
    assert f'value="{CALLER_EMAIL}"' in page and "Tags on the laundromat" in page


def test_filing_without_a_service(desk, db):
    before = counts(db)
    status, page, _ = post(desk, **graffiti_call(action="file", service_code=""))
    assert status == 200
    assert 'id="service_code-error">Choose a service.' in page
    assert counts(db) == before


def test_a_malformed_coordinate_is_a_problem_on_its_field(desk, db):
    before = counts(db)
    status, page, _ = post(desk, **graffiti_call(action="file", lat="north"))
    assert status == 200
    assert 'id="lat-error"' in page
    assert counts(db) == before


def test_without_csrf_nothing_is_filed(desk, db):
    before = counts(db)
    answer = desk.post("/staff/intake", data=graffiti_call(action="file"))
    assert answer.status_code == 400
    assert "expired" in answer.get_data(as_text=True)
    assert counts(db) == before


def test_recording_the_call_on_an_open_request(desk, db, la, taker):
    existing = open_graffiti(db, la, GAFFEY_1230)
    before = counts(db)
    status, _page, location = post(desk, **graffiti_call(attach=existing.service_request_id))
    assert status == 303
    assert counts(db) == (before[0], before[1] + 1)
    contact = db.scalars(select(Contact).order_by(Contact.id.desc()).limit(1)).one()
    assert contact.outcome is ContactOutcome.request
    assert [r.id for r in contact.requests] == [existing.id]
    page = desk.get(location).get_data(as_text=True)
    assert f"The call was recorded on request {existing.service_request_id}." in page


def test_a_closed_or_unknown_request_cannot_take_the_call(desk, db, la):
    existing = open_graffiti(db, la, GAFFEY_1230)
    existing.status = Status.closed
    db.flush()
    before = counts(db)
    status, page, _ = post(desk, **graffiti_call(attach=existing.service_request_id))
    assert status == 200
    assert "No open request" in page
    assert counts(db) == before


def test_answered_from_the_knowledge_base(desk, db):
    before = counts(db)
    status, page, _ = post(desk, channel="walk_in", action="answered")
    assert status == 200 and "Use an answer first" in page
    assert counts(db) == before
    status, _page, location = post(
        desk, channel="walk_in", action="answered", article_id="graffiti-removal"
    )
    assert status == 303
    assert counts(db) == (before[0], before[1] + 1)
    contact = db.scalars(select(Contact).order_by(Contact.id.desc()).limit(1)).one()
    assert contact.outcome is ContactOutcome.information
    assert contact.channel is ContactChannel.walk_in
    assert "recorded as answered" in desk.get(location).get_data(as_text=True)


def test_knowledge_base_search_and_used_answer(desk):
    status, page, _ = post(desk, action="search", q="graffiti")
    assert status == 200
    assert "Get graffiti removed" in page
    assert "Office of Community Beautification" in page  # the short answer
    assert 'name="use_article" value="graffiti-removal"' in page
    status, page, _ = post(desk, q="graffiti", use_article="graffiti-removal")
    assert 'type="hidden" name="article_id" value="graffiti-removal"' in page
    assert "Used on this call" in page


def test_the_callers_language(desk):
    status, page, _ = post(desk, caller_locale="es", service_code="GRAFFITI", q="grafiti")
    assert status == 200
    assert "¿Dónde está el grafiti?" in page
    assert "Pared o edificio" in page
    assert "Solicite que se elimine un grafiti" in page
    assert '<option value="es" lang="es" selected' in page
    # The screen itself stays in the call-taker's language.
    assert "File the request" in page


def test_spanish_screen_for_a_spanish_speaking_call_taker(desk):
    page = desk.get("/staff/intake?locale=es").get_data(as_text=True)
    assert '<html lang="es"' in page


def test_only_the_call_takers_cities(desk, db):
    other = make_jurisdiction(db, jurisdiction_id="elsewhere.example.org", name="Elsewhere")
    make_service(db, other, "POTHOLE")
    before = counts(db)
    status, page, _ = post(
        desk, **graffiti_call(action="file", jurisdiction_id="elsewhere.example.org")
    )
    assert status == 403
    assert counts(db) == before
    answer = desk.get("/staff/intake", query_string={"jurisdiction_id": "elsewhere.example.org"})
    assert answer.status_code == 403


def test_the_duplicates_panel_is_for_the_same_roles(client, db, la):
    assert client.get("/staff/intake/duplicates").status_code == 302
    sign_in(client, make_user(db, la, StaffRole.crew_member).username)
    assert client.get("/staff/intake/duplicates").status_code == 403
