"""Deliveries under a deadline: a receiver that answers one byte every 1.5 s is cut at the
attempt's total deadline (webhooks over HTTP and HTTPS, e-mail over SMTP); while it trickles the
worker holds no row lock and no open transaction, and other subscriptions' deliveries flow from
the same worker process; a subscription's deliveries go one at a time, in order; a lease that
runs out (its worker died) lets another worker send the delivery, and only the lease's holder
records an attempt.
"""

from __future__ import annotations

import random
import signal
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from open311.config import Settings
from open311.db import outbox_queries as db_queries
from open311.db.models import Delivery, WebhookSubscription
from open311.db.session import make_engine, make_session_factory
from open311.notify import deadline, email, webhook
from open311.notify.worker import APPLICATION_NAME, Worker, leases
from open311.values import DeliveryChannel, DeliveryState
from tests.helpers import Receiver, receiver, scratch_database
from tests.notify.helpers import (
    HTTP_OK_SLOW_BODY,
    SMTP_GREETING,
    City,
    file_request,
    make_city,
    self_signed,
    settings_for,
    subscribe,
    timed_receiver,
    trickler,
    until,
    worker_process,
)

# The slack allowed past a deadline: claiming, recording, the test machine being busy.
SLACK_S = 0.75


class Clock:
    def __init__(self) -> None:
        self.moment = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.moment

    def to(self, moment: datetime) -> None:
        self.moment = max(self.moment, moment)


