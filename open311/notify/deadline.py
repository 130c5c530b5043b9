"""A total deadline for one attempt's network I/O (a webhook POST, an e-mail handed to SMTP).

A socket timeout bounds each read or write on its own: a receiver that trickles a byte every
second never trips a two-second timeout and can hold an attempt, and the worker's thread, for as
long as it likes. Here the sockets an attempt uses know when the attempt must end: before every
read, write and TLS handshake step they set their timeout to the time that is left, and once none
is left they raise DeadlineExceeded (a TimeoutError, so requests, urllib3 and smtplib report it
as the timeout they already handle). Nothing runs in another thread and no socket is closed from
outside: the attempt's own thread sees the deadline at its next I/O call.

The deadline is a context variable, so it belongs to the thread that set it: a pooled connection
reused by the next attempt on the same thread obeys that attempt's deadline. Name resolution
(getaddrinfo) is not I/O on these sockets and is not bounded here.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_deadline: ContextVar[float | None] = ContextVar("open311_io_deadline", default=None)


class DeadlineExceeded(TimeoutError):
    """The attempt ran out of time; raised at its next read or write."""


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """I/O of deadline sockets on this thread must be over `seconds` from now (an enclosing
    deadline that ends sooner still holds)."""
    end = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left of this thread's deadline (never below zero); None without one."""
    end = _deadline.get()
    return None if end is None else max(0.0, end - time.monotonic())


def passed() -> bool:
    """True when this thread has a deadline and it is over."""
    left = remaining()
    return left is not None and left <= 0


def _bound(sock: socket.socket) -> None:
    left = remaining()
    if left is None:
        return
    if left <= 0:
        raise DeadlineExceeded("deadline passed")
    sock.settimeout(left)


class DeadlineSocket(socket.socket):
    """A plain TCP socket whose every send and receive ends by the thread's deadline."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        _bound(self)
        return super().recv(bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        _bound(self)
        return super().recv_into(buffer, nbytes, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        _bound(self)
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        # One sendall can take many writes: send in steps so each is bounded by what is left.
        view = memoryview(data).cast("B")
        while view:
            sent = self.send(view, flags)
            view = view[sent:]


class DeadlineSSLSocket(ssl.SSLSocket):
    """The same for TLS: reads, writes and handshake steps each get the time that is left.
    (recv, recv_into and sendall all go through read and send.)"""

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        _bound(self)
        return super().read(len, buffer)

    def send(self, data: Any, flags: int = 0) -> int:
        _bound(self)
        return super().send(data, flags)

    def do_handshake(self, block: bool = False) -> None:
        _bound(self)
        super().do_handshake(block)


def adopt(sock: socket.socket) -> DeadlineSocket:
    """The connected socket `sock` as a DeadlineSocket (the same connection; `sock` is
    detached and must not be used again)."""
    timeout = sock.gettimeout()
    adopted = DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    adopted.settimeout(timeout)
    return adopted


def tls_context() -> ssl.SSLContext:
    """The default client context (system CAs, hostname checked) making DeadlineSSLSockets."""
    context = ssl.create_default_context()
    context.sslsocket_class = DeadlineSSLSocket
    return context
