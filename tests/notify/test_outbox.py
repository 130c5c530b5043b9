"""The transactional outbox: which public activity becomes which event, for whom, and when not.

Everything goes through real domain actions (intake.submit, workflow.transition/add_note) and
real commits of the test session (savepoint releases inside the test's transaction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from open311.db.models import (
    ApiClient,
    Delivery,
    Jurisdiction,
    OutboxEvent,
    Service,
    ServiceRequest,
    WebhookSubscription,
    WorkOrder,
)
from open311.domain import intake, workflow
from open311.values import DeliveryChannel, DeliveryState, SubscriptionScope, WorkOrderState
from open311.wire.webhooks import ALL_EVENTS
from tests.factories import (
    make_agency,
    make_api_client,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_rule,
    make_service,
    make_workflow,
)

CREATED, CHANGED, ADDED = ALL_EVENTS
# Downtown Los Angeles (inside the crew's district) and Santa Monica (outside).
DOWNTOWN = (34.0522, -118.2437)
SANTA_MONICA = (34.0195, -118.4912)
PERSONAL = {
    "email": "maria.lopez@example.net",
    "first_name": "Maria",
    "last_name": "Lopez",
    "phone": "+1 213 555 0199",
    "device_id": "device-7f3a",
    "account_id": "acct-4411",
}


@dataclass
class City:
    jurisdiction: Jurisdiction
    service: Service
    app: ApiClient
    other: ApiClient


@pytest.fixture
def city(db: Session) -> City:
    jurisdiction = make_jurisdiction(db)
    layer = make_boundary_layer(db, jurisdiction)
    district = make_district(db, layer, "CD14", (-118.30, 34.00, -118.20, 34.10))
    agency = make_agency(db, jurisdiction, "BSS", name="Bureau of Street Services")
    make_crew(db, agency, "EAST", districts=[district])
    make_crew(db, agency, "DESK", "triage")
    steps = make_workflow(
        db,
        jurisdiction,
        {"code": "FIX", "public_note": "A crew will fill the pothole.", "target_hours": 24},
    )
    service = make_service(db, jurisdiction, "POTHOLE", agency_responsible=None)
    make_rule(db, service, agency, layer_id=layer.id, workflow_id=steps.id, sla_days=3)
    app, _ = make_api_client(db, "pothole app")
    other, _ = make_api_client(db, "other app")
    db.commit()
    return City(jurisdiction, service, app, other)


def subscribe(
    db: Session,
    client: ApiClient,
    *,
    events: tuple[str, ...] = ALL_EVENTS,
    area: tuple[float, float, float, float] | None = None,
    active: bool = True,
) -> WebhookSubscription:
    subscription = WebhookSubscription(
        api_client_id=client.id,
        url="http://receiver.test/hook",
        secret="s3cret",
        events=list(events),
        scope=SubscriptionScope.area if area else SubscriptionScope.own,
        area=from_shape(MultiPolygon([box(*area)]), srid=4326) if area else None,
        active=active,
        created_at=datetime.now(UTC),
        created_by="test",
    )
    db.add(subscription)
    db.commit()
    return subscription


def submit(
    db: Session, city: City, *, point=DOWNTOWN, client: ApiClient | None = None, **personal
) -> ServiceRequest:
    submission = intake.Submission(
        service_code="POTHOLE",
        lat=point[0],
        long=point[1],
        description="Deep pothole in the right lane",
        **personal,
    )
    request = intake.submit(db, city.jurisdiction, client or city.app, submission)
    db.commit()
    return request


def events_of(db: Session, request: ServiceRequest) -> list[OutboxEvent]:
    return list(
        db.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.service_request_pk == request.id)
            .order_by(OutboxEvent.id)
        )
    )


def deliveries_of(db: Session, outbox_event: OutboxEvent) -> list[Delivery]:
    return list(
        db.scalars(
            select(Delivery).where(Delivery.event_id == outbox_event.id).order_by(Delivery.id)
        )
    )


def work_order_of(db: Session, request: ServiceRequest) -> WorkOrder:
    return db.scalars(select(WorkOrder).where(WorkOrder.service_request_pk == request.id)).one()


def move(db: Session, request: ServiceRequest, *states: WorkOrderState | str) -> None:
    """Move the request's work order through `states`, one commit each."""
    for state in states:
        workflow.transition(
            db, work_order_of(db, request), state, actor="staff:kim", now=datetime.now(UTC)
        )
        db.commit()


