"""A real streaming standby of the suite's throwaway cluster, for tests of reading from replicas:
pg_basebackup -R of the running primary into a directory of its own, started on a free port
(hot standby), with its replay paused and resumed at will; stopped and removed afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

from open311.db.cluster import LocalCluster, find_bindir, free_port
from open311.db.replicas import parse_lsn
from tests import helpers
from tests.helpers import server_directory


def superuser_url_of(server_url: str) -> str | None:
    """The superuser URL of the throwaway cluster behind `server_url` (tests/conftest.py
    registers it); None on a DATABASE_URL server, where the suite has no superuser."""
    parsed = make_url(server_url)
    return helpers._SUPERUSERS.get((parsed.host, parsed.port))


@dataclass
class Standby:
    """A hot standby streaming from the primary whose superuser URL is `primary_superuser`."""

    primary_superuser: str
    cluster: LocalCluster

    @property
    def port(self) -> int:
        return self.cluster.port

    def url(self, server_url: str) -> str:
        """`server_url` (a database of the primary, as its role) on the standby instead."""
        return make_url(server_url).set(port=self.port).render_as_string(hide_password=False)

    def _superuser(self) -> psycopg2.extensions.connection:
        params = make_url(self.primary_superuser).translate_connect_args(
            username="user", database="dbname"
        )
        connection = psycopg2.connect(**(params | {"port": self.port}))
        connection.autocommit = True
        return connection

    def run(self, sql: str) -> list[tuple]:
        """`sql` on the standby as the superuser."""
        with closing(self._superuser()) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def pause_replay(self) -> None:
        self.run("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.run("SELECT pg_wal_replay_resume()")

    @contextmanager
    def not_streaming(self, timeout_s: float = 10) -> Iterator[None]:
        """The standby cut off from its primary (primary_conninfo names a port where nothing
        listens: its WAL receiver fails to connect, and is tried again every retry interval,
        set below), then streaming again as before."""
        [(conninfo,)] = self.run("SHOW primary_conninfo")
        self._set_conninfo(f"host=127.0.0.1 port={free_port()} user=nobody connect_timeout=1")
        try:
            _wait(lambda: not self.run("SELECT 1 FROM pg_stat_wal_receiver"), timeout_s)
            yield
        finally:
            self._set_conninfo(conninfo)
            _wait(
                lambda: self.run("SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'"),
                timeout_s,
            )

    def _set_conninfo(self, conninfo: str) -> None:
        with closing(self._superuser()) as connection, connection.cursor() as cursor:
            # ALTER SYSTEM takes no parameters: the value as a quoted literal.
            cursor.execute(
                sql.SQL("ALTER SYSTEM SET primary_conninfo = {}").format(sql.Literal(conninfo))
            )
            cursor.execute("SELECT pg_reload_conf()")

    def promote(self) -> None:
        """Out of recovery for good: it takes writes, and no longer follows the primary."""
        _as_server_user("pg_ctl", "promote", "-w", "-D", str(self.cluster.datadir))

    def wait_for_replay(self, timeout_s: float = 10) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with closing(_connect(self.primary_superuser)) as primary, primary.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            (target,) = cursor.fetchone()
        wanted = parse_lsn(target)
        deadline = time.monotonic() + timeout_s
        while True:
            [(replayed,)] = self.run("SELECT pg_last_wal_replay_lsn()::text")
            if (parse_lsn(replayed) or 0) >= (wanted or 0):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby replayed {replayed}, not yet {target}")
            time.sleep(0.02)


def _wait(done: Callable[[], object], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the standby did not come to the state waited for")
        time.sleep(0.02)


def _connect(url: str) -> psycopg2.extensions.connection:
    params = make_url(url).translate_connect_args(username="user", database="dbname")
    connection = psycopg2.connect(**params)
    connection.autocommit = True
    return connection


@contextmanager
def streaming_standby(primary_superuser: str) -> Iterator[Standby]:
    """A standby of the primary, made with pg_basebackup -R (which writes primary_conninfo and
    standby.signal), started, and stopped and removed at the end."""
    with server_directory("open311-test-standby-") as root:
        as_root = os.geteuid() == 0
        if as_root:  # the server and pg_basebackup run as the postgres system user
            shutil.chown(root, "postgres", "postgres")
        cluster = LocalCluster(root / "data", free_port(), durable=False)
        _basebackup(primary_superuser, cluster.datadir)
        # A WAL receiver that ended is started again after this (default 5 s), so that a test
        # of a replica that is not streaming waits no longer than needed.
        with open(cluster.datadir / "postgresql.auto.conf", "a") as conf:
            conf.write("wal_retrieve_retry_interval = '2s'\n")
        try:
            cluster.start()
            yield Standby(primary_superuser, cluster)
        finally:
            cluster.stop()


def _basebackup(primary_superuser: str, datadir: Path) -> None:
    url = make_url(primary_superuser)
    # The password in the environment, never on a command line that `ps` shows.
    _as_server_user(
        "pg_basebackup",
        f"--dbname=host={url.host} port={url.port} user={url.username}",
        f"--pgdata={datadir}",
        "--write-recovery-conf",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--no-sync",
        environment={"PGPASSWORD": url.password or ""},
    )


def _as_server_user(program: str, *args: str, environment: dict[str, str] | None = None) -> None:
    """A PostgreSQL program, as the postgres system user when we are root (as LocalCluster
    runs the server's)."""
    command = [str(find_bindir() / program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(
        command, capture_output=True, text=True, env=os.environ | (environment or {}), check=False
    )
    if result.returncode:
        raise RuntimeError(f"{program} failed:\n{result.stdout}\n{result.stderr}")
