"""At most OPEN311_EMAILS_PER_RECIPIENT_PER_DAY e-mails to one address in 24 hours (issue 12:
any key holder can file requests giving anyone's address). Real worker, real SMTP inbox."""

from __future__ import annotations

import logging
import random
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from open311.db.models import Delivery
from open311.notify.worker import Worker
from open311.values import DeliveryChannel, DeliveryState
from tests.notify.helpers import Inbox, file_request, make_city, serve

VICTIM = "victim@example.net"
OTHER = "someone.else@example.net"


def emails(db) -> list[Delivery]:
    db.expire_all()
    return list(
        db.scalars(
            select(Delivery).where(Delivery.channel == DeliveryChannel.email).order_by(Delivery.id)
        )
    )


def test_the_eleventh_email_to_one_address_in_a_day_is_not_sent(db, session_factory, caplog):
    city = make_city(db)
    # The same address however it is written; another address in between.
    for n in range(11):
        file_request(db, city, email=VICTIM.upper() if n % 2 else VICTIM)
        if n == 5:
            file_request(db, city, email=OTHER)
    inbox = Inbox()
    caplog.set_level(logging.INFO, logger="open311")
    with contextmanager(serve)(inbox) as smtp:
        assert smtp.emails_per_recipient_per_day == 10  # the default
        worker = Worker(session_factory, smtp, rng=random.Random(7))
        assert worker.run_batch(20) == 12

    recipients = [envelope.rcpt_tos[0].lower() for envelope in inbox.messages]
    assert recipients.count(VICTIM) == 10
    assert recipients.count(OTHER.lower()) == 1
    deliveries = emails(db)
    suppressed = [d for d in deliveries if d.state is DeliveryState.parked]
    assert len(suppressed) == 1
    assert suppressed[0] is deliveries[-1]  # the eleventh to the victim, the last due
    assert suppressed[0].last_error == "suppressed: the recipient's daily e-mail limit is reached"
    assert sum(d.state is DeliveryState.delivered for d in deliveries) == 11
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("open311")]
    assert any("suppressed" in line for line in ours)
    assert not any("victim" in line.lower() for line in ours)


def test_the_limit_counts_the_last_24_hours_only(db, session_factory):
    city = make_city(db)
    for _ in range(3):
        file_request(db, city, email=VICTIM)
    inbox = Inbox()
    with contextmanager(serve)(inbox) as smtp:
        smtp.emails_per_recipient_per_day = 2
        moment = [datetime.now(UTC)]
        worker = Worker(session_factory, smtp, rng=random.Random(7), now=lambda: moment[0])
        assert worker.run_batch(10) == 3
        assert len(inbox.messages) == 2
        (parked,) = [d for d in emails(db) if d.state is DeliveryState.parked]

        # A day later the parked one may go when staff replay it.
        moment[0] += timedelta(hours=24, minutes=1)
        parked.state, parked.next_attempt_at = DeliveryState.pending, moment[0]
        parked.attempts = 0
        db.commit()
        assert worker.run_batch(10) == 1
    assert len(inbox.messages) == 3
