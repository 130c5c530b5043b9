"""Staff reading the updates apps posted, and publishing them to the servicerequestupdates feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from open311.db.models import Activity, UpdateAuthor
from open311.domain import activity
from open311.values import StaffRole
from tests.api.helpers import bearer, make_staff, url
from tests.factories import (
    make_agency,
    make_api_key,
    make_crew,
    make_jurisdiction,
    make_request,
    make_service,
)

MODERATORS = (StaffRole.administrator, StaffRole.supervisor, StaffRole.call_taker)
PERSONAL = {
    "first_name": "Pat",
    "last_name": "Leeworth",
    "email": "pat.leeworth@example.org",
    "phone": "+1 555 0199",
    "account_id": "acct-4711",
}


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def request_u1(db, city):
    service = make_service(db, city, "POT-01")
    request = make_request(db, service, service_request_id="U-1")
    activity.record(
        db,
        request,
        actor="system",
        kind="status_notes",
        summary="Crew on the way",
        public=True,
        status="in_progress",
        at=datetime.now(UTC) - timedelta(hours=1),
    )
    db.flush()
    return request


@pytest.fixture
def api_key(db):
    return make_api_key(db, "FixMyStreet")


def post_update(client, api_key: str, update_id: str = "fms-1", **fields: str) -> str:
    body = {
        "api_key": api_key,
        "service_request_id": "U-1",
        "update_id": update_id,
        "status": "OPEN",
        "updated_datetime": "2026-11-14T08:02:11Z",
        "description": "Still there",
        "media_url": "https://img.example.org/1.jpg",
    } | fields
    response = client.post(url("servicerequestupdates", "json"), data=body)
    assert response.status_code == 200, response.data
    return response.get_json()[0]["update_id"]


def published_count(db) -> int:
    return db.scalar(
        select(func.count()).select_from(Activity).where(Activity.kind == "update_published")
    )


def public_feed(client) -> list[dict]:
    response = client.get(url("servicerequestupdates", "json"))
    assert response.status_code == 200
    return response.get_json()


# --- listing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", MODERATORS)
def test_moderators_see_app_updates_with_their_authors(client, db, request_u1, api_key, role):
    with_author = post_update(client, api_key, "fms-1", **PERSONAL)
    anonymous = post_update(client, api_key, "fms-2", description="", status="reopen")
    _user, token = make_staff(db, role)

    response = client.get("/api/v1/requests/U-1/app-updates", headers=bearer(token))

    assert response.status_code == 200
    first, second = response.json
    assert first == {
        "update_id": with_author,
        "service_request_id": "U-1",
        "client_update_id": "fms-1",
        "api_client": "FixMyStreet",
        "received_datetime": first["received_datetime"],
        "updated_datetime": "2026-11-14T08:02:11+00:00",
        "status": "OPEN",
        "description": "Still there",
        "media_url": ["https://img.example.org/1.jpg"],
        "author": PERSONAL,
        "published_update_id": None,
    }
    assert (second["update_id"], second["status"]) == (anonymous, "REOPEN")
    assert second["author"] is None and second["description"] == ""


def test_a_request_without_app_updates_lists_none(client, db, request_u1):
    _user, token = make_staff(db, StaffRole.call_taker)

    response = client.get("/api/v1/requests/U-1/app-updates", headers=bearer(token))

    assert response.status_code == 200 and response.json == []


def test_unknown_request_is_404(client, db, city):
    _user, token = make_staff(db, StaffRole.supervisor)

    response = client.get("/api/v1/requests/NOPE/app-updates", headers=bearer(token))

    assert response.status_code == 404
    assert response.json == [{"code": 404, "description": "service_request_id NOPE not found"}]


# --- publishing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", MODERATORS)
def test_publishing_puts_the_update_in_the_public_feed(client, db, request_u1, api_key, role):
    update_id = post_update(client, api_key, **PERSONAL)
    _user, token = make_staff(db, role, "mod")

    response = client.post(
        f"/api/v1/app-updates/{update_id}/publish", json={}, headers=bearer(token)
    )

    assert response.status_code == 201, response.json
    published = response.json
    assert published["app_update_id"] == update_id
    assert published["service_request_id"] == "U-1"
    assert published["status"] == "in_progress"  # the request's current update status
    assert published["description"] == "Still there"
    assert published["media_url"] == ["https://img.example.org/1.jpg"]
    entry = db.get(Activity, int(published["update_id"]))
    assert (entry.kind, entry.public, entry.actor) == ("update_published", True, "staff:mod")
    assert entry.details == {
        "app_update_id": int(update_id),
        "media_url": ["https://img.example.org/1.jpg"],
    }
    last = public_feed(client)[-1]
    assert last == {
        "update_id": published["update_id"],
        "service_request_id": "U-1",
        "status": "in_progress",
        "updated_datetime": last["updated_datetime"],
        "description": "Still there",
        "media_url": "https://img.example.org/1.jpg",
    }
    listed = client.get("/api/v1/requests/U-1/app-updates", headers=bearer(token)).json
    assert listed[0]["published_update_id"] == published["update_id"]


def test_staff_may_edit_the_text_they_publish(client, db, request_u1, api_key):
    update_id = post_update(client, api_key, description="Still there, call me on 555 0199")
    _user, token = make_staff(db, StaffRole.supervisor)

    response = client.post(
        f"/api/v1/app-updates/{update_id}/publish",
        json={"text": "Still there"},
        headers=bearer(token),
    )

    assert response.status_code == 201
    feed = client.get(url("servicerequestupdates", "xml")).data
    assert b"<description>Still there</description>" in feed
    assert b"555 0199" not in feed


def test_publishing_twice_is_400(client, db, request_u1, api_key):
    update_id = post_update(client, api_key)
    _user, token = make_staff(db, StaffRole.supervisor)
    path = f"/api/v1/app-updates/{update_id}/publish"
    client.post(path, json={}, headers=bearer(token))

    again = client.post(path, json={"text": "Once more"}, headers=bearer(token))

    assert again.status_code == 400
    assert again.json == [
        {"code": 400, "description": f"app update {update_id} is already published"}
    ]
    assert published_count(db) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": ""}, "text"),
        ({"text": "x" * 4001}, "text"),
        ({"txt": "typo"}, "txt"),
    ],
)
def test_bad_publish_bodies_are_400_and_publish_nothing(
    client, db, request_u1, api_key, body, message
):
    update_id = post_update(client, api_key)
    _user, token = make_staff(db, StaffRole.supervisor)

    response = client.post(
        f"/api/v1/app-updates/{update_id}/publish", json=body, headers=bearer(token)
    )

    assert response.status_code == 400
    assert message in response.json[0]["description"]
    assert published_count(db) == 0


def test_an_update_without_text_or_photos_needs_a_text(client, db, request_u1, api_key):
    update_id = post_update(client, api_key, description="", media_url="")
    _user, token = make_staff(db, StaffRole.supervisor)
    path = f"/api/v1/app-updates/{update_id}/publish"

    refused = client.post(path, json={}, headers=bearer(token))
    accepted = client.post(path, json={"text": "A citizen says it is back"}, headers=bearer(token))

    assert (
        refused.status_code == 400 and "neither text nor photos" in refused.json[0]["description"]
    )
    assert accepted.status_code == 201


def test_publishing_an_unknown_or_public_entry_is_404(client, db, request_u1):
    _user, token = make_staff(db, StaffRole.supervisor)
    public_entry = db.scalar(select(Activity.id).where(Activity.public))

    for update_id in (999_999_999, public_entry):
        response = client.post(
            f"/api/v1/app-updates/{update_id}/publish", json={}, headers=bearer(token)
        )
        assert response.status_code == 404
    assert published_count(db) == 0


# --- who may ------------------------------------------------------------------------------------


def test_crew_members_are_403_and_anonymous_callers_401(client, db, city, request_u1, api_key):
    update_id = post_update(client, api_key)
    crew = make_crew(db, make_agency(db, city, "BSS"))
    _user, token = make_staff(db, StaffRole.crew_member, crews=[crew])
    calls = [
        ("get", "/api/v1/requests/U-1/app-updates"),
        ("post", f"/api/v1/app-updates/{update_id}/publish"),
    ]

    for method, path in calls:
        forbidden = getattr(client, method)(path, json={}, headers=bearer(token))
        anonymous = getattr(client, method)(path, json={})
        assert forbidden.status_code == 403 and forbidden.json[0]["code"] == 403
        assert anonymous.status_code == 401 and anonymous.json[0]["code"] == 401
    assert published_count(db) == 0


def test_the_author_stays_out_of_the_public_feed(client, db, request_u1, api_key):
    update_id = post_update(client, api_key, **PERSONAL)
    _user, token = make_staff(db, StaffRole.supervisor)
    client.post(f"/api/v1/app-updates/{update_id}/publish", json={}, headers=bearer(token))

    for fmt in ("json", "xml"):
        for path in (url("servicerequestupdates", fmt), url("requests/U-1", fmt)):
            data = client.get(path, query_string={"extensions": "true"}).data
            for value in PERSONAL.values():
                assert value.encode() not in data
    assert db.scalar(select(func.count()).select_from(UpdateAuthor)) == 1
