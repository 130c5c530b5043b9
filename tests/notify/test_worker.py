"""The delivery worker against a real local HTTP receiver: signatures, retries on 500s and
timeouts, parking, replay, concurrent workers, and a worker killed mid-delivery.

Retries are driven by a fake clock (the worker's `now`), never by sleeping until they fall due.
"""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from open311.config import Settings
from open311.db.models import Delivery, Requester
from open311.db.session import make_engine, make_session_factory
from open311.domain import subscriptions
from open311.notify.worker import Worker, backoff
from open311.values import DeliveryChannel, DeliveryState, SubscriptionScope
from tests.helpers import Receiver, receiver, scratch_database
from tests.notify.helpers import (
    SECRET,
    City,
    Inbox,
    file_request,
    make_city,
    serve,
    subscribe,
    until,
    worker_process,
)


def webhook_deliveries(session: Session) -> list[Delivery]:
    session.expire_all()
    return list(
        session.scalars(
            select(Delivery)
            .where(Delivery.channel == DeliveryChannel.webhook)
            .order_by(Delivery.id)
        )
    )


class Clock:
    def __init__(self) -> None:
        self.moment = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.moment

    def to(self, moment: datetime) -> None:
        self.moment = max(self.moment, moment)


def settings(**overrides) -> Settings:
    # The receiver listens on 127.0.0.1: private destinations are allowed unless a test says.
    values = {
        "smtp_host": "",
        "webhook_timeout_s": 2.0,
        "delivery_max_attempts": 4,
        "webhook_allow_private": True,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def city(db: Session) -> City:
    return make_city(db)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_worker(session_factory, clock) -> Callable[..., Worker]:
    def build(**overrides) -> Worker:
        return Worker(session_factory, settings(**overrides), rng=random.Random(7), now=clock)

    return build


def test_delivers_a_signed_json_post(db, city, hook, make_worker):
    subscription = subscribe(db, city.app, hook.url)
    file_request(db, city, email="someone@example.net", first_name="Ana")
    assert make_worker().run_batch(10) == 1

    (got,) = hook.wait_for(1)
    assert got.verifies(SECRET)
    assert not got.verifies("another secret")
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Open311-Event"] == "request.created"
    body = got.json
    assert body["delivery_id"] == got.delivery_id
    assert body["event"] == "request.created"
    assert body["timestamp"] == int(got.headers["X-Open311-Timestamp"])
    assert body["service_request"]["service_code"] == "POTHOLE"
    assert b"someone@example.net" not in got.body and b"Ana" not in got.body

    (delivery,) = webhook_deliveries(db)
    assert delivery.subscription_id == subscription.id
    assert delivery.delivery_id == got.delivery_id
    assert delivery.state is DeliveryState.delivered
    assert (delivery.attempts, delivery.last_status, delivery.last_error) == (1, 200, None)
    assert delivery.delivered_at is not None
    # Delivered is final: nothing more is sent.
    assert make_worker().run_batch(10) == 0


def test_retries_500s_with_backoff_then_delivers(db, city, hook, make_worker, clock):
    subscribe(db, city.app, hook.url)
    file_request(db, city)
    hook.answers.extend([500, 503])
    worker = make_worker()

    assert worker.run_batch(10) == 1
    (delivery,) = webhook_deliveries(db)
    assert delivery.state is DeliveryState.pending
    assert (delivery.attempts, delivery.last_status, delivery.last_error) == (1, 500, "HTTP 500")
    wait = delivery.next_attempt_at - clock()
    assert timedelta(seconds=1) <= wait <= timedelta(seconds=10)
    assert worker.run_batch(10) == 0  # not due yet

    clock.to(delivery.next_attempt_at)
    assert worker.run_batch(10) == 1
    (delivery,) = webhook_deliveries(db)
    assert (delivery.attempts, delivery.last_status) == (2, 503)
    clock.to(delivery.next_attempt_at)
    assert worker.run_batch(10) == 1

    (delivery,) = webhook_deliveries(db)
    assert (delivery.state, delivery.attempts, delivery.last_status) == (
        DeliveryState.delivered,
        3,
        200,
    )
    received = hook.wait_for(3)
    assert len({item.delivery_id for item in received}) == 1
    assert all(item.verifies(SECRET) for item in received)


def test_a_timeout_is_retried(db, city, hook, make_worker, clock):
    subscribe(db, city.app, hook.url)
    file_request(db, city)
    hook.hold = True
    worker = make_worker(webhook_timeout_s=0.3)

    assert worker.run_batch(10) == 1
    (delivery,) = webhook_deliveries(db)
    assert (delivery.state, delivery.attempts) == (DeliveryState.pending, 1)
    assert (delivery.last_status, delivery.last_error) == (None, "timeout: no answer within 0.3 s")
    assert delivery.leased_until is None  # the attempt is over: nothing stays leased

    hook.hold = False
    hook.release.set()
    clock.to(delivery.next_attempt_at)
    assert worker.run_batch(10) == 1
    (delivery,) = webhook_deliveries(db)
    assert delivery.state is DeliveryState.delivered


def test_parked_after_the_limit_then_replayed(db, city, hook, make_worker, clock):
    subscribe(db, city.app, hook.url)
    file_request(db, city)
    hook.answers.extend([500, 500, 500])
    worker = make_worker(delivery_max_attempts=3)
    for _ in range(3):
        assert worker.run_batch(10) == 1
        (delivery,) = webhook_deliveries(db)
        clock.to(delivery.next_attempt_at)

    assert delivery.state is DeliveryState.parked
    assert delivery.attempts == 3 and delivery.parked_at is not None
    clock.to(clock() + timedelta(days=1))
    assert worker.run_batch(10) == 0  # parked stays parked

    subscriptions.replay(db, delivery, now=clock())
    db.commit()
    assert worker.run_batch(10) == 1
    (delivery,) = webhook_deliveries(db)
    assert (delivery.state, delivery.attempts) == (DeliveryState.delivered, 1)
    assert len(set(hook.delivery_ids())) == 1 and len(hook.received) == 4


def test_unreachable_receiver(db, city, make_worker):
    with receiver() as gone:
        url = gone.url
    subscribe(db, city.app, url)
    file_request(db, city)
    assert make_worker().run_batch(10) == 1
    (delivery,) = webhook_deliveries(db)
    assert (delivery.state, delivery.last_error) == (DeliveryState.pending, "connection failed")


def test_redirects_are_not_followed(db, city, hook, make_worker):
    subscribe(db, city.app, hook.url)
    file_request(db, city)
    hook.answers.append(302)
    make_worker().run_batch(10)
    (delivery,) = webhook_deliveries(db)
    assert (delivery.state, delivery.last_status) == (DeliveryState.pending, 302)
    assert len(hook.received) == 1


def test_deactivated_subscription_is_parked_unsent(db, city, hook, make_worker):
    subscription = subscribe(db, city.app, hook.url)
    file_request(db, city)
    subscriptions.deactivate(subscription)
    db.commit()
    assert make_worker().run_batch(10) == 1
    (delivery,) = webhook_deliveries(db)
    assert (delivery.state, delivery.last_error) == (DeliveryState.parked, "subscription inactive")
    assert hook.received == []


def test_a_private_destination_is_parked_unsent(db, city, hook, make_worker):
    subscribe(db, city.app, hook.url)  # allowed when subscribing (the test environment says so)
    file_request(db, city)
    db.commit()
    assert make_worker(webhook_allow_private=False).run_batch(10) == 1
    (delivery,) = webhook_deliveries(db)
    assert (delivery.state, delivery.last_error) == (
        DeliveryState.parked,
        "destination not allowed",
    )
    assert hook.received == []


def test_email_waits_without_smtp(db, city, make_worker):
    file_request(db, city, email="someone@example.net")
    (mail,) = db.scalars(select(Delivery)).all()
    assert mail.channel is DeliveryChannel.email
    assert make_worker(smtp_host="").run_batch(10) == 0
    db.refresh(mail)
    assert (mail.state, mail.attempts) == (DeliveryState.pending, 0)


def test_email_goes_through_the_worker_when_smtp_is_set(db, city, session_factory, clock):
    inbox = Inbox()
    with contextmanager(serve)(inbox) as smtp:
        file_request(db, city, email="someone@example.net")
        worker = Worker(session_factory, smtp, now=clock)
        assert worker.run_batch(10) == 1
        (mail,) = db.scalars(select(Delivery)).all()
        db.refresh(mail)
        assert (mail.state, mail.template, mail.attempts) == (
            DeliveryState.delivered,
            "received",
            1,
        )
        (envelope,) = inbox.messages
        assert envelope.rcpt_tos == ["someone@example.net"]


def test_an_email_that_can_never_go_is_parked_at_once(db, city, session_factory, clock):
    inbox = Inbox()
    with contextmanager(serve)(inbox) as smtp:
        file_request(db, city, email="someone@example.net", first_name="Ana")
        requester = db.scalars(select(Requester)).one()
        requester.email = None  # erased on request, say
        db.commit()
        assert Worker(session_factory, smtp, now=clock).run_batch(10) == 1
        (mail,) = db.scalars(select(Delivery)).all()
        db.refresh(mail)
        assert (mail.state, mail.attempts) == (DeliveryState.parked, 1)
        assert mail.last_error == "PermanentFailure"
        assert inbox.messages == []


def test_backoff_grows_with_full_jitter():
    rng = random.Random(1)
    for attempts, ceiling in ((1, 10), (2, 20), (4, 80), (12, 3600), (30, 3600)):
        waits = [backoff(attempts, rng).total_seconds() for _ in range(200)]
        assert min(waits) >= 1 and max(waits) <= ceiling
        assert max(waits) > ceiling / 2  # spread over the whole range, not a fixed step


# --- committed data: several workers, processes ------------------------------------------------


@pytest.fixture(scope="module")
def scratch(database_url: str) -> Iterator[tuple[str, sessionmaker[Session]]]:
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        try:
            yield url, make_session_factory(engine)
        finally:
            engine.dispose()


def test_two_workers_never_send_the_same_delivery(scratch, hook):
    url, sessions = scratch
    with sessions() as session:
        city = make_city(session)
        for _ in range(6):
            subscribe(session, city.app, hook.url)
        for _ in range(5):
            file_request(session, city)
        ids = session.scalars(
            select(Delivery.delivery_id).where(Delivery.state == DeliveryState.pending)
        ).all()
    assert len(ids) == 30

    start = threading.Barrier(2)
    counts: list[int] = []

    def work() -> None:
        worker = Worker(sessions, settings())
        start.wait()
        counts.append(worker.run_batch(100))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(counts) == 30
    assert sorted(hook.delivery_ids()) == sorted(ids)  # each exactly once
    with sessions() as session:
        states = session.scalars(select(Delivery.state).where(Delivery.delivery_id.in_(ids)))
        assert set(states) == {DeliveryState.delivered}


def test_worker_killed_mid_delivery_loses_nothing(scratch, hook, tmp_path, monkeypatch):
    # A short deadline and margin: the killed worker's lease runs out 3 s after it was taken.
    monkeypatch.setenv("OPEN311_WEBHOOK_TIMEOUT_S", "2")
    monkeypatch.setenv("OPEN311_DELIVERY_LEASE_MARGIN_S", "1")
    url, sessions = scratch
    log = tmp_path / "worker.log"
    with sessions() as session:
        city = make_city(session)
        subscription = subscribe(session, city.app, hook.url)
        file_request(session, city)
        (delivery_id,) = session.scalars(
            select(Delivery.delivery_id).where(Delivery.subscription_id == subscription.id)
        ).all()

    def delivery() -> Delivery:
        with sessions() as session:
            return session.scalars(
                select(Delivery).where(Delivery.delivery_id == delivery_id)
            ).one()

    hook.hold = True
    first = worker_process(url, log, "--poll", "5")
    try:
        hook.wait_for(1)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    # Nothing was recorded: still pending, no attempt counted, its lease left behind ...
    killed = delivery()
    assert (killed.state, killed.attempts) == (DeliveryState.pending, 0)
    assert killed.leased_until is not None
    # ... and no row lock: the worker held none while it sent.
    with sessions() as session:
        session.scalars(
            select(Delivery.id)
            .where(Delivery.delivery_id == delivery_id)
            .with_for_update(nowait=True)
        ).one()
        session.rollback()
    until(lambda: killed.leased_until < datetime.now(UTC), "the killed worker's lease ran out", 10)

    hook.hold = False
    hook.release.set()
    # A long poll: the second delivery below can only go out at once through NOTIFY.
    second = worker_process(url, log, "--poll", "60")
    try:
        hook.wait_for(2)
        until(lambda: delivery().state is DeliveryState.delivered, "the delivery is delivered")
        assert hook.delivery_ids() == [delivery_id, delivery_id]
        assert all(item.verifies(SECRET) for item in hook.received)
        assert delivery().attempts == 1
        assert delivery().leased_until is None

        with sessions() as session:
            city = City(session.merge(city.jurisdiction), session.merge(city.app))
            file_request(session, city)
        hook.wait_for(3, timeout_s=15)
        assert hook.delivery_ids()[2] != delivery_id

        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == 0, log.read_text()
    finally:
        second.kill()


def test_once_delivers_what_is_due_and_exits(scratch, hook, tmp_path):
    url, sessions = scratch
    with sessions() as session:
        city = make_city(session)
        area = from_shape(MultiPolygon([box(-118.3, 34.0, -118.2, 34.1)]), srid=4326)
        subscribe(session, city.app, hook.url, area=area, scope=SubscriptionScope.area)
        file_request(session, city)
    log = tmp_path / "worker.log"
    done = worker_process(url, log, "--once")
    assert done.wait(30) == 0, log.read_text()
    (got,) = hook.wait_for(1)
    assert got.json["event"] == "request.created"
