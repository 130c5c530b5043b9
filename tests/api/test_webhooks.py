"""Public webhook subscriptions: an API client subscribes, lists and deletes with its own key."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from open311.db.models import Delivery, OutboxEvent, WebhookSubscription
from tests.api.helpers import BASE
from tests.factories import make_api_client, make_jurisdiction, make_service


@pytest.fixture(autouse=True)
def smtp_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """E-mail deliveries are queued only when an SMTP server is configured."""
    monkeypatch.setenv("OPEN311_SMTP_HOST", "127.0.0.1")


HOOKS = f"{BASE}/webhooks.json"
ALL = ["request.created", "request.status_changed", "request.update_added"]
DOWNTOWN_BBOX = "-118.30,34.00,-118.20,34.10"


@pytest.fixture
def keys(db) -> tuple[str, str]:
    _app, key = make_api_client(db, "pothole app")
    _other, other_key = make_api_client(db, "other app")
    return key, other_key


def subscriptions(db) -> int:
    return db.scalar(select(func.count()).select_from(WebhookSubscription))


def test_subscribe_with_defaults_shows_the_secret_once(client, db, keys):
    key, _ = keys
    response = client.post(HOOKS, data={"api_key": key, "url": "https://app.example/hook"})
    assert response.status_code == 201, response.json
    assert response.content_type == "application/json; charset=utf-8"
    (created,) = response.json
    assert created["url"] == "https://app.example/hook"
    assert created["events"] == ALL
    assert created["scope"] == "own" and created["area"] is None
    assert created["active"] is True
    assert len(created["secret"]) >= 32
    stored = db.get(WebhookSubscription, created["id"])
    assert stored.secret == created["secret"]

    listed = client.get(HOOKS, query_string={"api_key": key})
    assert listed.status_code == 200
    (item,) = listed.json
    assert item["id"] == created["id"]
    assert "secret" not in item and created["secret"] not in listed.get_data(as_text=True)


@pytest.mark.parametrize(
    "events",
    [
        "request.created,request.status_changed",
        ["request.created", "request.status_changed"],
        " request.created , request.status_changed,request.created",
    ],
)
def test_events_as_a_comma_list_or_repeated(client, keys, events):
    data = {"api_key": keys[0], "url": "http://app.example/hook", "events": events}
    response = client.post(HOOKS, data=data)
    assert response.status_code == 201, response.json
    assert response.json[0]["events"] == ["request.created", "request.status_changed"]


def test_json_body_with_a_geojson_area(client, keys):
    area = {
        "type": "Polygon",
        "coordinates": [[[-118.3, 34.0], [-118.2, 34.0], [-118.2, 34.1], [-118.3, 34.0]]],
    }
    for given in (area, json.dumps(area)):
        response = client.post(
            HOOKS,
            json={
                "api_key": keys[0],
                "url": "https://app.example/hook",
                "events": ["request.created"],
                "scope": "area",
                "area": given,
            },
        )
        assert response.status_code == 201, response.json
        (created,) = response.json
        assert created["scope"] == "area"
        assert created["area"]["type"] == "MultiPolygon"


def test_area_as_a_bbox(client, keys):
    data = {"api_key": keys[0], "url": "https://a.example/h", "scope": "area"}
    response = client.post(HOOKS, data=data | {"area": DOWNTOWN_BBOX})
    assert response.status_code == 201, response.json
    ring = response.json[0]["area"]["coordinates"][0][0]
    assert {tuple(point) for point in ring} == {
        (-118.3, 34.0),
        (-118.2, 34.0),
        (-118.2, 34.1),
        (-118.3, 34.1),
    }


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "url: required"),
        ({"url": "ftp://app.example/hook"}, "url"),
        ({"url": "https:///nohost"}, "url"),
        ({"url": "https://a.example/h", "events": "request.deleted"}, "unknown event"),
        ({"url": "https://a.example/h", "scope": "everything"}, "scope"),
        ({"url": "https://a.example/h", "scope": "area"}, "area: required"),
        ({"url": "https://a.example/h", "scope": "area", "area": "1,2,3"}, "bbox"),
        ({"url": "https://a.example/h", "scope": "area", "area": "10,10,5,5"}, "min < max"),
        ({"url": "https://a.example/h", "scope": "area", "area": "0,0,200,10"}, "WGS 84"),
        (
            {"url": "https://a.example/h", "scope": "area", "area": '{"type": "Point"}'},
            "Polygon",
        ),
        ({"url": "https://a.example/h", "area": DOWNTOWN_BBOX}, "only for scope area"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "public internet addresses only"),
        ({"url": "http://127.0.0.1:5432/"}, "public internet addresses only"),
        ({"url": "http://localhost/hook"}, "public internet addresses only"),
        ({"url": "http://[::1]/hook"}, "public internet addresses only"),
    ],
)
def test_bad_subscriptions_are_400(client, db, keys, data, message):
    response = client.post(HOOKS, data={"api_key": keys[0]} | data)
    assert response.status_code == 400, response.json
    assert response.content_type.startswith("application/json")
    assert message in response.json[0]["description"]
    assert subscriptions(db) == 0


@pytest.mark.parametrize("key", [None, "", "not-a-key"])
def test_missing_or_unknown_key_is_403(client, db, key):
    data = {"url": "https://a.example/h"} | ({"api_key": key} if key is not None else {})
    response = client.post(HOOKS, data=data)
    assert response.status_code == 403
    assert response.json[0]["code"] == 403
    listed = client.get(HOOKS, query_string={"api_key": key} if key else {})
    assert listed.status_code == 403
    assert subscriptions(db) == 0


def test_disabled_client_key_is_403(client, db):
    _client, key = make_api_client(db, "old app", active=False)
    assert (
        client.post(HOOKS, data={"api_key": key, "url": "https://a.example/h"}).status_code == 403
    )


def test_clients_see_and_delete_only_their_own(client, db, keys):
    key, other_key = keys
    mine = client.post(HOOKS, data={"api_key": key, "url": "https://mine.example/h"}).json[0]
    theirs = client.post(HOOKS, data={"api_key": other_key, "url": "https://t.example/h"}).json[0]
    assert [item["id"] for item in client.get(HOOKS, query_string={"api_key": key}).json] == [
        mine["id"]
    ]

    refused = client.delete(f"{BASE}/webhooks/{theirs['id']}.json", query_string={"api_key": key})
    assert refused.status_code == 404
    assert db.get(WebhookSubscription, theirs["id"]).active is True
    unknown = client.delete(f"{BASE}/webhooks/999999.json", query_string={"api_key": key})
    assert unknown.status_code == 404
    no_key = client.delete(f"{BASE}/webhooks/{mine['id']}.json")
    assert no_key.status_code == 403

    deleted = client.delete(f"{BASE}/webhooks/{mine['id']}.json", data={"api_key": key})
    assert deleted.status_code == 200, deleted.json
    assert deleted.json[0]["active"] is False
    assert db.get(WebhookSubscription, mine["id"]).active is False
    listed = client.get(HOOKS, query_string={"api_key": key}).json
    assert [(item["id"], item["active"]) for item in listed] == [(mine["id"], False)]


def test_a_client_has_a_bounded_number_of_subscriptions(client, keys):
    for number in range(25):
        data = {"api_key": keys[0], "url": f"https://a.example/{number}"}
        assert client.post(HOOKS, data=data).status_code == 201
    refused = client.post(HOOKS, data={"api_key": keys[0], "url": "https://a.example/x"})
    assert refused.status_code == 400
    assert "25 active subscriptions" in refused.json[0]["description"]


def test_a_subscription_receives_the_requests_its_client_files(client, db, keys):
    key, _ = keys
    jurisdiction = make_jurisdiction(db)
    make_service(db, jurisdiction, "POTHOLE")
    hook = client.post(HOOKS, data={"api_key": key, "url": "https://a.example/h"}).json[0]
    filed = client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": key,
            "service_code": "POTHOLE",
            "lat": "34.05",
            "long": "-118.24",
            "email": "someone@example.net",
        },
    )
    assert filed.status_code == 200, filed.json
    (event,) = db.scalars(select(OutboxEvent)).all()
    assert event.kind == "request.created"
    assert (
        event.payload["service_request"]["service_request_id"]
        == (filed.json[0]["service_request_id"])
    )
    channels = {(d.channel.value, d.subscription_id) for d in db.scalars(select(Delivery))}
    assert channels == {("webhook", hook["id"]), ("email", None)}


def test_xml_is_not_offered(client, keys):
    response = client.get(f"{BASE}/webhooks.xml", query_string={"api_key": keys[0]})
    assert response.status_code == 404
