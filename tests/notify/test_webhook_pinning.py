"""A webhook attempt resolves its host once, checks every address and connects to the address it
checked (issue 12: server-side request forgery through DNS rebinding and IPv4 in IPv6).

Real local receivers; what a name resolves to is said by a resolver function passed in, the
seam webhook.send and the worker take.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from open311.config import Settings
from open311.db.models import Delivery
from open311.notify import webhook
from open311.notify.worker import Worker
from open311.values import DeliveryChannel, DeliveryState
from tests.helpers import Receiver, receiver
from tests.notify.helpers import (
    EMBEDDING_METADATA,
    file_request,
    make_city,
    receiver_at,
    self_signed,
    subscribe,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


class Resolver:
    """Answers each lookup with the next of `answers` (the last one again when they run out),
    and remembers each name asked."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def hook_to(url: str) -> webhook.Webhook:
    return webhook.Webhook(url, "secret", "d-1", "request.created", {"a": 1})


def port_of(state: Receiver) -> int:
    return int(state.url.rsplit(":", 1)[1].split("/", 1)[0])


@pytest.mark.parametrize("address", EMBEDDING_METADATA)
def test_an_embedded_private_address_is_refused_at_send_time(address):
    http = webhook.http_session()
    outcome = webhook.send(
        http, hook_to(f"http://[{address}]/"), timeout_s=2, now=NOW, allow_private=False
    )
    assert outcome == webhook.Outcome(False, error="destination not allowed", permanent=True)


@pytest.mark.parametrize("answer", ["127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"])
def test_a_name_resolving_to_a_private_address_is_refused_unsent(hook, answer):
    resolver = Resolver([answer])
    url = f"http://hooks.example.com:{port_of(hook)}/hook"
    outcome = webhook.send(
        webhook.http_session(),
        hook_to(url),
        timeout_s=2,
        now=NOW,
        allow_private=False,
        resolver=resolver,
    )
    assert outcome == webhook.Outcome(False, error="destination not allowed", permanent=True)
    assert resolver.asked == [("hooks.example.com", port_of(hook))]
    assert hook.received == []


def test_rebinding_the_name_after_the_check_reaches_nothing(hook):
    """First answer public, every later one the receiver on 127.0.0.1: the attempt looks once and
    connects to the public address it checked (unreachable here), never to the receiver."""
    # 8.8.8.8 is public, and nothing answers on the receiver's port there.
    resolver = Resolver(["8.8.8.8"], ["127.0.0.1"])
    url = f"http://rebind.example.com:{port_of(hook)}/hook"

    outcome = webhook.send(
        webhook.http_session(),
        hook_to(url),
        timeout_s=1,
        now=NOW,
        allow_private=False,
        resolver=resolver,
    )

    assert not outcome.ok
    assert outcome.error in ("connection failed", "timeout: no answer within 1 s")
    assert len(resolver.asked) == 1
    assert hook.received == []


def test_the_connection_goes_to_the_address_checked_not_a_fresh_lookup():
    """Two receivers on one port, 127.0.0.1 and 127.0.0.2; the name resolves to the first, then
    the second. Each attempt reaches the address its own lookup gave, with the name in Host, and
    a connection kept alive to the first is not reused for the second."""
    with receiver_at("127.0.0.1", 0) as first, receiver_at("127.0.0.2", port_of(first)) as second:
        resolver = Resolver(["127.0.0.1"], ["127.0.0.2"])
        url = f"http://hooks.example.test:{port_of(first)}/hook"
        http = webhook.http_session()

        sent = [
            webhook.send(
                http, hook_to(url), timeout_s=2, now=NOW, allow_private=True, resolver=resolver
            )
            for _ in range(2)
        ]
        http.close()

    assert [outcome.ok for outcome in sent] == [True, True]
    assert len(resolver.asked) == 2  # once per attempt
    (got_first,) = first.received
    (got_second,) = second.received
    assert got_first.headers["Host"] == f"hooks.example.test:{port_of(first)}"
    assert got_second.headers["Host"] == got_first.headers["Host"]


def test_an_international_name_is_resolved_and_sent_as_its_ascii_form(hook):
    resolver = Resolver(["127.0.0.1"])
    url = f"http://bücher.example:{port_of(hook)}/hook"
    outcome = webhook.send(
        webhook.http_session(),
        hook_to(url),
        timeout_s=2,
        now=NOW,
        allow_private=True,
        resolver=resolver,
    )
    assert outcome.ok
    assert resolver.asked == [("xn--bcher-kva.example", port_of(hook))]
    (got,) = hook.received
    assert got.headers["Host"] == f"xn--bcher-kva.example:{port_of(hook)}"


def test_redirects_to_private_addresses_are_not_followed():
    with receiver() as target, receiver() as redirecting:
        redirecting.answers.append(307)
        outcome = webhook.send(
            webhook.http_session(),
            hook_to(redirecting.url),
            timeout_s=2,
            now=NOW,
            allow_private=True,
        )
    assert (outcome.ok, outcome.status) == (False, 307)
    assert target.received == []


def test_the_worker_parks_a_delivery_whose_name_turned_private(db, session_factory, hook):
    city = make_city(db)
    subscribe(db, city.app, f"http://hooks.example.com:{port_of(hook)}/hook")
    file_request(db, city)
    resolver = Resolver(["169.254.169.254"])
    settings = Settings(smtp_host="", webhook_timeout_s=2.0, webhook_allow_private=False)
    worker = Worker(session_factory, settings, rng=random.Random(7), resolver=resolver)

    assert worker.run_batch(10) == 1

    db.expire_all()
    (delivery,) = db.scalars(
        select(Delivery).where(Delivery.channel == DeliveryChannel.webhook)
    ).all()
    assert (delivery.state, delivery.last_error) == (
        DeliveryState.parked,
        "destination not allowed",
    )
    assert resolver.asked == [("hooks.example.com", port_of(hook))]
    assert hook.received == []


@pytest.fixture(scope="module")
def named_certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for the name hooks.example.test only (no address in it)."""
    made = self_signed(
        tmp_path_factory.mktemp("tls"), "hooks.example.test", "DNS:hooks.example.test"
    )
    if made is None:
        pytest.skip("no openssl program to make a certificate with")
    return made


def test_https_to_a_pinned_address_checks_the_certificate_of_the_name(named_certificate):
    """Connected to 127.0.0.1, the TLS handshake still names hooks.example.test (SNI) and the
    certificate is checked against that name: pinning changes where, not whom, we talk to."""
    cert, key = named_certificate
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _context: names.append(name)
    with receiver() as state:
        port = port_of(state)
    with receiver_at("127.0.0.1", port, tls=context) as secure:
        http = webhook.http_session()
        http.verify = str(cert)
        resolver = Resolver(["127.0.0.1"])
        ok = webhook.send(
            http,
            hook_to(f"https://hooks.example.test:{port}/hook"),
            timeout_s=5,
            now=NOW,
            allow_private=True,
            resolver=resolver,
        )
        # The same address under another name: the certificate does not name it.
        wrong = webhook.send(
            http,
            hook_to(f"https://other.example.test:{port}/hook"),
            timeout_s=5,
            now=NOW,
            allow_private=True,
            resolver=resolver,
        )
        http.close()
    assert ok.ok
    assert not wrong.ok
    assert names[0] == "hooks.example.test"
    assert "other.example.test" in names
    assert len(secure.received) == 1
