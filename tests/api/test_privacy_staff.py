"""Personal data through the staff API: reads of a requester's contact are audited; erasure and
export of a person, for administrators only, audited with counts and never the address."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from open311.db.models import Activity, AuditEntry, Requester, UpdateAuthor
from open311.values import StaffRole
from tests.api.helpers import bearer, make_staff
from tests.factories import make_agency, make_crew, make_jurisdiction, make_request, make_service

A, S, C, M = (
    StaffRole.administrator,
    StaffRole.supervisor,
    StaffRole.call_taker,
    StaffRole.crew_member,
)
ROSA = {
    "email": "Rosa.Quell-4471@Example.org",
    "first_name": "Rosalind",
    "last_name": "Quellmark",
    "phone": "+1 213 555 0163",
}
OTHER = {"email": "someone.else@example.org", "first_name": "Other", "phone": "+1 310 555 0100"}


@pytest.fixture
def service(db):
    return make_service(db, make_jurisdiction(db), "POT-01")


def filed(db, service, person: dict[str, str] | None, service_request_id: str):
    request = make_request(db, service, service_request_id=service_request_id)
    if person is not None:
        request.requester = Requester(**person, language="es")
    db.flush()
    return request


def authored(db, request, person: dict[str, str]) -> Activity:
    entry = Activity(
        service_request_pk=request.id,
        at=request.requested_datetime,
        actor="api:app",
        kind="app_update",
        summary="Update from app",
        details={"description": "Still there"},
    )
    db.add(entry)
    db.flush()
    db.add(UpdateAuthor(activity_id=entry.id, **person))
    db.flush()
    return entry


def entries(db) -> list[AuditEntry]:
    db.expire_all()
    return list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))


# --- reading a requester's contact is audited -------------------------------------------------


@pytest.mark.parametrize("role", [A, S, C])
def test_a_desk_read_of_the_requesters_contact_is_audited(client, db, service, role):
    filed(db, service, ROSA, "SR-1")
    user, token = make_staff(db, role)
    response = client.get("/api/v1/requests/SR-1", headers=bearer(token))
    assert response.status_code == 200, response.json
    assert response.json["requester"]["email"] == ROSA["email"]
    (entry,) = entries(db)
    assert (entry.actor, entry.method, entry.route, entry.path, entry.fields) == (
        f"staff:{user.username}",
        "GET",
        "/api/v1/requests/<service_request_id>",
        "/api/v1/requests/SR-1",
        ["requester"],
    )
    assert ROSA["email"] not in repr(entry.__dict__)


def test_a_request_without_a_requester_reads_without_an_entry(client, db, service):
    filed(db, service, None, "SR-2")
    _user, token = make_staff(db, A)
    assert client.get("/api/v1/requests/SR-2", headers=bearer(token)).status_code == 200
    assert entries(db) == []


# --- administrators only ---------------------------------------------------------------------


@pytest.mark.parametrize("role", [A, S, C, M])
def test_erasure_and_export_are_for_administrators_only(client, db, service, role):
    filed(db, service, ROSA, "SR-1")
    crews = (
        [make_crew(db, make_agency(db, service.jurisdiction, "BSS"), "CD1")] if role is M else []
    )
    _user, token = make_staff(db, role, crews=crews)
    erased = client.post(
        "/api/v1/privacy/erasures", headers=bearer(token), json={"email": ROSA["email"]}
    )
    exported = client.get(
        "/api/v1/privacy/export", headers=bearer(token), query_string={"email": ROSA["email"]}
    )
    if role is A:
        assert erased.status_code == 201, erased.json
        assert exported.status_code == 200, exported.json
    else:
        assert (erased.status_code, exported.status_code) == (403, 403)
        db.expire_all()
        assert db.scalar(select(Requester.email)) == ROSA["email"]
    assert client.post("/api/v1/privacy/erasures", json={"email": "x@example.org"}).status_code == (
        401
    )


# --- erasure ------------------------------------------------------------------------------------


def test_erasure_by_address_empties_every_row_of_that_person_only(client, db, service):
    first = filed(db, service, ROSA, "SR-1")
    filed(db, service, ROSA | {"email": ROSA["email"].upper()}, "SR-2")
    filed(db, service, OTHER, "SR-3")
    authored(db, first, ROSA | {"email": ROSA["email"].lower()})
    authored(db, first, OTHER)
    user, token = make_staff(db, A)
    response = client.post(
        "/api/v1/privacy/erasures", headers=bearer(token), json={"email": ROSA["email"]}
    )
    assert response.status_code == 201, response.json
    assert response.json == {
        "requesters": 2,
        "update_authors": 1,
        "photos": 0,
        "emails_cancelled": 0,
        "stored_answers": 0,
        "contacts": 0,
    }
    db.expire_all()
    people = [
        (row.email, row.first_name, row.last_name, row.phone, row.language)
        for row in db.scalars(select(Requester).order_by(Requester.id))
    ]
    assert people == [
        (None, None, None, None, None),
        (None, None, None, None, None),
        (OTHER["email"], OTHER["first_name"], None, OTHER["phone"], "es"),
    ]
    authors = [row.email for row in db.scalars(select(UpdateAuthor).order_by(UpdateAuthor.id))]
    assert authors == [None, OTHER["email"]]
    (entry,) = entries(db)
    assert (entry.actor, entry.method, entry.path) == (
        f"staff:{user.username}",
        "POST",
        "/api/v1/privacy/erasures",
    )
    assert entry.details == response.json
    assert (
        ROSA["email"].lower()
        not in repr([entry.actor, entry.route, entry.path, entry.fields, entry.details]).lower()
    )
    # The audit lists it with its counts.
    listed = client.get("/api/v1/audit", headers=bearer(token)).json
    assert listed[0]["details"] == response.json


def test_erasure_by_request_takes_its_requester_and_their_address(client, db, service):
    filed(db, service, {"phone": "+1 213 555 0000", "first_name": "Nomail"}, "SR-1")
    filed(db, service, ROSA, "SR-2")
    filed(db, service, ROSA, "SR-3")
    filed(db, service, OTHER, "SR-4")
    _user, token = make_staff(db, A)
    headers = bearer(token)
    alone = client.post(
        "/api/v1/privacy/erasures", headers=headers, json={"service_request_id": "SR-1"}
    )
    assert alone.json["requesters"] == 1
    both = client.post(
        "/api/v1/privacy/erasures", headers=headers, json={"service_request_id": "SR-2"}
    )
    assert both.json["requesters"] == 2
    db.expire_all()
    assert [row.email for row in db.scalars(select(Requester).order_by(Requester.id))] == [
        None,
        None,
        None,
        OTHER["email"],
    ]


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "a@example.org", "service_request_id": "SR-1"}, {"email": "not an address"}],
)
def test_an_erasure_needs_exactly_one_way_to_find_the_person(client, db, service, body):
    filed(db, service, ROSA, "SR-1")
    _user, token = make_staff(db, A)
    response = client.post("/api/v1/privacy/erasures", headers=bearer(token), json=body)
    assert response.status_code == 400, response.json
    assert entries(db) == []


def test_an_unknown_request_is_404_and_erases_nothing(client, db, service):
    filed(db, service, ROSA, "SR-1")
    _user, token = make_staff(db, A)
    response = client.post(
        "/api/v1/privacy/erasures", headers=bearer(token), json={"service_request_id": "NOPE"}
    )
    assert response.status_code == 404
    assert entries(db) == []


# --- export ---------------------------------------------------------------------------------------


def test_export_shows_what_is_held_and_the_read_is_audited(client, db, service):
    first = filed(db, service, ROSA, "SR-1")
    filed(db, service, OTHER, "SR-2")
    update = authored(db, first, ROSA)
    _user, token = make_staff(db, A)
    response = client.get(
        "/api/v1/privacy/export",
        headers=bearer(token),
        query_string={"email": ROSA["email"].lower()},
    )
    assert response.status_code == 200, response.json
    (held,) = response.json["requests"]
    assert held["service_request_id"] == "SR-1"
    assert held["requester"] == ROSA | {"account_id": None, "device_id": None, "language": "es"}
    (posted,) = response.json["updates"]
    assert (posted["update_id"], posted["author"]["email"]) == (update.id, ROSA["email"])
    assert OTHER["email"] not in response.get_data(as_text=True)
    (entry,) = entries(db)
    assert (entry.method, entry.path, entry.fields) == ("GET", "/api/v1/privacy/export", ["export"])
    assert ROSA["email"].lower() not in entry.path.lower()
    # After an erasure nothing is found under the address.
    client.post("/api/v1/privacy/erasures", headers=bearer(token), json={"email": ROSA["email"]})
    again = client.get(
        "/api/v1/privacy/export", headers=bearer(token), query_string={"email": ROSA["email"]}
    )
    assert again.json == {"requests": [], "updates": [], "contacts": []}


def test_the_privacy_endpoints_are_documented(client):
    document = client.get("/openapi.json").json
    erasures = document["paths"]["/api/v1/privacy/erasures"]["post"]
    export = document["paths"]["/api/v1/privacy/export"]["get"]
    assert "administrator" in erasures["description"]
    assert "201" in erasures["responses"] and "200" in export["responses"]
    schemas = document["components"]["schemas"]
    assert {"PersonBody", "ErasureOut", "ExportOut"} <= set(schemas)
    assert {"email", "service_request_id"} <= {p["name"] for p in export["parameters"]}
