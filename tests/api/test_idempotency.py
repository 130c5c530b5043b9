"""POST requests with an Idempotency-Key header: a retry gets the first answer again, byte for
byte, and files nothing; another body with the same key is a 422; keys are per API client, live
24 hours, must be sane, and stay free when the first try was refused. Two concurrent retries
against a database of their own (real commits, each request its own connection) file one
request.
"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from open311 import create_app
from open311.db.models import (
    Activity,
    ApiClient,
    IdempotencyKey,
    Media,
    OutboxEvent,
    Requester,
    ServiceRequest,
    WebhookSubscription,
)
from open311.db.session import make_engine, make_session_factory
from open311.values import ActivityKind, SubscriptionScope
from tests.api.helpers import FORMATS, body, errors, url
from tests.factories import make_api_client, make_attribute, make_jurisdiction, make_service
from tests.helpers import scratch_database

HEADER = "Idempotency-Key"
KEY = "5f0c1d0e-8d43-4b7b-9a51-0e3f8c2d7a11"


# --- a city, a client listening to its own requests --------------------------------------------


def make_city(session: Session, jurisdiction_id: str = "lacity.org") -> None:
    city = make_jurisdiction(session, jurisdiction_id=jurisdiction_id)
    make_service(
        session,
        city,
        "POT-01",
        attributes=[
            make_attribute(
                "DEPTH", "singlevaluelist", values=[("S", "Small"), ("L", "Large")], required=True
            )
        ],
    )


def listen(session: Session, client: ApiClient) -> None:
    """A webhook subscription of the client's own requests, so that filing writes an event."""
    session.add(
        WebhookSubscription(
            api_client_id=client.id,
            url="http://receiver.test/hook",
            secret="s3cret",
            events=["request.created", "request.update_added", "request.status_changed"],
            scope=SubscriptionScope.own,
            created_at=datetime.now(UTC),
            created_by="test",
        )
    )
    session.flush()


@pytest.fixture
def app_client(db) -> tuple[ApiClient, str]:
    make_city(db)
    client, key = make_api_client(db, "pothole app")
    listen(db, client)
    db.commit()
    return client, key


def fields(api_key: str, **overrides: str) -> dict[str, str]:
    return {
        "api_key": api_key,
        "service_code": "POT-01",
        "lat": "34.0522",
        "long": "-118.2437",
        "description": "Deep pothole in the bike lane",
        "email": "pat@example.org",
        "attribute[DEPTH]": "L",
    } | overrides


def post(client, fmt: str, data, key: str | None = KEY, **kwargs):
    headers = {HEADER: key} if key is not None else {}
    return client.post(url("requests", fmt), data=data, headers=headers, **kwargs)


def tally(db: Session) -> dict[str, int]:
    """Rows of every table a POST writes to."""
    tables = {
        "requests": ServiceRequest,
        "requesters": Requester,
        "activity": Activity,
        "events": OutboxEvent,
        "keys": IdempotencyKey,
        "media": Media,
    }
    return {
        name: db.scalar(select(func.count()).select_from(model)) for name, model in tables.items()
    }


def same_answer(first, second) -> None:
    assert second.status_code == first.status_code
    assert second.headers["Content-Type"] == first.headers["Content-Type"]
    assert second.data == first.data


# --- sequential retries --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_retry_gets_the_first_answer_and_files_nothing(client, db, app_client, fmt):
    _app, api_key = app_client
    first = post(client, fmt, fields(api_key))
    assert first.status_code == 200, first.data
    [filed] = body(first, fmt, "service_requests")
    after_first = tally(db)
    assert after_first["requests"] == 1
    assert after_first["events"] == 1
    submitted = select(func.count()).where(Activity.kind == ActivityKind.submitted)
    assert db.scalar(submitted.select_from(Activity)) == 1

    second = post(client, fmt, fields(api_key))
    # The same fields as JSON: what was sent counts, not how it was encoded.
    third = post(client, fmt, None, json=fields(api_key))

    same_answer(first, second)
    same_answer(first, third)
    assert tally(db) == after_first
    stored = db.scalars(select(IdempotencyKey)).one()
    request = db.scalars(select(ServiceRequest)).one()
    assert (stored.key, stored.status_code, stored.body) == (KEY, 200, first.data)
    assert stored.service_request_pk == request.id
    assert filed["service_request_id"] == request.service_request_id


