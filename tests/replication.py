"""A real streaming standby of the suite's throwaway cluster, for tests of reading from replicas:
pg_basebackup -R of the running primary into a directory of its own, started on a free port
(hot standby), with its replay paused and resumed at will; stopped and removed afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
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
        _basebackup(primary_superuser, cluster.datadir, as_root)
        try:
            cluster.start()
            yield Standby(primary_superuser, cluster)
        finally:
            cluster.stop()


def _basebackup(primary_superuser: str, datadir: Path, as_root: bool) -> None:
    url = make_url(primary_superuser)
    command = [
        str(find_bindir() / "pg_basebackup"),
        f"--dbname=host={url.host} port={url.port} user={url.username}",
        f"--pgdata={datadir}",
        "--write-recovery-conf",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--no-sync",
    ]
    if as_root:
        command = ["runuser", "-u", "postgres", "--", *command]
    # The password in the environment, never on a command line that `ps` shows.
    environment = os.environ | {"PGPASSWORD": url.password or ""}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if result.returncode:
        raise RuntimeError(f"pg_basebackup failed:\n{result.stdout}\n{result.stderr}")
