"""A project-local pgbouncer in transaction mode in front of PostgreSQL, as a city runs one.

Transaction pooling lends a server connection to a client for one transaction only, so a few
server connections serve many app processes. What the app must do for it: no prepared
statement outlives a transaction (OPEN311_PREPARED_STATEMENTS=off), session settings are sent
per transaction (db/session.py), the scheduled jobs' lock is a transaction's (db/job_queries.py),
and LISTEN goes elsewhere (DATABASE_LISTEN_URL). README: Running behind pgbouncer.

Sign-in: clients sign in to pgbouncer with SCRAM (auth_type scram-sha-256) against the role's
password in the auth file, and pgbouncer signs in to PostgreSQL with that same password. The
file holds the passwords themselves (mode 0600, readable by pgbouncer's user only): pgbouncer
1.18 can also hold SCRAM verifiers and pass the client's proof through, but only when the
verifier is byte for byte the server's own (same salt), which only a superuser can read from
pg_authid; plain passwords work against any server whatever verifier it stores.

pgbouncer refuses to run as root: when we are root it runs as the `postgres` system user
(Debian's PostgreSQL package makes it), which owns its directory, as db/cluster.py does.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from open311.db.ownership import hand_over

DEBIAN_PROGRAM = Path("/usr/sbin/pgbouncer")
SYSTEM_USER = "postgres"

# Why each limit (pgbouncer's defaults are in brackets): a database that is down, restarting or
# failed over should cost a client an error within seconds, not a two-minute hang, so that the
# app answers 503 and nginx or the client tries again while the new primary is found.
LIMITS = {
    # A server connection idle this long is checked with server_check_query before it is lent
    # again [30 s]: one left over from before a restart or failover is found dead and dropped
    # here, rather than failing the client's first statement.
    "server_check_delay": "1",
    "server_check_query": "select 1",
    # A server that accepts no connection or login within this long is given up [15 s].
    "server_connect_timeout": "3",
    # After a failed login, new clients get an error at once for this long, then pgbouncer
    # tries the server again [15 s]: a restarted or promoted server is used a second later.
    "server_login_retry": "1",
    # A client that waited this long for a server connection is sent an error [120 s]: the
    # app's statements have 5 s (OPEN311_STATEMENT_TIMEOUT_MS), a request queued longer is
    # already late, and with the server down every waiting client would otherwise hang.
    "query_wait_timeout": "5",
}


class PgbouncerError(RuntimeError):
    pass


def find_program() -> Path:
    """Debian's pgbouncer, else the first on PATH."""
    if DEBIAN_PROGRAM.is_file():
        return DEBIAN_PROGRAM
    found = shutil.which("pgbouncer")
    if found is None:
        raise PgbouncerError("pgbouncer not found: install Debian's pgbouncer (make does this)")
    return Path(found)


