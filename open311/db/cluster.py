"""A project-local PostgreSQL cluster (var/postgres): `make run` needs no database set up.

PostgreSQL refuses to run as root, so when we are root the server programs run as the
`postgres` system user that Debian's package creates, and the data directory belongs to it.

Nobody is trusted: every connection, over TCP or the socket, signs in with a password (SCRAM).
Two roles: the bootstrap superuser `postgres`, which only this module uses (to create the
database, the PostGIS extension and the app's role), and `open311`, the app's role, which owns
the app's schema, runs the migrations and can do nothing else: no superuser, no new databases
or roles, no server files or programs. Their generated passwords are kept beside the data
directory, each in a file of mode 0600. A cluster made before this arrangement (trust) is
brought to it by `up`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import encrypt_password

from open311.config import (
    APP_PASSWORD_FILE_NAME,
    LOCAL_CLUSTER_APP_ROLE,
    LOCAL_CLUSTER_SUPERUSER,
    SUPERUSER_PASSWORD_FILE_NAME,
    local_cluster_url,
)
from open311.db.ownership import hand_over

SUPERUSER = LOCAL_CLUSTER_SUPERUSER
APP_ROLE = LOCAL_CLUSTER_APP_ROLE

# The cluster's pg_hba.conf, written at initdb and over a trust cluster's: a password for
# everyone, on the socket and on loopback (the server listens on nothing else). Replication
# (pg_basebackup, a streaming standby) only for the superuser, on loopback.
HBA = """\
# open311 (open311/db/cluster.py writes this file): every connection signs in with its role's
# password (SCRAM); nothing is trusted, the local socket included.
# TYPE  DATABASE     USER      ADDRESS       METHOD
local   all          all                     scram-sha-256
host    all          all       127.0.0.1/32  scram-sha-256
host    all          all       ::1/128       scram-sha-256
host    replication  postgres  127.0.0.1/32  scram-sha-256
"""

# The app's role, as `up` creates it and sets it again each time: it signs in and owns what
# it is given, nothing more (no pg_read_server_files, pg_execute_server_program ... either).
APP_ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"

# What the app role is handed in its database: the schema public, and every object in it that
# an extension does not own (a trust cluster's migrations ran as the superuser).
_HAND_OVER = """
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT c.oid::regclass AS name,
               CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                              WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace
          AND c.relkind IN ('r', 'p', 'S', 'v', 'm', 'f')
          AND c.relowner <> %(role)s::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
          -- a sequence owned by a column follows its table
          AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
    LOOP
        EXECUTE format('ALTER %%s %%s OWNER TO %%I', item.kind, item.name, %(role)s);
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure AS name,
               CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
                              ELSE 'FUNCTION' END AS kind
        FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace
          AND p.proowner <> %(role)s::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER %%s %%s OWNER TO %%I', item.kind, item.name, %(role)s);
    END LOOP;
    FOR item IN
        SELECT t.oid::regtype AS name
        FROM pg_type t
        WHERE t.typnamespace = 'public'::regnamespace
          AND t.typtype IN ('e', 'd', 'r')
          AND t.typowner <> %(role)s::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                          AND d.objid = t.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER TYPE %%s OWNER TO %%I', item.name, %(role)s);
    END LOOP;
END
$$
"""


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


def secret(path: Path) -> str:
    """The password kept in `path`, generated and written there first if it is not yet: the
    file is created with mode 0600 (O_EXCL: never an existing file), so no other user can read
    it at any moment; one found open to others is closed to them again."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        password = path.read_text().strip()
        if not password:
            raise ClusterError(f"{path} is empty; remove it (and the cluster beside it)") from None
        return password
    password = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as file:
        file.write(f"{password}\n")
    return password


def _scram(password: str, role: str, conn: Connection) -> str:
    """The SCRAM verifier of `password`, made here: the password itself never reaches the
    server (nor, then, its logs)."""
    return encrypt_password(password, role, conn, "scram-sha-256")


