"""A real pgbouncer (Debian's 1.18, open311/db/pgbouncer.py) in transaction mode in front of the
suite's database server, and a migrated database of this module's own behind it: the app, the
worker and the scheduler commit there through the pooler, as a city behind pgbouncer would.

Two server connections per pool, fewer than the clients the tests open, so that server
connections are shared between clients (and each client's transactions land on either). The
alias `<database>_session` is the same database in session mode, for the worker's LISTEN."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from open311.db.cluster import free_port
from open311.db.pgbouncer import LocalPgbouncer, PgbouncerError, find_program
from tests.helpers import scratch_database, server_directory

POOL_SIZE = 2


@dataclass
class Pooled:
    """The database directly (`direct`), and through pgbouncer: `url` in transaction mode,
    `session_url` in session mode; `bouncer` for its admin console."""

    bouncer: LocalPgbouncer
    direct: str
    url: str
    session_url: str
    user: str
    password: str

    def admin(self, command: str) -> list[dict[str, object]]:
        """A SHOW command of pgbouncer's admin console, as rows of dicts."""
        connection = psycopg2.connect(
            host="127.0.0.1",
            port=self.bouncer.port,
            user=self.user,
            password=self.password,
            dbname="pgbouncer",
        )
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(command)
                names = [column.name for column in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            connection.close()


@pytest.fixture(scope="module")
def pooled(database_url: str) -> Iterator[Pooled]:
    try:
        find_program()
    except PgbouncerError as missing:
        pytest.skip(str(missing))
    server = make_url(database_url)
    if not server.password or server.host not in (None, "127.0.0.1", "localhost"):
        # pgbouncer signs in to PostgreSQL with the client's password, and its auth file needs
        # it: a DATABASE_URL without one (peer or trust sign-in) cannot be fronted by it here.
        pytest.skip("DATABASE_URL names no password on this machine: pgbouncer cannot sign in")
    with scratch_database(database_url) as direct, server_directory("open311-pgb-") as root:
        name = make_url(direct).database
        target = f"host=127.0.0.1 port={server.port} dbname={name}"
        bouncer = LocalPgbouncer(
            root / "pgbouncer",
            free_port(),
            databases={name: target, f"{name}_session": f"{target} pool_mode=session"},
            users={server.username: server.password},
            pool_size=POOL_SIZE,
            admin_users=[server.username],
        )
        bouncer.up()
        try:
            yield Pooled(
                bouncer,
                direct,
                bouncer.url(server.username, server.password, name),
                bouncer.url(server.username, server.password, f"{name}_session"),
                server.username,
                server.password,
            )
        finally:
            bouncer.stop()
