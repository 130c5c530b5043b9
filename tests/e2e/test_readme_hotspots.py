"""The README's Hotspots lines work as printed, through gunicorn, on the Los Angeles and New York
demo cities: real repeated reports make real hotspots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.helpers import README_DEMO_GROUP, ReadmeDemo
from tests.e2e.test_readme import run
from tests.e2e.test_readme_languages import STRICT, subsection_blocks

pytestmark = README_DEMO_GROUP


@pytest.fixture
def demo(readme_demo: ReadmeDemo) -> tuple[str, Path]:
    """Los Angeles with its history and New York (tests/e2e/conftest.py)."""
    return readme_demo.base, readme_demo.workdir


def test_the_hotspot_lines(demo):
    base, workdir = demo
    (block,) = subsection_blocks("Hotspots")
    assert block.count("curl ") == 3
    # Each document on a line of its own, so that they can be told apart.
    result = run(STRICT + block.replace("curl -s ", "echo; curl -s "), base, workdir)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    graffiti, heat, downtown = (json.loads(line) for line in result.stdout.split("\n") if line)

    # Los Angeles, January 2020: walls tagged ten times and more.
    counts = [f["properties"]["count"] for f in graffiti["features"]]
    assert 1 <= len(counts) <= 5 and counts == sorted(counts, reverse=True)
    assert all(count >= 10 for count in counts)
    assert counts[0] >= 25  # 32 within 104 m of one point downtown when written
    for feature in graffiti["features"]:
        assert feature["properties"]["service_codes"] == {
            "GRAFFITI": feature["properties"]["count"]
        }
        assert feature["properties"]["first_requested_datetime"].startswith("2020-01")
        long, lat = feature["geometry"]["coordinates"]
        assert -118.7 < long < -118.1 and 33.7 < lat < 34.4
    assert graffiti["requests_considered"] > 1000

    # New York City, 2023-02-28: buildings without heat called in several times.
    assert heat["features"], heat
    assert heat["features"][0]["properties"]["count"] >= 12  # 15 at one Bronx address
    for feature in heat["features"]:
        assert feature["properties"]["count"] >= 3
        assert feature["properties"]["radius_m"] <= 60
        long, lat = feature["geometry"]["coordinates"]
        assert -74.3 < long < -73.6 and 40.4 < lat < 41.0

    assert downtown["type"] == "FeatureCollection"
    assert downtown["radius_m"] == 100 and downtown["min_requests"] == 5