def prepare_database(superuser: Connection, name: str, owner: str) -> None:
    """Create database `name` if missing, with PostGIS and pg_trgm (which need a superuser,
    once), for the role `owner` to migrate and use: it owns the schema public and what is in
    it, and only it (besides superusers) may connect. `superuser` is a connection to another
    database of the server; the database itself stays the superuser's. Idempotent."""
    superuser.autocommit = True
    database = sql.Identifier(name)
    with superuser.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(database))
        cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
        cur.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                database, sql.Identifier(owner)
            )
        )
    params = superuser.get_dsn_parameters()
    inside = psycopg2.connect(
        host=params["host"],
        port=params["port"],
        user=params["user"],
        password=superuser.info.password,
        dbname=name,
    )
    with closing(inside):
        inside.autocommit = True
        with inside.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            # Trigram similarity for the knowledge base's search (migration 0015).
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cur.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
            cur.execute(_HAND_OVER, {"role": owner})


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

    @property
    def superuser_password_file(self) -> Path:
        return self.datadir.parent / SUPERUSER_PASSWORD_FILE_NAME

    @property
    def app_password_file(self) -> Path:
        return self.datadir.parent / APP_PASSWORD_FILE_NAME

    def url(self, database: str = "open311") -> str:
        """The app role's URL of `database`, with its password (what the app connects with)."""
        return local_cluster_url(self.port, database, password=secret(self.app_password_file))

    def superuser_url(self, database: str = "postgres") -> str:
        """The bootstrap superuser's URL: for creating databases and roles, never for the app."""
        password = secret(self.superuser_password_file)
        return local_cluster_url(self.port, database, password=password, user=SUPERUSER)

    def connect_superuser(self, database: str = "postgres", timeout_s: float = 30) -> Connection:
        """A connection as the bootstrap superuser, waiting for a server still starting."""
        password = secret(self.superuser_password_file)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return psycopg2.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user=SUPERUSER,
                    password=password,
                    dbname=database,
                )
            except psycopg2.OperationalError as exc:
                if "password authentication failed" in str(exc):
                    raise ClusterError(
                        f"the cluster refuses the superuser's password in "
                        f"{self.superuser_password_file}; if that file was lost, stop the "
                        f"cluster and remove {self.datadir} (its data goes with it) to start "
                        "afresh"
                    ) from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

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
        hand_over(path, "postgres" if self.as_root else None)

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

    @contextmanager
    def _pwfile(self) -> Iterator[Path]:
        """The superuser's password in a file initdb can read (as root initdb runs as the
        `postgres` user, which cannot read ours): a private directory of that user's, removed
        afterwards."""
        password = secret(self.superuser_password_file)
        folder = Path(tempfile.mkdtemp(prefix="open311-initdb-"))
        try:
            path = folder / "pwfile"
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(f"{password}\n")
            if self.as_root:
                shutil.chown(path, "postgres", "postgres")
                shutil.chown(folder, "postgres", "postgres")
            yield path
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @property
    def hba_file(self) -> Path:
        return self.datadir / "pg_hba.conf"

    def _hba_is_ours(self) -> bool:
        try:
            return self.hba_file.read_text() == HBA
        except OSError:
            return False

    def _write_hba(self) -> None:
        # Written in place: the file keeps its owner (the postgres user, when we are root).
        with open(self.hba_file, "w") as file:
            file.write(HBA)

    def init(self) -> None:
        self._own(self.datadir.parent)
        self._own(self.datadir)
        self._own(self.socket_dir)
        with self._pwfile() as pwfile:
            result = self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        if result.returncode:
            raise ClusterError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        self._write_hba()

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

    def trusts(self) -> bool:
        """Whether the running server lets the superuser in without its password (a cluster
        made before passwords, or a pg_hba.conf not yet reloaded)."""
        try:
            psycopg2.connect(
                host="127.0.0.1",
                port=self.port,
                user=SUPERUSER,
                password=f"not-{secrets.token_hex(8)}",
                dbname="postgres",
            ).close()
        except psycopg2.OperationalError:
            return False
        return True

    def _require_passwords(self, superuser: Connection) -> None:
        """Bring a running cluster made with trust to passwords: the superuser's password set
        (while trust still lets us in), then our pg_hba.conf, reloaded, and waited for."""
        with superuser.cursor() as cur:
            verifier = _scram(secret(self.superuser_password_file), SUPERUSER, superuser)
            cur.execute(
                sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(SUPERUSER)),
                (verifier,),
            )
        self._write_hba()
        with superuser.cursor() as cur:
            cur.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while self.trusts():
            if time.monotonic() > deadline:
                raise ClusterError(f"PostgreSQL still lets anyone in after {self.hba_file}")
            time.sleep(0.1)

    def ensure_app_role(self, superuser: Connection) -> None:
        """The app's role, with the attributes and the password (of its file) it must have."""
        superuser.autocommit = True
        role = sql.Identifier(APP_ROLE)
        verifier = _scram(secret(self.app_password_file), APP_ROLE, superuser)
        with superuser.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute(
                sql.SQL(f"{verb} ROLE {{}} {APP_ROLE_ATTRIBUTES} PASSWORD %s").format(role),
                (verifier,),
            )

    def ensure_database(self, name: str = "open311") -> None:
        """Passwords required (a trust cluster converted), the app's role, and database `name`
        ready for it (see prepare_database)."""
        with closing(self.connect_superuser()) as superuser:
            superuser.autocommit = True
            if not self._hba_is_ours():
                self._require_passwords(superuser)
            self.ensure_app_role(superuser)
            prepare_database(superuser, name, APP_ROLE)

    def up(self, database: str = "open311") -> str:
        """Initialise if needed, start unless already running, create the app's role and the
        database; idempotent. Returns the app role's URL of the database."""
        if not self.initialized():
            self.init()
        if self.running():
            self.port = self.running_port() or self.port
        else:
            self.start()
        self.ensure_database(database)
        return self.url(database)
