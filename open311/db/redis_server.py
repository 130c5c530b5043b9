"""A project-local Redis (var/redis) for the rate limits' counts: `make run` needs none set up.

It keeps counts of a minute or so and nothing else, so it is run for that: no snapshot and no
append-only file (a restart forgets the current windows, which costs a client nothing), bound to
127.0.0.1, and a memory cap that evicts the counts nearest their end first rather than refusing
writes. As the PostgreSQL cluster (db/cluster.py), when we are root the server runs as the
system user Debian's package creates (`redis`): a Redis run as root lets any local user who can
reach its port act as root through it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from open311.db.ownership import hand_over

DEBIAN_PROGRAM = Path("/usr/bin/redis-server")
SYSTEM_USER = "redis"
# Rate-limit counts take some 100 bytes each: room for a million clients' windows.
MAX_MEMORY = "128mb"


class RedisServerError(RuntimeError):
    pass


def find_program() -> Path:
    """Debian's redis-server, else the first on PATH."""
    if DEBIAN_PROGRAM.is_file():
        return DEBIAN_PROGRAM
    found = shutil.which("redis-server")
    if found is None:
        raise RedisServerError(
            "redis-server not found: install Debian's redis-server (make does this), "
            "or set REDIS_URL to an existing Redis"
        )
    return Path(found)


def ping(port: int, timeout_s: float = 0.5) -> bool:
    """Whether a Redis answers PONG on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Whether `pid` is a redis-server: a pid file left by a crash may name another program."""
    try:
        return b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@dataclass
class LocalRedis:
    """One Redis with its own directory and port, started as a daemon and stopped by its pid."""

    directory: Path
    port: int
    # The server program; None: find_program() chooses.
    program: Path | None = None

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def logfile(self) -> Path:
        return self.directory / "redis.log"

    @property
    def run_as(self) -> str | None:
        """The user the server runs as when we are root (None: as ourselves)."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return None
        return SYSTEM_USER

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None and ping(self.port)

    def _own(self) -> None:
        hand_over(self.directory, self.run_as)

    def start(self) -> None:
        """Start the server and wait until it answers; RedisServerError if it does not."""
        program = self.program or find_program()
        self._own()
        command = [
            str(program),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--daemonize",
            "yes",
            "--pidfile",
            str(self.pidfile),
            "--logfile",
            str(self.logfile),
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory",
            MAX_MEMORY,
            "--maxmemory-policy",
            "volatile-ttl",
        ]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        deadline = time.monotonic() + 10
        while not result.returncode and not self.running():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if result.returncode or not self.running():
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise RedisServerError(
                f"could not start Redis on port {self.port}:\n{result.stderr}{result.stdout}{log}"
            )

    def stop(self) -> None:
        """Stop the server if it runs; one that will not stop is a RedisServerError."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while _alive(pid):
            if time.monotonic() > deadline:
                raise RedisServerError(f"Redis (pid {pid}) did not stop within 10 s")
            time.sleep(0.05)

    def up(self) -> str:
        """Start unless already running; idempotent. The URL to reach it."""
        if not self.running():
            self.start()
        return self.url()
