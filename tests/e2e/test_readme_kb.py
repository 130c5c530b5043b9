"""The README's knowledge-base lines (writing, recording a call, the whole base in and out) work
as printed, against `open311 serve` with the Austin demo city and its knowledge base."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from open311.db.session import make_engine, make_session_factory
from open311.demo.austin import seed_austin
from tests.e2e.helpers import gunicorn
from tests.e2e.test_readme import README, run
from tests.helpers import scratch_database

SECTIONS = (
    "### Writing the knowledge base: editors, revisions, publishing",
    "### During a call: search and record the answer",
    "### A whole knowledge base in and out: JSON, YAML",
)


def section_blocks(title: str) -> list[str]:
    body = README.split(title, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", body, flags=re.S)


@pytest.fixture(scope="module")
def austin(database_url: str, tmp_path_factory) -> Iterator[tuple[str, Path, str]]:
    workdir = tmp_path_factory.mktemp("readme-kb")
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            seed_austin(session).is_default = True
            session.commit()
        engine.dispose()
        with gunicorn(url, workdir, as_make_run=True) as base:
            yield base, workdir, url


def test_the_knowledge_base_lines_work_as_printed(austin):
    base, workdir, url = austin
    script = "\n".join(block for title in SECTIONS for block in section_blocks(title))
    assert script.count("curl ") >= 14
    script = script.replace("http://127.0.0.1:5311/api/v1", base.replace("/open311/v2", "/api/v1"))
    result = run("set -uo pipefail\n" + script, base, workdir, url)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert '"code":400' not in out and '"code":401' not in out and '"code":409' not in out, out
    documents = [json.loads(line) for line in out.splitlines() if line.startswith(("{", "["))]
    articles = [d for d in documents if isinstance(d, dict) and d.get("article_id")]
    created = next(d for d in articles if d.get("variants", {}).get("en"))
    assert created["variants"]["en"]["body"].startswith("<p>Dogs and cats over <strong>")
    sanitised = next(d for d in articles if "es" in d.get("variants", {}))
    assert sanitised["variants"]["es"]["body"] == "<p>Perros y gatos </p>"
    assert any(d.get("state") == "published" for d in articles)
    revisions = next(d for d in documents if isinstance(d, list) and d and "number" in d[0])
    assert [r["action"] for r in revisions] == [
        "publish",
        "update",
        "translate",
        "translate",
        "create",
    ]
    assert "\n403\n" in f"\n{out}"  # the editor asking for a request
    answer = next(d for d in articles if "answered_at" in d)
    assert (answer["locale"], answer["service_request_id"]) == ("es", None)
    imported = next(d for d in documents if isinstance(d, dict) and "revisions" in d)
    assert imported["revisions"] == 0 and imported["articles_created"] == 0
    assert (workdir / "austintexas.gov-knowledge-base.yaml").is_file()
    assert "imported into austintexas.gov: topics created 0," in out
    assert out.rstrip().endswith("revisions 0")