def test_submit_emits_request_created_showing_the_routed_request(db, city):
    subscription = subscribe(db, city.app)
    request = submit(db, city, **PERSONAL)

    (created,) = events_of(db, request)
    assert created.kind == CREATED
    payload = created.payload
    assert payload["event"] == CREATED
    assert payload["occurred_at"].endswith("Z")
    shown = payload["service_request"]
    assert shown["service_request_id"] == request.service_request_id
    assert shown["status"] == "open"
    assert shown["service_code"] == "POTHOLE"
    # Routing ran after the `submitted` entry: the payload shows its results all the same.
    assert shown["agency_responsible"] == "Bureau of Street Services"
    assert shown["status_notes"] == "A crew will fill the pothole."
    assert shown["expected_datetime"] is not None and shown["expected_datetime"].endswith("Z")
    assert (shown["lat"], shown["long"]) == pytest.approx(DOWNTOWN)
    assert "update" not in payload
    # The first step's public note is part of the creation, not an update of its own.
    webhook, mail = deliveries_of(db, created)
    assert (webhook.channel, webhook.subscription_id) == (DeliveryChannel.webhook, subscription.id)
    assert webhook.state is DeliveryState.pending and webhook.attempts == 0
    assert webhook.next_attempt_at <= datetime.now(UTC)
    assert (mail.channel, mail.template, mail.subscription_id) == (
        DeliveryChannel.email,
        "received",
        None,
    )
    assert webhook.delivery_id != mail.delivery_id


def test_without_an_smtp_server_the_email_is_queued_all_the_same(db, city, monkeypatch):
    # The process that commits (gunicorn) need not know SMTP: the worker sends.
    monkeypatch.delenv("OPEN311_SMTP_HOST")
    subscription = subscribe(db, city.app)
    request = submit(db, city, **PERSONAL)

    (created,) = events_of(db, request)
    mail, webhook = sorted(deliveries_of(db, created), key=lambda d: d.channel.value)
    assert webhook.subscription_id == subscription.id
    assert (mail.channel, mail.template, mail.state) == (
        DeliveryChannel.email,
        "received",
        DeliveryState.pending,
    )


def test_no_personal_data_in_any_payload(db, city):
    subscribe(db, city.app)
    request = submit(db, city, **PERSONAL)
    move(db, request, "in_progress", "done")
    events = events_of(db, request)
    assert {e.kind for e in events} == {CREATED, ADDED, CHANGED}
    text = json.dumps([e.payload for e in events]).lower()
    for value in PERSONAL.values():
        assert value.lower() not in text
    for name in PERSONAL:
        assert f'"{name}"' not in text
    # The e-mail deliveries do not copy the address either: the sender reads it when sending.
    assert not any(
        "@" in (d.template or "") + (d.last_error or "")
        for e in events
        for d in deliveries_of(db, e)
    )


def test_closing_work_emits_update_and_status_change_and_the_closed_email(db, city):
    subscription = subscribe(db, city.app)
    request = submit(db, city, email=PERSONAL["email"])
    move(db, request, "in_progress", "done")

    kinds = [(e.kind, e.payload["update"]["status"]) for e in events_of(db, request)[1:]]
    assert kinds == [
        (ADDED, "in_progress"),
        (CHANGED, "in_progress"),
        (ADDED, "fixed"),
        (CHANGED, "fixed"),
    ]
    started = events_of(db, request)[2]
    assert started.payload["previous_status"] == "open"
    # Starting work is no reason to write to the requester; closing is.
    assert [d.channel for d in deliveries_of(db, started)] == [DeliveryChannel.webhook]
    changed = events_of(db, request)[-1]
    assert changed.payload["previous_status"] == "in_progress"
    assert changed.payload["service_request"]["status"] == "closed"
    update = changed.payload["update"]
    assert update["update_id"] == str(changed.activity_id)
    assert update["updated_datetime"].endswith("Z")
    assert update["description"].startswith("Closed")
    (webhook, mail) = deliveries_of(db, changed)
    assert webhook.subscription_id == subscription.id
    assert (mail.channel, mail.template) == (DeliveryChannel.email, "closed")
    # The update_added event goes to the webhook only: no e-mail for every update.
    (added_only,) = deliveries_of(db, events_of(db, request)[3])
    assert added_only.channel is DeliveryChannel.webhook


