"""`open311 db upgrade REVISION`, `open311 apikey create/check` and `open311 request locate`, run
through the `open311` entry point on databases of their own (the commands commit)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import psycopg2
import pytest
from click.testing import CliRunner, Result
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy.engine import make_url

from open311.cli import main
from open311.db.cluster import free_port
from open311.db.migrate import upgrade
from open311.db.session import make_engine, make_session_factory
from open311.values import CrewKind, WorkOrderState
from tests.factories import (
    make_agency,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_request,
    make_rule,
    make_service,
    make_work_order,
)
from tests.helpers import empty_database


def connect(url: str):
    parsed = make_url(url)
    params = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    return psycopg2.connect(**{k: v for k, v in params.items() if v is not None})


def query(url: str, sql: str, *params: object) -> list[tuple]:
    with closing(connect(url)) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows


def open311(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": url})


def head_revision(url: str) -> str:
    from alembic.script import ScriptDirectory

    from open311.db.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


# --- db upgrade -----------------------------------------------------------------------------


def test_db_upgrade_goes_to_the_revision_asked_then_to_head(database_url):
    with empty_database(database_url) as url:
        partial = open311(url, "db", "upgrade", "0003")
        assert partial.exit_code == 0, partial.output
        assert partial.output == "database migrated to 0003\n"
        assert query(url, "SELECT version_num FROM alembic_version") == [("0003",)]
        assert query(url, "SELECT to_regclass('service_request') IS NOT NULL") == [(True,)]
        # staff_user comes with 0004.
        assert query(url, "SELECT to_regclass('staff_user') IS NULL") == [(True,)]

        full = open311(url, "db", "upgrade")
        assert full.exit_code == 0, full.output
        assert full.output == "database migrated to head\n"
        assert query(url, "SELECT version_num FROM alembic_version") == [(head_revision(url),)]
        assert query(url, "SELECT to_regclass('staff_user') IS NOT NULL") == [(True,)]


def test_db_upgrade_refuses_what_it_cannot_do_and_changes_nothing(database_url):
    with empty_database(database_url) as url:
        unknown = open311(url, "db", "upgrade", "9999")
        assert (unknown.exit_code, unknown.output) == (
            1,
            "Error: Can't locate revision identified by '9999'\n",
        )
        assert query(url, "SELECT to_regclass('alembic_version') IS NULL") == [(True,)]

        assert open311(url, "db", "upgrade", "0004").exit_code == 0
        backwards = open311(url, "db", "upgrade", "0002")
        assert (backwards.exit_code, backwards.output) == (
            1,
            "Error: the database is at revision 0004, past 0002: upgrade never goes back\n",
        )
        assert query(url, "SELECT version_num FROM alembic_version") == [("0004",)]
        again = open311(url, "db", "upgrade", "0004")
        assert (again.exit_code, again.output) == (0, "database migrated to 0004\n")

    closed_port = make_url(database_url).set(port=free_port(), database="nowhere")
    unreachable = open311(closed_port.render_as_string(False), "db", "upgrade")
    assert unreachable.exit_code == 1
    assert unreachable.output.startswith("Error: cannot reach the database: ")
    assert "Traceback" not in unreachable.output and unreachable.output[-1] == "\n"


# --- a migrated database with a small town ------------------------------------------------------


@dataclass
class Town:
    url: str
    # Two address-only requests, each with its work order at the triage desk: one the refusals
    # leave alone, one to locate.
    refused_id: str
    located_id: str
    desk_id: int
    east_id: int


@pytest.fixture(scope="module")
def town(database_url: str) -> Iterator[Town]:
    """Two council districts side by side inside the service area; an agency with a triage
    desk and a field crew per district; address-only requests whose work orders are at the
    desk."""
    with empty_database(database_url) as url:
        upgrade(url)
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            area = from_shape(MultiPolygon([box(-118.3, 34.0, -118.1, 34.1)]), srid=4326)
            la = make_jurisdiction(session, service_area=area)
            layer = make_boundary_layer(session, la, "council_districts")
            west = make_district(session, layer, "14", (-118.3, 34.0, -118.2, 34.1))
            east = make_district(session, layer, "15", (-118.2, 34.0, -118.1, 34.1))
            lasan = make_agency(session, la, "LASAN", name="Sanitation")
            desk = make_crew(session, lasan, "DESK", CrewKind.triage)
            make_crew(session, lasan, "WEST", districts=[west])
            east_crew = make_crew(session, lasan, "EAST", districts=[east])
            service = make_service(session, la, "BULKY", agency_responsible="Sanitation")
            make_rule(session, service, lasan, layer_id=layer.id)
            ids = []
            for _ in range(2):
                request = make_request(session, service, lat=None, long=None, needs_location=True)
                make_work_order(session, request, lasan, crew=desk, state=WorkOrderState.assigned)
                ids.append(request.service_request_id)
            session.commit()
            found = Town(url, *ids, desk.id, east_crew.id)
        engine.dispose()
        yield found


def sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# --- apikey create / check ----------------------------------------------------------------------


def test_apikey_create_prints_a_key_once_that_check_accepts(town):
    created = open311(town.url, "apikey", "create", "Street Fixers")
    assert created.exit_code == 0, created.output
    key = created.output.removesuffix("\n")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key), created.output

    rows = query(
        town.url,
        "SELECT key_hash, key_prefix, active FROM api_client WHERE name = 'Street Fixers'",
    )
    # Only the hash is kept (and a prefix to tell keys apart), never the key.
    assert rows == [(sha256(key), key[:8], True)]
    stored = query(town.url, "SELECT api_client::text FROM api_client")
    assert all(key not in row for (row,) in stored)

    checked = open311(town.url, "apikey", "check", "--", key)
    assert checked.exit_code == 0, checked.output
    assert checked.output == "active key of Street Fixers\n"


def test_each_apikey_create_is_a_new_client_with_its_own_key(town):
    first = open311(town.url, "apikey", "create", "Twin").output.strip()
    second = open311(town.url, "apikey", "create", "Twin").output.strip()
    assert first != second
    rows = query(town.url, "SELECT key_hash FROM api_client WHERE name = 'Twin' ORDER BY id")
    assert rows == [(sha256(first),), (sha256(second),)]
    for key in (first, second):
        assert open311(town.url, "apikey", "check", "--", key).output == "active key of Twin\n"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("not-a-key-anyone-was-given", "api_key not recognised"),
        ("", "api_key was not provided"),
    ],
)
def test_apikey_check_refuses_an_unknown_key(town, key, message):
    result = open311(town.url, "apikey", "check", "--", key)
    assert result.exit_code == 1
    assert result.output == f"Error: {message}\n"


def test_apikey_check_refuses_a_disabled_key_and_a_near_miss(town):
    key = open311(town.url, "apikey", "create", "Retired").output.strip()
    near_miss = key[:-1] + ("A" if key[-1] != "A" else "B")
    result = open311(town.url, "apikey", "check", "--", near_miss)
    assert (result.exit_code, result.output) == (1, "Error: api_key not recognised\n")

    query(town.url, "UPDATE api_client SET active = false WHERE name = 'Retired'")
    result = open311(town.url, "apikey", "check", "--", key)
    assert (result.exit_code, result.output) == (1, "Error: api_key not recognised\n")


# --- request locate -----------------------------------------------------------------------------


def request_state(town: Town, request_id: str) -> tuple:
    """(lat, long, needs_location, the work order's crew, its state) of a request."""
    (row,) = query(
        town.url,
        "SELECT ST_Y(r.location), ST_X(r.location), r.needs_location, w.crew_id, w.state "
        "FROM service_request r JOIN work_order w ON w.service_request_pk = r.id "
        "WHERE r.service_request_id = %s",
        request_id,
    )
    return row


def activity_kinds(town: Town, request_id: str) -> list[tuple]:
    return query(
        town.url,
        "SELECT a.kind, a.actor FROM activity a JOIN service_request r "
        "ON r.id = a.service_request_pk WHERE r.service_request_id = %s ORDER BY a.id",
        request_id,
    )


def test_request_locate_refusals_change_nothing(town):
    before = (request_state(town, town.refused_id), activity_kinds(town, town.refused_id))
    assert before[0] == (None, None, True, town.desk_id, "assigned")

    outside = open311(
        town.url, "request", "locate", town.refused_id, "--lat", "40.7128", "--long", "-74.006"
    )
    assert outside.exit_code == 1
    assert outside.output == (
        "Error: the location 40.7128,-74.006 is outside the service area of Los Angeles\n"
    )

    unknown = open311(
        town.url, "request", "locate", "999999", "--lat", "34.05", "--long", "-118.25"
    )
    assert unknown.exit_code == 1
    assert unknown.output == "Error: service_request_id 999999 not found\n"

    no_long = open311(town.url, "request", "locate", town.refused_id, "--lat", "34.05")
    assert no_long.exit_code == 2
    assert "Missing option '--long'" in no_long.output

    not_a_number = open311(
        town.url, "request", "locate", town.refused_id, "--lat", "north", "--long", "-118.25"
    )
    assert not_a_number.exit_code == 2
    assert "'north' is not a valid float" in not_a_number.output

    assert (request_state(town, town.refused_id), activity_kinds(town, town.refused_id)) == before


def test_request_locate_with_an_unknown_jurisdiction_says_so(town):
    result = open311(
        town.url,
        "request",
        "locate",
        town.refused_id,
        "--lat",
        "34.05",
        "--long",
        "-118.15",
        "--jurisdiction",
        "nowhere.example.org",
    )
    assert result.exit_code == 1
    assert result.output == "Error: jurisdiction_id nowhere.example.org not found\n"


def test_request_locate_places_the_request_and_hands_it_to_its_district_crew(town):
    located = open311(
        town.url,
        "request",
        "locate",
        town.located_id,
        "--lat",
        "34.05",
        "--long",
        "-118.15",
        "--jurisdiction",
        "lacity.org",
    )
    assert located.exit_code == 0, located.output
    assert located.output == "located; districts: 15\n"

    assert request_state(town, town.located_id) == (34.05, -118.15, False, town.east_id, "assigned")
    placed = query(
        town.url,
        "SELECT l.name, d.name FROM request_district x "
        "JOIN service_request r ON r.id = x.service_request_pk "
        "JOIN boundary_layer l ON l.id = x.layer_id JOIN district d ON d.id = x.district_id "
        "WHERE r.service_request_id = %s",
        town.located_id,
    )
    assert placed == [("council_districts", "15")]
    assert activity_kinds(town, town.located_id)[-2:] == [
        ("located", "cli"),
        ("work_order_rerouted", "cli"),
    ]


def test_commands_run_without_the_web_apps_statement_timeouts(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A seed's COPY or a backfill may take minutes: the commands' sessions have no statement
    or idle-in-transaction timeout, whatever the web app's settings say (a 1M seed's COPY was
    cancelled at 5 s when the machine was busy)."""
    from sqlalchemy import text

    from open311.commands import app_session

    monkeypatch.setenv("OPEN311_STATEMENT_TIMEOUT_MS", "50")
    monkeypatch.setenv("OPEN311_IDLE_IN_TRANSACTION_TIMEOUT_MS", "50")
    monkeypatch.setenv("DATABASE_URL", database_url)
    app = main.create_app()
    with app.app_context(), app_session() as session:
        assert session.execute(text("SHOW statement_timeout")).scalar() == "0"
        assert session.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "0"
        session.execute(text("SELECT pg_sleep(0.2)"))
