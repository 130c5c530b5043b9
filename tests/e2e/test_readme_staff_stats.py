"""The README's call-centre and crew figures lines work as printed, against `open311 serve` with
the Los Angeles demo city, its synthetic demo contacts (open311/demo/contacts.py, as `make run`
seeds them) and a dozen work orders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from open311.db.models import Agency, ArticleAnswer, Contact, Jurisdiction, Service
from open311.db.session import make_engine, make_session_factory
from open311.demo.contacts import seed_demo_contacts
from open311.demo.seed import seed_demo_city
from open311.values import ContactChannel, WorkOrderState
from tests.e2e.helpers import gunicorn
from tests.e2e.test_readme import run
from tests.e2e.test_readme_kb import section_blocks
from tests.factories import make_request, make_work_order
from tests.helpers import scratch_database

SECTION = "### Call-centre and crew figures (staff)"


def seed_work_orders(session, city: Jurisdiction, now: datetime) -> None:
    """A dozen work orders of the last two weeks: 8 done (some late), 4 still open."""
    service = session.scalars(select(Service).where(Service.jurisdiction_id == city.id)).first()
    agency = session.scalars(select(Agency).where(Agency.jurisdiction_id == city.id)).first()
    request = make_request(session, service)
    for n in range(12):
        created = now - timedelta(days=n + 1)
        done = n % 3 != 0
        make_work_order(
            session,
            request,
            agency,
            state=WorkOrderState.done if done else WorkOrderState.assigned,
            created_at=created,
            updated_at=created,
            due_at=created + timedelta(days=2),
            closed_at=created + timedelta(days=n % 4) if done else None,
        )


@pytest.fixture(scope="module")
def los_angeles(database_url: str, tmp_path_factory) -> Iterator[tuple[str, Path, str]]:
    workdir = tmp_path_factory.mktemp("readme-staff-stats")
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            seed_demo_city(session, with_history=False)
            city = session.scalars(
                select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "lacity.org")
            ).one()
            now = datetime.now(UTC)
            seed_demo_contacts(session, now)  # what `make run` shows
            seed_work_orders(session, city, now)
            session.commit()
            # What the README's default range (13 weeks back from now) holds.
            offered = session.scalar(
                select(func.count())
                .select_from(Contact)
                .where(
                    Contact.jurisdiction_id == city.id,
                    Contact.queued_at >= now - timedelta(weeks=13),
                )
            )
            answers = session.scalar(
                select(func.count())
                .select_from(ArticleAnswer)
                .where(ArticleAnswer.jurisdiction_id == city.id)
            )
        engine.dispose()
        with gunicorn(url, workdir, as_make_run=True) as base:
            yield base, workdir, url, offered, answers


def test_the_staff_statistics_lines_work_as_printed(los_angeles):
    base, workdir, url, offered, answers = los_angeles
    assert offered > 1000 and answers > 0
    (script,) = section_blocks(SECTION)
    assert script.count("curl ") >= 7
    script = script.replace("http://127.0.0.1:5311/api/v1", base.replace("/open311/v2", "/api/v1"))
    result = run("set -euo pipefail\n" + script, base, workdir, url)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert '"code":' not in out, out[-3000:]
    documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    weekly, phones, articles, orders = documents
    assert weekly["period"] == "week" and weekly["group_by"] == "channel"
    # Contacts queued since the range began (the server's now is a moment later: none newer).
    assert weekly["total"]["offered"] == offered
    assert {row["group"] for row in weekly["totals"]} <= {c.value for c in ContactChannel}
    assert weekly["totals"][0]["group"] == "phone"
    assert 0 < weekly["total"]["service_level_pct"] <= 100
    assert phones["group_by"] == "language"
    assert sum(t["offered"] for t in phones["totals"]) == phones["total"]["offered"]
    assert 0 < len(articles["articles"]) <= 5 and articles["articles"][0]["title"]
    counts = [a["answers"] for a in articles["articles"]]
    assert counts == sorted(counts, reverse=True)
    assert orders["group_by"] == "agency" and orders["total"]["done"] == 8
    svg = (workdir / "service-level.svg").read_bytes()
    assert svg.lstrip().startswith((b"<?xml", b"<svg")) and b"Service level per day" in svg
    assert (workdir / "overdue.png").read_bytes().startswith(b"\x89PNG")
