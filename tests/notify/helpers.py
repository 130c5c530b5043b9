"""Shared ground for the push tests: a real SMTP inbox, and a city whose requests the worker
delivers (in a database of its own or the test's transaction). The webhook receiver, used beyond
these tests, is in tests/helpers.py."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope
from sqlalchemy.orm import Session

from open311.config import Settings
from open311.db.cluster import free_port
from open311.db.models import ApiClient, Jurisdiction, WebhookSubscription
from open311.domain import intake
from open311.values import SubscriptionScope
from open311.wire.webhooks import ALL_EVENTS
from tests.factories import make_api_client, make_jurisdiction, make_service

# --- an SMTP server -----------------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler keeping what it accepted; set a reply to refuse at that step."""

    messages: list[Envelope] = field(default_factory=list)
    refuse_rcpt: str | None = None
    refuse_data: str | None = None
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_data:
            return self.refuse_data
        self.messages.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        # handled=False: aiosmtpd then sends the 535 itself (by default it leaves that to us).
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)

    def only(self) -> tuple[Envelope, EmailMessage]:
        (envelope,) = self.messages
        return envelope, email.message_from_bytes(envelope.content, policy=email.policy.default)


def serve(inbox: Inbox, **smtp_options: Any) -> Iterator[Settings]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp_options)
    controller.start()
    try:
        yield settings_for(port)
    finally:
        controller.stop()


def settings_for(port: int, **overrides: Any) -> Settings:
    values = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_from": "Los Angeles 311 <noreply@311.lacity.org>",
        "smtp_user": "",
        "smtp_password": "",
        "smtp_starttls": False,
        "public_url": "https://311.lacity.org/open311/v2",
    }
    return Settings(**(values | overrides))


# --- a city, its subscriptions and a worker process ---------------------------------------------


SECRET = "whsec-test-secret"


@dataclass
class City:
    jurisdiction: Jurisdiction
    app: ApiClient


def make_city(session: Session) -> City:
    # Unique per call: the scratch database keeps what earlier tests committed.
    jurisdiction = make_jurisdiction(session, jurisdiction_id=f"city-{uuid.uuid4().hex[:8]}.org")
    make_service(session, jurisdiction, "POTHOLE")
    app, _ = make_api_client(session, "pothole app")
    session.commit()
    return City(jurisdiction, app)


def subscribe(session: Session, client: ApiClient, url: str, **fields) -> WebhookSubscription:
    defaults = {
        "secret": SECRET,
        "events": list(ALL_EVENTS),
        "scope": SubscriptionScope.own,
        "active": True,
        "created_at": datetime.now(UTC),
        "created_by": "test",
    }
    subscription = WebhookSubscription(api_client_id=client.id, url=url, **(defaults | fields))
    session.add(subscription)
    session.commit()
    return subscription


def file_request(session: Session, city: City, **personal) -> None:
    submission = intake.Submission(
        service_code="POTHOLE", lat=34.05, long=-118.24, description="Pothole", **personal
    )
    intake.submit(session, city.jurisdiction, city.app, submission)
    session.commit()


def worker_process(url: str, log: Path, *args: str) -> subprocess.Popen:
    with log.open("ab") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "open311.cli", "worker", *args],
            env=os.environ | {"DATABASE_URL": url, "OPEN311_SMTP_HOST": ""},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)
