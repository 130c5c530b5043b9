"""E-mails are queued whatever the committing process's SMTP settings (the worker's decide)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from open311.config import Settings
from open311.db.models import Delivery, OutboxEvent
from open311.db.session import SETTINGS
from open311.domain import intake
from open311.values import DeliveryChannel, DeliveryState
from tests.factories import make_api_client, make_jurisdiction, make_service


def email_deliveries_after_a_submission(db: Session) -> list[Delivery]:
    jurisdiction = make_jurisdiction(db)
    make_service(db, jurisdiction, "POTHOLE")
    client, _key = make_api_client(db)
    submission = intake.Submission(
        service_code="POTHOLE", lat=34.0522, long=-118.2437, email="maria@example.net"
    )
    request = intake.submit(db, jurisdiction, client, submission)
    db.commit()
    return list(
        db.scalars(
            select(Delivery)
            .join(OutboxEvent, Delivery.event_id == OutboxEvent.id)
            .where(OutboxEvent.service_request_pk == request.id)
            .where(Delivery.channel == DeliveryChannel.email)
        )
    )


@pytest.mark.parametrize(("environment", "session"), [("127.0.0.1", ""), ("", ""), ("", "mail.x")])
def test_an_email_is_queued_whatever_the_committing_process_knows_of_smtp(
    db, monkeypatch, environment, session
):
    # The web process commits; only the worker sends, so only the worker's settings matter.
    monkeypatch.setenv("OPEN311_SMTP_HOST", environment)
    db.info[SETTINGS] = Settings(smtp_host=session)

    emails = email_deliveries_after_a_submission(db)

    assert [(d.template, d.state) for d in emails] == [("received", DeliveryState.pending)]
