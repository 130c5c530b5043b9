"""`open311 jurisdiction create/list/default` and `user create --jurisdiction`, on a database of
its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from open311.cli import main
from open311.db import catalogue_queries, staff_queries
from open311.db.session import make_engine, make_session_factory
from open311.domain import jurisdictions
from tests.factories import make_jurisdiction
from tests.helpers import scratch_database


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as scratch:
        engine = make_engine(scratch)
        with make_session_factory(engine)() as session:
            make_jurisdiction(session)  # lacity.org, as a single-city install has it
            session.commit()
        engine.dispose()
        yield scratch


def cli(url: str, *args: str) -> Result:
    env = {"DATABASE_URL": url, "OPEN311_NEW_USER_PASSWORD": "a long enough password"}
    return CliRunner().invoke(main, list(args), env=env)


def test_create_list_default_and_users_of_a_city(url, tmp_path: Path):
    area = tmp_path / "manhattan.geojson"
    ring = [[-74.02, 40.70], [-73.93, 40.70], [-73.93, 40.88], [-74.02, 40.88], [-74.02, 40.70]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    feature = {"type": "Feature", "properties": {}, "geometry": geometry}
    area.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))

    created = cli(
        url,
        *("jurisdiction", "create", "nyc.gov", "--name", "New York City"),
        *("--timezone", "America/New_York", "--service-area", str(area)),
        *("--contact", "NYC 311"),
    )
    assert created.exit_code == 0, created.output
    listed = cli(url, "jurisdiction", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["lacity.org", "UTC", "Los", "Angeles"]
    assert lines[1].split() == ["nyc.gov", "America/New_York", "New", "York", "City"]

    bad = cli(url, "jurisdiction", "create", "x.gov", "--name", "X", "--timezone", "Nowhere/City")
    assert bad.exit_code == 1 and "time_zone" in bad.output
    again = cli(url, "jurisdiction", "create", "nyc.gov", "--name", "Y", "--timezone", "UTC")
    assert again.exit_code == 1 and "exists" in again.output

    # Two cities and no default: a user must be given theirs; then one is made the default.
    unnamed = cli(url, "user", "create", "nina", "--role", "supervisor")
    assert unnamed.exit_code == 1 and "jurisdiction" in unnamed.output
    named = cli(url, "user", "create", "nina", "--role", "supervisor", "--jurisdiction", "nyc.gov")
    assert named.exit_code == 0 and "of nyc.gov" in named.output
    assert cli(url, "jurisdiction", "default", "lacity.org").exit_code == 0
    assert cli(url, "jurisdiction", "list").output.startswith("* lacity.org")
    later = cli(url, "user", "create", "leo", "--role", "call_taker")
    assert later.exit_code == 0 and "of lacity.org" in later.output

    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        nyc = catalogue_queries.get_jurisdiction(session, "nyc.gov")
        assert nyc.service_area is not None and nyc.contact == "NYC 311"
        assert jurisdictions.resolve(session, None).jurisdiction_id == "lacity.org"
        nina = staff_queries.get_staff_user(session, "nina")
        assert [city.jurisdiction_id for city in nina.jurisdictions] == ["nyc.gov"]
    engine.dispose()