def test_the_key_may_be_sent_as_a_structured_field_string(client, db, app_client):
    """The draft's form, "...", is the same key as the bare text."""
    _app, api_key = app_client
    first = post(client, "json", fields(api_key), key=f'"{KEY}"')
    second = post(client, "json", fields(api_key), key=KEY)
    assert first.status_code == 200, first.data
    same_answer(first, second)
    assert tally(db)["requests"] == 1
    assert db.scalars(select(IdempotencyKey.key)).one() == KEY


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_key_with_another_body_is_refused(client, db, app_client, fmt):
    _app, api_key = app_client
    first = post(client, fmt, fields(api_key))
    assert first.status_code == 200, first.data
    after_first = tally(db)

    changed = post(client, fmt, fields(api_key, description="Another pothole"))
    [message] = errors(changed, fmt, 422)
    assert "Idempotency-Key" in message
    # Another answer's format is another request too.
    other = "xml" if fmt == "json" else "json"
    errors(post(client, other, fields(api_key)), other, 422)
    assert tally(db) == after_first
    # The first body still gets its answer.
    same_answer(first, post(client, fmt, fields(api_key)))


def test_keys_are_per_api_client(client, db, app_client):
    _app, api_key = app_client
    _other, other_key = make_api_client(db, "another app")
    db.commit()

    mine = post(client, "json", fields(api_key))
    theirs = post(client, "json", fields(other_key, description="Their pothole"))
    assert mine.status_code == theirs.status_code == 200, theirs.data
    [filed], [theirs_filed] = body(mine, "json"), body(theirs, "json")
    assert filed["service_request_id"] != theirs_filed["service_request_id"]
    same_answer(mine, post(client, "json", fields(api_key)))
    same_answer(theirs, post(client, "json", fields(other_key, description="Their pothole")))
    assert tally(db)["requests"] == 2
    assert tally(db)["keys"] == 2


def test_a_key_older_than_a_day_is_new_and_new_keys_purge_old_ones(client, db, app_client):
    app_row, api_key = app_client
    old = datetime.now(UTC) - timedelta(hours=24, minutes=1)
    for key in (KEY, "long-forgotten"):
        db.add(
            IdempotencyKey(
                api_client_id=app_row.id,
                key=key,
                fingerprint="0" * 64,
                status_code=200,
                content_type="application/json; charset=utf-8",
                body=b'[{"service_request_id": "from yesterday"}]',
                created_at=old,
            )
        )
    db.commit()

    first = post(client, "json", fields(api_key))
    assert first.status_code == 200, first.data
    assert b"from yesterday" not in first.data
    assert tally(db)["requests"] == 1
    [stored] = db.scalars(select(IdempotencyKey).execution_options(populate_existing=True))
    assert stored.key == KEY
    assert stored.created_at > old + timedelta(hours=24)
    assert stored.body == first.data
    same_answer(first, post(client, "json", fields(api_key)))
    assert tally(db)["requests"] == 1


