"""The README's lines of "Articles: the public API and search" and the call-takers' search line
of "During a call" work as printed, against `open311 serve` on the Los Angeles and Austin demo
knowledge bases."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from open311.db.session import make_engine, make_session_factory
from open311.demo.austin import seed_austin
from open311.demo.seed import seed_demo_city
from open311.domain import staff
from open311.values import StaffRole
from tests.e2e.helpers import gunicorn
from tests.e2e.test_readme import README, run
from tests.helpers import scratch_database

STRICT = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
ARTICLES = "Articles: the public API and search"


def subsection(title: str) -> str:
    return README.split(f"\n### {title}", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]


def sh_blocks(title: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", subsection(title), flags=re.S)


@pytest.fixture(scope="module")
def demo(database_url: str, tmp_path_factory) -> Iterator[tuple[str, Path, str]]:
    """Both demo cities without Los Angeles' history, a call-taker's token in $C."""
    workdir = tmp_path_factory.mktemp("readme-articles")
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            seed_demo_city(session, with_history=False)
            austin = seed_austin(session)
            user = staff.create_user(
                session,
                "lee",
                password="desk phone 512 311",
                role=StaffRole.call_taker,
                jurisdictions=[austin],
            )
            _token, plain = staff.issue_token(
                session, user, now=datetime.now(UTC), lifetime=timedelta(hours=1)
            )
            session.commit()
        engine.dispose()
        with gunicorn(url, workdir, as_make_run=True) as base:
            yield base, workdir, plain


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
