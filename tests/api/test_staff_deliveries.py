"""Staff API: administrators manage any client's webhooks and see, and replay, deliveries."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from open311.config import Settings
from open311.db.models import Delivery, WebhookSubscription
from open311.domain import intake
from open311.notify.worker import Worker
from open311.values import DeliveryState, StaffRole
from tests.api.helpers import bearer, make_staff
from tests.factories import make_api_client, make_jurisdiction, make_service
from tests.helpers import receiver


@pytest.fixture(autouse=True)
def smtp_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """E-mail deliveries are queued only when an SMTP server is configured; the receiver here
    listens on 127.0.0.1, a private destination allowed in tests."""
    monkeypatch.setenv("OPEN311_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("OPEN311_WEBHOOK_ALLOW_PRIVATE", "1")


ALL = ["request.created", "request.status_changed", "request.update_added"]


@pytest.fixture
def admin(db) -> dict[str, str]:
    return bearer(make_staff(db, StaffRole.administrator)[1])


@pytest.fixture
def app_client(db):
    return make_api_client(db, "pothole app")[0]


def test_administrator_subscribes_a_client_and_sees_the_secret_once(client, db, admin, app_client):
    response = client.post(
        "/api/v1/webhooks",
        json={
            "api_client_id": app_client.id,
            "url": "https://app.example/hook",
            "events": "request.created",
            "scope": "area",
            "area": "-118.3,34.0,-118.2,34.1",
        },
        headers=admin,
    )
    assert response.status_code == 201, response.json
    created = response.json
    assert created["api_client_id"] == app_client.id
    assert created["created_by"] == "staff:administrator"
    assert created["events"] == ["request.created"]
    assert created["scope"] == "area"
    secret = created["secret"]
    assert db.get(WebhookSubscription, created["id"]).secret == secret

    listed = client.get("/api/v1/webhooks", headers=admin)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json] == [created["id"]]
    assert secret not in listed.get_data(as_text=True)
    other = client.get("/api/v1/webhooks", query_string={"api_client_id": 999999}, headers=admin)
    assert other.json == []


@pytest.mark.parametrize(
    "body, status",
    [
        ({"url": "https://a.example/h"}, 400),
        ({"api_client_id": 999999, "url": "https://a.example/h"}, 404),
        ({"api_client_id": None, "url": "javascript:alert(1)"}, 400),
        ({"api_client_id": None, "url": "https://a.example/h", "events": ["nope"]}, 400),
        ({"api_client_id": None, "url": "https://a.example/h", "events": 5}, 400),
    ],
)
def test_bad_new_webhooks(client, db, admin, app_client, body, status):
    if body.get("api_client_id", 0) is None:
        body = body | {"api_client_id": app_client.id}
    response = client.post("/api/v1/webhooks", json=body, headers=admin)
    assert response.status_code == status, response.json
    assert db.scalars(select(WebhookSubscription)).all() == []


def test_patch_switches_off_and_changes(client, db, admin, app_client):
    created = client.post(
        "/api/v1/webhooks",
        json={"api_client_id": app_client.id, "url": "https://a.example/h"},
        headers=admin,
    ).json
    path = f"/api/v1/webhooks/{created['id']}"
    changed = client.patch(
        path,
        json={"active": False, "url": "https://b.example/h", "events": ["request.update_added"]},
        headers=admin,
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["active"], changed.json["url"], changed.json["events"]) == (
        False,
        "https://b.example/h",
        ["request.update_added"],
    )
    assert "secret" not in changed.json
    assert client.patch(path, json={"url": "file:///etc/passwd"}, headers=admin).status_code == 400
    assert client.patch(path, json={"bogus": 1}, headers=admin).status_code == 400
    assert client.patch("/api/v1/webhooks/999999", json={}, headers=admin).status_code == 404


def test_parked_delivery_is_listed_and_replayed(client, db, admin, app_client, session_factory):
    jurisdiction = make_jurisdiction(db)
    make_service(db, jurisdiction, "POTHOLE")
    with receiver() as hook:
        hook.answers.extend([500, 500])
        created = client.post(
            "/api/v1/webhooks",
            json={"api_client_id": app_client.id, "url": hook.url},
            headers=admin,
        ).json
        submission = intake.Submission(
            service_code="POTHOLE", lat=34.05, long=-118.24, email="someone@example.net"
        )
        request = intake.submit(db, jurisdiction, app_client, submission)
        db.commit()

        moment = [datetime.now(UTC) + timedelta(seconds=1)]
        worker = Worker(
            session_factory,
            Settings(
                smtp_host="",
                delivery_max_attempts=2,
                webhook_timeout_s=2,
                webhook_allow_private=True,
            ),
            rng=random.Random(3),
            now=lambda: moment[0],
        )
        for _ in range(2):
            assert worker.run_batch(5) == 1
            moment[0] += timedelta(hours=2)

        parked = client.get("/api/v1/deliveries", query_string={"state": "parked"}, headers=admin)
        assert parked.status_code == 200
        (item,) = parked.json
        assert item["state"] == "parked" and item["attempts"] == 2
        assert (item["last_status"], item["last_error"]) == (500, "HTTP 500")
        assert item["event"] == "request.created"
        assert item["service_request_id"] == request.service_request_id
        assert item["subscription_id"] == created["id"]
        assert item["parked_at"] is not None
        assert "someone@example.net" not in parked.get_data(as_text=True)

        # The e-mail waits for SMTP: pending, listed with its template.
        pending = client.get(
            "/api/v1/deliveries", query_string={"state": "pending"}, headers=admin
        ).json
        assert [(d["channel"], d["template"]) for d in pending] == [("email", "received")]
        everything = client.get("/api/v1/deliveries", headers=admin).json
        assert [d["id"] for d in everything] == sorted((d["id"] for d in everything), reverse=True)
        by_subscription = client.get(
            "/api/v1/deliveries", query_string={"subscription_id": created["id"]}, headers=admin
        ).json
        assert [d["id"] for d in by_subscription] == [item["id"]]

        replayed = client.post(f"/api/v1/deliveries/{item['id']}/replay", headers=admin)
        assert replayed.status_code == 200, replayed.json
        assert (replayed.json["state"], replayed.json["attempts"]) == ("pending", 0)
        assert replayed.json["service_request_id"] == request.service_request_id
        again = client.post(f"/api/v1/deliveries/{item['id']}/replay", headers=admin)
        assert again.status_code == 400  # pending already
        missing = client.post("/api/v1/deliveries/999999/replay", headers=admin)
        assert missing.status_code == 404

        assert worker.run_batch(5) == 1
        delivery = db.scalars(select(Delivery).where(Delivery.id == item["id"])).one()
        db.refresh(delivery)
        assert delivery.state is DeliveryState.delivered
        assert len(hook.received) == 3 and len(set(hook.delivery_ids())) == 1


def test_bad_delivery_filters_are_400(client, admin):
    for query in ({"state": "lost"}, {"limit": 0}, {"subscription_id": "x"}):
        response = client.get("/api/v1/deliveries", query_string=query, headers=admin)
        assert response.status_code == 400, (query, response.json)


@pytest.mark.parametrize("role", [StaffRole.supervisor, StaffRole.call_taker])
def test_only_administrators(client, db, role):
    headers = bearer(make_staff(db, role)[1])
    assert client.get("/api/v1/deliveries", headers=headers).status_code == 403
    assert client.get("/api/v1/webhooks", headers=headers).status_code == 403
