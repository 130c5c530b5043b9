"""A project-local PostgreSQL cluster (var/postgres): `make run` needs no database set up.

PostgreSQL refuses to run as root, so when we are root the server programs run as the
`postgres` system user that Debian's package creates, and the data directory belongs to it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2


class ClusterError(RuntimeError):
    pass


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.name)) or (0,)


def find_bindir() -> Path:
    """The newest installed server whose PostGIS extension is present (Debian layout)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*"), key=_version_key, reverse=True)
    for root in candidates:
        has_postgis = Path(f"/usr/share/postgresql/{root.name}/extension/postgis.control").exists()
        if (root / "bin" / "initdb").exists() and has_postgis:
            return root / "bin"
    raise ClusterError(
        "no PostgreSQL server with PostGIS found under /usr/lib/postgresql; "
        "install postgresql and postgresql-<version>-postgis-3 (make does this), "
        "or set DATABASE_URL to an existing PostGIS database"
    )


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalCluster:
    """One PostgreSQL data directory with its own port, started and stopped with pg_ctl."""

    datadir: Path
    port: int
    durable: bool = True
    # The server's programs (OPEN311_PG_BINDIR); None: find_bindir() chooses.
    bindir: Path | None = None

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def logfile(self) -> Path:
        return self.datadir.parent / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.datadir.parent / "run"

    def url(self, database: str = "open311") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        program = (self.bindir or find_bindir()) / args[0]
        if not program.is_file():
            # Said here, as or not as root: runuser would only answer "failed to execute".
            raise ClusterError(f"{program} not found: is OPEN311_PG_BINDIR a PostgreSQL bin/?")
        command = [str(program), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(path, "postgres", "postgres")
            # The postgres user must be able to walk down to the data directory.
            for parent in path.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)

    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def running(self) -> bool:
        return (
            self.initialized()
            and self._run("pg_ctl", "status", "-D", str(self.datadir)).returncode == 0
        )

    def running_port(self) -> int | None:
        """The port a running server of this data directory listens on (from postmaster.pid)."""
        try:
            return int((self.datadir / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, IndexError, ValueError):
            return None

    def init(self) -> None:
        self._own(self.datadir.parent)
        self._own(self.datadir)
        self._own(self.socket_dir)
        result = self._run(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        if result.returncode:
            raise ClusterError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        if not port_is_free(self.port):
            raise ClusterError(
                f"port {self.port} is in use by another program; set OPEN311_PGPORT to a free port"
            )
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-k {self.socket_dir}",
        ]
        if not self.durable:
            # A throwaway test cluster: losing it in a crash costs nothing, waiting on disks does.
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._own(self.socket_dir)
        result = self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            " ".join(options),
        )
        if result.returncode:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise ClusterError(f"could not start PostgreSQL:\n{result.stderr}\n{log}")

    def stop(self) -> None:
        """Stop the server if it runs; a server that will not stop is a ClusterError, never a
        silent "stopped"."""
        if self.running():
            result = self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w")
            if result.returncode:
                raise ClusterError(f"could not stop PostgreSQL:\n{result.stderr}")

    def ensure_database(self, name: str = "open311") -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(
                    host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
                )
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()

    def up(self, database: str = "open311") -> str:
        """Initialise if needed, start unless already running, create the database; idempotent."""
        if not self.initialized():
            self.init()
        if self.running():
            self.port = self.running_port() or self.port
        else:
            self.start()
        self.ensure_database(database)
        return self.url(database)
