"""Several jurisdictions (issue 13): created and listed by administrators, each staff user
working for theirs only, and GeoReport calls without jurisdiction_id meaning the default one."""

from __future__ import annotations

from typing import Any

import pytest

from open311.db.models import Jurisdiction
from open311.values import StaffRole
from tests.api.helpers import FORMATS, bearer, body, errors, make_staff, url
from tests.factories import (
    make_agency,
    make_crew,
    make_jurisdiction,
    make_request,
    make_service,
    make_work_order,
)

A = StaffRole.administrator
ROLES = tuple(StaffRole)


@pytest.fixture
def cities(db) -> dict[str, Any]:
    """Two cities, neither flagged default yet, each with a service, a crew, a request and a
    work order."""
    made: dict[str, Any] = {}
    for name, jid in (("la", "lacity.org"), ("ny", "nyc.gov")):
        city = make_jurisdiction(db, jurisdiction_id=jid, name=name.upper())
        service = make_service(db, city, f"{name.upper()}-1")
        agency = make_agency(db, city, f"{name.upper()}-AG")
        crew = make_crew(db, agency, f"{name.upper()}-C")
        request = make_request(db, service, service_request_id=f"{name.upper()}-R1")
        order = make_work_order(db, request, agency, crew=crew)
        made[name] = {"city": city, "service": service, "crew": crew, "order": order}
    return made


def staff_of(db, role, *cities: Jurisdiction, crews=(), name=None) -> dict[str, str]:
    username = name or f"{role.value.replace('_', '-')}-{len(cities)}"
    return bearer(make_staff(db, role, username, crews=crews, jurisdictions=cities)[1])


def codes(response) -> list[str]:
    return [service["service_code"] for service in response.get_json()]


# --- creating and listing ------------------------------------------------------------------------


NEW = {"jurisdiction_id": "boston.gov", "name": "Boston", "time_zone": "America/New_York"}


@pytest.mark.parametrize("role", ROLES)
def test_only_administrators_create_jurisdictions(client, db, cities, role):
    crews = [cities["la"]["crew"]] if role is StaffRole.crew_member else []
    headers = staff_of(db, role, cities["la"]["city"], crews=crews)
    response = client.post("/api/v1/jurisdictions", headers=headers, json=NEW)
    assert response.status_code == (201 if role is A else 403), response.json
    listed = client.get("/api/v1/jurisdictions", headers=headers)
    assert listed.status_code == 200
    mine = [item["jurisdiction_id"] for item in listed.json]
    assert mine == (["lacity.org", "boston.gov"] if role is A else ["lacity.org"])


def test_a_created_jurisdiction_serves_georeport_and_is_changed_by_its_administrator(
    client, db, cities
):
    admin = staff_of(db, A, cities["la"]["city"])
    created = client.post("/api/v1/jurisdictions", headers=admin, json=NEW | {"default": True})
    assert created.status_code == 201, created.json
    assert created.json["default"] is True and created.json["time_zone"] == "America/New_York"
    # The creator works for it: its catalogue is theirs to fill.
    service = client.post(
        "/api/v1/services?jurisdiction_id=boston.gov",
        headers=admin,
        json={"service_code": "BOS-1", "service_name": "Pothole"},
    )
    assert service.status_code == 201, service.json
    assert codes(client.get(url("services", "json"))) == ["BOS-1"]  # now the default
    changed = client.patch(
        "/api/v1/jurisdictions/boston.gov",
        headers=admin,
        json={"name": "City of Boston", "contact": "311 Boston, call 311"},
    )
    assert changed.status_code == 200, changed.json
    discovery = client.get(url("discovery", "json"), query_string={"jurisdiction_id": "boston.gov"})
    assert discovery.json["contact"] == "311 Boston, call 311"


@pytest.mark.parametrize(
    "payload, problem",
    [
        (NEW | {"time_zone": "Mars/Olympus"}, "time_zone"),
        (NEW | {"jurisdiction_id": "lacity.org"}, "exists"),
        ({"name": "No id", "time_zone": "UTC"}, "jurisdiction_id"),
    ],
)
def test_bad_new_jurisdictions_are_refused(client, db, cities, payload, problem):
    admin = staff_of(db, A, cities["la"]["city"])
    response = client.post("/api/v1/jurisdictions", headers=admin, json=payload)
    assert response.status_code in (400, 409)
    assert problem in response.json[0]["description"]


