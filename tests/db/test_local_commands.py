"""`open311 db up/down/upgrade` and `open311 demo-banner`: the commands that work in the checkout's
var/ (the local cluster var/postgres, its port file, var/demo-api-key).

var/ is found from where the package lives, so the commands run as the installed `open311`
executable on a copy of the package (and its migrations) in pytest's temporary directory:
nothing in the real checkout's var/ is read, started, stopped or overwritten. Every cluster the
module starts is stopped at its end.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from open311.db.cluster import LocalCluster, free_port, port_is_free
from tests.helpers import server_directory

REPOSITORY = Path(__file__).resolve().parents[2]
# The console script setup.py installs beside the interpreter running the tests.
OPEN311 = Path(sys.executable).with_name("open311")
# Variables of the caller's shell that would steer the commands elsewhere.
STEERING = ("DATABASE_URL", "OPEN311_PGPORT", "OPEN311_PG_BINDIR", "PORT")


@dataclass
class Checkout:
    """A copy of the package whose var/ is its own."""

    root: Path

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def cluster(self) -> LocalCluster:
        return LocalCluster(self.var / "postgres", self.recorded_port())

    def recorded_port(self) -> int:
        return int((self.var / "postgres.port").read_text())

    def open311(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k not in STEERING}
        return subprocess.run(
            [str(OPEN311), *args],
            env=base | {"PYTHONPATH": str(self.root)} | env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def app_password(self) -> str:
        return (self.var / "postgres-app.password").read_text().strip()

    def query(self, sql: str, *params: object) -> list[tuple]:
        """`sql` as the app's role, with the password `db up` generated (as the app would)."""
        conn = psycopg2.connect(
            host="127.0.0.1",
            port=self.recorded_port(),
            user="open311",
            password=self.app_password(),
            dbname="open311",
        )
        with closing(conn), conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


def copy_checkout(root: Path, *, migrations: bool) -> Checkout:
    # Bytecode included (copytree keeps modification times, so it stays valid): each command
    # starts as fast as the installed one instead of compiling the package first.
    shutil.copytree(REPOSITORY / "open311", root / "open311")
    if migrations:
        shutil.copytree(REPOSITORY / "migrations", root / "migrations")
        shutil.copy(REPOSITORY / "alembic.ini", root / "alembic.ini")
    return Checkout(root)


@contextmanager
def occupied_port(port: int = 0) -> Iterator[int]:
    """A port another program listens on, for as long as the block runs."""
    with socket.socket() as sock:
        # A port a stopped server just left may still have connections in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield sock.getsockname()[1]


def postmaster_pid(cluster: LocalCluster) -> int:
    return int((cluster.datadir / "postmaster.pid").read_text().splitlines()[0])


@pytest.fixture(scope="module")
def checkout() -> Iterator[Checkout]:
    with server_directory("open311-test-checkout-") as root:
        checkout = copy_checkout(root, migrations=True)
        try:
            yield checkout
        finally:
            LocalCluster(checkout.var / "postgres", 0).stop()


@pytest.fixture(scope="module")
def first_up(checkout: Checkout) -> tuple[int, subprocess.CompletedProcess[str]]:
    """`open311 db up` on a checkout that has no var/ yet."""
    assert not checkout.var.exists()
    port = free_port()
    return port, checkout.open311("db", "up", OPEN311_PGPORT=str(port))


@pytest.fixture(scope="module")
def first_upgrade(checkout: Checkout, first_up) -> subprocess.CompletedProcess[str]:
    """`open311 db upgrade` with no DATABASE_URL: the local cluster's database."""
    return checkout.open311("db", "upgrade")


@pytest.fixture
def running(checkout: Checkout, first_up, first_upgrade) -> Checkout:
    """The checkout's cluster up (as each test leaves it) and migrated."""
    assert first_up[1].returncode == 0, first_up[1].stderr
    assert first_upgrade.returncode == 0, first_upgrade.stderr
    assert checkout.cluster.running()
    return checkout


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(REPOSITORY / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def test_db_up_initialises_and_starts_the_local_cluster_then_leaves_it_be(checkout, first_up):
    port, result = first_up
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout
        == f"local PostgreSQL running: postgresql+psycopg2://open311:***@127.0.0.1:{port}/open311\n"
    )
    assert (checkout.var / "postgres" / "PG_VERSION").exists()
    assert (checkout.var / "postgres.port").read_text() == f"{port}\n"
    assert checkout.cluster.running() and not port_is_free(port)
    assert checkout.query("SELECT current_database()") == [("open311",)]
    pid = postmaster_pid(checkout.cluster)

    # Again, with the port only in var/postgres.port: the same server, not a second one.
    again = checkout.open311("db", "up")
    assert again.returncode == 0, again.stderr
    assert again.stdout == result.stdout
    assert postmaster_pid(checkout.cluster) == pid
    assert (checkout.var / "postgres.port").read_text() == f"{port}\n"


def test_db_upgrade_migrates_the_local_database_to_head(running, first_upgrade):
    assert first_upgrade.stdout == "database migrated to head\n"
    assert running.query("SELECT version_num FROM alembic_version") == [(head_revision(),)]
    tables = running.query(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'"
    )
    assert {("service_request",), ("api_client",), ("staff_user",)} <= set(tables)


