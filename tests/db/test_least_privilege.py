"""The database trusts no one (issue 12): the local cluster asks everyone for a password, and
the app runs as a role that owns its schema and can do nothing else.

As `make run` does it: `open311 db up`, `db upgrade`, `seed`, then the app with DATABASE_URL
unset, on a copy of the package whose var/ is its own (see test_local_commands). Then a cluster
made the way open311 made them before passwords (trust, the app as `postgres`), running, which
`open311 db up` converts. Every cluster the module starts is stopped at its end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import errors
from sqlalchemy import text

from open311.db.cluster import LocalCluster, free_port
from tests.helpers import server_directory

REPOSITORY = Path(__file__).resolve().parents[2]
OPEN311 = Path(sys.executable).with_name("open311")
# Variables of the caller's shell that would steer the commands, or psql, elsewhere.
STEERING = ("DATABASE_URL", "OPEN311_PGPORT", "OPEN311_PG_BINDIR", "PORT", "PGPASSWORD")
SERVER_PROGRAMS = ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files")


@dataclass
class Checkout:
    """A copy of the package (and its migrations) whose var/ is its own."""

    root: Path

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def port(self) -> int:
        return int((self.var / "postgres.port").read_text())

    @property
    def cluster(self) -> LocalCluster:
        return LocalCluster(self.var / "postgres", self.port)

    def password(self, who: str) -> str:
        return (self.var / f"postgres-{who}.password").read_text().strip()

    def env(self, **env: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k not in STEERING}
        return base | {"PYTHONPATH": str(self.root)} | env

    def open311(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(OPEN311), *args],
            env=self.env(**env),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def connect(self, user: str, password: str | None, **where: object):
        """A connection to the checkout's server; no password file or PGPASSWORD helps it."""
        params = {"host": "127.0.0.1", "port": self.port, "user": user, "dbname": "open311"}
        params |= {"passfile": os.devnull} | where
        if password is not None:
            params["password"] = password
        return psycopg2.connect(**params)

    def as_app(self, sql: str, *params: object) -> list[tuple]:
        with closing(self.connect("open311", self.password("app"))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []


def copy_checkout(root: Path) -> Checkout:
    shutil.copytree(REPOSITORY / "open311", root / "open311")
    shutil.copytree(REPOSITORY / "migrations", root / "migrations")
    shutil.copy(REPOSITORY / "alembic.ini", root / "alembic.ini")
    return Checkout(root)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def psql_without_password(checkout: Checkout, host: str, user: str = "postgres"):
    """What the issue asks of `make run`: psql as `user`, no password, must be turned away."""
    return subprocess.run(
        ["psql", "-w", "-h", host, "-p", str(checkout.port), "-U", user, "-d", "postgres"]
        + ["-c", "SELECT 1"],
        env=checkout.env(PGPASSFILE=os.devnull),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# --- a cluster as `make run` makes it now -------------------------------------------------------


@pytest.fixture(scope="module")
def checkout() -> Iterator[Checkout]:
    """`open311 db up`, `db upgrade` and `seed --skip-history` on a fresh checkout."""
    with server_directory("open311-test-privilege-") as root:
        checkout = copy_checkout(root)
        try:
            ok(checkout.open311("db", "up", OPEN311_PGPORT=str(free_port())))
            ok(checkout.open311("db", "upgrade"))
            geodata = str(REPOSITORY / "geodata")
            ok(checkout.open311("seed", "--skip-history", OPEN311_GEODATA_DIR=geodata))
            yield checkout
        finally:
            LocalCluster(checkout.var / "postgres", 0).stop()


def test_nobody_gets_in_without_a_password(checkout):
    for host in ("127.0.0.1", str(checkout.cluster.socket_dir)):
        for user in ("postgres", "open311"):
            refused = psql_without_password(checkout, host, user)
            assert refused.returncode != 0, (host, user, refused.stdout)
            assert "no password supplied" in refused.stderr, refused.stderr
    for user in ("postgres", "open311"):
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            checkout.connect(user, "not-the-password")
    assert not checkout.cluster.trusts()
    # With its password, from its file, the superuser does get in, and finds no rule that
    # lets anyone in without one.
    superuser = checkout.connect("postgres", checkout.password("superuser"))
    with closing(superuser), superuser.cursor() as cur:
        cur.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
        assert cur.fetchall() == [("scram-sha-256",)]


def test_the_passwords_are_generated_and_kept_for_their_owner_alone(checkout):
    passwords = {}
    for who in ("superuser", "app"):
        path = checkout.var / f"postgres-{who}.password"
        status = path.stat()
        assert status.st_mode & 0o777 == 0o600, who
        assert status.st_uid == os.geteuid(), who
        passwords[who] = checkout.password(who)
        assert len(passwords[who]) >= 40, who
    assert passwords["superuser"] != passwords["app"]
    # Not in what `db up` prints either.
    again = ok(checkout.open311("db", "up"))
    assert again == (
        f"local PostgreSQL running: postgresql+psycopg2://open311:***@127.0.0.1:{checkout.port}"
        "/open311\n"
    )


def test_the_app_role_is_no_superuser_and_has_no_server_powers(checkout):
    [(superuser, createdb, createrole, replication, bypassrls)] = checkout.as_app(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = current_user"
    )
    assert (superuser, createdb, createrole, replication, bypassrls) == (False,) * 5
    for role in SERVER_PROGRAMS:
        assert checkout.as_app("SELECT pg_has_role(current_user, %s, 'MEMBER')", role) == [
            (False,)
        ], role

    refusals = [
        "COPY (SELECT 1) TO PROGRAM 'true'",
        "COPY (SELECT 1) TO '/tmp/open311-least-privilege-test'",
        "CREATE TEMPORARY TABLE passwd (line text); COPY passwd FROM '/etc/passwd'",
        "SELECT pg_read_file('/etc/passwd')",
        'CREATE DATABASE "open311_not_allowed"',
        'CREATE ROLE "open311_not_allowed"',
        "ALTER ROLE open311 SUPERUSER",
        "ALTER SYSTEM SET log_statement = 'all'",
    ]
    for sql in refusals:
        with pytest.raises(errors.InsufficientPrivilege):
            checkout.as_app(sql)


def test_the_app_role_owns_the_schema_it_migrated_and_nothing_more(checkout):
    head = ok(checkout.open311("db", "upgrade"))
    assert head == "database migrated to head\n"
    assert checkout.as_app(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
    ) == [("open311",)]
    # Every table of the app is its own; PostGIS's were made by the superuser, once.
    owners = checkout.as_app(
        "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename <> 'spatial_ref_sys'"
    )
    assert owners == [("open311",)]
    assert checkout.as_app(
        "SELECT extowner::regrole::text FROM pg_extension WHERE extname = 'postgis'"
    ) == [("postgres",)]
    assert checkout.as_app(
        "SELECT datdba::regrole::text FROM pg_database WHERE datname = current_database()"
    ) == [("postgres",)]


def test_the_app_serves_as_its_role_with_the_default_url(checkout):
    """create_app() with DATABASE_URL unset, as `make run`'s gunicorn has it: a POST stored."""
    key = ok(checkout.open311("apikey", "create", "privilege test")).strip().splitlines()[-1]
    script = f"""
import json
from open311 import create_app
from open311.db.session import make_engine
from sqlalchemy import text
app = create_app({{"TESTING": True, "OPEN311_RATE_LIMITS": False}})
with make_engine(app.config["DATABASE_URL"]).connect() as conn:
    print(conn.execute(text("SELECT current_user")).scalar())
answer = app.test_client().post("/open311/v2/requests.json", data={{
    "api_key": {key!r}, "service_code": "GRAFFITI", "lat": "34.1016", "long": "-118.3267",
    "attribute[SURFACE]": "WALL"}})
print(answer.status_code)
print(json.dumps(answer.json))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=checkout.env(),
        cwd=checkout.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    user, status, body = result.stdout.splitlines()[-3:]
    assert (user, status) == ("open311", "200"), body
    assert checkout.as_app(
        "SELECT count(*) FROM service_request WHERE service_request_id = %s",
        json.loads(body)[0]["service_request_id"],
    ) == [(1,)]


def test_the_readme_s_roles_for_an_existing_database_work(checkout):
    """README's SQL for a DBA (Using an existing PostGIS database), run as it stands but for the
    names, on the checkout's server: the role it makes migrates the database and has no powers."""
    readme = (REPOSITORY / "README.md").read_text()
    section = readme.split("### Using an existing PostGIS database", 1)[1].split("\n### ", 1)[0]
    (block,) = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    block = re.sub(r"\bopen311\b", "readme_app", block)
    psql = subprocess.run(
        ["psql", "-w", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(checkout.port)]
        + ["-U", "postgres", "-d", "postgres"],
        input=block,
        env=checkout.env(PGPASSWORD=checkout.password("superuser"), PGPASSFILE=os.devnull),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert psql.returncode == 0, psql.stderr
    url = f"postgresql+psycopg2://readme_app:secret@127.0.0.1:{checkout.port}/readme_app"
    assert ok(checkout.open311("db", "upgrade", DATABASE_URL=url)) == "database migrated to head\n"

    def as_readme_app(sql: str) -> list[tuple]:
        conn = checkout.connect("readme_app", "secret", dbname="readme_app")
        with closing(conn), conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []

    assert as_readme_app(
        "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename <> 'spatial_ref_sys'"
    ) == [("readme_app",)]
    assert as_readme_app(
        "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user"
    ) == [(False, False)]
    with pytest.raises(errors.InsufficientPrivilege):
        as_readme_app("COPY (SELECT 1) TO PROGRAM 'true'")


def test_the_suite_itself_runs_as_a_role_without_powers(db, database_url):
    if os.environ.get("DATABASE_URL"):
        pytest.skip("DATABASE_URL names the server and its role")
    row = db.execute(
        text(
            "SELECT current_user, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )
    ).one()
    assert tuple(row) == ("open311", False, False)


# --- a cluster made before passwords ------------------------------------------------------------


class TrustCluster(LocalCluster):
    """A cluster as open311 made it before this change: initdb --auth=trust, and the app, the
    migrations and everything else as `postgres`, with no password."""

    def init(self) -> None:
        self._own(self.datadir.parent)
        self._own(self.datadir)
        self._own(self.socket_dir)
        result = self._run(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    def ensure_database(self, name: str = "open311") -> None:
        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        with closing(conn):
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')

    def url(self, database: str = "open311") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"


def test_db_up_converts_a_running_trust_cluster_and_keeps_its_data():
    with server_directory("open311-test-trust-") as root:
        checkout = copy_checkout(root)
        old = TrustCluster(checkout.var / "postgres", free_port())
        try:
            old_url = old.up()
            (checkout.var / "postgres.port").write_text(f"{old.port}\n")
            ok(checkout.open311("db", "upgrade", DATABASE_URL=old_url))
            ok(checkout.open311("apikey", "create", "from before", DATABASE_URL=old_url))
            # What the issue is about: anyone local gets in as the superuser.
            assert psql_without_password(checkout, "127.0.0.1").returncode == 0
            assert old.trusts()

            converted = checkout.open311("db", "up")

            assert converted.returncode == 0, converted.stderr
            assert converted.stdout == (
                f"local PostgreSQL running: postgresql+psycopg2://open311:***@127.0.0.1:{old.port}"
                "/open311\n"
            )
            refused = psql_without_password(checkout, "127.0.0.1")
            assert refused.returncode != 0 and "no password supplied" in refused.stderr
            assert not checkout.cluster.trusts()
            for who in ("superuser", "app"):
                mode = (checkout.var / f"postgres-{who}.password").stat().st_mode
                assert mode & 0o777 == 0o600, who
            # The same server (converted in place, not restarted), its data now the app role's.
            assert checkout.cluster.running_port() == old.port
            assert checkout.as_app("SELECT name FROM api_client") == [("from before",)]
            assert checkout.as_app(
                "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'spatial_ref_sys'"
            ) == [("open311",)]
            assert checkout.as_app("SELECT rolsuper FROM pg_roles WHERE rolname = 'open311'") == [
                (False,)
            ]
            # The app's commands work as the role: migrations (nothing to do) and writes.
            assert ok(checkout.open311("db", "upgrade")) == "database migrated to head\n"
            ok(checkout.open311("apikey", "create", "from after"))
            assert checkout.as_app("SELECT count(*) FROM api_client") == [(2,)]
            # Again: nothing left to convert, nothing changes.
            assert ok(checkout.open311("db", "up")) == converted.stdout
        finally:
            LocalCluster(checkout.var / "postgres", 0).stop()
