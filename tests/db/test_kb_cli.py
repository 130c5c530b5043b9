"""`open311 kb import/export` and `open311 user create --role editor`, on a database of its
own: a document in, the same document out, a bad one refused whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from open311.cli import main
from open311.db.models import Article, AuditEntry, StaffUser
from open311.db.session import make_engine, make_session_factory
from tests.db.test_kb_exchange import document
from tests.factories import make_jurisdiction, make_service
from tests.helpers import scratch_database


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    with scratch_database(database_url) as scratch:
        engine = make_engine(scratch)
        with make_session_factory(engine)() as session:
            austin = make_jurisdiction(
                session, jurisdiction_id="austintexas.gov", name="Austin", is_default=True
            )
            make_service(session, austin, "BULKY-ITEM")
            other = make_jurisdiction(session, jurisdiction_id="other.example", name="Other")
            make_service(session, other, "BULKY-ITEM")
            session.commit()
        engine.dispose()
        yield scratch


@pytest.fixture
def count(url):
    engine = make_engine(url)

    def counted(model, **where) -> int:
        with make_session_factory(engine)() as session:
            query = select(func.count()).select_from(model)
            for name, value in where.items():
                query = query.where(getattr(model, name) == value)
            return session.scalar(query)

    yield counted
    engine.dispose()


def cli(url: str, *args: str) -> Result:
    env = {"DATABASE_URL": url, "OPEN311_NEW_USER_PASSWORD": "a long enough password"}
    return CliRunner().invoke(main, list(args), env=env)


def test_import_export_and_import_again(url, count, tmp_path: Path):
    source = tmp_path / "austin.yaml"
    source.write_text(yaml.safe_dump(document(), allow_unicode=True), encoding="utf-8")
    loaded = cli(url, "kb", "import", str(source), "--actor", "h5")
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output.startswith("imported into austintexas.gov: topics created 2,")
    assert "articles created 3" in loaded.output
    assert count(AuditEntry, actor="import:h5", route="kb import") == 1

    exported = cli(url, "kb", "export", "--format", "json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output) == document() | {"locales": ["en"]}
    as_yaml = cli(url, "kb", "export")
    assert yaml.safe_load(as_yaml.output) == document() | {"locales": ["en"]}

    copy = tmp_path / "copy.json"
    written = cli(url, "kb", "export", "--output", str(copy))
    assert written.exit_code == 0, written.output
    assert json.loads(copy.read_text(encoding="utf-8"))["format"] == "open311-kb/1"
    into_other = cli(url, "kb", "import", str(copy), "--jurisdiction", "other.example")
    assert into_other.exit_code == 0, into_other.output
    other = cli(url, "kb", "export", "--jurisdiction", "other.example", "--format", "json")
    assert json.loads(other.output) == json.loads(exported.output)

    again = cli(url, "kb", "import", str(source), "--actor", "h5")
    assert "articles unchanged 3" in again.output and "revisions 0" in again.output


def test_a_bad_file_imports_nothing_and_lists_every_problem(url, count, tmp_path: Path):
    bad = document()
    bad["articles"][0]["article_id"] = "Not A Slug"
    bad["articles"][1]["variants"]["en"]["title"] = None
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    before = count(Article)
    refused = cli(url, "kb", "import", str(path), "--jurisdiction", "other.example")
    assert refused.exit_code == 1
    assert refused.output.splitlines()[1:] == [
        "  articles[0].article_id: 1 to 100 lower-case letters, digits or '-'",
        "  articles[1].variants.en.title: required",
    ]
    assert count(Article) == before
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [", encoding="utf-8")
    assert "not YAML" in cli(url, "kb", "import", str(broken)).output
    unknown = cli(url, "kb", "import", str(path), "--jurisdiction", "nowhere.example")
    assert unknown.exit_code == 1 and "nowhere.example not found" in unknown.output
    assert cli(url, "kb", "import", str(tmp_path / "missing.yaml")).exit_code == 2


def test_user_create_makes_an_editor(url, count):
    made = cli(url, "user", "create", "writer", "--role", "editor")
    assert made.exit_code == 0, made.output
    assert made.output.strip() == "created editor writer of austintexas.gov"
    assert count(StaffUser, username="writer", role="editor") == 1
