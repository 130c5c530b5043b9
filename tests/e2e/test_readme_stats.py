"""The README's request-statistics lines work as printed, through gunicorn, on the Los Angeles
demo city (its MyLA311 history and recent requests): the first load, JSON, XML, CSV and a
chart, with figures that agree with the requests in the database."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.helpers import README_DEMO_GROUP, ReadmeDemo
from tests.e2e.test_readme import run
from tests.e2e.test_readme_languages import STRICT, subsection_blocks

pytestmark = README_DEMO_GROUP


@pytest.fixture
def demo(readme_demo: ReadmeDemo) -> tuple[str, Path, str]:
    """Los Angeles with its history and recent requests (tests/e2e/conftest.py)."""
    return readme_demo.base, readme_demo.workdir, readme_demo.url


def _opened(url: str, start: str, end: str) -> int:
    """Published requests of Los Angeles filed in [start, end) local time, from the rows."""
    engine = create_engine(url)
    with engine.connect() as connection:
        count = connection.scalar(
            text(
                "SELECT count(*) FROM service_request r JOIN service s ON s.id = r.service_id"
                " JOIN jurisdiction j ON j.id = r.jurisdiction_id"
                " WHERE j.jurisdiction_id = 'lacity.org' AND s.type <> 'blackbox'"
                " AND r.requested_datetime >= (CAST(:start AS timestamp) AT TIME ZONE j.time_zone)"
                " AND r.requested_datetime < (CAST(:end AS timestamp) AT TIME ZONE j.time_zone)"
            ),
            {"start": start, "end": end},
        )
    engine.dispose()
    return int(count)


def test_the_request_statistics_lines(demo):
    base, workdir, url = demo
    (block,) = subsection_blocks("Request statistics, open data")
    assert block.count("curl ") == 4 and "open311 stats refresh --full" in block
    marked = block.replace("curl -s ", "echo '@@'; curl -s ")
    result = run(STRICT + marked, base, workdir, url)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    load, by_district, by_channel, by_service, chart = result.stdout.split("@@\n")
    assert chart == ""  # written to backlog.svg
    assert "lacity.org: rebuilt " in load

    document = json.loads(by_district)
    assert document["group_by"] == "district" and document["layer"]
    assert document["refreshed_at"]
    figures = document["figures"]
    assert sum(f["opened"] for f in figures) == _opened(url, "2017-12-01", "2018-02-01") > 100
    assert len({f["group"] for f in figures}) >= 10  # council districts
    assert any(f["median_hours_to_close"] for f in figures)

    root = ET.fromstring(by_channel)
    assert root.tag == "request_statistics" and root.findtext("group_by") == "channel"
    assert sum(int(item.findtext("opened")) for item in root.find("figures")) > 0  # recent ones

    rows = list(csv.DictReader(io.StringIO(by_service)))
    assert rows and rows[0]["period_start"] >= "2019-12-30"
    assert sum(int(r["opened"]) for r in rows) == _opened(url, "2019-12-30", "2020-02-03")

    picture = ET.parse(workdir / "backlog.svg").getroot()
    assert picture.tag.endswith("svg")
    assert "Open backlog" in (workdir / "backlog.svg").read_text()
