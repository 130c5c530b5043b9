"""Programs run as one service: started in order, stopped together on a signal or a death."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

# Linux's prctl option that signals a child when its parent dies.
_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class ServingError(RuntimeError):
    """A program that would not start; the message says which and why."""


@dataclass(frozen=True)
class Program:
    name: str
    args: Sequence[str]
    # True once the program serves (its socket accepts connections).
    ready: Callable[[], bool]
    env: Mapping[str, str] | None = None


class _Stop(Exception):
    pass


def run_together(
    programs: Sequence[Program], *, start_timeout_s: float = 30, stop_timeout_s: float = 40
) -> str | None:
    """Start each program once the one before it is ready, then wait until this process gets
    SIGTERM, SIGINT or SIGHUP, or until a program ends; then stop the others with SIGTERM, the
    last started first, and wait for them (SIGKILL after `stop_timeout_s`, which must exceed
    gunicorn's graceful timeout of 30 s).

    Returns None after a stop by signal, else which program ended and how. Raises ServingError
    when one does not start; nothing started is left running in any case, and the programs die
    with this process even if it is killed outright."""
    started: list[tuple[Program, subprocess.Popen[bytes]]] = []
    previous = {sig: signal.signal(sig, _raise_stop) for sig in _STOP_SIGNALS}
    try:
        for program in programs:
            process = subprocess.Popen(
                list(program.args),
                env=dict(program.env) if program.env is not None else None,
                # Safe here: this process runs no threads of its own.
                preexec_fn=_die_with_parent,
            )
            started.append((program, process))
            _wait_until_ready(program, process, start_timeout_s)
        while True:
            for program, process in started:
                if process.poll() is not None:
                    return f"{program.name} ended with status {process.returncode}"
            time.sleep(0.2)
    except _Stop:
        return None
    finally:
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        _stop(reversed(started), stop_timeout_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def unix_socket_accepts(path: Path) -> Callable[[], bool]:
    def ready() -> bool:
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(path))
            except OSError:
                return False
        return True

    return ready


def tcp_port_accepts(host: str, port: int) -> Callable[[], bool]:
    """Readiness of a server listening on host:port; a wildcard host is tried on loopback."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)

    def ready() -> bool:
        try:
            socket.create_connection((target, port), timeout=1).close()
        except OSError:
            return False
        return True

    return ready


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _wait_until_ready(program: Program, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not program.ready():
        if process.poll() is not None:
            raise ServingError(f"{program.name} ended with status {process.returncode}")
        if time.monotonic() > deadline:
            raise ServingError(f"{program.name} did not start within {timeout:.0f} s")
        time.sleep(0.1)


def _stop(started: Iterable[tuple[Program, subprocess.Popen[bytes]]], timeout: float) -> None:
    """SIGTERM to each program still running, in the order given, each waited for before the
    next: nginx stops taking connections before gunicorn finishes its requests."""
    for _program, process in started:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    # Once is enough: a second signal (Ctrl-C pressed twice) must not cut the stop short.
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise _Stop


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when this process dies, even by SIGKILL, so that no
    nginx or gunicorn outlives `open311 serve` holding the port."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
