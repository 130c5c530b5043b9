"""The README's call-centre and crew figures lines work as printed, against `open311 serve` with
the Los Angeles demo city, a few weeks of made-up contacts and some work orders."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from open311.db.models import Agency, Contact, Jurisdiction, Service
from open311.db.session import make_engine, make_session_factory
from open311.demo.seed import seed_demo_city
from open311.values import ContactChannel, ContactOutcome, WorkOrderState
from tests.e2e.helpers import gunicorn
from tests.e2e.test_readme import run
from tests.e2e.test_readme_kb import section_blocks
from tests.factories import make_request, make_work_order
from tests.helpers import scratch_database

SECTION = "### Call-centre and crew figures (staff)"
CONTACTS = 600


def seed_figures(session, city: Jurisdiction, now: datetime) -> None:
    """Three weeks of contacts (no caller data needed) and a dozen work orders."""
    pick = random.Random(311)
    for _ in range(CONTACTS):
        queued = now - timedelta(seconds=pick.uniform(60, 21 * 86400))
        contact = Contact(
            jurisdiction_id=city.id,
            channel=pick.choice(list(ContactChannel)),
            language=pick.choice(["en", "en", "es", "ko"]),
            queued_at=queued,
        )
        if pick.random() < 0.12:
            contact.abandoned = True
        else:
            contact.answered_at = queued + timedelta(seconds=pick.uniform(0, 90))
            contact.ended_at = contact.answered_at + timedelta(seconds=pick.uniform(60, 600))
            contact.outcome = pick.choice(list(ContactOutcome))
            contact.interpreter = contact.language == "ko"
        session.add(contact)
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
            seed_figures(session, city, datetime.now(UTC))
            session.commit()
        engine.dispose()
        with gunicorn(url, workdir, as_make_run=True) as base:
            yield base, workdir, url


def test_the_staff_statistics_lines_work_as_printed(los_angeles):
    base, workdir, url = los_angeles
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
    assert weekly["total"]["offered"] == CONTACTS
    assert {row["group"] for row in weekly["totals"]} == {c.value for c in ContactChannel}
    assert 0 < weekly["total"]["service_level_pct"] <= 100
    assert phones["group_by"] == "language"
    assert sum(t["offered"] for t in phones["totals"]) == phones["total"]["offered"]
    assert articles["articles"] == []  # nobody answered with an article in this demo
    assert orders["group_by"] == "agency" and orders["total"]["done"] == 8
    svg = (workdir / "service-level.svg").read_bytes()
    assert svg.lstrip().startswith((b"<?xml", b"<svg")) and b"Service level per day" in svg
    assert (workdir / "overdue.png").read_bytes().startswith(b"\x89PNG")
