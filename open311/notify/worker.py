"""`open311 worker`: delivers due outbox deliveries (webhooks, e-mail), retrying with backoff.

Each delivery is claimed in a transaction of its own (SELECT ... FOR UPDATE SKIP LOCKED) that
holds the row lock while it is sent and commits the result at once, so several workers never
send the same delivery at the same time. A worker killed while sending (SIGKILL, a crash, a
lost database connection) leaves the row pending, since its transaction rolls back: the next
worker sends it again with the same delivery_id. Receivers therefore drop a delivery_id they
have already processed; one acknowledged with 2xx and committed is never sent again.

Between batches the worker waits on LISTEN open311_delivery (a trigger NOTIFYs on every insert
into delivery), so new deliveries go out at once, and polls every few seconds for retries that
fall due. SIGTERM/SIGINT: the current delivery is finished, then the worker exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType

import psycopg2
import psycopg2.extensions
import requests
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from open311 import clock
from open311.config import Settings
from open311.db import outbox_queries as db
from open311.db.models import Delivery
from open311.notify import email, webhook
from open311.notify.destinations import private_destination
from open311.values import DeliveryChannel, DeliveryState

log = logging.getLogger(__name__)

CHANNEL = "open311_delivery"
MAX_BACKOFF_S = 3600.0
BASE_BACKOFF_S = 10.0


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


@dataclass
class Worker:
    """What one worker needs; `now` and `rng` can be replaced in tests."""

    sessions: sessionmaker[Session]
    settings: Settings
    http: requests.Session = field(default_factory=requests.Session)
    rng: random.Random = field(default_factory=random.Random)
    now: Callable[[], datetime] = clock.now
    stopping: bool = False

    def deliver_one(self) -> Delivery | None:
        """Claim, send and settle one due delivery; None when none is due (or all are taken)."""
        with self.sessions() as session:
            delivery = db.claim_due(session, self.now(), channels(self.settings))
            if delivery is None:
                session.rollback()
                return None
            outcome = self._attempt(session, delivery)
            settle(delivery, outcome, self.now(), self.settings.delivery_max_attempts, self.rng)
            # Read before the commit expires them: afterwards each would cost a round trip.
            told = (
                delivery.id,
                delivery.channel.value,
                delivery.event.kind,
                delivery.state.value,
                delivery.attempts,
                f", {delivery.last_error}" if delivery.last_error else "",
            )
            session.commit()
        log.info("delivery %s (%s, %s): %s after %d attempt(s)%s", *told)
        return delivery

    def run_batch(self, batch: int) -> int:
        """Deliver up to `batch` due deliveries, stopping early when asked to; how many."""
        done = 0
        while done < batch and not self.stopping:
            if self.deliver_one() is None:
                break
            done += 1
        return done

    def _attempt(self, session: Session, delivery: Delivery) -> webhook.Outcome:
        if delivery.channel is DeliveryChannel.email:
            try:
                email.send(session, delivery, self.settings)
            except Exception as error:  # its text might hold an address: name and code only
                code = getattr(error, "smtp_code", None)
                permanent = isinstance(error, email.PermanentFailure) or bool(
                    getattr(error, "permanent", False)
                )
                return webhook.Outcome(
                    False,
                    error=type(error).__name__ + (f" {code}" if code else ""),
                    permanent=permanent,
                )
            return webhook.Outcome(True)
        subscription = delivery.subscription
        if subscription is None or not subscription.active:
            return webhook.Outcome(False, error="subscription inactive", permanent=True)
        if not self.settings.webhook_allow_private and private_destination(
            subscription.url, unresolved_is_private=True
        ):
            return webhook.Outcome(False, error="destination not allowed", permanent=True)
        try:
            return webhook.send(
                self.http,
                delivery,
                subscription,
                timeout_s=self.settings.webhook_timeout_s,
                now=self.now(),
            )
        except Exception as error:  # never leave a due row that fails the same way forever
            log.exception("delivery %s: unexpected error while sending", delivery.id)
            return webhook.Outcome(False, error=f"internal error ({type(error).__name__})")


def settle(
    delivery: Delivery,
    outcome: webhook.Outcome,
    now: datetime,
    max_attempts: int,
    rng: random.Random,
) -> None:
    """Record an attempt: delivered, or retried later, or parked after `max_attempts`. A
    permanent failure (a deactivated subscription, an e-mail that can never go) is parked at
    once."""
    delivery.attempts += 1
    delivery.last_status = outcome.status
    delivery.last_error = outcome.error[:200] if outcome.error else None
    if outcome.ok:
        delivery.state = DeliveryState.delivered
        delivery.delivered_at = now
    elif outcome.permanent or delivery.attempts >= max_attempts:
        delivery.state = DeliveryState.parked
        delivery.parked_at = now
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts, rng)


class Listener:
    """A connection of its own that LISTENs for new deliveries; waits also end on a wake-up
    written to `wake_fd` (the signal handler's)."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        args = url.translate_connect_args(username="user", database="dbname")
        self.connection = psycopg2.connect(**args)
        self.connection.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with self.connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout_s: float, wake_fd: int | None = None) -> bool:
        """Block until a NOTIFY, a wake-up or the timeout; True when notified."""
        readable = [self.connection] + ([wake_fd] if wake_fd is not None else [])
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
    """SIGTERM and SIGINT set `worker.stopping` and wake a waiting select()."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)

    def install(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._handle)

    def _handle(self, number: int, _frame: FrameType | None) -> None:
        self.worker.stopping = True
        with contextlib.suppress(OSError):
            os.write(self.write_fd, b"x")

    def sleep(self, seconds: float) -> None:
        select.select([self.read_fd], [], [], seconds)


def run(
    worker: Worker,
    database_url: str,
    *,
    batch: int,
    poll_s: float,
    once: bool = False,
    waker: Waker | None = None,
) -> int:
    """Deliver until stopped (or, with `once`, until nothing is due); how many were handled.

    A database that goes away (a restart) is waited for: the worker logs it, sleeps `poll_s`
    and carries on; nothing is lost, since every delivery's state is in the database."""
    total = 0
    listener: Listener | None = None
    try:
        while not worker.stopping:
            try:
                if listener is None and not once:
                    # LISTEN before looking: an insert after the look still wakes the wait.
                    listener = Listener(database_url)
                done = worker.run_batch(batch)
                total += done
                if once and done < batch:
                    break
                if done >= batch or worker.stopping:
                    continue
                assert listener is not None
                listener.wait(poll_s, waker.read_fd if waker else None)
            except (OperationalError, DBAPIError, psycopg2.Error) as error:
                if once:
                    raise
                log.warning("database unavailable (%s); retrying", type(error).__name__)
                if listener is not None:
                    listener.close()
                    listener = None
                if waker is not None:
                    waker.sleep(poll_s)
                else:
                    time.sleep(poll_s)
    finally:
        if listener is not None:
            listener.close()
    return total
