"""Sending one webhook delivery: a signed JSON POST under a total deadline, and what came of it.

Errors are described in a few fixed words (a status code, "timeout", "connection failed"): the
receiver's URL may carry credentials of its own and its answer may say anything, so neither is
stored or logged.

The deadline covers the whole attempt, connecting, sending and the answer's status line and
headers (and a short answer's body), not each socket read: see deadline.py. The HTTP session of
http_session() makes its connections of deadline sockets and still keeps them alive between
deliveries to the same host.

Pinned addresses. send() resolves the URL's host once and checks every address
(destinations.pin); its connections then go to those addresses only, never through a second
lookup: a connection's _new_conn connects to the attempt's pinned addresses, and a kept-alive
connection to an address this attempt did not check is closed rather than reused. The Host
header, TLS SNI and the certificate check still use the host name. The session ignores the
environment's proxies (a proxy would resolve the name again) and follows no redirects.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from open311.notify import deadline, destinations
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


# --- connections of deadline sockets, to pinned addresses ----------------------------------

# The destination this thread's attempt checked: its connections go there and nowhere else.
_pinned: ContextVar[destinations.Destination | None] = ContextVar("open311_pinned", default=None)


@contextlib.contextmanager
def pinned(destination: destinations.Destination) -> Iterator[None]:
    """Connections opened on this thread go to `destination`'s addresses only."""
    token = _pinned.set(destination)
    try:
        yield
    finally:
        _pinned.reset(token)


def _same_host(connection: HTTPConnection, destination: destinations.Destination) -> bool:
    host = (connection.host or "").strip("[]").rstrip(".").lower()
    return host == destination.host and connection.port == destination.port


def _connect_pinned(connection: HTTPConnection) -> socket.socket:
    """A connected socket to one of the pinned addresses, in order (as create_connection tries
    a name's addresses); no name is looked up. With no pin for this host, no connection."""
    destination = _pinned.get()
    if destination is None or not _same_host(connection, destination):
        raise NewConnectionError(connection, "not the destination checked for this attempt")
    error: OSError | None = None
    for address in destination.addresses:
        try:
            sock = urllib3_connection.create_connection(
                (address, destination.port),
                connection.timeout,
                source_address=connection.source_address,
                socket_options=connection.socket_options,
            )
        except OSError as failed:
            error = failed
            continue
        connection.open311_peer = address  # type: ignore[attr-defined]
        return sock
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(connection, f"connection to {connection.host} timed out")
    raise NewConnectionError(connection, f"failed to establish a new connection: {error}")


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return deadline.adopt(_connect_pinned(self))


class _HTTPSConnection(HTTPSConnection):
    # The TLS socket wrapped around this one is the context's DeadlineSSLSocket; SNI and the
    # certificate check use self.host, the name, not the pinned address.
    def _new_conn(self) -> socket.socket:
        return deadline.adopt(_connect_pinned(self))


def _checked(connection: Any) -> Any:
    """A pooled connection kept alive to an address this attempt did not check is closed, so
    that it connects again, to a pinned address."""
    destination = _pinned.get()
    peer = getattr(connection, "open311_peer", None)
    if connection.sock is not None and (destination is None or peer not in destination.addresses):
        connection.close()
    return connection


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        return _checked(super()._get_conn(timeout))


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        return _checked(super()._get_conn(timeout))


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter with urllib3 pools whose connections are deadline sockets to the
    attempt's pinned addresses."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.setdefault("ssl_context", deadline.tls_context())
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS


def http_session() -> requests.Session:
    """An HTTP session for webhook attempts: each one obeys the deadline send() sets. One per
    thread: requests does not promise that a Session is safe to share between threads.
    Environment proxies are not used: a proxy would resolve the receiver's name itself."""
    http = requests.Session()
    http.trust_env = False
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


def send(
    http: requests.Session,
    hook: Webhook,
    *,
    timeout_s: float,
    now: datetime,
    allow_private: bool,
    resolver: destinations.Resolver = destinations.system_resolver,
) -> Outcome:
    """POST the delivery to its subscription's URL; only a 2xx answer counts as delivered.

    The URL's host is resolved once, here, with `resolver`; unless `allow_private`
    (OPEN311_WEBHOOK_ALLOW_PRIVATE) an address outside the public internet refuses the attempt
    for good, and the POST connects to the checked addresses only (with a session from
    http_session(); another session's connections would look the name up again, and its
    sockets only time out per read). The attempt is over within `timeout_s` whatever the
    receiver does (name resolution apart). Redirects are not followed (a 3xx is a failure):
    their target was never checked."""
    try:
        destination = destinations.pin(hook.url, allow_private=allow_private, resolver=resolver)
    except destinations.NotAllowed:
        return Outcome(False, error="destination not allowed", permanent=True)
    except destinations.Unresolved:
        return Outcome(False, error="name not resolved")
    content, headers = signed_request(hook, now)
    timed_out = Outcome(False, error=f"timeout: no answer within {timeout_s:g} s")
    with deadline.within(timeout_s), pinned(destination):
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