def settings(**overrides) -> Settings:
    values = {
        "smtp_host": "",
        "webhook_timeout_s": 2.0,
        "delivery_lease_margin_s": 1.0,
        "delivery_max_attempts": 4,
        "webhook_allow_private": True,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def city(db: Session) -> City:
    return make_city(db)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def deliveries(session: Session, subscription: WebhookSubscription | None = None) -> list:
    session.expire_all()
    statement = select(Delivery).order_by(Delivery.id)
    if subscription is not None:
        statement = statement.where(Delivery.subscription_id == subscription.id)
    return list(session.scalars(statement))


def timed(worker: Worker) -> float:
    started = time.monotonic()
    assert worker.run_batch(1) == 1
    return time.monotonic() - started


# --- the deadline -------------------------------------------------------------------------------


def test_a_trickling_receiver_is_cut_at_the_deadline_and_retried(db, city, session_factory, clock):
    with trickler() as slow:
        subscribe(db, city.app, slow.url)
        file_request(db, city)
        worker = Worker(session_factory, settings(), rng=random.Random(7), now=clock)

        took = timed(worker)

        assert 2.0 <= took <= 2.0 + SLACK_S
        (delivery,) = deliveries(db)
        assert (delivery.state, delivery.attempts, delivery.last_status) == (
            DeliveryState.pending,
            1,
            None,
        )
        assert delivery.last_error == "timeout: no answer within 2 s"
        assert delivery.leased_until is None
        assert delivery.next_attempt_at > clock()
        # The receiver saw the worker hang up at the deadline, not after the answer.
        first = slow.wait_hung_up(0)
        assert first.hung_up - first.arrived <= 2.0 + SLACK_S

        clock.to(delivery.next_attempt_at)
        assert timed(worker) <= 2.0 + SLACK_S
        (delivery,) = deliveries(db)
        assert (delivery.state, delivery.attempts) == (DeliveryState.pending, 2)
        assert [item.delivery_id for item in slow.got] == [delivery.delivery_id] * 2


def test_a_body_trickled_past_the_deadline_still_acknowledges(db, city, session_factory, clock):
    # The status line and headers come at once; only the short body trickles. A 2xx is the
    # acknowledgement: the body is cut at the deadline, the delivery counts as delivered.
    with trickler(HTTP_OK_SLOW_BODY, at_once=len(HTTP_OK_SLOW_BODY) - 50) as slow:
        subscribe(db, city.app, slow.url)
        file_request(db, city)

        took = timed(Worker(session_factory, settings(), now=clock))

        assert took <= 2.0 + SLACK_S
        (delivery,) = deliveries(db)
        assert (delivery.state, delivery.last_status) == (DeliveryState.delivered, 200)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    made = self_signed(tmp_path_factory.mktemp("tls"), "127.0.0.1", "IP:127.0.0.1")
    if made is None:
        pytest.skip("no openssl program to make a certificate with")
    return made


def test_a_trickling_https_receiver_is_cut_at_the_deadline(certificate):
    cert, key = certificate
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    with trickler(tls=server) as slow:
        hook = webhook.Webhook(slow.url, "secret", "d-1", "request.created", {"a": 1})
        http = webhook.http_session()
        # The worker trusts the system's CAs; this test its own certificate (and not the
        # environment's REQUESTS_CA_BUNDLE, which requests would prefer).
        http.trust_env = False
        http.verify = str(cert)
        started = time.monotonic()

        outcome = webhook.send(http, hook, timeout_s=1.5, now=datetime.now(UTC), allow_private=True)

        took = time.monotonic() - started
        http.close()
    assert outcome == webhook.Outcome(False, error="timeout: no answer within 1.5 s")
    assert took <= 1.5 + SLACK_S
    assert len(slow.got) == 1  # the handshake and the request went through: TLS itself works


def test_deadlines_nest_and_end():
    assert deadline.remaining() is None
    with deadline.within(5):
        assert 4.9 < deadline.remaining() <= 5
        with deadline.within(60):  # an enclosing deadline that ends sooner still holds
            assert deadline.remaining() <= 5
        with deadline.within(0):
            assert deadline.passed()
    assert deadline.remaining() is None


def test_an_smtp_server_trickling_its_greeting_is_cut_at_the_deadline(
    db, city, session_factory, clock
):
    with trickler(SMTP_GREETING, reads_request=False) as slow:
        smtp = settings_for(slow.port, smtp_timeout_s=2.0, delivery_lease_margin_s=1.0)
        file_request(db, city, email="someone@example.net")
        worker = Worker(session_factory, smtp, now=clock)

        took = timed(worker)

        assert took <= 2.0 + SLACK_S
        (mail,) = deliveries(db)
        assert mail.channel is DeliveryChannel.email
        assert (mail.state, mail.attempts) == (DeliveryState.pending, 1)
        assert mail.last_error == "timeout: no answer within 2 s"
        assert mail.leased_until is None


def test_transmit_raises_a_timeout_error_at_the_deadline(db, city):
    with trickler(SMTP_GREETING, reads_request=False) as slow:
        smtp = settings_for(slow.port)
        message = EmailMessage()
        message["To"] = "someone@example.net"
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            email.transmit(message, smtp, timeout=1.0)
        assert time.monotonic() - started <= 1.0 + SLACK_S


# --- leases and lanes, in the test's transaction --------------------------------------------------


def test_a_leased_delivery_waits_for_its_lease_and_only_the_holder_records(
    db, city, hook, session_factory, clock, caplog
):
    subscribe(db, city.app, hook.url)
    file_request(db, city)
    first = Worker(session_factory, settings(), now=clock)
    second = Worker(session_factory, settings(), now=clock)

    job = first.claim()  # ... and then, say, the first worker's machine stalls
    assert job is not None
    (delivery,) = deliveries(db)
    assert delivery.leased_until == job.leased_until == clock() + timedelta(seconds=3)
    assert second.run_batch(10) == 0  # leased: nobody else sends it

    clock.to(job.leased_until + timedelta(milliseconds=1))
    assert second.run_batch(10) == 1  # the lease ran out: the worker is taken for dead
    (delivery,) = deliveries(db)
    assert (delivery.state, delivery.attempts) == (DeliveryState.delivered, 1)

    # The first worker comes back with its own result: the lease is not its own any more.
    first.record(job, webhook.Outcome(False, error="timeout: no answer within 2 s"))
    (delivery,) = deliveries(db)
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        DeliveryState.delivered,
        1,
        None,
    )
    assert "its lease is not ours any more" in caplog.text


def test_a_lease_that_ran_out_unclaimed_is_still_recorded(db, city, hook, session_factory, clock):
    subscribe(db, city.app, hook.url)
    file_request(db, city)
    worker = Worker(session_factory, settings(), now=clock)
    job = worker.claim()
    assert job is not None
    clock.to(job.leased_until + timedelta(seconds=5))
    worker.record(job, worker.attempt(job))
    (delivery,) = deliveries(db)
    assert (delivery.state, delivery.leased_until) == (DeliveryState.delivered, None)


