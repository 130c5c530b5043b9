"""`open311 worker`: delivers due outbox deliveries (webhooks, e-mail), retrying with backoff.

Leases, not locks. A delivery is claimed in a short transaction of its own that leases it
(`delivery.leased_until`: now + the attempt's deadline + OPEN311_DELIVERY_LEASE_MARGIN_S) and
commits; the POST or the SMTP conversation then runs under a total deadline (deadline.py) with
no transaction open and no row locked; its result is recorded in a second short transaction,
and only if the lease is still the one taken. A slow receiver therefore holds neither a
connection's transaction nor a lock. A worker killed while sending (SIGKILL, a crash, a lost
database) leaves its lease behind; once it has run out the next worker sends the delivery again,
with the same delivery_id. Receivers therefore drop a delivery_id they have already processed;
one acknowledged with 2xx and recorded is never sent again.

Lanes. A subscription's deliveries go one at a time, in due order (all e-mails share one lane):
while one is in flight, the others wait. A worker sends from OPEN311_WORKER_THREADS threads,
each claiming with a session of its own, so a receiver that is slow up to the deadline holds up
one thread and its own subscription, while the other threads go on with other subscriptions.

Idle threads wait for the main thread, which LISTENs on open311_delivery (a trigger NOTIFYs on
every insert into delivery), so new deliveries go out at once; they also look every few seconds
for retries that fell due and leases that ran out. SIGTERM/SIGINT: the deliveries in flight are
finished (each within its deadline), then the worker exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from types import FrameType
from typing import Any

import psycopg2
import psycopg2.extensions
import requests
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from open311 import clock
from open311.config import Settings
from open311.db import outbox_queries as db
from open311.db.models import Delivery
from open311.db.session import failure_text
from open311.notify import email, webhook
from open311.notify.destinations import Resolver, system_resolver
from open311.values import DeliveryChannel, DeliveryState

log = logging.getLogger(__name__)

CHANNEL = "open311_delivery"
# What the worker's connections call themselves in pg_stat_activity.
APPLICATION_NAME = "open311 worker"
MAX_BACKOFF_S = 3600.0
BASE_BACKOFF_S = 10.0
# The database going away: what the worker waits out rather than dies of.
DATABASE_ERRORS = (OperationalError, DBAPIError, psycopg2.Error)


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """Exponential backoff with full jitter: a random wait up to 10 s x 2^(attempts - 1), at
    most an hour and at least a second, so receivers coming back up are not hit in step."""
    ceiling = min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=max(1.0, rng.uniform(0, ceiling)))


def channels(settings: Settings) -> tuple[DeliveryChannel, ...]:
    """E-mail is claimed only by a worker that can send it; without SMTP it waits, pending."""
    if settings.smtp_host:
        return (DeliveryChannel.webhook, DeliveryChannel.email)
    return (DeliveryChannel.webhook,)


def leases(settings: Settings) -> db.Leases:
    """An attempt's deadline plus the margin: past it, the worker that took a delivery is taken
    for dead (the margin covers name resolution, recording the result and clock skew)."""
    margin = timedelta(seconds=settings.delivery_lease_margin_s)
    return db.Leases(
        webhook=timedelta(seconds=settings.webhook_timeout_s) + margin,
        email=timedelta(seconds=settings.smtp_timeout_s) + margin,
    )


@dataclass(frozen=True)
class Job:
    """A leased delivery with everything its attempt needs, read while claiming it, so that
    sending it needs no database. `decided`: the outcome is known without sending anything."""

    pk: int
    channel: DeliveryChannel
    kind: str
    attempts: int
    leased_until: datetime
    hook: webhook.Webhook | None = None
    message: EmailMessage | None = None
    decided: webhook.Outcome | None = None


@dataclass
class Worker:
    """What one worker needs; `now`, `rng` and `resolver` can be replaced in tests. Its methods
    may run in several threads at once: each claim and record uses a session of its own, and
    each thread an HTTP session of its own unless `http` is given."""

    sessions: sessionmaker[Session]
    settings: Settings
    http: requests.Session | None = None
    rng: random.Random = field(default_factory=random.Random)
    now: Callable[[], datetime] = clock.now
    # What webhook hosts resolve to (a test may say).
    resolver: Resolver = system_resolver
    stopping: bool = False
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False)

    def deliver_one(self) -> db.Attempted | None:
        """Claim, send and record one due delivery; None when none is due (or all that are
        wait behind deliveries in flight)."""
        job = self.claim()
        if job is None:
            return None
        return self.record(job, self.attempt(job))

    def run_batch(self, batch: int) -> int:
        """Deliver up to `batch` due deliveries, stopping early when asked to; how many."""
        done = 0
        while done < batch and not self.stopping:
            if self.deliver_one() is None:
                break
            done += 1
        return done

    def claim(self) -> Job | None:
        """Lease the next due delivery and read what sending it needs, in one short
        transaction committed before anything is sent."""
        with self.sessions() as session:
            delivery = db.claim_due(
                session, self.now(), channels(self.settings), leases(self.settings)
            )
            if delivery is None:
                session.rollback()
                return None
            job = self._prepare(session, delivery)
            session.commit()
        return job

    def attempt(self, job: Job) -> webhook.Outcome:
        """Send `job` once, within its deadline; no database is touched."""
        if job.decided is not None:
            return job.decided
        if job.message is not None:
            return self._transmit(job.message)
        assert job.hook is not None
        try:
            # The name is resolved and checked at every attempt (what it resolves to may have
            # changed since), once, and the POST goes to the address checked.
            return webhook.send(
                self._http(),
                job.hook,
                timeout_s=self.settings.webhook_timeout_s,
                now=self.now(),
                allow_private=self.settings.webhook_allow_private,
                resolver=self.resolver,
            )
        except Exception as error:  # never leave a due row that fails the same way forever
            log.exception("delivery %s: unexpected error while sending", job.pk)
            return webhook.Outcome(False, error=f"internal error ({type(error).__name__})")

    def record(self, job: Job, outcome: webhook.Outcome) -> db.Attempted:
        """Write the attempt's result in a short transaction of its own, if the lease is still
        ours; when it ran out and another worker took the delivery, that worker's attempt is
        the one recorded (the receiver saw the same delivery_id twice, as it may)."""
        attempted = settle(
            job.attempts, outcome, self.now(), self.settings.delivery_max_attempts, self.rng
        )
        with self.sessions() as session:
            recorded = db.record_attempt(session, job.pk, job.leased_until, attempted)
            session.commit()
        error = f", {attempted.last_error}" if attempted.last_error else ""
        if recorded:
            log.info(
                "delivery %s (%s, %s): %s after %d attempt(s)%s",
                job.pk,
                job.channel.value,
                job.kind,
                attempted.state.value,
                attempted.attempts,
                error,
            )
        else:
            log.warning(
                "delivery %s (%s, %s): not recorded, its lease is not ours any more (%s%s)",
                job.pk,
                job.channel.value,
                job.kind,
                attempted.state.value,
                error,
            )
        return attempted

    def release_http(self) -> None:
        """Close this thread's HTTP session (its kept-alive connections), if it has one."""
        http = getattr(self._local, "http", None)
        if http is not None:
            http.close()
            del self._local.http

    def _http(self) -> requests.Session:
        if self.http is not None:
            return self.http
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = webhook.http_session()
        return http

    def _prepare(self, session: Session, delivery: Delivery) -> Job:
        assert delivery.leased_until is not None  # claim_due leased it
        job = Job(
            pk=delivery.id,
            channel=delivery.channel,
            kind=delivery.event.kind,
            attempts=delivery.attempts,
            leased_until=delivery.leased_until,
        )
        if delivery.channel is DeliveryChannel.email:
            try:
                message = email.compose(session, delivery, self.settings, now=self.now())
                return replace(job, message=message)
            except SQLAlchemyError:
                raise
            except Exception as error:  # its text might hold an address: name only
                if not isinstance(error, email.PermanentFailure):
                    log.exception("delivery %s: unexpected error while composing", delivery.id)
                return replace(job, decided=_failure(error))
        subscription = delivery.subscription
        if subscription is None or not subscription.active:
            decided = webhook.Outcome(False, error="subscription inactive", permanent=True)
            return replace(job, decided=decided)
        hook = webhook.Webhook(
            url=subscription.url,
            secret=subscription.secret,
            delivery_id=delivery.delivery_id,
            kind=delivery.event.kind,
            payload=delivery.event.payload,
        )
        return replace(job, hook=hook)

    def _transmit(self, message: EmailMessage) -> webhook.Outcome:
        try:
            email.transmit(message, self.settings)
        except TimeoutError:
            timeout = self.settings.smtp_timeout_s
            return webhook.Outcome(False, error=f"timeout: no answer within {timeout:g} s")
        except Exception as error:
            return _failure(error)
        return webhook.Outcome(True)


