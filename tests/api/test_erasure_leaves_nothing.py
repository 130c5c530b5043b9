"""Nothing personal survives an erasure: a person files requests (an app's POST with a photo and
an Idempotency-Key, a call-taker's intake), posts an update with a photo, is written to and is
told of by webhooks; staff read their contact; an e-mail is still queued. Then an administrator
erases them, and every table of the database, the exports, the photo files, the webhook bodies
sent and the log are searched for each of their values: none is found."""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from PIL import ExifTags, Image
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from open311.db.models import Delivery, Media, Requester, UpdateAuthor
from open311.notify.worker import Worker
from open311.values import DeliveryChannel, DeliveryState, StaffRole
from tests.api.helpers import bearer, make_staff, url
from tests.factories import make_api_client, make_jurisdiction, make_service
from tests.helpers import Receiver, receiver
from tests.notify.helpers import Inbox, serve, subscribe

EMAIL = "Zephyrine.Oakhollow-5821@Example.net"
PERSON = {
    "email": EMAIL,
    "first_name": "Zephyrine",
    "last_name": "Oakhollow",
    "phone": "+1 213 555 0987",
    "device_id": "device-zq-77120",
    "account_id": "acct-zq-55108",
}
CALLER = {key: PERSON[key] for key in ("email", "first_name", "last_name", "phone")}


def needles() -> dict[str, list[str]]:
    """Each personal value in the forms it could be stored or logged in, lowercased."""
    forms: dict[str, list[str]] = {}
    for name, value in PERSON.items():
        spellings = {value, quote(value), quote_plus(value), json.dumps(value)[1:-1]}
        spellings |= {value.encode().hex()}  # bytea in row_to_json
        forms[name] = sorted(spelling.lower() for spelling in spellings)
    forms["phone digits"] = ["2135550987"]
    return forms


def found_in(haystack: str | bytes, where: str) -> list[str]:
    if isinstance(haystack, bytes):
        haystack = haystack.decode("utf-8", "replace")
    lowered = haystack.lower()
    return [
        f"{name} in {where}"
        for name, forms in needles().items()
        if any(form in lowered for form in forms)
    ]


def jpeg_signed_by_the_person() -> bytes:
    """A photo whose metadata names the person (as a camera owner's name would)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = f"{PERSON['first_name']} {PERSON['last_name']}"
    exif[ExifTags.Base.Copyright] = EMAIL
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 90, 90)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def whole_database(db: Session) -> Iterator[tuple[str, str]]:
    """Every row of every table of ours (PostGIS's own reference table aside) as JSON text."""
    tables = db.scalars(
        text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' AND table_name <> 'spatial_ref_sys' ORDER BY 1"
        )
    ).all()
    assert {"requester", "update_author", "activity", "outbox_event", "delivery"} <= set(tables)
    for table in tables:
        for row in db.scalars(text(f'SELECT row_to_json(t)::text FROM "{table}" t')):
            yield table, row


