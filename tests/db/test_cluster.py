"""The project-local PostgreSQL cluster (db/cluster.py): a real cluster started, stopped, refused.

One cluster per module under pytest's temporary directory, always stopped at the end; the error
cases use real occupied ports, real non-empty directories and a real bad setting.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from open311.db.cluster import ClusterError, LocalCluster, find_bindir, free_port, port_is_free
from tests.helpers import server_directory

DATABASE = "open311_cluster_test"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with server_directory("open311-test-cluster-") as root:
        cluster = LocalCluster(root / "data", free_port(), durable=False)
        try:
            yield cluster
        finally:
            cluster.stop()


@contextmanager
def occupied_port() -> Iterator[int]:
    """A port another program listens on, for as long as the block runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def query(cluster: LocalCluster, sql: str, database: str = DATABASE) -> list[tuple]:
    """`sql` as the cluster's superuser (its password from the file beside the data)."""
    with closing(cluster.connect_superuser(database)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []


def postmaster_pid(cluster: LocalCluster) -> int:
    return int((cluster.datadir / "postmaster.pid").read_text().splitlines()[0])


def test_up_initialises_starts_and_creates_the_database(cluster):
    port = cluster.port
    assert not cluster.initialized() and not cluster.running()
    assert cluster.running_port() is None

    url = cluster.up(DATABASE)

    # The app's role, with the password generated for it, never the superuser.
    password = cluster.app_password_file.read_text().strip()
    assert url == f"postgresql+psycopg2://open311:{password}@127.0.0.1:{port}/{DATABASE}"
    assert cluster.initialized() and cluster.running()
    assert cluster.running_port() == port
    assert not port_is_free(port)
    with (
        closing(
            psycopg2.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT current_database(), current_user")
        assert cur.fetchall() == [(DATABASE, "open311")]
    assert query(cluster, "SELECT current_user") == [("postgres",)]
    # A throwaway cluster (durable=False) does not wait on the disk; it listens on loopback only.
    assert query(cluster, "SHOW fsync") == [("off",)]
    assert query(cluster, "SHOW listen_addresses") == [("127.0.0.1",)]
    assert query(cluster, "SHOW server_encoding") == [("UTF8",)]


def test_up_again_changes_nothing_and_adopts_the_running_port(cluster):
    cluster.up(DATABASE)
    pid = postmaster_pid(cluster)
    table = f"t_{uuid.uuid4().hex[:8]}"
    query(cluster, f"CREATE TABLE {table} (n int); INSERT INTO {table} VALUES (7)")

    assert cluster.up(DATABASE) == cluster.url(DATABASE)
    assert postmaster_pid(cluster) == pid

    # Another handle on the same data directory, told a different port, finds the server where
    # it runs instead of starting a second one.
    other = LocalCluster(cluster.datadir, free_port(), durable=False)
    assert other.up(DATABASE) == cluster.url(DATABASE)
    assert f"@127.0.0.1:{cluster.port}/" in cluster.url(DATABASE)
    assert other.port == cluster.port
    assert postmaster_pid(cluster) == pid
    assert query(cluster, f"SELECT n FROM {table}") == [(7,)]

    # A second database is created on demand, the first one left alone.
    assert cluster.up("open311_other") == cluster.url("open311_other")
    names = query(cluster, "SELECT datname FROM pg_database ORDER BY 1", "postgres")
    assert {("open311_other",), (DATABASE,)} <= set(names)


def test_stop_then_up_keeps_the_data(cluster):
    cluster.up(DATABASE)
    table = f"t_{uuid.uuid4().hex[:8]}"
    query(cluster, f"CREATE TABLE {table} (n int); INSERT INTO {table} VALUES (42)")

    cluster.stop()
    assert not cluster.running()
    assert port_is_free(cluster.port)
    assert not (cluster.datadir / "postmaster.pid").exists()
    assert cluster.initialized()
    cluster.stop()  # stopping a stopped cluster is no error
    assert not cluster.running()

    cluster.up(DATABASE)
    assert cluster.running()
    assert query(cluster, f"SELECT n FROM {table}") == [(42,)]


def test_start_on_a_port_in_use_says_so(tmp_path):
    cluster = LocalCluster(tmp_path / "data", 0)
    with occupied_port() as port:
        cluster.port = port
        with pytest.raises(ClusterError) as refused:
            cluster.start()
    assert str(refused.value) == (
        f"port {port} is in use by another program; set OPEN311_PGPORT to a free port"
    )
    assert not cluster.running()


def test_initdb_failure_is_a_cluster_error_with_initdb_s_reason():
    with server_directory("open311-test-initdb-") as root:
        datadir = root / "data"
        datadir.mkdir()
        (datadir / "notes.txt").write_text("not a cluster")
        cluster = LocalCluster(datadir, free_port())

        with pytest.raises(ClusterError) as failed:
            cluster.up()

        message = str(failed.value)
        assert message.startswith("initdb failed:")
        assert "exists but is not empty" in message
        assert (datadir / "notes.txt").read_text() == "not a cluster"
        assert not cluster.initialized()


def test_a_server_that_will_not_start_is_a_cluster_error_with_its_log(cluster):
    cluster.up(DATABASE)
    cluster.stop()
    config = cluster.datadir / "postgresql.conf"
    original = config.read_bytes()
    config.write_bytes(original + b"\nnot_a_real_setting = on\n")
    try:
        with pytest.raises(ClusterError) as failed:
            cluster.up(DATABASE)
        message = str(failed.value)
        assert message.startswith("could not start PostgreSQL:")
        # The tail of the server's log says why.
        assert 'unrecognized configuration parameter "not_a_real_setting"' in message
        assert not cluster.running()
        assert port_is_free(cluster.port)
    finally:
        config.write_bytes(original)
    cluster.up(DATABASE)
    assert cluster.running()


def test_free_port_and_port_is_free():
    port = free_port()
    assert 1024 < port < 65536
    assert port_is_free(port)
    with occupied_port() as taken:
        assert not port_is_free(taken)
    assert port_is_free(taken)


# --- which PostgreSQL: the newest installed with PostGIS (Debian layout), or the one named ------
# (`open311 db up` names it from OPEN311_PG_BINDIR: tests/db/test_local_commands.py)


def server_version(bindir: Path) -> str:
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return re.match(r"postgres \(PostgreSQL\) (\d+)", out).group(1)


def test_discovery_finds_the_newest_server_with_postgis():
    found = find_bindir()

    assert found.parent.parent == Path("/usr/lib/postgresql")
    assert found.name == "bin"
    version = found.parent.name
    for program in ("initdb", "pg_ctl", "postgres"):
        assert os.access(found / program, os.X_OK), program
    assert Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists()
    assert server_version(found) == version
    newer_with_postgis = [
        root.name
        for root in Path("/usr/lib/postgresql").iterdir()
        if root.name.isdigit()
        and int(root.name) > int(version)
        and (root / "bin" / "initdb").exists()
        and Path(f"/usr/share/postgresql/{root.name}/extension/postgis.control").exists()
    ]
    assert newer_with_postgis == []


def test_named_programs_are_the_ones_run(cluster, tmp_path):
    missing = tmp_path / "no-postgres-here" / "bin"
    cluster.up(DATABASE)
    assert LocalCluster(cluster.datadir, cluster.port, bindir=find_bindir()).running()

    elsewhere = LocalCluster(tmp_path / "data", free_port(), bindir=missing)
    with pytest.raises(ClusterError) as failed:
        elsewhere.up()
    assert str(missing / "initdb") in str(failed.value)
    assert not elsewhere.initialized()


def test_stop_without_the_server_programs_is_an_error_not_a_no_op(cluster, tmp_path):
    missing = tmp_path / "no-postgres-here" / "bin"
    cluster.up(DATABASE)
    blind = LocalCluster(cluster.datadir, cluster.port, bindir=missing)
    with pytest.raises(ClusterError) as failed:
        blind.stop()
    assert str(missing / "pg_ctl") in str(failed.value)
    assert cluster.running()
