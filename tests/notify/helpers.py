"""Shared ground for the push tests: a real SMTP inbox, a city whose requests the worker delivers
(in a database of its own or the test's transaction), and receivers that are slow on purpose (a
trickler, a receiver that notes when each request began and ended). The plain webhook receiver,
used beyond these tests, is in tests/helpers.py."""

from __future__ import annotations

import email
import email.policy
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
from tests.helpers import Receiver, _handler

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


# A delivery test's worker runs no scheduled job unless the test's environment asks for one: its
# media sweep would otherwise read the checkout's var/media against a test database.
NO_SCHEDULED_JOBS = {
    "OPEN311_ESCALATION_INTERVAL_S": "0",
    "OPEN311_SWEEP_INTERVAL_S": "0",
    "OPEN311_RETENTION_INTERVAL_S": "0",
    "OPEN311_STATS_INTERVAL_S": "0",
}


def worker_process(url: str, log: Path, *args: str) -> subprocess.Popen:
    with log.open("ab") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "open311.cli", "worker", *args],
            env=NO_SCHEDULED_JOBS | os.environ | {"DATABASE_URL": url, "OPEN311_SMTP_HOST": ""},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


# --- receivers that are slow on purpose ---------------------------------------------------------


@dataclass
class Trickle:
    """One connection a trickler served: when its request arrived (time.monotonic()), the
    delivery it carried (HTTP), and when the client hung up (None: it has not yet)."""

    arrived: float
    delivery_id: str | None = None
    hung_up: float | None = None


@dataclass
class Trickler:
    """A server that reads each request whole (HTTP) or reads nothing (SMTP speaks first), then
    answers `answer` one byte every `every_s` seconds after its first `at_once` bytes, noticing
    at once when the client hangs up. A client with a per-read timeout longer than `every_s`
    never times out on it."""

    answer: bytes
    every_s: float = 1.5
    at_once: int = 0
    reads_request: bool = True
    tls: ssl.SSLContext | None = None
    port: int = 0
    got: list[Trickle] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[Trickle]:
        with self.changed:
            ok = self.changed.wait_for(lambda: len(self.got) >= count, timeout_s)
        assert ok, f"the trickler got {len(self.got)} of {count} requests"
        return list(self.got)

    def wait_hung_up(self, index: int, timeout_s: float = 20.0) -> Trickle:
        with self.changed:
            ok = self.changed.wait_for(lambda: self.got[index].hung_up is not None, timeout_s)
        assert ok, f"the client of request {index} never hung up"
        return self.got[index]

    def serve(self, raw: socket.socket) -> None:
        connection = raw
        try:
            raw.settimeout(10)
            if self.tls is not None:
                connection = self.tls.wrap_socket(raw, server_side=True)
            self._answer(connection)
        except OSError:
            pass  # the client gave up (or failed the handshake)
        finally:
            connection.close()
            raw.close()

    def _answer(self, connection: socket.socket) -> None:
        trickle = Trickle(arrived=0.0)
        if self.reads_request:
            head = _read_request(connection)
            if head is None:
                return
            trickle.delivery_id = head.get("x-open311-delivery")
        trickle.arrived = time.monotonic()
        with self.changed:
            self.got.append(trickle)
            self.changed.notify_all()
        try:
            connection.sendall(self.answer[: self.at_once])
            for index in range(self.at_once, len(self.answer)):
                connection.sendall(self.answer[index : index + 1])
                # Readable before the next byte is due: the client hung up (or spoke).
                ready, _, _ = select.select([connection], [], [], self.every_s)
                if self.stop.is_set() or (ready and not connection.recv(1024)):
                    break
        except OSError:
            pass
        finally:
            with self.changed:
                trickle.hung_up = time.monotonic()
                self.changed.notify_all()


