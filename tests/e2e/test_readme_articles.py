"""The README's lines of "Articles: the public API and search" and the call-takers' search line
of "During a call" work as printed, against `open311 serve` on the Los Angeles and Austin demo
knowledge bases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.helpers import README_DEMO_GROUP, ReadmeDemo
from tests.e2e.test_readme import README, run

STRICT = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
ARTICLES = "Articles: the public API and search"


def subsection(title: str) -> str:
    return README.split(f"\n### {title}", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def sh_blocks(title: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", subsection(title), flags=re.S)


pytestmark = README_DEMO_GROUP


@pytest.fixture
def demo(readme_demo: ReadmeDemo) -> tuple[str, Path, str]:
    """The demo cities' knowledge bases (tests/e2e/conftest.py), a call-taker's token for $C."""
    return readme_demo.base, readme_demo.workdir, readme_demo.call_taker_token


def test_the_article_lines(demo):
    base, workdir, _token = demo
    block = sh_blocks(ARTICLES)[0]
    result = run(STRICT + block, base, workdir)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert out.startswith('[{"article_id":"trash-recycling-pickup"')  # "recyling pickup day"
    assert "<article_id>hazardous-waste-dropoff</article_id>" in out  # "hazardus waste"
    assert '"title":"Busque sus días de recolección de basura, reciclaje y compost"' in out
    assert '"title":"Chuẩn bị cho việc bốc rác khối để lề đường"' in out  # no diacritics typed
    assert '"article_id":"compost-pickup"' in out and '"dir":"rtl"' in out  # Arabic
    assert re.search(r"(?i)x-total-count: 6", out)  # the health-safety theme
    assert re.search(r'(?i)link: <[^>]*page=2>; rel="next"', out)
    assert "<locale>ar</locale><dir>rtl</dir>" in out
    assert re.search(r"(?i)content-language: en", out)  # bat-safety has no Spanish


def test_the_article_error_lines(demo):
    base, workdir, _token = demo
    block = sh_blocks(ARTICLES)[1]
    lines = [line for line in block.splitlines() if line.startswith("curl ")]
    assert len(lines) == 4
    for line in lines:
        expected = re.search(r"#\s*(\d{3})", line).group(1)
        command = line.split("#", 1)[0].replace(
            "curl -s ", "curl -s -o /dev/null -w '%{http_code}' "
        )
        result = run(f"B={base}\n{command}", base, workdir)
        assert result.stdout == expected, (line, result.stdout, result.stderr)


def test_the_call_takers_search_line(demo):
    base, workdir, token = demo
    (line,) = [
        line
        for block in sh_blocks("During a call: search and record the answer")
        for line in block.splitlines()
        if "/article-search" in line
    ]
    staff_base = base.replace("/open311/v2", "/api/v1")
    result = run(f"S={staff_base}\nC={token}\n" + STRICT + line, base, workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["locale"] == "es"
    assert answer["articles"][0]["article_id"] == "trash-recycling-pickup"