def test_a_subscription_sends_one_delivery_at_a_time_in_order(
    db, city, hook, session_factory, clock
):
    first_sub = subscribe(db, city.app, hook.url + "/first")
    other_sub = subscribe(db, city.app, hook.url + "/other")
    for _ in range(3):
        file_request(db, city)
    # Deliveries made in one commit share their due time: the tie goes to the older one.
    db.execute(update(Delivery).values(next_attempt_at=clock() - timedelta(seconds=1)))
    db.commit()
    first_ids = [item.id for item in deliveries(db, first_sub)]
    other_ids = [item.id for item in deliveries(db, other_sub)]
    workers = [Worker(session_factory, settings(), now=clock) for _ in range(3)]

    a = workers[0].claim()
    b = workers[1].claim()
    assert (a.pk, b.pk) == (first_ids[0], other_ids[0])
    assert workers[2].claim() is None  # both lanes have a delivery in flight

    workers[0].record(a, workers[0].attempt(a))
    c = workers[2].claim()
    assert c.pk == first_ids[1]  # its lane is free again, and this one is next in line
    workers[1].record(b, workers[1].attempt(b))
    workers[2].record(c, workers[2].attempt(c))
    assert sum(worker.run_batch(10) for worker in workers) == 3

    for subscription, path in ((first_sub, "/hook/first"), (other_sub, "/hook/other")):
        sent = [item.delivery_id for item in hook.received if item.path == path]
        assert sent == [item.delivery_id for item in deliveries(db, subscription)]


def test_e_mails_go_one_at_a_time(db, city, session_factory, clock):
    file_request(db, city, email="one@example.net")
    file_request(db, city, email="two@example.net")
    smtp = settings(smtp_host="127.0.0.1", smtp_port=1)
    first = Worker(session_factory, smtp, now=clock).claim()
    assert first is not None and first.channel is DeliveryChannel.email
    assert Worker(session_factory, smtp, now=clock).claim() is None


# --- committed data: a worker process, two connections ------------------------------------------


@pytest.fixture(scope="module")
def scratch_module(database_url: str) -> Iterator[tuple[str, sessionmaker[Session]]]:
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        try:
            yield url, make_session_factory(engine)
        finally:
            engine.dispose()


@pytest.fixture
def scratch(scratch_module) -> tuple[str, sessionmaker[Session]]:
    """The module's database with nothing pending: what an earlier test left to its (gone)
    receivers must not reach this test's receivers, nor keep its worker busy."""
    _, sessions = scratch_module
    with sessions() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.state == DeliveryState.pending)
            .values(state=DeliveryState.parked, parked_at=datetime.now(UTC), leased_until=None)
        )
        session.commit()
    return scratch_module


def test_two_claims_in_one_lane_at_the_same_moment_take_one_delivery(scratch, hook):
    # Each claim's transaction is still open when the other looks: neither sees the other's
    # lease, and the lane's advisory lock decides.
    url, sessions = scratch
    with sessions() as session:
        city = make_city(session)
        crowded = subscribe(session, city.app, hook.url)
        file_request(session, city)
        file_request(session, city)
        quiet = subscribe(session, city.app, hook.url)
        file_request(session, city)  # one for each subscription
    now = datetime.now(UTC) + timedelta(seconds=1)
    ours = leases(settings())
    channels = (DeliveryChannel.webhook,)
    with sessions() as one, sessions() as two:
        first = db_queries.claim_due(one, now, channels, ours)
        second = db_queries.claim_due(two, now, channels, ours)
        assert first.subscription_id == crowded.id
        assert second.subscription_id == quiet.id  # not the crowded lane's next delivery
        one.commit()
        two.commit()
    with sessions() as three:
        third = db_queries.claim_due(three, now, channels, ours)
        # The crowded lane is busy, the quiet one too: everything due waits.
        assert third is None
        three.rollback()