def test_public_note_is_an_update_internal_note_nothing(db, city):
    subscribe(db, city.app)
    request = submit(db, city)
    before = len(events_of(db, request))
    now = datetime.now(UTC)
    workflow.add_note(
        db, request, "Crew checked the lane", actor="staff:kim", public=False, now=now
    )
    db.commit()
    assert len(events_of(db, request)) == before
    workflow.add_note(
        db, request, "Crew scheduled for Monday", actor="staff:kim", public=True, now=now
    )
    db.commit()
    (note,) = events_of(db, request)[before:]
    assert note.kind == ADDED  # same status: no status_changed
    assert note.payload["update"] == {
        "update_id": str(note.activity_id),
        "status": "open",
        "description": "Crew scheduled for Monday",
        "updated_datetime": note.payload["occurred_at"],
    }
    assert note.payload["service_request"]["status_notes"] == "Crew scheduled for Monday"


def test_subscriptions_get_only_the_events_they_chose(db, city):
    changes = subscribe(db, city.app, events=(CHANGED,))
    request = submit(db, city)
    assert events_of(db, request) == []  # created: nobody wants it, nothing written
    move(db, request, "in_progress", "done")
    changes_seen = events_of(db, request)
    assert [e.kind for e in changes_seen] == [CHANGED, CHANGED]
    assert [d.subscription_id for d in deliveries_of(db, changes_seen[0])] == [changes.id]


def test_own_and_area_scopes(db, city):
    mine = subscribe(db, city.app)
    others = subscribe(db, city.other)
    downtown_area = subscribe(db, city.other, area=(-118.30, 34.00, -118.20, 34.10))
    elsewhere = subscribe(db, city.other, area=(-118.60, 33.90, -118.45, 34.05))
    subscribe(db, city.app, active=False)

    downtown = submit(db, city)
    (created,) = events_of(db, downtown)
    receivers = {d.subscription_id for d in deliveries_of(db, created)}
    assert receivers == {mine.id, downtown_area.id}

    beach = submit(db, city, point=SANTA_MONICA)
    (created,) = events_of(db, beach)
    assert {d.subscription_id for d in deliveries_of(db, created)} == {mine.id, elsewhere.id}
    assert others.id not in receivers


def test_point_on_the_area_edge_is_covered(db, city):
    edge = subscribe(db, city.other, area=(-118.2437, 34.0, -118.2, 34.1))
    (created,) = events_of(db, submit(db, city))
    assert [d.subscription_id for d in deliveries_of(db, created)] == [edge.id]


def test_rolled_back_transaction_emits_nothing(db, city):
    subscribe(db, city.app)
    submission = intake.Submission(service_code="POTHOLE", lat=DOWNTOWN[0], long=DOWNTOWN[1])
    intake.submit(db, city.jurisdiction, city.app, submission)
    db.flush()
    db.rollback()
    # Nothing noted survives the rollback: the next commit writes no stale events.
    db.commit()
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0


def test_savepoint_rolled_back_entry_is_left_out(db, city):
    subscribe(db, city.app)
    request = submit(db, city)
    before = len(events_of(db, request))
    with db.begin_nested() as savepoint:
        workflow.add_note(
            db, request, "Never told", actor="staff:kim", public=True, now=datetime.now(UTC)
        )
        savepoint.rollback()
    db.commit()
    assert len(events_of(db, request)) == before


def test_nobody_listening_costs_one_statement(db, city, connection):
    """No subscription, no e-mail: the commit asks once, writes nothing."""
    statements: list[str] = []

    def capture(_conn, _cursor, statement, *_args):
        statements.append(statement)

    submission = intake.Submission(service_code="POTHOLE", lat=DOWNTOWN[0], long=DOWNTOWN[1])
    intake.submit(db, city.jurisdiction, city.app, submission)
    db.flush()
    event.listen(connection, "before_cursor_execute", capture)
    try:
        db.commit()
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    outbox_statements = [s for s in statements if "webhook_subscription" in s]
    assert len(outbox_statements) == 1
    assert not any("INSERT INTO outbox_event" in s for s in statements)