def accepts(port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Whether `pid` is a pgbouncer: a pid file left by a crash may name another program."""
    try:
        return b"pgbouncer" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _quoted(value: str) -> str:
    """A value of the auth file, in its double quotes ("" inside stands for one)."""
    return '"' + value.replace('"', '""') + '"'


@dataclass
class LocalPgbouncer:
    """One pgbouncer with its own directory and port, started as a daemon, stopped by its pid."""

    # Its configuration, auth file, pid file, log and Unix socket.
    directory: Path
    # It listens on 127.0.0.1:port only.
    port: int
    # Alias -> its [databases] entry ("host=127.0.0.1 port=5432 dbname=open311"; an entry may
    # say pool_mode=session, e.g. for the worker's LISTEN).
    databases: dict[str, str]
    # Role -> password: who may sign in (to pgbouncer, and through it to PostgreSQL).
    users: dict[str, str]
    # Server connections per (alias, role).
    pool_size: int = 20
    pool_mode: str = "transaction"
    # Roles that may use the admin console (SHOW POOLS, SHOW SERVERS ...; database "pgbouncer").
    admin_users: list[str] = field(default_factory=list)
    # The program; None: find_program() chooses.
    program: Path | None = None

    @property
    def config_file(self) -> Path:
        return self.directory / "pgbouncer.ini"

    @property
    def auth_file(self) -> Path:
        return self.directory / "users.txt"

    @property
    def pidfile(self) -> Path:
        return self.directory / "pgbouncer.pid"

    @property
    def logfile(self) -> Path:
        return self.directory / "pgbouncer.log"

    @property
    def run_as(self) -> str | None:
        """The user pgbouncer runs as when we are root (None: as ourselves)."""
        return SYSTEM_USER if os.geteuid() == 0 else None

    def url(self, user: str, password: str, database: str) -> str:
        """The SQLAlchemy URL of `database` (an alias) through this pgbouncer."""
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"postgresql+psycopg2://{auth}@127.0.0.1:{self.port}/{database}"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None and accepts(self.port)

    def config(self) -> str:
        """pgbouncer.ini: the databases, and the pool as the module says."""
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": str(self.directory),
            "auth_type": "scram-sha-256",
            "auth_file": str(self.auth_file),
            "pidfile": str(self.pidfile),
            "logfile": str(self.logfile),
            "pool_mode": self.pool_mode,
            "default_pool_size": str(self.pool_size),
            "max_client_conn": "500",
            # Run between two clients only in session-mode aliases: in transaction mode a
            # client leaves nothing of its session behind (the app sets nothing but SET LOCAL,
            # prepares nothing, holds no session lock), so there is nothing to reset.
            "server_reset_query": "DISCARD ALL",
            "server_reset_query_always": "0",
            # psycopg2 sends options (-c timezone=UTC ...: db/session.py), JDBC clients
            # extra_float_digits; pgbouncer would refuse both. Dropped here, the app finds its
            # options missing and sends them with each transaction instead (SET LOCAL).
            "ignore_startup_parameters": "extra_float_digits,options",
            **LIMITS,
        }
        if self.admin_users:
            settings["admin_users"] = ",".join(self.admin_users)
        lines = ["; written by open311/db/pgbouncer.py", "[databases]"]
        lines += [f"{alias} = {entry}" for alias, entry in self.databases.items()]
        lines += ["", "[pgbouncer]"]
        lines += [f"{name} = {value}" for name, value in settings.items()]
        return "\n".join(lines) + "\n"

    def _write(self, path: Path, text: str, mode: int) -> None:
        """`text` into `path` with `mode`, created so (never readable by others in between),
        and owned by pgbouncer's user."""
        path.unlink(missing_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w") as file:
            file.write(text)
        if self.run_as is not None:
            shutil.chown(path, self.run_as, self.run_as)

    def _own(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        hand_over(self.directory, self.run_as)

    def start(self) -> None:
        """Write the configuration and auth file, start pgbouncer and wait until it accepts
        connections; PgbouncerError if it does not."""
        program = self.program or find_program()
        self._own()
        users = "".join(f"{_quoted(role)} {_quoted(pw)}\n" for role, pw in self.users.items())
        self._write(self.auth_file, users, 0o600)
        self._write(self.config_file, self.config(), 0o600)
        command = [str(program), "-d", "-q", str(self.config_file)]
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
            raise PgbouncerError(
                f"could not start pgbouncer on port {self.port}:\n"
                f"{result.stderr}{result.stdout}{log}"
            )

    def stop(self, *, safe: bool = False) -> None:
        """Stop pgbouncer if it runs: at once (SIGTERM; clients lose their connections), or
        with `safe` once every server connection is back in the pool (SIGINT; waits for the
        transactions in flight). One that will not stop is a PgbouncerError."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT if safe else signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while _alive(pid):
            if time.monotonic() > deadline:
                raise PgbouncerError(f"pgbouncer (pid {pid}) did not stop within 10 s")
            time.sleep(0.05)

    def up(self) -> None:
        """Start unless already running; idempotent (a running one keeps its configuration)."""
        if not self.running():
            self.start()