def test_while_a_receiver_trickles_nothing_is_locked_and_others_flow(
    scratch, hook, tmp_path, monkeypatch
):
    """One worker process: a subscription whose receiver trickles, and one whose receiver is
    fast. While the slow one's attempt runs, its delivery is not locked and the worker has no
    transaction open; the fast subscription's deliveries arrive within a second of being filed;
    the slow subscription's next deliveries wait; SIGTERM ends the worker within the deadline."""
    monkeypatch.setenv("OPEN311_WEBHOOK_TIMEOUT_S", "4")
    monkeypatch.setenv("OPEN311_DELIVERY_LEASE_MARGIN_S", "1")
    monkeypatch.setenv("OPEN311_WORKER_THREADS", "2")
    url, sessions = scratch
    database = url.rsplit("/", 1)[1]
    log = tmp_path / "worker.log"
    with trickler() as slow, sessions() as session:
        city = make_city(session)
        subscribe(session, city.app, slow.url)
        subscribe(session, city.app, hook.url)
        file_request(session, city)

        # A long poll: only NOTIFY can wake the worker for the fast deliveries.
        worker = worker_process(url, log, "--poll", "60")
        try:
            slow.wait_for(1)
            hook.wait_for(1)
            trickling = slow.got[0]
            (held,) = session.scalars(
                select(Delivery.id).where(Delivery.delivery_id == trickling.delivery_id)
            ).all()
            session.commit()

            # The fast delivery recorded and the thread that sent it idle again (it looked for
            # more work just after, in a transaction of its own).
            until(lambda: _delivered(sessions, hook.delivery_ids()), "the fast one is recorded", 3)
            time.sleep(0.3)

            # While it trickles: no row lock on the delivery being sent, and no transaction
            # of the worker's open (sampled for half a second).
            for _ in range(5):
                session.scalars(
                    select(Delivery.id).where(Delivery.id == held).with_for_update(nowait=True)
                ).one()
                session.rollback()
                assert _worker_quiet(session, database)
                time.sleep(0.1)

            # Meanwhile the fast subscription's deliveries go out at once.
            for number in (2, 3):
                filed = time.monotonic()
                city = City(session.merge(city.jurisdiction), session.merge(city.app))
                file_request(session, city)
                hook.wait_for(number, timeout_s=1.0)
                assert time.monotonic() - filed <= 1.0
            assert trickling.hung_up is None  # all that while, the slow attempt went on
            assert len(slow.got) == 1  # its subscription's other deliveries waited

            # The slow attempt ends at its deadline and is recorded as a timeout; the next
            # delivery of that subscription goes out then (the first is retried later).
            slow.wait_hung_up(0, timeout_s=10)
            assert trickling.hung_up - trickling.arrived <= 4.0 + SLACK_S
            until(lambda: _attempts(sessions, held) == 1, "the timeout is recorded", 5)
            with sessions() as fresh:
                recorded = fresh.get(Delivery, held)
                assert recorded.state is DeliveryState.pending
                assert recorded.last_error == "timeout: no answer within 4 s"
                assert recorded.leased_until is None
            slow.wait_for(2, timeout_s=5)
            assert slow.got[1].delivery_id != trickling.delivery_id

            # SIGTERM while it trickles again: the attempt in flight ends at its deadline
            # (recorded), then the worker exits cleanly.
            stopping = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(4.0 + 3) == 0, log.read_text()[-3000:]
            assert time.monotonic() - stopping <= 4.0 + 2
            (second,) = session.scalars(
                select(Delivery.id).where(Delivery.delivery_id == slow.got[1].delivery_id)
            ).all()
            session.rollback()
            assert _attempts(sessions, second) == 1
        finally:
            worker.kill()
            worker.wait(10)


def _worker_quiet(session: Session, database: str) -> bool:
    """No transaction open on any of the worker's connections (there is at least one: the
    LISTEN connection, named like the others)."""
    activity = session.execute(
        text(
            "SELECT xact_start FROM pg_stat_activity "
            "WHERE datname = :database AND application_name = :name"
        ),
        {"database": database, "name": APPLICATION_NAME},
    ).all()
    session.rollback()
    assert activity, "the worker's connections are not named"
    return all(row.xact_start is None for row in activity)


def _delivered(sessions: sessionmaker[Session], delivery_ids: list[str]) -> bool:
    with sessions() as session:
        states = session.scalars(
            select(Delivery.state).where(Delivery.delivery_id.in_(delivery_ids))
        ).all()
    return states == [DeliveryState.delivered] * len(delivery_ids)