def demo_clients(checkout: Checkout) -> list[tuple]:
    return checkout.query(
        "SELECT key_hash, active FROM api_client WHERE name = 'demo (make run)' ORDER BY id"
    )


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def banner_key(stdout: str) -> str:
    (line,) = [line for line in stdout.splitlines() if "API key for POST" in line]
    prefix, key = line.split(":  ")
    assert prefix == "  API key for POST (also in var/demo-api-key)"
    return key


def test_demo_banner_makes_a_key_once_and_shows_it_with_working_curl_lines(running):
    key_file = running.var / "demo-api-key"
    key_file.unlink(missing_ok=True)
    before = demo_clients(running)

    first = running.open311("demo-banner")
    assert first.returncode == 0, first.stderr
    key = banner_key(first.stdout)
    assert len(key) >= 40
    assert key_file.read_text() == f"{key}\n"
    assert key_file.stat().st_mode & 0o777 == 0o600
    # Stored as its hash only, active.
    assert demo_clients(running) == [*before, (sha256(key), True)]
    base = "http://127.0.0.1:5311/open311/v2"
    assert f"open311 is starting on {base}\n" in first.stdout
    assert f"  curl -s {base}/services.json\n" in first.stdout
    # No demo city in this database: no demo staff accounts, and the banner says how to get them.
    assert "Staff console: http://127.0.0.1:5311/staff (`open311 seed` first" in first.stdout
    assert f"curl -s -X POST {base}/requests.json -d api_key={key} -d service_code=" in (
        first.stdout
    )

    # Run again (make run does, each time): the same key, no new client; PORT is the port.
    second = running.open311("demo-banner", PORT="8080")
    assert second.returncode == 0, second.stderr
    assert banner_key(second.stdout) == key
    assert "open311 is starting on http://127.0.0.1:8080/open311/v2\n" in second.stdout
    assert "5311" not in second.stdout
    assert key_file.read_text() == f"{key}\n"
    assert demo_clients(running) == [*before, (sha256(key), True)]

    # A key the database does not know (a database made afresh) is replaced; --port wins.
    key_file.write_text("a-key-from-another-database\n")
    third = running.open311("demo-banner", "--port", "9000", PORT="8080")
    assert third.returncode == 0, third.stderr
    new_key = banner_key(third.stdout)
    assert new_key not in (key, "a-key-from-another-database")
    assert "open311 is starting on http://127.0.0.1:9000/open311/v2\n" in third.stdout
    assert key_file.read_text() == f"{new_key}\n"
    assert demo_clients(running) == [*before, (sha256(key), True), (sha256(new_key), True)]


def test_db_down_stops_the_cluster_and_db_up_brings_it_back_with_its_data(running):
    port = running.recorded_port()
    marker = running.query("SELECT count(*) FROM api_client")

    down = running.open311("db", "down")
    assert down.returncode == 0, down.stderr
    assert down.stdout == "local PostgreSQL stopped\n"
    assert not running.cluster.running()
    assert port_is_free(port)
    assert not (running.var / "postgres" / "postmaster.pid").exists()
    assert (running.var / "postgres" / "PG_VERSION").exists()

    up = running.open311("db", "up")
    assert up.returncode == 0, up.stderr
    assert (
        up.stdout
        == f"local PostgreSQL running: postgresql+psycopg2://open311:***@127.0.0.1:{port}/open311\n"
    )
    assert running.cluster.running()
    assert running.query("SELECT count(*) FROM api_client") == marker
    assert running.query("SELECT version_num FROM alembic_version") == [(head_revision(),)]


def test_db_up_on_a_taken_port(running):
    running.cluster.stop()
    recorded = running.recorded_port()

    # The port was asked for (OPEN311_PGPORT): refused, nothing started or recorded.
    with occupied_port() as taken:
        refused = running.open311("db", "up", OPEN311_PGPORT=str(taken))
    assert refused.returncode == 1
    assert refused.stderr == f"Error: port {taken} (OPEN311_PGPORT) is in use\n"
    assert refused.stdout == ""
    assert not running.cluster.running()
    assert running.recorded_port() == recorded

    # The recorded port was only remembered: another free port is taken and recorded.
    with occupied_port(recorded):
        moved = running.open311("db", "up")
        assert moved.returncode == 0, moved.stderr
        new_port = running.recorded_port()
        assert new_port != recorded
        assert moved.stdout == (
            f"local PostgreSQL running: postgresql+psycopg2://open311:***@127.0.0.1:{new_port}/open311\n"
        )
        assert running.cluster.running_port() == new_port
    assert running.query("SELECT version_num FROM alembic_version") == [(head_revision(),)]


def test_db_up_with_database_url_set_starts_nothing(tmp_path):
    checkout = copy_checkout(tmp_path, migrations=False)
    result = checkout.open311(
        "db", "up", DATABASE_URL="postgresql+psycopg2://app@db.example.org/open311"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "DATABASE_URL is set: using that database, no local cluster needed.\n"
    assert not checkout.var.exists()


def test_db_up_with_a_missing_server_says_why(tmp_path):
    checkout = copy_checkout(tmp_path, migrations=False)
    missing = tmp_path / "no-postgres-here" / "bin"
    result = checkout.open311(
        "db", "up", OPEN311_PG_BINDIR=str(missing), OPEN311_PGPORT=str(free_port())
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: {missing / 'initdb'} not found: is OPEN311_PG_BINDIR a PostgreSQL bin/?\n"
    )
    assert "Traceback" not in result.stderr
    assert not (checkout.var / "postgres.port").exists()
    assert not (checkout.var / "postgres" / "PG_VERSION").exists()