def _failure(error: Exception) -> webhook.Outcome:
    """An e-mail's failure in words that name no one: the error's type and SMTP code (or, for
    one the worker decided not to send, why)."""
    if isinstance(error, email.Suppressed):
        return webhook.Outcome(False, error=error.reason, permanent=True)
    code = getattr(error, "smtp_code", None)
    permanent = isinstance(error, email.PermanentFailure) or bool(
        getattr(error, "permanent", False)
    )
    return webhook.Outcome(
        False, error=type(error).__name__ + (f" {code}" if code else ""), permanent=permanent
    )


def settle(
    attempts: int,
    outcome: webhook.Outcome,
    now: datetime,
    max_attempts: int,
    rng: random.Random,
) -> db.Attempted:
    """What an attempt of a delivery tried `attempts` times before comes to: delivered, or
    retried later, or parked after `max_attempts`. A permanent failure (a deactivated
    subscription, an e-mail that can never go) is parked at once."""
    attempts += 1
    error = outcome.error[:200] if outcome.error else None
    if outcome.ok:
        return db.Attempted(
            DeliveryState.delivered, attempts, outcome.status, error, delivered_at=now
        )
    if outcome.permanent or attempts >= max_attempts:
        return db.Attempted(DeliveryState.parked, attempts, outcome.status, error, parked_at=now)
    return db.Attempted(
        DeliveryState.pending,
        attempts,
        outcome.status,
        error,
        next_attempt_at=now + backoff(attempts, rng),
    )


