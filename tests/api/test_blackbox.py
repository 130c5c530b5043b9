"""Requests of blackbox services (digest §5: the filer gets neither id nor token) are in no public
read unless OPEN311_PUBLISH_BLACKBOX is on (domain/publication.py); staff always see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from open311.db.models import Delivery, ServiceRequest
from open311.db.search_queries import RequestSearch, Unresolved, count_sql, page_sql
from open311.domain import activity
from open311.values import DeliveryChannel, ServiceType, StaffRole
from tests.api.helpers import BASE, bearer, make_staff, post_update, url
from tests.factories import (
    make_api_client,
    make_api_key,
    make_jurisdiction,
    make_request,
    make_service,
)

SECRET = "Complaint about my neighbour at 12 Oak St"
LAT, LONG = 34.0522, -118.2437


@dataclass
class City:
    visible: ServiceRequest
    secret: ServiceRequest


@pytest.fixture(params=[False, True], ids=["default", "published"])
def publish(request, app) -> bool:
    app.config["OPEN311_PUBLISH_BLACKBOX"] = request.param
    return request.param


@pytest.fixture
def city(db) -> City:
    jurisdiction = make_jurisdiction(db)
    pothole = make_service(db, jurisdiction, "POT-01")
    feedback = make_service(db, jurisdiction, "FEEDBACK", type=ServiceType.blackbox)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    visible = make_request(
        db,
        pothole,
        service_request_id="SR-1",
        description="Deep hole",
        requested_datetime=yesterday,
        updated_datetime=yesterday,
    )
    # A token as a batch service would have given (a service's type may change later).
    secret = make_request(
        db,
        feedback,
        service_request_id="FB-1",
        description=SECRET,
        address="12 Oak St",
        token="tk-feedback",
        requested_datetime=yesterday,
        updated_datetime=yesterday,
    )
    for request in (visible, secret):
        activity.record(
            db,
            request,
            actor="system",
            kind="status_notes",
            summary=f"Received {request.service_request_id}",
            public=True,
            status="open",
            at=yesterday,
        )
    db.flush()
    return City(visible, secret)


AREA = {"bbox": f"{LONG - 0.01},{LAT - 0.01},{LONG + 0.01},{LAT + 0.01}"}
NEAR = {"lat": str(LAT), "long": str(LONG), "radius": "500"}

PUBLIC_LISTS = [
    pytest.param(url("requests", "json"), {}, id="json"),
    pytest.param(url("requests", "xml"), {}, id="xml"),
    pytest.param(url("requests", "geojson"), {}, id="geojson"),
    pytest.param(url("requests", "json"), {"page": "1"}, id="paged"),
    pytest.param(url("requests", "json"), {"page_size": "10"}, id="keyset"),
    pytest.param(url("requests", "geojson"), AREA, id="bbox"),
    pytest.param(url("requests", "json"), NEAR | {"sort": "distance"}, id="near"),
    pytest.param(url("requests", "json"), {"q": "deep or neighbour"}, id="text"),
    pytest.param(url("requests", "xml"), {"service_request_id": "SR-1,FB-1"}, id="by-ids"),
    pytest.param(url("requests", "json"), {"service_code": "FEEDBACK,POT-01"}, id="by-code"),
    pytest.param(f"{BASE}/exports/requests.csv", {}, id="csv"),
    pytest.param(f"{BASE}/exports/requests.ndjson", {}, id="ndjson"),
    pytest.param(f"{BASE}/exports/requests.geojson", AREA, id="export-geojson"),
    pytest.param(url("servicerequestupdates", "json"), {}, id="updates"),
    pytest.param(url("servicerequestupdates", "xml"), {"page_size": "5"}, id="updates-paged"),
]


@pytest.mark.parametrize(("path", "query"), PUBLIC_LISTS)
def test_public_lists_leave_blackbox_requests_out_unless_published(
    client, city, publish, path, query
):
    response = client.get(path, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    assert "SR-1" in text
    assert ("FB-1" in text) is publish
    assert (SECRET in text) is (publish and "servicerequestupdates" not in path)


def test_the_total_count_counts_only_what_is_published(client, city, publish):
    # page_size 1: the page does not end the list, so the count is a statement of its own.
    response = client.get(url("requests", "json"), query_string={"page": "1", "page_size": "1"})
    assert response.headers["X-Total-Count"] == ("2" if publish else "1")


@pytest.mark.parametrize("fmt", ["json", "xml", "geojson"])
def test_by_id_a_blackbox_request_is_not_found_unless_published(client, city, publish, fmt):
    response = client.get(url("requests/FB-1", fmt))
    if publish:
        assert response.status_code == 200
        assert SECRET in response.get_data(as_text=True)
    else:
        # Exactly what an unknown id answers.
        unknown = client.get(url("requests/NO-SUCH", fmt))
        assert response.status_code == unknown.status_code == 404
        assert response.get_data(as_text=True) == unknown.get_data(as_text=True).replace(
            "NO-SUCH", "FB-1"
        )
    assert client.get(url("requests/SR-1", fmt)).status_code == 200


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_token_does_not_lead_to_a_blackbox_request_unless_published(client, city, publish, fmt):
    response = client.get(url("tokens/tk-feedback", fmt))
    assert response.status_code == (200 if publish else 404)
    assert ("FB-1" in response.get_data(as_text=True)) is publish


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_apps_cannot_post_updates_to_blackbox_requests_unless_published(
    client, db, city, publish, fmt
):
    key = make_api_key(db)
    response = post_update(client, key, fmt, service_request_id="FB-1")
    assert response.status_code == (200 if publish else 404)
    unknown = post_update(client, key, fmt, service_request_id="NO-SUCH", update_id="fms-2")
    assert unknown.status_code == 404


def test_staff_see_blackbox_requests_whatever_the_setting(client, db, city, publish):
    _user, token = make_staff(db, StaffRole.call_taker)
    response = client.get("/api/v1/requests/FB-1", headers=bearer(token))
    assert response.status_code == 200, response.json
    assert response.json["service_request_id"] == "FB-1"
    assert response.json["description"] == SECRET


def test_webhooks_get_no_events_of_blackbox_requests_unless_published(app, client, db, publish):
    app.config["OPEN311_SMTP_HOST"] = "127.0.0.1"  # e-mails are queued only with one
    jurisdiction = make_jurisdiction(db)
    make_service(db, jurisdiction, "FEEDBACK", type=ServiceType.blackbox)
    _filer, key = make_api_client(db, "feedback app")
    _watcher, watcher_key = make_api_client(db, "area watcher")
    hooks = f"{BASE}/webhooks.json"
    own = client.post(hooks, data={"api_key": key, "url": "https://a.example/own"})
    area = client.post(
        hooks,
        data={
            "api_key": watcher_key,
            "url": "https://b.example/area",
            "scope": "area",
            "area": AREA["bbox"],
        },
    )
    assert own.status_code == area.status_code == 201

    filed = client.post(
        url("requests", "json"),
        data={
            "api_key": key,
            "service_code": "FEEDBACK",
            "lat": str(LAT),
            "long": str(LONG),
            "description": SECRET,
            "email": "someone@example.net",
        },
    )

    assert filed.status_code == 200, filed.json
    assert "service_request_id" not in filed.json[0] and "token" not in filed.json[0]
    channels = sorted((d.channel.value, d.subscription_id) for d in db.scalars(select(Delivery)))
    webhooks = sorted(("webhook", hook.json[0]["id"]) for hook in (own, area))
    # The requester's own e-mail goes either way.
    assert channels == sorted([(DeliveryChannel.email.value, None)] + (webhooks if publish else []))


# --- the condition keeps the indexes of the search (db/search_queries.py) -----------------------


def _plan(db, sql: str, params: dict) -> str:
    cursor = db.connection().connection.cursor()
    cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute("EXPLAIN " + sql, params)
    plan = "\n".join(row[0] for row in cursor.fetchall())
    cursor.execute("SET LOCAL enable_seqscan = on")
    return plan


@pytest.mark.parametrize(
    ("search", "index"),
    [
        pytest.param(RequestSearch(start=datetime(2026, 1, 1, tzinfo=UTC)), "requested", id="std"),
        pytest.param(
            RequestSearch(service_request_ids=("FB-1",), limit=1), "service_request_id", id="id"
        ),
        pytest.param(
            RequestSearch(updated_after=datetime(2026, 1, 1, tzinfo=UTC)), "updated", id="feed"
        ),
    ],
)
def test_the_condition_is_a_filter_that_keeps_the_index(db, city, search, index):
    sql, params = page_sql(Unresolved(None), search, "json")
    plan = _plan(db, sql, params)
    assert "NOT (hashed SubPlan" in plan or "NOT (ANY" in plan, plan
    assert index in plan, plan
    assert "Anti Join" not in plan, plan
    published = RequestSearch(**(search.__dict__ | {"blackbox": True}))
    assert "SubPlan" not in _plan(db, *page_sql(Unresolved(None), published, "json"))
    assert "SubPlan" in _plan(db, *count_sql(Unresolved(None), search, 10))