def _read_request(connection: socket.socket) -> dict[str, str] | None:
    """The request's headers (names in lower case), its body read and dropped; None when the
    client hung up first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
    raw_head, _, body = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")[1:]
    fields = (line.partition(":") for line in lines)
    head = {name.strip().lower(): value.strip() for name, _, value in fields}
    while len(body) < int(head.get("content-length", "0")):
        chunk = connection.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head


HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
# Status and headers at once, then the 50 bytes of body one at a time.
HTTP_OK_SLOW_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n" + b"x" * 50
SMTP_GREETING = b"220 smtp.example.org ESMTP at your service, eventually\r\n"


@contextmanager
def trickler(answer: bytes = HTTP_OK, **options: Any) -> Iterator[Trickler]:
    """A Trickler on a free local port, a thread per connection, for the `with` block."""
    state = Trickler(answer, **options)
    listening = socket.create_server(("127.0.0.1", 0))
    state.port = listening.getsockname()[1]

    # Closing a socket does not wake a thread blocked in its accept(): look up now and then.
    listening.settimeout(0.1)

    def accept() -> None:
        while not state.stop.is_set():
            try:
                connection, _ = listening.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            threading.Thread(target=state.serve, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        thread.join(5)
        listening.close()


@dataclass
class Visit:
    """One request a timed receiver served: its path, delivery, and when it began and ended."""

    path: str
    delivery_id: str
    began: float
    ended: float


@dataclass
class TimedReceiver:
    """A receiver that takes `delay_s` over each request and notes when each began and ended,
    to tell whether two requests were ever in progress at once."""

    url: str = ""
    delay_s: float = 0.2
    visits: list[Visit] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[Visit]:
        with self.changed:
            ok = self.changed.wait_for(lambda: len(self.visits) >= count, timeout_s)
        assert ok, f"the receiver got {len(self.visits)} of {count} requests"
        return list(self.visits)


@contextmanager
def timed_receiver(delay_s: float = 0.2) -> Iterator[TimedReceiver]:
    state = TimedReceiver(delay_s=delay_s)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            began = time.monotonic()
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(state.delay_s)
            ended = time.monotonic()
            with state.changed:
                visit = Visit(self.path, self.headers["X-Open311-Delivery"], began, ended)
                state.visits.append(visit)
                state.changed.notify_all()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# --- webhook destinations -----------------------------------------------------------------------

# 169.254.169.254 (the cloud metadata service) and 10.0.0.1 inside IPv6 addresses: a NAT64
# gateway, a 6to4 or Teredo relay, a dual-stack socket would deliver them there.
EMBEDDING_METADATA = [
    "::ffff:a9fe:a9fe",  # IPv4-mapped
    "::a9fe:a9fe",  # IPv4-compatible
    "::ffff:0:a9fe:a9fe",  # IPv4-translated (SIIT)
    "64:ff9b::a9fe:a9fe",  # NAT64, well-known prefix
    "64:ff9b::10.0.0.1",
    "64:ff9b:1::a9fe:a9fe",  # NAT64, local-use prefix (/96)
    "64:ff9b:1:a9fe:a9:fe00::",  # NAT64, local-use prefix cut at /48
    "2002:a9fe:a9fe::1",  # 6to4
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2001:0:a9fe:a9fe::1",  # Teredo, the server's address
    "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo, the client's (inverted) address
]


@contextmanager
def receiver_at(host: str, port: int, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """tests/helpers.py's receiver, on a loopback address and port of the test's choosing (two
    of them on one port, 127.0.0.1 and 127.0.0.2, tell which address a connection went to);
    over TLS with `tls`."""
    state = Receiver()
    server = ThreadingHTTPServer((host, port), _handler(state))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    state.url = f"{scheme}://{host}:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def self_signed(folder: Path, common_name: str, alt_name: str) -> tuple[Path, Path] | None:
    """(certificate, key) of a one-day self-signed certificate made with the openssl program
    in `folder`, for `common_name` and the subjectAltName `alt_name` (IP:… or DNS:…); None
    when there is no openssl program."""
    if shutil.which("openssl") is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", f"/CN={common_name}", "-addext", f"subjectAltName={alt_name}"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key
