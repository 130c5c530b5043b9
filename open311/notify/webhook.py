"""Sending one webhook delivery: a signed JSON POST under a total deadline, and what came of it.

Errors are described in a few fixed words (a status code, "timeout", "connection failed"): the
receiver's URL may carry credentials of its own and its answer may say anything, so neither is
stored or logged.

The deadline covers the whole attempt, connecting, sending and the answer's status line and
headers (and a short answer's body), not each socket read: see deadline.py. The HTTP session of
http_session() makes its connections of deadline sockets and still keeps them alive between
deliveries to the same host.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from open311.notify import deadline
from open311.wire import webhooks as wire


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    error: str | None = None
    # Retrying cannot help (no such subscription any more, no address): park at once.
    permanent: bool = False


@dataclass(frozen=True)
class Webhook:
    """What one attempt sends, read from the database when the delivery was claimed, so that
    the POST itself runs with no transaction open."""

    url: str
    secret: str
    delivery_id: str
    kind: str
    payload: dict[str, Any]


def signed_request(hook: Webhook, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt; the timestamp is the attempt's."""
    timestamp = int(now.timestamp())
    content = wire.body(
        hook.payload, delivery_id=hook.delivery_id, kind=hook.kind, timestamp=timestamp
    )
    headers = wire.headers(
        delivery_id=hook.delivery_id,
        kind=hook.kind,
        timestamp=timestamp,
        signed=wire.signature(hook.secret, content),
    )
    return content, headers


# --- connections of deadline sockets --------------------------------------------------------


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return deadline.adopt(super()._new_conn())


class _HTTPSConnection(HTTPSConnection):
    # The TLS socket wrapped around this one is the context's DeadlineSSLSocket.
    def _new_conn(self) -> socket.socket:
        return deadline.adopt(super()._new_conn())


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter with urllib3 pools whose connections are deadline sockets (through
    an HTTP proxy too; a SOCKS proxy's connections keep plain sockets and per-read timeouts)."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.setdefault("ssl_context", deadline.tls_context())
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if proxy in self.proxy_manager or proxy.lower().startswith("socks"):
            return super().proxy_manager_for(proxy, **proxy_kwargs)
        proxy_kwargs.setdefault("ssl_context", deadline.tls_context())
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


def http_session() -> requests.Session:
    """An HTTP session for webhook attempts: each one obeys the deadline send() sets. One per
    thread: requests does not promise that a Session is safe to share between threads."""
    http = requests.Session()
    adapter = _DeadlineAdapter()
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


# --- one attempt ----------------------------------------------------------------------------

# An answer this short is read (and ignored), so its connection goes back to the pool for the
# next delivery to the same host; a longer or unsized one is not read: its connection is closed.
ANSWER_KEPT_BYTES = 64 * 1024


def _finish(response: requests.Response) -> None:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= ANSWER_KEPT_BYTES:
        # A body trickled past the deadline is dropped with its connection: the status counts.
        with contextlib.suppress(requests.RequestException, OSError):
            response.content  # noqa: B018 (reading it is the point: the connection is reused)
    response.close()


def send(http: requests.Session, hook: Webhook, *, timeout_s: float, now: datetime) -> Outcome:
    """POST the delivery to its subscription's URL; only a 2xx answer counts as delivered.

    The attempt is over within `timeout_s` whatever the receiver does (with a session from
    http_session(); another session's sockets only time out per read). Redirects are not
    followed (a 3xx is a failure): the URL was checked when subscribing, its redirect target
    was not."""
    content, headers = signed_request(hook, now)
    timed_out = Outcome(False, error=f"timeout: no answer within {timeout_s:g} s")
    with deadline.within(timeout_s):
        try:
            response = http.post(
                hook.url,
                data=content,
                headers=headers,
                # Per operation; the deadline above bounds their sum.
                timeout=(timeout_s, timeout_s),
                allow_redirects=False,
                # The answer's body is never read: a receiver cannot make the worker download
                # much.
                stream=True,
            )
        except requests.Timeout:
            return timed_out
        except requests.ConnectionError:
            # urllib3 reports a read that ran out of time as a broken connection at times.
            return timed_out if deadline.passed() else Outcome(False, error="connection failed")
        except requests.RequestException as error:
            return Outcome(False, error=f"request failed ({type(error).__name__})")
        except TimeoutError:  # the deadline, met where requests does not wrap it
            return timed_out
        _finish(response)
    if 200 <= response.status_code < 300:
        return Outcome(True, status=response.status_code)
    return Outcome(False, status=response.status_code, error=f"HTTP {response.status_code}")
