"""Los Angeles in Spanish: the team's catalogue translation, and articles from the city's data."""

from __future__ import annotations

import csv
import json
import unicodedata
from importlib.resources import files

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from open311.db.models import Article, ArticleRevision, Jurisdiction, Translation
from open311.demo.catalogue import CATALOGUE_FILE
from open311.demo.los_angeles_languages import (
    KB_FILE,
    read_knowledge_base,
    read_translations,
    seed_los_angeles_languages,
)
from open311.demo.seed import city_dir, seed_demo_city
from open311.domain import kb_exchange
from open311.errors import InvalidInput
from tests.factories import make_jurisdiction

ARTICLE_IDS = {
    "bulky-item-pickup",
    "electronic-waste-pickup",
    "appliance-pickup",
    "illegal-dumping",
    "graffiti-removal",
    "dead-animal-removal",
    "streetlight-out",
    "report-water-waste",
    "homeless-encampment",
    "ways-to-reach-myla311",
    "council-districts-and-neighborhood-councils",
    "other-requests-and-feedback",
}


def catalogue_texts() -> set[str]:
    """Every public text of the authored catalogue, read here from the file itself."""
    document = json.loads(files("open311.demo").joinpath(CATALOGUE_FILE).read_text())
    texts: set[str] = set()
    for service in document["services"]:
        texts |= {service["service_name"], service["description"], service["group"]}
        texts.add(service["keywords"])
        for attribute in service["attributes"]:
            texts.add(attribute["description"])
            if attribute.get("datatype_description"):
                texts.add(attribute["datatype_description"])
            texts |= {value["name"] for value in attribute.get("values", ())}
    return texts


@pytest.fixture
def los_angeles(db: Session) -> Jurisdiction:
    seed_demo_city(db, with_history=False)
    return db.scalars(
        select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "lacity.org")
    ).one()


def test_every_catalogue_text_has_spanish() -> None:
    locale, entries = read_translations()
    assert locale == "es"
    assert {entry.source for entry in entries} == catalogue_texts()
    by_source = {entry.source: entry.text for entry in entries}
    assert by_source["Bulky Items"] == "Artículos voluminosos"
    assert by_source["Yes"] == "Sí"
    assert all(entry.text.strip() and entry.text != "" for entry in entries)


def test_the_translation_file_says_who_wrote_it() -> None:
    note = json.loads(files("open311.demo").joinpath("los_angeles_es.json").read_text())["_source"]
    assert "Written by the open311 team" in note


def test_a_repeated_source_is_refused() -> None:
    text = json.dumps(
        {
            "locale": "es",
            "translations": [{"source": "Yes", "text": "Sí"}, {"source": "Yes", "text": "Si"}],
        }
    )
    with pytest.raises(ValueError, match="source repeated: Yes"):
        read_translations(text)


def test_the_seed_gives_los_angeles_spanish(db: Session, los_angeles: Jurisdiction) -> None:
    assert los_angeles.locales == ["en", "es"]
    assert los_angeles.default_locale == "en"
    rows = db.scalars(
        select(Translation).where(
            Translation.jurisdiction_id == los_angeles.id, Translation.locale == "es"
        )
    ).all()
    assert {row.source for row in rows if row.context == ""} == catalogue_texts()
    assert all(unicodedata.is_normalized("NFC", row.text) for row in rows)
    topics = {row.source: row.text for row in rows if row.context == "topic"}
    assert topics["Trash and pickups"] == "Basura y recolecciones"


def test_the_articles_are_loaded_in_english_and_spanish(
    db: Session, los_angeles: Jurisdiction
) -> None:
    found = db.scalars(select(Article).where(Article.jurisdiction_id == los_angeles.id)).all()
    assert {article.article_id for article in found} == ARTICLE_IDS
    for article in found:
        assert article.state.value == "published"
        assert {variant.locale for variant in article.variants} == {"en", "es"}
        for variant in article.variants:
            assert variant.title and variant.body and variant.steps and variant.answer_text
    bulky = next(article for article in found if article.article_id == "bulky-item-pickup")
    assert bulky.service_codes == ["BULKY"]
    spanish = next(variant for variant in bulky.variants if variant.locale == "es")
    assert spanish.title == "Solicite la recolección de artículos voluminosos"
    assert "<strong>" in spanish.body  # Markdown rendered to HTML


def test_a_second_seed_changes_no_article(db: Session, los_angeles: Jurisdiction) -> None:
    revisions = db.scalar(select(func.count()).select_from(ArticleRevision))
    report = seed_demo_city(db, with_history=False)
    assert "locales: en, es; catalogue translations (es): 0 new" in report
    assert "knowledge base: 12 articles (0 new, 0 updated)" in report
    assert db.scalar(select(func.count()).select_from(ArticleRevision)) == revisions


def test_a_translation_the_back_office_changed_is_kept(
    db: Session, los_angeles: Jurisdiction
) -> None:
    row = db.scalars(
        select(Translation).where(
            Translation.jurisdiction_id == los_angeles.id, Translation.source == "Bulky Items"
        )
    ).one()
    row.text = "Objetos voluminosos"
    db.flush()
    seed_los_angeles_languages(db, los_angeles, now=los_angeles.catalogue_changed_at)
    db.refresh(row)
    assert row.text == "Objetos voluminosos"


def test_the_articles_service_codes_are_the_catalogues(
    db: Session, los_angeles: Jurisdiction
) -> None:
    checked = kb_exchange.check(db, los_angeles, read_knowledge_base())
    assert len(checked["articles"]) == 12
    # A city without those services refuses the document, naming the unknown codes.
    with pytest.raises(InvalidInput) as refused:
        kb_exchange.check(
            db, make_jurisdiction(db, jurisdiction_id="empty.example"), read_knowledge_base()
        )
    assert "BULKY" in str(refused.value.args)


def test_the_source_note_names_the_files_the_facts_come_from() -> None:
    text = files("open311.demo").joinpath(KB_FILE).read_text(encoding="utf-8")
    note = text.split("format:", 1)[0]
    assert "Written by the open311 team" in note
    for name in (
        "request_types.csv",
        "agencies.csv",
        "myla311_sample_2017-12.csv",
        "myla311_open_requests_points_2020-07.json",
        "neighborhood_councils_meta.csv",
    ):
        assert name in note
        assert (city_dir() / name).exists()


def test_the_figures_are_the_datas() -> None:
    """Two of the articles' figures recomputed from the city's records."""
    rows = []
    for name in ("myla311_sample_2017-12.csv", "myla311_sample_2018-01.csv"):
        with (city_dir() / name).open(newline="", encoding="utf-8") as file:
            rows += list(csv.DictReader(file))
    bulky = [row for row in rows if row["RequestType"] == "Bulky Items"]
    assert len(rows) == 19_999 and len(bulky) == 9_350
    calls = sum(row["RequestSource"] == "Call" for row in bulky)
    assert round(100 * calls / len(bulky)) == 59
    document = read_knowledge_base()
    body = next(a for a in document["articles"] if a["article_id"] == "bulky-item-pickup")
    assert "9,350" in body["variants"]["en"]["body"] and "59%" in body["variants"]["en"]["body"]