def test_an_administrator_of_one_city_cannot_change_another(client, db, cities):
    admin = staff_of(db, A, cities["la"]["city"])
    response = client.patch("/api/v1/jurisdictions/nyc.gov", headers=admin, json={"name": "X"})
    assert response.status_code == 403
    assert db.get(Jurisdiction, cities["ny"]["city"].id).name == "NY"


# --- the staff catalogue, queue and requests, per city ------------------------------------------


def test_the_staff_catalogue_works_with_two_jurisdictions(client, db, cities):
    la = staff_of(db, StaffRole.supervisor, cities["la"]["city"], name="la-sup")
    ny = staff_of(db, StaffRole.supervisor, cities["ny"]["city"], name="ny-sup")
    assert codes(client.get("/api/v1/services", headers=la)) == ["LA-1"]
    assert codes(client.get("/api/v1/services", headers=ny)) == ["NY-1"]


def test_a_user_of_one_city_cannot_read_or_change_the_other(client, db, cities):
    la_admin = staff_of(db, A, cities["la"]["city"])
    other = {"jurisdiction_id": "nyc.gov"}
    read = client.get("/api/v1/services", headers=la_admin, query_string=other)
    assert read.status_code == 403, read.json
    write = client.patch(
        "/api/v1/services/NY-1", headers=la_admin, query_string=other, json={"service_name": "X"}
    )
    assert write.status_code == 403
    assert client.get("/api/v1/services/NY-1", headers=la_admin).status_code == 404
    assert client.get("/api/v1/requests/NY-R1", headers=la_admin).status_code == 404
    order = cities["ny"]["order"].id
    assert client.get(f"/api/v1/work-orders/{order}", headers=la_admin).status_code == 404
    moved = client.post(
        f"/api/v1/work-orders/{order}/transitions", headers=la_admin, json={"to": "in_progress"}
    )
    assert moved.status_code == 404
    queue = client.get("/api/v1/work-orders", headers=la_admin)
    assert [item["id"] for item in queue.json] == [cities["la"]["order"].id]
    assert (
        client.get("/api/v1/work-orders", headers=la_admin, query_string=other).status_code == 403
    )


def test_a_user_of_both_chooses_with_jurisdiction_id(client, db, cities):
    both = staff_of(db, A, cities["la"]["city"], cities["ny"]["city"])
    unnamed = client.get("/api/v1/services", headers=both)
    assert unnamed.status_code == 400
    assert "lacity.org, nyc.gov" in unnamed.json[0]["description"]
    ny = client.get("/api/v1/services", headers=both, query_string={"jurisdiction_id": "nyc.gov"})
    assert codes(ny) == ["NY-1"]
    queue = client.get("/api/v1/work-orders", headers=both)
    assert {item["id"] for item in queue.json} == {c["order"].id for c in cities.values()}
    only_ny = client.get(
        "/api/v1/work-orders", headers=both, query_string={"jurisdiction_id": "nyc.gov"}
    )
    assert [item["id"] for item in only_ny.json] == [cities["ny"]["order"].id]
    # With a default flagged, an unnamed call means it.
    cities["la"]["city"].is_default = True
    db.flush()
    assert codes(client.get("/api/v1/services", headers=both)) == ["LA-1"]


def test_users_are_given_jurisdictions_by_administrators_of_them(client, db, cities):
    admin = staff_of(db, A, cities["la"]["city"])
    new = {"username": "cara", "password": "correct horse battery", "role": "call_taker"}
    mine = client.post("/api/v1/users", headers=admin, json=new)
    assert mine.status_code == 201 and mine.json["jurisdiction_ids"] == ["lacity.org"]
    theirs = client.post(
        "/api/v1/users",
        headers=admin,
        json=new | {"username": "dan", "jurisdiction_ids": ["nyc.gov"]},
    )
    assert theirs.status_code == 403


# --- GeoReport: without jurisdiction_id, the default ----------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_georeport_without_jurisdiction_id_means_the_default(client, db, cities, fmt):
    refused = client.get(url("services", fmt))
    assert "jurisdiction_id is required" in errors(refused, fmt, 400)[0]
    cities["ny"]["city"].is_default = True
    cities["ny"]["city"].contact = "NYC 311"
    db.flush()
    services = body(client.get(url("services", fmt)), fmt, "services")
    assert [item["service_code"] for item in services] == ["NY-1"]
    discovery = body(client.get(url("discovery", fmt)), fmt, "discovery")
    assert discovery["contact"] == "NYC 311"
    chosen = client.get(url("services", fmt), query_string={"jurisdiction_id": "lacity.org"})
    assert [item["service_code"] for item in body(chosen, fmt, "services")] == ["LA-1"]