class Listener:
    """A connection of its own that LISTENs for new deliveries; waits also end on a wake-up
    written to `wake_fd` (the signal handler's)."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        # The dialect's reading of the URL: libpq's every parameter, several hosts included
        # (?host=a:5432&host=b:5432&target_session_attrs=read-write).
        _, args = url.get_dialect()().create_connect_args(url)
        self.connection = psycopg2.connect(**args, application_name=APPLICATION_NAME)
        self.connection.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with self.connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout_s: float, wake_fd: int | None = None) -> bool:
        """Block until a NOTIFY, a wake-up or the timeout; True when notified."""
        readable: list[Any] = [self.connection] + ([wake_fd] if wake_fd is not None else [])
        ready, _, _ = select.select(readable, [], [], timeout_s)
        if self.connection not in ready:
            return False
        self.connection.poll()
        notified = bool(self.connection.notifies)
        self.connection.notifies.clear()
        return notified

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self.connection.close()


class Waker:
    """SIGTERM and SIGINT set `worker.stopping` and wake the main thread's wait."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)

    def install(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._handle)

    def _handle(self, number: int, _frame: FrameType | None) -> None:
        self.worker.stopping = True
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.write_fd, b"x")

    def sleep(self, seconds: float) -> None:
        select.select([self.read_fd], [], [], seconds)


