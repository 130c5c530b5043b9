"""Duplicates and call-taker intake over HTTP, on the Los Angeles demo city and its real points.

Graffiti on S Gaffey St in San Pedro, from the MyLA311 sample the demo imports: 1230 and 1214
S Gaffey St are 17 m apart, 629 W 14th St is 203 m from 1230. The city's own history there is
from 2020 and closed, so only what the tests file meets.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, update

from open311.db.models import Activity, Crew, ServiceRequest
from open311.domain import jurisdictions, workflow
from open311.values import StaffRole
from tests.api.helpers import bearer, counts, items_of, make_staff, url
from tests.factories import make_api_key

GAFFEY_1230 = (33.73280359, -118.2922555)
GAFFEY_1214 = (33.73295877, -118.2922483)  # 17 m north
W_14TH_629 = (33.73138964, -118.2908618)  # 203 m south-east
CALLER = {
    "first_name": "Rosalind",
    "last_name": "Quackenbush",
    "email": "rosalind.q@example.org",
    "phone": "+1 213 555 0199",
}


@pytest.fixture
def connection(demo_connection: Connection) -> Iterator[Connection]:
    savepoint = demo_connection.begin_nested()
    yield demo_connection
    savepoint.rollback()


@pytest.fixture
def la(db):
    return jurisdictions.resolve(db, "lacity.org")


@pytest.fixture
def tokens(db) -> dict[str, str]:
    crew = db.scalar(select(Crew).order_by(Crew.id).limit(1))
    found = {}
    for role in StaffRole:
        crews = [crew] if role is StaffRole.crew_member else []
        _user, token = make_staff(db, role, crews=crews)
        found[role.value] = token
    return found


def as_(tokens: dict[str, str], role: str) -> dict[str, str]:
    return bearer(tokens[role])


def post_public(db, client, point, service: str = "GRAFFITI") -> dict[str, Any]:
    answers = {"GRAFFITI": {"attribute[SURFACE]": "WALL"}, "OTHER": {}}[service]
    response = client.post(
        url("requests", "json"),
        data={
            "api_key": make_api_key(db),
            "service_code": service,
            "lat": point[0],
            "long": point[1],
            "description": "Tagging on the wall",
            **answers,
        },
    )
    assert response.status_code == 200, response.data
    return response.get_json()[0]


def extended(client, service_request_id: str, fmt: str = "json") -> dict[str, Any]:
    response = client.get(
        url(f"requests/{service_request_id}", fmt), query_string={"extensions": "true"}
    )
    assert response.status_code == 200
    (item,) = items_of(response, fmt)
    return item


def stored(db, service_request_id: str) -> ServiceRequest:
    return db.scalar(
        select(ServiceRequest).where(ServiceRequest.service_request_id == service_request_id)
    )


def activity_count(db) -> int:
    return db.scalar(select(func.count()).select_from(Activity))


@pytest.fixture
def pair(db, client) -> tuple[str, str]:
    """Two public reports of the same graffiti, 17 m apart: the second a suspected duplicate."""
    first = post_public(db, client, GAFFEY_1230)["service_request_id"]
    second = post_public(db, client, GAFFEY_1214)
    assert second["service_notice"].startswith(
        f"This looks like request {first}, which was already reported nearby. "
        "Our staff will check and link the two reports."
    )
    assert "Graffiti is usually removed" in second["service_notice"]  # the service's own
    return first, second["service_request_id"]


# --- detection through the public POST, seen in extended_attributes ---------------------------


@pytest.mark.parametrize("fmt", ["json", "geojson"])
def test_a_suspected_duplicate_shows_in_extended_attributes(client, pair, fmt):
    first, second = pair

    attributes = extended(client, second, fmt)["extended_attributes"]

    assert attributes["duplicate"] is True
    assert attributes["parent_service_request_id"] == first
    assert attributes["channel"] == "api"
    parent = extended(client, first, fmt)["extended_attributes"]
    assert parent["duplicate"] is False and parent["parent_service_request_id"] is None


def test_a_suspected_duplicate_shows_in_xml(client, pair):
    first, second = pair

    attributes = extended(client, second, "xml")["extended_attributes"]

    assert attributes["duplicate"] == "true"
    assert attributes["parent_service_request_id"] == first


@pytest.mark.parametrize("case", ["203 m away", "another service", "old", "closed"])
def test_what_is_not_a_duplicate(db, client, la, case):
    first = post_public(
        db, client, GAFFEY_1230, "OTHER" if case == "another service" else "GRAFFITI"
    )
    request = stored(db, first["service_request_id"])
    if case == "old":
        old = request.requested_datetime - timedelta(hours=la.duplicate_window_hours + 1)
        db.execute(
            update(ServiceRequest)
            .where(ServiceRequest.id == request.id)
            .values(requested_datetime=old)
        )
    if case == "closed":
        workflow.cancel_request(
            db, request, actor="staff:sup", reason="painted over", now=request.requested_datetime
        )
    db.flush()

    second = post_public(db, client, W_14TH_629 if case == "203 m away" else GAFFEY_1214)

    assert not second["service_notice"].startswith("This looks like")
    attributes = extended(client, second["service_request_id"])["extended_attributes"]
    assert attributes["duplicate"] is False and attributes["parent_service_request_id"] is None


# --- confirm, undo, merge ---------------------------------------------------------------------


def test_confirm_closes_the_duplicate_pointing_to_its_parent(db, client, tokens, pair):
    first, second = pair

    response = client.post(
        f"/api/v1/requests/{second}/duplicate/confirm", headers=as_(tokens, "supervisor")
    )

    assert response.status_code == 200, response.data
    assert response.json["duplicate_state"] == "confirmed"
    assert response.json["duplicate_of"] == first
    item = extended(client, second)
    assert item["status"] == "closed"
    assert item["status_notes"].startswith(f"Duplicate of request {first}")
    assert item["extended_attributes"]["duplicate"] is True
    assert item["extended_attributes"]["parent_service_request_id"] == first
    closing = db.scalar(
        select(Activity)
        .where(Activity.service_request_pk == stored(db, second).id, Activity.public)
        .order_by(Activity.id.desc())
        .limit(1)
    )
    assert closing.status == "duplicate" and closing.kind == "request_closed"
    parent = extended(client, first)
    assert parent["status"] == "open"
    assert parent["notes"][-1]["summary"] == (
        f"Another report of this problem (request {second}) was merged into this one."
    )
    assert closing.actor == "staff:supervisor"


def test_undo_unlinks_a_suspected_duplicate(db, client, tokens, pair):
    _first, second = pair

    response = client.post(
        f"/api/v1/requests/{second}/duplicate/undo", headers=as_(tokens, "administrator")
    )

    assert response.status_code == 200, response.data
    assert response.json["duplicate_state"] is None and response.json["duplicate_of"] is None
    item = extended(client, second)
    assert item["status"] == "open"
    assert item["service_notice"].startswith("Graffiti is usually removed")
    assert item["extended_attributes"]["duplicate"] is False
    # Done once: again is a 400 that changes nothing.
    before = activity_count(db)
    again = client.post(
        f"/api/v1/requests/{second}/duplicate/undo", headers=as_(tokens, "administrator")
    )
    assert again.status_code == 400 and "nothing to undo" in again.json[0]["description"]
    assert activity_count(db) == before


def test_merge_any_two_requests(db, client, tokens, pair):
    first, _second = pair
    other = post_public(db, client, W_14TH_629)["service_request_id"]

    response = client.post(
        f"/api/v1/requests/{other}/merge",
        json={"parent": first, "reason": "same tag, reported from across the street"},
        headers=as_(tokens, "supervisor"),
    )

    assert response.status_code == 200, response.data
    assert response.json["duplicate_of"] == first
    assert response.json["status"] == "closed"
    item = extended(client, other)
    assert item["status_notes"].startswith(f"Duplicate of request {first}")
    assert item["extended_attributes"]["parent_service_request_id"] == first


@pytest.mark.parametrize(
    ("target", "body", "status", "problem"),
    [
        ("first", {"parent": "{first}"}, 400, "into itself"),
        ("first", {"parent": "{second}"}, 400, "undo that link first"),
        ("first", {"parent": "NO-SUCH"}, 400, "parent: no request NO-SUCH"),
        ("first", {}, 400, "parent"),
        ("first", {"parent": "{second}", "colour": "red"}, 400, "colour"),
        ("first", {"parent": "{second}", "reason": "bad\u0007"}, 400, "control characters"),
        ("NO-SUCH", {"parent": "{first}"}, 404, "NO-SUCH"),
    ],
)
def test_refused_merges_change_nothing(db, client, tokens, pair, target, body, status, problem):
    first, second = pair
    names = {"first": first, "second": second}
    path_id = names.get(target, target)
    body = {key: value.format(**names) for key, value in body.items()}
    before = (activity_count(db), counts(db))

    response = client.post(
        f"/api/v1/requests/{path_id}/merge", json=body, headers=as_(tokens, "supervisor")
    )

    assert response.status_code == status, response.data
    assert problem in response.json[0]["description"]
    assert (activity_count(db), counts(db)) == before
    assert extended(client, first)["status"] == "open"


# --- call-taker intake --------------------------------------------------------------------------


def test_a_call_taker_files_for_a_caller_by_phone(db, client, tokens, pair):
    first, _second = pair
    before = counts(db)

    response = client.post(
        "/api/v1/intake/requests",
        json={
            "service_code": "GRAFFITI",
            "lat": GAFFEY_1230[0],
            "long": GAFFEY_1230[1],
            "description": "Caller says the tag is back on the wall",
            "attributes": {"SURFACE": "WALL", "SIZE": ["SMALL"]},
            "channel": "phone",
            "caller": CALLER,
        },
        headers=as_(tokens, "call_taker"),
    )

    assert response.status_code == 201, response.data
    result = response.json
    assert set(result) == {
        "service_request_id",
        "status",
        "service_notice",
        "expected_datetime",
        "duplicate_of",
        "agency_responsible",
    }
    assert result["status"] == "open"
    assert result["duplicate_of"] == first
    assert result["service_notice"].startswith(f"This looks like request {first}")
    assert result["agency_responsible"]
    assert counts(db) == (before[0] + 1, before[1] + 1)
    request = stored(db, result["service_request_id"])
    assert request.requester.last_name == "Quackenbush"
    submitted = db.scalar(
        select(Activity).where(Activity.service_request_pk == request.id).order_by(Activity.id)
    )
    assert submitted.actor == "staff:call-taker"
    assert extended(client, result["service_request_id"])["extended_attributes"]["channel"] == (
        "phone"
    )
    # The caller's details appear in no public representation.
    for fmt in ("json", "xml", "geojson"):
        for query in ({"extensions": "true"}, {}):
            public = client.get(
                url(f"requests/{result['service_request_id']}", fmt), query_string=query
            )
            listed = client.get(
                url("requests", fmt), query_string=query | {"service_code": "GRAFFITI"}
            )
            for page in (public, listed):
                assert page.status_code == 200
                for secret in CALLER.values():
                    assert secret.encode() not in page.data


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        ({"service_code": "NOPE"}, 404, "NOPE"),
        ({"attributes": {"SURFACE": "CEILING"}}, 400, "SURFACE"),
        ({"attributes": {}}, 400, "SURFACE is required"),
        ({"lat": 40.7128, "long": -74.0060}, 400, "outside the service area"),
        ({"channel": None}, 400, "channel"),
        ({"channel": "api"}, 400, "channel"),
        ({"lat": None, "long": None}, 400, "a location is required"),
        ({"caller": {"email": "not-an-address"}}, 400, "email"),
        ({"description": "tag\u0000"}, 400, "control characters"),
        ({"attributes": {"SURFACE": True}}, 400, "SURFACE"),
    ],
)
def test_bad_intake_is_refused_with_nothing_stored(db, client, tokens, body, status, problem):
    good = {
        "service_code": "GRAFFITI",
        "lat": GAFFEY_1230[0],
        "long": GAFFEY_1230[1],
        "attributes": {"SURFACE": "WALL"},
        "channel": "walk_in",
    }
    sent = {key: value for key, value in (good | body).items() if value is not None}
    before = (counts(db), activity_count(db))

    response = client.post("/api/v1/intake/requests", json=sent, headers=as_(tokens, "supervisor"))

    assert response.status_code == status, response.data
    assert any(problem in error["description"] for error in response.json), response.json
    assert (counts(db), activity_count(db)) == before


def test_an_address_only_intake_is_never_a_duplicate(client, tokens, pair):
    response = client.post(
        "/api/v1/intake/requests",
        json={
            "service_code": "GRAFFITI",
            "address_string": "1214 S GAFFEY ST, 90731",
            "attributes": {"SURFACE": "WALL"},
            "channel": "tty",
        },
        headers=as_(tokens, "administrator"),
    )

    assert response.status_code == 201, response.data
    assert response.json["duplicate_of"] is None


def test_nearby_lists_open_requests_of_the_service_nearest_first(db, client, tokens, pair):
    first, second = pair
    post_public(db, client, W_14TH_629)  # 203 m: beyond the default 5 x 40 m
    post_public(db, client, GAFFEY_1214, "OTHER")  # another service

    response = client.get(
        "/api/v1/intake/nearby",
        query_string={"service_code": "GRAFFITI", "lat": GAFFEY_1214[0], "long": GAFFEY_1214[1]},
        headers=as_(tokens, "call_taker"),
    )

    assert response.status_code == 200, response.data
    assert response.json["radius_m"] == 200.0
    found = response.json["requests"]
    assert [item["service_request_id"] for item in found] == [second, first]
    assert found[0]["distance_m"] == 0.0
    assert 16.0 < found[1]["distance_m"] < 18.5
    assert found[1]["duplicates"] == 1 and found[0]["duplicates"] == 0
    assert set(found[0]) == {
        "service_request_id",
        "distance_m",
        "status",
        "address",
        "description",
        "requested_datetime",
        "duplicates",
    }
    wider = client.get(
        "/api/v1/intake/nearby",
        query_string={
            "service_code": "GRAFFITI",
            "lat": GAFFEY_1214[0],
            "long": GAFFEY_1214[1],
            "radius_m": 300,
        },
        headers=as_(tokens, "call_taker"),
    )
    assert len(wider.json["requests"]) == 3


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"service_code": "GRAFFITI", "lat": 34.0, "long": -118.2, "radius_m": 2001}, 400),
        ({"service_code": "GRAFFITI", "lat": 34.0}, 400),
        ({"service_code": "NOPE", "lat": 34.0, "long": -118.2}, 404),
    ],
)
def test_bad_nearby_look_ups(client, tokens, query, status):
    response = client.get(
        "/api/v1/intake/nearby", query_string=query, headers=as_(tokens, "call_taker")
    )

    assert response.status_code == status, response.data


# --- who may do what ----------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/api/v1/intake/nearby?service_code=GRAFFITI&lat=33.7328&long=-118.2922", None),
    ("POST", "/api/v1/intake/requests", {"service_code": "GRAFFITI"}),
    ("POST", "/api/v1/requests/{second}/duplicate/confirm", None),
    ("POST", "/api/v1/requests/{second}/duplicate/undo", None),
    ("POST", "/api/v1/requests/{second}/merge", {"parent": "{first}"}),
]
DUPLICATE_ONLY = ENDPOINTS[2:]


def _call(client, method, path, body, pair, headers):
    first, second = pair
    path = path.format(first=first, second=second)
    if body is not None:
        body = {key: value.format(first=first, second=second) for key, value in body.items()}
    return client.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_without_a_token_everything_is_401(client, pair, method, path, body):
    assert _call(client, method, path, body, pair, {}).status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_crew_members_may_do_none_of_it(db, client, tokens, pair, method, path, body):
    before = activity_count(db)

    response = _call(client, method, path, body, pair, as_(tokens, "crew_member"))

    assert response.status_code == 403
    assert activity_count(db) == before


@pytest.mark.parametrize(("method", "path", "body"), DUPLICATE_ONLY)
def test_call_takers_cannot_confirm_undo_or_merge(db, client, tokens, pair, method, path, body):
    before = activity_count(db)

    response = _call(client, method, path, body, pair, as_(tokens, "call_taker"))

    assert response.status_code == 403
    assert activity_count(db) == before
