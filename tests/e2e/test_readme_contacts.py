"""The README's contacts lines (recording and ending calls, the supervisor's list, a switch's
call-detail records imported twice) work as printed, against `open311 serve` with the Austin
demo city and its knowledge base."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from open311.db.models import AuditEntry, Contact
from open311.db.session import make_engine, make_session_factory
from open311.demo.austin import seed_austin
from tests.e2e.helpers import gunicorn
from tests.e2e.test_readme import run
from tests.e2e.test_readme_kb import section_blocks
from tests.helpers import scratch_database

SECTION = "### Contacts: every call, chat and walk-in"


@pytest.fixture(scope="module")
def austin(database_url: str, tmp_path_factory) -> Iterator[tuple[str, Path, str]]:
    workdir = tmp_path_factory.mktemp("readme-contacts")
    with scratch_database(database_url) as url:
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            seed_austin(session).is_default = True
            session.commit()
        engine.dispose()
        with gunicorn(url, workdir, as_make_run=True) as base:
            yield base, workdir, url


def test_the_contacts_lines_work_as_printed(austin):
    base, workdir, url = austin
    script = "\n".join(section_blocks(SECTION))
    assert script.count("curl ") >= 6
    script = script.replace("http://127.0.0.1:5311/api/v1", base.replace("/open311/v2", "/api/v1"))
    result = run("set -euo pipefail\n" + script, base, workdir, url)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert '"code":' not in out, out
    documents = [json.loads(line) for line in out.splitlines() if line.startswith(("{", "["))]
    ended = next(d for d in documents if isinstance(d, dict) and d.get("hold_seconds") == 25)
    assert ended["article_ids"] == ["bulk-item-pickup"] and ended["ended_at"] is not None
    assert "caller_phone" not in ended  # the call-taker's answer
    listed = next(d for d in documents if isinstance(d, list))
    assert [item["caller_phone"] for item in listed] == ["+1 512 555 0142"]
    assert "3 rows, 3 new, 0 updated, 0 unchanged" in out
    assert "3 rows, 0 new, 0 updated, 3 unchanged" in out
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        calls = session.scalars(select(Contact).order_by(Contact.id)).all()
        assert len(calls) == 5
        assert [c.external_id for c in calls if c.external_id] == [
            "ACD-20261130-0001",
            "ACD-20261130-0002",
            "ACD-20261130-0003",
        ]
        reads = session.scalars(select(AuditEntry).where(AuditEntry.method == "GET")).all()
        assert [entry.fields for entry in reads] == [["caller_phone"]]
    engine.dispose()
    # The number was never logged.
    logs = "".join(path.read_text(errors="replace") for path in workdir.glob("*.log"))
    assert "555 0142" not in logs and "5550142" not in logs
