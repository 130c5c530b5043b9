"""The README's monthly report lines work as printed: `open311 report` on the Los Angeles demo
catalogue with a few November 2026 requests and contacts, in a database of its own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from open311.db.models import Contact, Jurisdiction, Service
from open311.db.session import make_engine, make_session_factory
from open311.demo.seed import seed_demo_city
from open311.values import ContactChannel
from tests.e2e.test_readme import run
from tests.e2e.test_readme_kb import section_blocks
from tests.factories import make_request
from tests.helpers import scratch_database

SECTION = "### Charts and the monthly report"
LA = ZoneInfo("America/Los_Angeles")


@pytest.fixture(scope="module")
def los_angeles(database_url: str, tmp_path_factory) -> Iterator[tuple[Path, str]]:
    workdir = tmp_path_factory.mktemp("readme-report")
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            seed_demo_city(session, with_history=False)
            city = session.scalars(
                select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "lacity.org")
            ).one()
            services = session.scalars(select(Service).where(Service.jurisdiction_id == city.id))
            for n, service in enumerate(list(services)[:5]):
                at = datetime(2026, 11, 2 + n, 10, tzinfo=LA).astimezone(UTC)
                make_request(session, service, requested_datetime=at, updated_datetime=at)
            for n in range(20):
                queued = datetime(2026, 11, 3 + n, 9, tzinfo=LA).astimezone(UTC)
                session.add(
                    Contact(
                        jurisdiction_id=city.id,
                        channel=ContactChannel.phone,
                        queued_at=queued,
                        answered_at=queued + timedelta(seconds=n * 3),
                        ended_at=queued + timedelta(minutes=4),
                    )
                )
            session.commit()
        engine.dispose()
        yield workdir, url


def test_the_report_lines_work_as_printed(los_angeles):
    workdir, url = los_angeles
    (script,) = section_blocks(SECTION)
    assert script.count("open311 report") == 4
    result = run("set -euo pipefail\n" + script, "http://unused", workdir, url)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        r"la-2026-11\.pdf: pdf, [\d,]+ bytes, City of Los Angeles, 2026-11", lines[0]
    )
    assert lines[1].startswith("la-2026-11.html: html, ")
    assert lines[2] == "6"
    assert re.fullmatch(r"report-lacity\.org-\d{4}-\d{2}\.pdf: pdf, .*", lines[3])
    pdf = (workdir / "la-2026-11.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and len(re.findall(rb"/Type /Page\b", pdf)) == 8
    html = (workdir / "la-2026-11.html").read_text()
    assert "City of Los Angeles: 311 in November 2026" in html
    assert html.count("<svg") == 6
