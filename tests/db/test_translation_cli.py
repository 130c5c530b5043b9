"""`open311 jurisdiction create --locales/--default-locale`, `jurisdiction locales` and
`open311 translations export/import` (PO and XLIFF), on a database of their own."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from xml.etree import ElementTree

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner, Result
from defusedxml.ElementTree import fromstring
from sqlalchemy import select

from open311.cli import main
from open311.db import catalogue_queries
from open311.db.models import Translation
from open311.db.session import make_engine, make_session_factory
from open311.values import Datatype
from tests.factories import make_attribute, make_service
from tests.helpers import scratch_database


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    """A city made by the command, written in English and served in Spanish and Vietnamese,
    with one service whose definition has a list question."""
    with scratch_database(database_url) as scratch:
        made = cli(
            scratch,
            *("jurisdiction", "create", "austintexas.gov", "--name", "Austin"),
            *("--timezone", "America/Chicago", "--default"),
            *("--locales", "en, es,vi", "--default-locale", "en"),
        )
        assert made.exit_code == 0, made.output
        engine = make_engine(scratch)
        with make_session_factory(engine)() as session:
            city = catalogue_queries.get_jurisdiction(session, "austintexas.gov")
            assert (city.locales, city.default_locale) == (["en", "es", "vi"], "en")
            make_service(
                session,
                city,
                "POT",
                service_name="Pothole",
                group="Streets",
                attributes=[
                    make_attribute(
                        "SIZE", Datatype.singlevaluelist, values=[("S", "Small"), ("L", "Large")]
                    )
                ],
            )
            session.commit()
        engine.dispose()
        yield scratch


def cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": url})


def translations(url: str) -> list[tuple[str, str, str, str]]:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        found = session.execute(
            select(
                Translation.locale, Translation.context, Translation.source, Translation.text
            ).order_by(Translation.locale, Translation.context, Translation.source)
        ).all()
    engine.dispose()
    return [tuple(row) for row in found]


def test_locales_shown_and_changed(url):
    shown = cli(url, "jurisdiction", "locales", "austintexas.gov")
    assert shown.exit_code == 0
    assert shown.output.strip() == "austintexas.gov: en, es, vi (default en)"

    changed = cli(url, "jurisdiction", "locales", "austintexas.gov", "--locales", "en,es,vi,ar")
    assert changed.output.strip() == "austintexas.gov: en, es, vi, ar (default en)"

    for args, complaint in (
        (("--default-locale", "fr"), "not among"),
        (("--locales", "es,vi"), "not among"),
        (("--locales", "en,??"), "BCP 47"),
    ):
        refused = cli(url, "jurisdiction", "locales", "austintexas.gov", *args)
        assert refused.exit_code == 1 and complaint in refused.output, refused.output
    unknown = cli(url, "jurisdiction", "locales", "nowhere.gov", "--locales", "en")
    assert unknown.exit_code == 1 and "not found" in unknown.output
    final = cli(url, "jurisdiction", "locales", "austintexas.gov")
    assert final.output.strip() == "austintexas.gov: en, es, vi, ar (default en)"


def test_a_city_created_with_its_first_locale_as_default(url):
    made = cli(
        url,
        *("jurisdiction", "create", "lacity.org", "--name", "Los Angeles"),
        *("--timezone", "America/Los_Angeles", "--locales", "es,en"),
    )
    assert made.exit_code == 0, made.output
    shown = cli(url, "jurisdiction", "locales", "lacity.org")
    assert shown.output.strip() == "lacity.org: es, en (default es)"
    refused = cli(
        url,
        *("jurisdiction", "create", "x.gov", "--name", "X", "--timezone", "UTC"),
        *("--locales", "en", "--default-locale", "es"),
    )
    assert refused.exit_code == 1 and "not among" in refused.output
    listed = cli(url, "jurisdiction", "list").output
    assert "x.gov" not in listed


def test_po_export_to_stdout_and_import(url, tmp_path: Path):
    exported = cli(url, "translations", "export", "--locale", "es")
    assert exported.exit_code == 0, exported.output
    catalog = read_po(BytesIO(exported.stdout_bytes))
    assert {(m.context, m.id) for m in catalog if m.id} == {
        ("service_name", "Pothole"),
        ("group", "Streets"),
        ("attribute", "Question SIZE"),
        ("description", "Description of POT"),
        ("keywords", "test, example"),
        ("value", "Small"),
        ("value", "Large"),
    }
    filled = exported.stdout.replace(
        'msgid "Pothole"\nmsgstr ""', 'msgid "Pothole"\nmsgstr "Bache"'
    )
    filled = filled.replace('msgid "Large"\nmsgstr ""', 'msgid "Large"\nmsgstr "Grande"')
    path = tmp_path / "es.po"
    path.write_text(filled, encoding="utf-8")

    imported = cli(url, "translations", "import", str(path), "--locale", "es")

    assert imported.exit_code == 0, imported.output
    assert "stored 2 translations into es; skipped 0 fuzzy and 5 untranslated" in imported.output
    assert ("es", "service_name", "Pothole", "Bache") in translations(url)
    assert ("es", "value", "Large", "Grande") in translations(url)


def test_xliff_export_to_a_file_and_import(url, tmp_path: Path):
    path = tmp_path / "vi.xlf"
    exported = cli(
        url,
        *("translations", "export", "--locale", "vi", "--format", "xliff"),
        *("--jurisdiction", "austintexas.gov", "--output", str(path)),
    )
    assert exported.exit_code == 0, exported.output
    assert f"wrote {path}" in exported.output
    ns = "{urn:oasis:names:tc:xliff:document:1.2}"
    document = fromstring(path.read_bytes())
    for unit in document.iter(f"{ns}trans-unit"):
        if unit.findtext(f"{ns}source") == "Small":
            target = unit.find(f"{ns}target")
            target.text, target.attrib["state"] = "Nhỏ", "translated"
    extra = ElementTree.SubElement(
        document.find(f"{ns}file/{ns}body"), f"{ns}trans-unit", {"id": "99"}
    )
    extra.set("resname", "service_name")
    ElementTree.SubElement(extra, f"{ns}source").text = "Sidewalk"
    ElementTree.SubElement(extra, f"{ns}target").text = "Vỉa hè"
    body = ElementTree.tostring(document, encoding="utf-8", xml_declaration=True)
    upload = tmp_path / "filled.xliff"
    upload.write_bytes(body)

    imported = cli(url, "translations", "import", str(upload), "--locale", "vi")

    assert imported.exit_code == 0, imported.output
    assert "stored 2 translations into vi" in imported.output
    assert "not a text of the city now: [service_name] Sidewalk" in imported.output
    assert ("vi", "value", "Small", "Nhỏ") in translations(url)


@pytest.mark.parametrize(
    ("name", "data", "complaint"),
    [
        ("bad.po", b"not a po file\n", "PO file"),
        ("bad.xlf", b"<xliff version='1.2'><file>", "well-formed"),
        ("evil.xlf", b"<!DOCTYPE x [<!ENTITY e 'e'>]><xliff version='1.2'/>", "DTD"),
    ],
)
def test_a_file_that_cannot_be_read_stores_nothing(url, tmp_path: Path, name, data, complaint):
    before = translations(url)
    path = tmp_path / name
    path.write_bytes(data)
    refused = cli(url, "translations", "import", str(path), "--locale", "es")
    assert refused.exit_code == 1 and complaint in refused.output, refused.output
    assert "Traceback" not in refused.output
    assert translations(url) == before


@pytest.mark.parametrize(
    "args",
    [
        ("export", "--locale", "en"),
        ("export", "--locale", "fr"),
        ("export", "--locale", "es", "--jurisdiction", "nowhere.gov"),
        ("export", "--locale", "es", "--format", "docx"),
    ],
)
def test_export_refusals(url, args):
    refused = cli(url, "translations", *args)
    assert refused.exit_code != 0 and "Error" in refused.output