@pytest.fixture
def media_dir(app, tmp_path) -> Path:
    app.config["OPEN311_MEDIA_DIR"] = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def smtp(app, inbox):
    for settings in serve(inbox):
        app.config["OPEN311_SMTP_HOST"] = settings.smtp_host
        app.config["OPEN311_SMTP_PORT"] = settings.smtp_port
        yield settings


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def test_nothing_personal_survives_an_erasure(
    client, db, session_factory, media_dir, smtp, inbox, hook, caplog
):
    # What production logs (the worker's INFO), and the app's own DEBUG too. Libraries' DEBUG is
    # left out: PIL's names EXIF values as it reads a photo's metadata (before it is stripped),
    # and the test's SMTP server echoes the recipient; neither is on in production.
    # SQLAlchemy's statement echo (parameters included) is not something the app turns on.
    caplog.set_level(logging.WARNING, logger="sqlalchemy")
    # The test's SMTP server (aiosmtpd) logs each recipient: the mail system's log, not ours.
    caplog.set_level(logging.WARNING, logger="mail.log")
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="open311")  # last: the handler takes DEBUG
    city = make_jurisdiction(db)
    make_service(db, city, "POT-01")
    app_client, key = make_api_client(db, "FixMyStreet")
    subscribe(db, app_client, hook.url)
    _desk, desk = make_staff(db, StaffRole.call_taker, "dana")
    _admin, admin = make_staff(db, StaffRole.administrator, "ada")
    db.commit()

    # 1. The app files a request with a photo, retried under the same Idempotency-Key.
    fields = {
        "api_key": key,
        "service_code": "POT-01",
        "lat": "34.0522",
        "long": "-118.2437",
        "description": "Pothole by the bus stop",
    } | PERSON
    filed = []
    for _attempt in range(2):
        response = client.post(
            url("requests", "json"),
            data=fields | {"media": [(io.BytesIO(jpeg_signed_by_the_person()), "me.jpg")]},
            content_type="multipart/form-data",
            headers={"Idempotency-Key": "retry-me-1"},
        )
        assert response.status_code in (200, 201), response.data
        filed.append(response.json[0])
    assert filed[0] == filed[1]
    assert filed[0]["account_id"] == PERSON["account_id"]  # the stored answer repeats it
    first_id = filed[0]["service_request_id"]

    # 2. They phone in another; a call-taker files it for them.
    intake = client.post(
        "/api/v1/intake/requests",
        headers=bearer(desk),
        json={
            "service_code": "POT-01",
            "lat": 34.06,
            "long": -118.25,
            "description": "Another pothole",
            "channel": "phone",
            "caller": CALLER,
        },
    )
    assert intake.status_code == 201, intake.json
    second_id = intake.json["service_request_id"]
    # The phone system's record of another call of theirs, with the number it came from.
    call = client.post(
        "/api/v1/contacts",
        headers=bearer(desk),
        json={"channel": "phone", "caller_phone": "+12135550987", "outcome": "information"},
    )
    assert call.status_code == 201, call.json

    # 3. They post an update with a photo through the app; staff never publish it.
    update = client.post(
        url("servicerequestupdates", "json"),
        data={
            "api_key": key,
            "service_request_id": first_id,
            "update_id": "fms-upd-1",
            "status": "OPEN",
            "updated_datetime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "description": "Still there, deeper",
            "media": [(io.BytesIO(jpeg_signed_by_the_person()), "again.jpg")],
        }
        | PERSON,
        content_type="multipart/form-data",
    )
    assert update.status_code in (200, 201), update.data

    # 4. Staff read their contact (audited).
    read = client.get(f"/api/v1/requests/{first_id}", headers=bearer(desk))
    assert read.json["requester"]["email"] == EMAIL

    # 5. The worker tells the webhook and writes to them; then a closing e-mail is queued.
    worker_settings = replace(smtp, webhook_allow_private=True, delivery_max_attempts=2)
    worker = Worker(session_factory, worker_settings, rng=random.Random(3))
    while worker.run_batch(20):
        pass
    assert len(inbox.messages) == 2  # received, twice
    assert hook.received
    cancelled = client.post(
        f"/api/v1/requests/{second_id}/cancel",
        headers=bearer(admin),
        json={"reason": "Filled by the county"},
    )
    assert cancelled.status_code == 200, cancelled.json
    db.expire_all()
    queued = db.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.channel == DeliveryChannel.email, Delivery.state == DeliveryState.pending)
    )
    assert queued == 1
    assert len(list(media_dir.iterdir())) == 4  # two photos, two thumbnails
    # Before the erasure the search finds them: the test can see what it looks for.
    before = [hit for table, row in whole_database(db) for hit in found_in(row, table)]
    assert any("in requester" in hit for hit in before)
    assert any("in update_author" in hit for hit in before)
    assert any("in idempotency_key" in hit for hit in before)
    assert any("in contact" in hit for hit in before)

    # The erasure.
    erased = client.post(
        "/api/v1/privacy/erasures", headers=bearer(admin), json={"email": EMAIL.lower()}
    )
    assert erased.status_code == 201, erased.json
    assert erased.json == {
        "requesters": 2,
        "update_authors": 1,
        "photos": 1,
        "emails_cancelled": 1,
        "stored_answers": 1,
        "contacts": 1,
    }
    while worker.run_batch(20):  # anything still due goes out, and tells nobody anything
        pass
    assert len(inbox.messages) == 2

    # Rows: every column of every table.
    db.expire_all()
    hits = [hit for table, row in whole_database(db) for hit in found_in(row, table)]
    assert hits == []
    assert db.scalar(select(func.count()).select_from(Requester)) == 2  # emptied, not deleted
    assert db.scalar(select(func.count()).select_from(UpdateAuthor)) == 1

    # Exports, by address and by request, and what staff and the public see.
    answers = [
        client.get("/api/v1/privacy/export", headers=bearer(admin), query_string={"email": EMAIL}),
        client.get(
            "/api/v1/privacy/export",
            headers=bearer(admin),
            query_string={"service_request_id": first_id},
        ),
        client.get(f"/api/v1/requests/{first_id}", headers=bearer(admin)),
        client.get(f"/api/v1/requests/{second_id}", headers=bearer(admin)),
        client.get(f"/api/v1/requests/{first_id}/app-updates", headers=bearer(admin)),
        client.get(url("requests", "json"), query_string={"extensions": "true"}),
        client.get(url(f"requests/{first_id}", "xml")),
        client.get("/api/v1/audit", headers=bearer(admin)),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.data
        assert found_in(answer.data, answer.request.path) == []
    assert answers[0].json == {"requests": [], "updates": [], "contacts": []}
    (held,) = answers[1].json["requests"]
    assert set(held["requester"].values()) == {None}

    # Photo files: the unpublished update photo is gone; the request's own photo, public,
    # stays, and carries nothing of its sender's metadata.
    left = list(media_dir.iterdir())
    assert len(left) == 2
    (kept,) = db.scalars(select(Media)).all()
    assert {path.name for path in left} == {kept.name, kept.thumbnail_name}
    for path in left:
        assert found_in(path.read_bytes(), path.name) == []

    # Webhook bodies and headers, as the receiver got them.
    for received in hook.received:
        assert found_in(received.body, "a webhook body") == []
        assert found_in(json.dumps(received.headers), "webhook headers") == []

    # The log, at every level, of all of the above.
    assert caplog.records  # the worker logs its deliveries: there is something to search
    for record in caplog.records:
        line = record.getMessage() + (record.exc_text or "")
        assert found_in(line, f"log {record.name}") == []