class Bell:
    """Wakes the idle sending threads: rung on NOTIFY, after reconnecting and on stopping.
    A thread notes the count before it looks for work, so a ring while it looks is not lost."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._rung = 0

    @property
    def count(self) -> int:
        return self._rung

    def ring(self) -> None:
        with self._condition:
            self._rung += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout_s: float) -> None:
        """Until rung since `seen` was read, or `timeout_s`."""
        with self._condition:
            self._condition.wait_for(lambda: self._rung != seen, timeout_s)


@dataclass
class _Tally:
    """The sending threads' count, and the first unexpected error that stopped one."""

    total: int = 0
    error: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, done: int) -> None:
        with self.lock:
            self.total += done

    def fail(self, error: BaseException) -> None:
        with self.lock:
            self.error = self.error or error


def _sender(
    worker: Worker,
    bell: Bell,
    tally: _Tally,
    *,
    batch: int,
    poll_s: float,
    once: bool,
    waker: Waker | None,
) -> None:
    """One sending thread: deliver while there is work, then wait for the bell or the poll."""
    try:
        while not worker.stopping:
            seen = bell.count
            try:
                done = worker.run_batch(batch)
            except DATABASE_ERRORS as error:
                if once:
                    raise
                # Its lease, if it held one, runs out and the delivery is sent again later.
                log.warning("database unavailable (%s); retrying", type(error).__name__)
                bell.wait(seen, poll_s)
                continue
            tally.add(done)
            if once and done < batch:
                return
            if done < batch:
                bell.wait(seen, poll_s)
    except BaseException as error:
        # A bug, not the weather: stop the whole worker (non-zero exit) rather than go on with
        # one thread fewer without anybody knowing. A database error's own text may quote a
        # row (an e-mail address): failure_text leaves it out.
        if isinstance(error, DATABASE_ERRORS):
            log.error("sending thread failed; stopping: %s", failure_text(error))
        else:
            log.exception("sending thread failed; stopping")
        tally.fail(error)
        worker.stopping = True
        bell.ring()
        if waker is not None:
            waker.wake()
    finally:
        worker.release_http()


def run(
    worker: Worker,
    database_url: str,
    *,
    batch: int,
    poll_s: float,
    once: bool = False,
    waker: Waker | None = None,
    threads: int | None = None,
) -> int:
    """Deliver until stopped (or, with `once`, until nothing is due); how many were handled.

    `threads` (default OPEN311_WORKER_THREADS) send at once while this thread listens for
    NOTIFY and signals. A database that goes away (a restart) is waited for: each thread logs
    it, waits `poll_s` and carries on; nothing is lost, since every delivery's state is in the
    database. An unexpected error in a sending thread stops the worker and is raised here."""
    count = max(1, threads if threads is not None else worker.settings.worker_threads)
    bell = Bell()
    tally = _Tally()
    senders = [
        threading.Thread(
            target=_sender,
            args=(worker, bell, tally),
            kwargs={"batch": batch, "poll_s": poll_s, "once": once, "waker": waker},
            name=f"open311-sender-{number}",
        )
        for number in range(count)
    ]
    listener: Listener | None = None
    try:
        if not once:
            # LISTEN before looking: an insert after the threads' first look still wakes them.
            with contextlib.suppress(*DATABASE_ERRORS):
                listener = Listener(database_url)
        for sender in senders:
            sender.start()
        while not once and not worker.stopping:
            try:
                if listener is None:
                    listener = Listener(database_url)
                    bell.ring()  # what was inserted while it was away
                if listener.wait(poll_s, waker.read_fd if waker else None):
                    bell.ring()
            except DATABASE_ERRORS as error:
                log.warning("database unavailable (%s); retrying", type(error).__name__)
                if listener is not None:
                    listener.close()
                    listener = None
                if waker is not None:
                    waker.sleep(poll_s)
                else:
                    time.sleep(poll_s)
    finally:
        if not once:
            worker.stopping = True
            bell.ring()
        for sender in senders:
            if sender.ident is not None:  # started
                sender.join()
        if listener is not None:
            listener.close()
    if tally.error is not None:
        raise tally.error
    return tally.total
