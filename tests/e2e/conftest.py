"""One demo server for the README modules that only read it or write what the others never look at.

Seeding the three demo cities (Los Angeles with its MyLA311 history) and starting gunicorn is the
slowest setup of the suite, so test_readme, test_readme_articles, _hotspots, _languages and _stats
share one database and one `open311 serve` per pytest worker, and all run on the same worker
(their `xdist_group`, see pyproject's `--dist loadgroup`). What their scripts write does not
disturb the others' checks: new requests land in the present (the statistics and hotspots they
check are of 2017-2023), the translation lines put back what they change (a PUT then a DELETE, an
export imported again), and the users they create have names of their own.

The modules that count rows the others would add (contacts, the knowledge base's revisions, the
staff figures, the monthly report) keep a database of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from open311.db.session import make_engine, make_session_factory
from open311.demo.austin import seed_austin
from open311.demo.new_york import seed_new_york
from open311.demo.seed import seed_demo_city
from open311.domain import staff
from open311.values import StaffRole
from tests.e2e.helpers import ReadmeDemo, gunicorn
from tests.factories import make_api_key
from tests.helpers import scratch_database


@pytest.fixture(scope="session")
def readme_demo(database_url: str, tmp_path_factory) -> Iterator[ReadmeDemo]:
    """The three demo cities, as `make run` seeds them, served by gunicorn as `make run` serves
    them, with the demo API key in the working directory and a call-taker of Austin."""
    workdir = tmp_path_factory.mktemp("readme")
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            seed_demo_city(session)
            seed_new_york(session)
            austin = seed_austin(session)
            key = make_api_key(session, "readme")
            user = staff.create_user(
                session,
                "lee",
                password="desk phone 512 311",
                role=StaffRole.call_taker,
                jurisdictions=[austin],
            )
            # Long enough for any order of the session's tests.
            _token, plain = staff.issue_token(
                session, user, now=datetime.now(UTC), lifetime=timedelta(hours=12)
            )
            session.commit()
        engine.dispose()
        (workdir / "var").mkdir()
        (workdir / "var" / "demo-api-key").write_text(key + "\n")
        with gunicorn(url, workdir, as_make_run=True) as base:
            yield ReadmeDemo(base, workdir, url, plain)
