"""A real HTTP receiver for webhook tests: http.server in a thread on a free port.

It records every POST (headers and exact body bytes) and answers with the statuses queued in
`answers` (then 200). `hold` makes it keep each request open until `release` is set or its own
timeout passes, for timeouts and for killing a worker mid-delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def delivery_id(self) -> str:
        return self.headers["X-Open311-Delivery"]

    def verifies(self, secret: str) -> bool:
        """What a receiver does: HMAC the exact body, compare in constant time."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers["X-Open311-Signature"])


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: deque[int] = field(default_factory=deque)
    hold: bool = False
    hold_timeout_s: float = 10.0
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[Received]:
        """Block until `count` requests have arrived (AssertionError after the timeout)."""
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.received) >= count, timeout_s)
        assert ok, f"receiver got {len(self.received)} of {count} requests"
        return list(self.received)

    def delivery_ids(self) -> list[str]:
        return [item.delivery_id for item in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            with receiver.arrived:
                receiver.received.append(Received(self.path, dict(self.headers), body))
                status = receiver.answers.popleft() if receiver.answers else 200
                receiver.arrived.notify_all()
            if receiver.hold:
                receiver.release.wait(receiver.hold_timeout_s)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the worker gave up (timeout) or died

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