def _attempts(sessions: sessionmaker[Session], delivery_pk: int) -> int:
    with sessions() as session:
        return session.get(Delivery, delivery_pk).attempts


def test_a_killed_worker_s_delivery_is_sent_again_once_its_lease_runs_out(
    scratch, hook, tmp_path, monkeypatch
):
    monkeypatch.setenv("OPEN311_WEBHOOK_TIMEOUT_S", "3")
    monkeypatch.setenv("OPEN311_DELIVERY_LEASE_MARGIN_S", "1")
    url, sessions = scratch
    log = tmp_path / "worker.log"
    with sessions() as session:
        city = make_city(session)
        subscription = subscribe(session, city.app, hook.url)
        file_request(session, city)
    hook.hold = True
    first = worker_process(url, log, "--poll", "0.2")
    try:
        hook.wait_for(1)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    hook.hold = False
    hook.release.set()
    with sessions() as session:
        (delivery,) = session.scalars(
            select(Delivery).where(Delivery.subscription_id == subscription.id)
        ).all()
    lease_ends = delivery.leased_until
    assert lease_ends is not None and delivery.attempts == 0

    second = worker_process(url, log, "--poll", "0.2")
    try:
        received = hook.wait_for(2, timeout_s=10)
        resent_at = datetime.now(UTC)
        assert received[1].delivery_id == delivery.delivery_id  # nothing lost
        assert resent_at >= lease_ends  # not before the lease ran out ...
        assert resent_at - lease_ends <= timedelta(seconds=2)  # ... and soon after
        until(lambda: _attempts(sessions, delivery.id) == 1, "the delivery is recorded")
        second.send_signal(signal.SIGTERM)
        assert second.wait(10) == 0, log.read_text()[-3000:]
    finally:
        second.kill()
        second.wait(10)


def test_two_worker_processes_never_send_a_delivery_or_a_lane_at_once(
    scratch, tmp_path, monkeypatch
):
    monkeypatch.setenv("OPEN311_WORKER_THREADS", "3")
    url, sessions = scratch
    log = tmp_path / "worker.log"
    with timed_receiver(delay_s=0.15) as slow, sessions() as session:
        city = make_city(session)
        subscriptions = [subscribe(session, city.app, f"{slow.url}/{n}") for n in range(4)]
        for _ in range(6):
            file_request(session, city)
        ids = {
            subscription.id: session.scalars(
                select(Delivery.delivery_id)
                .where(Delivery.subscription_id == subscription.id)
                .order_by(Delivery.id)
            ).all()
            for subscription in subscriptions
        }
        session.commit()
        workers = [worker_process(url, log, "--poll", "0.5") for _ in range(2)]
        try:
            visits = slow.wait_for(24)
            until(
                lambda: _states(sessions, ids) == {DeliveryState.delivered},
                "everything is recorded",
            )
        finally:
            for process in workers:
                process.send_signal(signal.SIGTERM)
            for process in workers:
                assert process.wait(15) == 0, log.read_text()[-3000:]
    assert sorted(visit.delivery_id for visit in visits) == sorted(
        delivery_id for lane in ids.values() for delivery_id in lane
    )  # each exactly once
    for number, subscription in enumerate(subscriptions):
        lane = sorted(
            (visit for visit in visits if visit.path.endswith(f"/{number}")),
            key=lambda visit: visit.began,
        )
        assert [visit.delivery_id for visit in lane] == ids[subscription.id]  # in order
        for before, after in zip(lane, lane[1:], strict=False):
            assert before.ended <= after.began  # one at a time
    # ... while lanes ran side by side: requests of two subscriptions were in progress at once.
    assert any(
        one.path != other.path and one.began < other.ended and other.began < one.ended
        for one in visits
        for other in visits
    )


def _states(sessions: sessionmaker[Session], ids: dict[int, list[str]]) -> set[DeliveryState]:
    everything = [delivery_id for lane in ids.values() for delivery_id in lane]
    with sessions() as session:
        return set(
            session.scalars(select(Delivery.state).where(Delivery.delivery_id.in_(everything)))
        )
