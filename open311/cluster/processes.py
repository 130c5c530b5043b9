"""Background programs of the local cluster, each kept by a pid file so that another command
(`open311 cluster down`, a test killing one node) can find and stop it later.

Unlike serving.supervisor, whose programs live and die with one foreground process, these
outlive the command that started them: `make cluster` returns once everything is up. Each runs
in a session of its own (so a signal to its process group reaches its children: gunicorn's
workers, Patroni's helpers), writes to a log file beside its pid file, and runs as a system
user of its own when we are root and that user exists (PostgreSQL and pgbouncer refuse root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from open311.db.ownership import hand_over

# The programs this process started: they are meant to outlive it, and a Popen dropped while
# its program runs would be reported (ResourceWarning) as if it had been forgotten.
_STARTED: list[subprocess.Popen[bytes]] = []


class ProcessError(RuntimeError):
    """A program that would not start or stop; the message says which and why."""


@dataclass(frozen=True)
class Daemon:
    """One program started in the background and known afterwards by `directory/pid`."""

    name: str
    args: Sequence[str]
    # Its pid file and log; also its working directory.
    directory: Path
    env: Mapping[str, str] | None = None
    # The system user it runs as when we are root (None, or no such user: as ourselves).
    user: str | None = None
    # True once it serves; None: once started.
    ready: Callable[[], bool] | None = field(default=None, compare=False)

    @property
    def pidfile(self) -> Path:
        return self.directory / "pid"

    @property
    def logfile(self) -> Path:
        return self.directory / "log"

    def run_as(self) -> str | None:
        if self.user is None or os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(self.user)
        except KeyError:
            return None
        return self.user

    def pid(self) -> int | None:
        """Its pid while it runs (a pid file left by a dead run names nothing)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout_s: float = 60) -> None:
        """Start it unless it runs, and wait until it is ready; ProcessError with the end of its
        log if it ends or is not ready within `timeout_s`."""
        if self.running():
            return
        user = self.run_as()
        hand_over(self.directory, user)
        with open(self.logfile, "ab") as log:
            process = subprocess.Popen(
                list(self.args),
                cwd=self.directory,
                env=dict(self.env) if self.env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=user,
                group=user,
                extra_groups=[] if user else None,
            )
        _STARTED.append(process)
        self.pidfile.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout_s
        while self.ready is not None and not self.ready():
            if process.poll() is not None:
                status = process.returncode
                raise ProcessError(f"{self.name} ended with status {status}{self.tail()}")
            if time.monotonic() > deadline:
                late = f"{self.name} was not ready within {timeout_s:.0f} s"
                raise ProcessError(f"{late}{self.tail()}")
            time.sleep(0.1)

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM to its process group, then SIGKILL after `timeout_s`; waits until it is gone."""
        pid = self.pid()
        if pid is None:
            return
        signal_group(pid, signal.SIGTERM)
        if not wait_gone(pid, timeout_s):
            signal_group(pid, signal.SIGKILL)
            wait_gone(pid, 10)
        self.pidfile.unlink(missing_ok=True)

    def kill(self) -> int | None:
        """SIGKILL to its whole process group at once, as a machine that loses power: nothing
        is finished or flushed. The pid it had, or None if it was not running."""
        pid = self.pid()
        if pid is not None:
            signal_group(pid, signal.SIGKILL)
            wait_gone(pid, 10)
        return pid

    def tail(self, size: int = 2000) -> str:
        try:
            text = self.logfile.read_text(errors="replace")[-size:]
        except OSError:
            return ""
        return f"; the end of {self.logfile}:\n{text}" if text else ""


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rsplit(")", 1)[-1].split()[0] != "Z"


def signal_group(pid: int, sig: int) -> None:
    """`sig` to the process group `pid` leads (its children too), else to `pid` alone."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our own child: reap it
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