@pytest.mark.parametrize(
    "key",
    ["x" * 256, "a\x01b", "tab\there", "del\x7f", "caf\xe9", " padded", "", '""'],
    ids=["256-long", "control", "tab", "delete", "latin-1", "padded", "empty", "empty-quoted"],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_malformed_key_is_a_400_and_files_nothing(client, db, app_client, fmt, key):
    _app, api_key = app_client
    before = tally(db)
    [message] = errors(post(client, fmt, fields(api_key), key=key), fmt, 400)
    assert message.startswith("Idempotency-Key:")
    assert tally(db) == before


@pytest.mark.parametrize("key", ["x" * 255, "with spaces inside", '"a \\"quoted\\" one"', "\\x"])
def test_keys_up_to_255_visible_characters_are_taken(client, db, app_client, key):
    _app, api_key = app_client
    first = post(client, "json", fields(api_key), key=key)
    assert first.status_code == 200, first.data
    same_answer(first, post(client, "json", fields(api_key), key=key))
    assert tally(db)["requests"] == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_refused_first_try_leaves_the_key_free(client, db, app_client, fmt):
    """4xx answers are not stored: the draft lets a failed request be retried, and the fixed
    body is another body, which a stored refusal would turn into a 422."""
    _app, api_key = app_client
    before = tally(db)
    errors(post(client, fmt, fields(api_key, **{"attribute[DEPTH]": "HUGE"})), fmt, 400)
    errors(post(client, fmt, fields("not-a-key")), fmt, 403)
    assert tally(db) == before

    fixed = post(client, fmt, fields(api_key))
    assert fixed.status_code == 200, fixed.data
    same_answer(fixed, post(client, fmt, fields(api_key)))
    assert tally(db)["requests"] == 1


# --- photos: their bytes count, the multipart boundary does not ----------------------------------


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(out, "JPEG", quality=90)
    return out.getvalue()


def multipart(plain: dict[str, str], photos: list[bytes], boundary: str) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in plain.items()
    ]
    parts += [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="media"; '
            f'filename="photo{index}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        + data
        + b"\r\n"
        for index, data in enumerate(photos)
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize("fmt", FORMATS)
def test_photos_bytes_are_part_of_the_body(app, client, db, app_client, tmp_path, fmt):
    app.config["OPEN311_MEDIA_DIR"] = str(tmp_path / "media")
    _app, api_key = app_client
    red, blue = jpeg((200, 30, 30)), jpeg((30, 30, 200))

    def send(photos: list[bytes], boundary: str):
        data = multipart(fields(api_key), photos, boundary)
        content_type = f"multipart/form-data; boundary={boundary}"
        return post(client, fmt, data, content_type=content_type)

    first = send([red], "first-boundary-1234")
    assert first.status_code == 200, first.data
    after_first = tally(db)
    assert after_first["media"] == 1

    same_answer(first, send([red], "----another-boundary-98765"))
    errors(send([blue], "first-boundary-1234"), fmt, 422)
    errors(send([red, red], "first-boundary-1234"), fmt, 422)
    errors(send([], "first-boundary-1234"), fmt, 422)
    assert tally(db) == after_first


# --- two retries at once: real commits, each request its own connection -------------------------


@pytest.fixture(scope="module")
def committed_url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as url:
        yield url


def waiting_locks(connection: Connection) -> list[tuple[str, str | None]]:
    """(lock type, relation) of every lock a backend of this database is waiting for."""
    rows = connection.execute(
        text(
            "SELECT l.locktype, l.relation::regclass::text FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.datname = current_database()"
        )
    )
    return [(row[0], row[1]) for row in rows]


def wait_until(condition, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def test_two_concurrent_retries_file_one_request(committed_url: str):
    """The first try is held inside its transaction, after claiming the key, by a lock the test
    takes on service_request; the second is sent then and must wait for the first (a lock on
    its transaction), not file beside it. Released, the first commits and the second replays
    the first's answer."""
    engine = make_engine(committed_url)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    jurisdiction_id = f"city-{uuid.uuid4().hex[:8]}.org"
    with sessions() as setup:
        make_city(setup, jurisdiction_id)
        client_row, api_key = make_api_client(setup, "retrying app")
        listen(setup, client_row)
        setup.commit()
        client_id = client_row.id
    app = create_app({"DATABASE_URL": committed_url, "TESTING": True})
    body_fields = fields(api_key, jurisdiction_id=jurisdiction_id)
    answers: dict[str, object] = {}

    def send(name: str) -> None:
        try:
            answers[name] = post(app.test_client(), "json", body_fields)
        except BaseException as exc:  # reported by the main thread
            answers[name] = exc

    holder = create_engine(committed_url)
    # Autocommit: pg_stat_activity is read once per transaction, and a watcher inside one
    # would never see the second try arrive.
    watcher = holder.connect().execution_options(isolation_level="AUTOCOMMIT")
    threads = {name: threading.Thread(target=send, args=(name,)) for name in ("first", "second")}
    try:
        with holder.connect() as blocker:
            blocker.execute(text("LOCK TABLE service_request IN SHARE MODE"))
            threads["first"].start()
            wait_until(
                lambda: ("relation", "service_request") in waiting_locks(watcher),
                "the first try waits to insert its request",
            )
            threads["second"].start()
            wait_until(
                lambda: ("transactionid", None) in waiting_locks(watcher),
                "the second try waits for the first one's transaction",
            )
    finally:
        # The lock is gone with the blocker's connection, pass or fail: let both tries end.
        for thread in threads.values():
            if thread.ident is not None:
                thread.join(timeout=30)
        watcher.close()
        holder.dispose()
    assert not any(thread.is_alive() for thread in threads.values())

    first, second = answers["first"], answers["second"]
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second
    assert first.status_code == 200, first.data
    same_answer(first, second)
    with sessions() as check:
        requests = check.scalars(
            select(ServiceRequest).where(ServiceRequest.api_client_id == client_id)
        ).all()
        assert len(requests) == 1
        [request] = requests
        assert body(first, "json")[0]["service_request_id"] == request.service_request_id
        events = select(func.count()).where(OutboxEvent.service_request_pk == request.id)
        assert check.scalar(events.select_from(OutboxEvent)) == 1
        submitted = select(func.count()).where(
            Activity.service_request_pk == request.id, Activity.kind == ActivityKind.submitted
        )
        assert check.scalar(submitted.select_from(Activity)) == 1
        [stored] = check.scalars(
            select(IdempotencyKey).where(IdempotencyKey.api_client_id == client_id)
        ).all()
        assert stored.body == first.data
    engine.dispose()
