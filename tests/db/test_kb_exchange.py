"""The knowledge-base exchange document (open311-kb/1): load, dump, parse, against real
PostgreSQL; export -> import into an empty city reproduces it; a bad document stores nothing
and names every problem by its path."""

from __future__ import annotations

import copy
import json
import os
import time
from datetime import UTC, datetime

import pytest
import yaml
from sqlalchemy import func, select

from open311.db.models import (
    Article,
    ArticleRevision,
    ArticleTopic,
    ArticleVariant,
    Translation,
)
from open311.domain import kb_exchange
from open311.errors import InvalidInput
from tests.factories import make_jurisdiction, make_service

NOW = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)


def document() -> dict:
    """A small knowledge base in three languages, every field used."""
    return {
        "format": "open311-kb/1",
        "default_locale": "en",
        "locales": ["en", "es", "vi", "ar"],
        "topics": [
            {
                "code": "garbage-recycling",
                "name": {"en": "Garbage & Recycling", "es": "Basura y reciclaje"},
                "parent": None,
            },
            {
                "code": "bulky-items",
                "name": {"en": "Bulky items", "vi": "Đồ cồng kềnh"},
                "parent": "garbage-recycling",
            },
        ],
        "articles": [
            {
                "article_id": "bulk-item-pickup",
                "topic": "bulky-items",
                "service_codes": ["BULKY-ITEM"],
                "valid_from": None,
                "valid_until": "2027-06-30",
                "contact": "Austin 3-1-1, call 3-1-1 or 512-974-2000",
                "state": "published",
                "variants": {
                    "en": {
                        "title": "Schedule a bulk item pickup",
                        "summary": "Furniture and appliances, twice a year.",
                        "body": "<p>Put items at the curb by <strong>6:30 a.m.</strong></p>",
                        "body_format": "html",
                        "steps": ["<p>Call 3-1-1</p>", "<p>Put it out</p>"],
                        "keywords": "bulky, furniture, couch",
                        "answer_text": "Bulk items are collected twice a year.",
                    },
                    "es": {
                        "title": "Recogida de artículos voluminosos",
                        "summary": None,
                        "body": "Saque los *muebles* a la acera.",
                        "body_format": "markdown",
                        "steps": [],
                        "keywords": "muebles, sofá",
                        "answer_text": None,
                    },
                    "ar": {
                        "title": "جمع الأغراض الكبيرة",
                        "summary": None,
                        "body": "<p>ضع الأغراض على الرصيف</p>",
                        "body_format": "html",
                        "steps": [],
                        "keywords": None,
                        "answer_text": None,
                    },
                },
            },
            {
                "article_id": "holiday-schedule",
                "topic": "garbage-recycling",
                "service_codes": [],
                "valid_from": "2026-12-20",
                "valid_until": "2027-01-05",
                "contact": None,
                "state": "draft",
                "variants": {
                    "en": {
                        "title": "Holiday collection schedule",
                        "summary": None,
                        "body": "",
                        "body_format": "html",
                        "steps": [],
                        "keywords": "christmas, new year",
                        "answer_text": None,
                    }
                },
            },
            {
                "article_id": "old-rule",
                "topic": None,
                "service_codes": [],
                "valid_from": None,
                "valid_until": None,
                "contact": None,
                "state": "retired",
                "variants": {
                    "vi": {
                        "title": "Quy định cũ",
                        "summary": None,
                        "body": "",
                        "body_format": "html",
                        "steps": [],
                        "keywords": None,
                        "answer_text": None,
                    }
                },
            },
        ],
    }


@pytest.fixture
def city(db):
    austin = make_jurisdiction(
        db, jurisdiction_id="austintexas.gov", name="Austin", time_zone="America/Chicago"
    )
    make_service(db, austin, "BULKY-ITEM")
    return austin


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_load_then_dump_gives_the_document_back(db, city):
    counts = kb_exchange.load(db, city, document(), actor="tester", now=NOW)
    assert counts["articles_created"] == 3
    assert counts["topics_created"] == 2
    assert counts["translations_written"] == 2
    assert kb_exchange.dump(db, city) == document() | {"locales": ["en"]}


def test_export_then_import_into_an_empty_city_reproduces_it(db, city):
    kb_exchange.load(db, city, document(), actor="tester", now=NOW)
    exported = kb_exchange.dump(db, city)
    other = make_jurisdiction(db, jurisdiction_id="other.example", name="Other")
    make_service(db, other, "BULKY-ITEM")
    for fmt in ("json", "yaml"):
        text = kb_exchange.render(exported, fmt)
        kb_exchange.load(db, other, kb_exchange.parse(text, fmt), actor="copy", now=NOW)
        assert kb_exchange.dump(db, other) == exported


def test_loading_twice_changes_nothing_the_second_time(db, city):
    kb_exchange.load(db, city, document(), actor="tester", now=NOW)
    revisions = _count(db, ArticleRevision)
    counts = kb_exchange.load(db, city, document(), actor="tester", now=NOW)
    assert counts["articles_unchanged"] == 3
    assert counts["topics_unchanged"] == 2
    assert counts["revisions"] == counts["translations_written"] == 0
    assert _count(db, ArticleRevision) == revisions


def test_a_changed_document_updates_with_revisions_by_the_importer(db, city):
    kb_exchange.load(db, city, document(), actor="tester", now=NOW)
    changed = document()
    changed["articles"][0]["variants"]["es"]["title"] = "Recogida de muebles"
    changed["articles"][1]["state"] = "published"
    counts = kb_exchange.load(db, city, changed, actor="second", now=NOW)
    assert counts["articles_updated"] == 2
    assert counts["revisions"] == 2
    last = db.scalars(select(ArticleRevision).order_by(ArticleRevision.id.desc()).limit(2)).all()
    assert {r.actor for r in last} == {"import:second"}
    assert {r.action for r in last} == {"edit", "publish"}
    es = db.scalar(select(ArticleVariant).where(ArticleVariant.title == "Recogida de muebles"))
    assert es.locale == "es"


def test_nothing_is_stored_when_one_article_is_wrong(db, city):
    bad = document()
    bad["articles"][2]["variants"]["vi"]["title"] = "   "
    with pytest.raises(InvalidInput) as raised:
        kb_exchange.load(db, city, bad, actor="tester", now=NOW)
    assert raised.value.problems == ("articles[2].variants.vi.title: required",)
    assert _count(db, Article) == _count(db, ArticleTopic) == _count(db, Translation) == 0


def test_every_problem_is_named_by_its_path(db, city):
    bad = copy.deepcopy(document())
    bad["format"] = "open311-kb/2"
    bad["extra"] = 1
    bad["default_locale"] = "xx-nope"
    bad["topics"][0]["name"] = {"es": "Basura"}
    bad["topics"][1]["parent"] = "nowhere"
    bad["topics"].append({"code": "Bad Code", "name": "x"})
    art = bad["articles"]
    art[0]["service_codes"] = ["NOPE"]
    art[0]["variants"]["zz-qq"] = {"title": "x"}
    art[0]["variants"]["en"]["steps"] = ["<script>alert(1)</script>"]
    art[0]["variants"]["en"]["colour"] = "red"
    art[1]["article_id"] = "bulk-item-pickup"
    art[1]["valid_until"] = "2026-12-01"
    art[1]["topic"] = "missing"
    art[2]["state"] = "gone"
    art[2]["variants"] = {}
    art.append("not a mapping")
    art.append({"article_id": "x", "state": "published", "variants": {"es": {"title": "S"}}})
    with pytest.raises(InvalidInput) as raised:
        kb_exchange.load(db, city, bad, actor="tester", now=NOW)
    assert list(raised.value.problems) == [
        "extra: unknown field",
        "format: must be open311-kb/1",
        "default_locale: 'xx-nope' is not a known language tag",
        "topics[0].name.en: required (the jurisdiction's default language)",
        "topics[1].parent: no theme 'nowhere' before it",
        "topics[2].code: 1 to 100 lower-case letters, digits or '-'",
        "articles[0].service_codes: not services of this jurisdiction: NOPE",
        "articles[0].variants.en.colour: unknown field",
        "articles[0].variants.en.steps[0]: empty",
        "articles[0].variants.zz-qq: 'zz-qq' is not a known language tag",
        "articles[1].article_id: bulk-item-pickup appears twice",
        "articles[1].topic: no topic 'missing'",
        "articles[1].valid_until: before valid_from",
        "articles[2].state: one of draft, published, retired",
        "articles[2].variants: at least one language, a mapping of language -> texts",
        "articles[3]: must be a mapping",
        "articles[4].state: published needs a variant in en, the jurisdiction's default language",
    ]
    assert _count(db, Article) == 0


@pytest.mark.parametrize(
    ("text", "fmt", "problem"),
    [
        ("{", "json", "document: not JSON: Expecting property name enclosed in double quotes"),
        ("[1]", "json", "document: must be a mapping"),
        ("a: [", "yaml", "document: not YAML:"),
        ("a: &x [1]\nb: *x\n", "yaml", "document: not YAML: aliases (*name) are not accepted"),
        ("[" * 40 + "]" * 40, "json", "document: nested more than 16 levels deep"),
        ("a: 1", "toml", "format: one of json, yaml"),
        (b"\xff\xfe", "yaml", "document: not UTF-8 text"),
    ],
)
def test_parse_refuses_what_is_not_a_document(text, fmt, problem):
    with pytest.raises(InvalidInput) as raised:
        kb_exchange.parse(text, fmt)
    assert raised.value.problems[0].startswith(problem)


def test_parse_reads_yaml_with_yaml_1_2_booleans_and_dates():
    found = kb_exchange.parse("no: yes\nd: 2026-01-02\nt: true\n", "yaml")
    assert found == {"no": "yes", "d": found["d"], "t": True}
    assert str(found["d"]) == "2026-01-02"
    assert kb_exchange.parse(json.dumps({"a": "ü"}), "json") == {"a": "ü"}


def test_yaml_dates_load_as_dates(db, city):
    text = kb_exchange.render(document(), "yaml").replace("'2027-06-30'", "2027-06-30")
    parsed = kb_exchange.parse(text, "yaml")
    kb_exchange.load(db, city, parsed, actor="tester", now=NOW)
    assert kb_exchange.dump(db, city)["articles"][0]["valid_until"] == "2027-06-30"


def test_render_yaml_is_readable_unicode():
    text = kb_exchange.render(document(), "yaml")
    assert "Đồ cồng kềnh" in text
    assert yaml.safe_load(text) == document()


# --- at size --------------------------------------------------------------------------------------

BENCH_ARTICLES = int(os.environ.get("OPEN311_KB_EXCHANGE_BENCH", "0"))
LANGUAGES = {
    "en": ("Bulky item pickup", "Put the <strong>couch</strong> at the curb by 6:30 a.m."),
    "es": ("Recogida de artículos voluminosos", "Saque el <strong>sofá</strong> a la acera."),
    "vi": ("Thu gom đồ cồng kềnh", "Đặt <strong>ghế sofa</strong> ở lề đường trước 6:30 sáng."),
    "ar": ("جمع الأغراض الكبيرة", "ضع <strong>الأريكة</strong> على الرصيف قبل الساعة 6:30 صباحًا."),
}


def big_document(articles: int) -> dict:
    """`articles` made-up articles in four languages under 8 themes of 4 topics, bodies of a
    few paragraphs with a list and steps, half published."""
    themes = [f"theme-{t}" for t in range(8)]
    topics = [
        {"code": code, "name": {"en": f"Theme {code}", "es": f"Tema {code}"}, "parent": None}
        for code in themes
    ] + [
        {"code": f"{theme}-topic-{n}", "name": {"en": f"Topic {n} of {theme}"}, "parent": theme}
        for theme in themes
        for n in range(4)
    ]
    entries = []
    for number in range(articles):
        variants = {}
        for locale, (title, sentence) in LANGUAGES.items():
            paragraphs = "".join(f"<p>{sentence} ({number}.{p})</p>" for p in range(6))
            variants[locale] = {
                "title": f"{title} {number}",
                "summary": f"{title}: {number}",
                "body": paragraphs + "<ul><li>one</li><li>two</li></ul>",
                "body_format": "html",
                "steps": [f"<p>{sentence}</p>", "<p>3-1-1</p>"],
                "keywords": f"{title.lower()}, {number}",
                "answer_text": sentence.replace("<strong>", "").replace("</strong>", ""),
            }
        entries.append(
            {
                "article_id": f"article-{number:05d}",
                "topic": topics[8 + number % 32]["code"],
                "service_codes": ["BULKY-ITEM"],
                "valid_from": None,
                "valid_until": None,
                "contact": "3-1-1",
                "state": "published" if number % 2 else "draft",
                "variants": variants,
            }
        )
    return {
        "format": "open311-kb/1",
        "default_locale": "en",
        "locales": ["en"],
        "topics": topics,
        "articles": entries,
    }


def test_a_knowledge_base_at_size_round_trips(db, city):
    """Always with 30 articles; `bench/kb_exchange.py` runs it with more and prints timings."""
    size = BENCH_ARTICLES or 30
    started = time.perf_counter()
    counts = kb_exchange.load(db, city, big_document(size), actor="bench", now=NOW)
    loaded = time.perf_counter()
    exported = kb_exchange.dump(db, city)
    as_yaml = kb_exchange.render(exported, "yaml")
    dumped = time.perf_counter()
    other = make_jurisdiction(db, jurisdiction_id="copy.example", name="Copy")
    make_service(db, other, "BULKY-ITEM")
    kb_exchange.load(db, other, kb_exchange.parse(as_yaml, "yaml"), actor="bench", now=NOW)
    copied = time.perf_counter()
    again = kb_exchange.load(db, city, exported, actor="bench", now=NOW)
    repeated = time.perf_counter()
    assert counts["articles_created"] == size
    assert kb_exchange.dump(db, other) == exported == big_document(size) | {"locales": ["en"]}
    assert again["articles_unchanged"] == size and again["revisions"] == 0
    if BENCH_ARTICLES:
        variants = size * len(LANGUAGES)
        print(
            f"\n{size} articles x {len(LANGUAGES)} languages ({variants} variants), "
            f"YAML {len(as_yaml.encode()) / 1e6:.1f} MB:\n"
            f"  load into an empty city   {loaded - started:6.1f} s\n"
            f"  dump + render YAML        {dumped - loaded:6.1f} s\n"
            f"  parse YAML + load a copy  {copied - dumped:6.1f} s\n"
            f"  load again (no change)    {repeated - copied:6.1f} s"
        )


def test_a_theme_holding_topics_stays_a_theme(db, city):
    kb_exchange.load(db, city, document(), actor="tester", now=NOW)
    moved = {
        "format": "open311-kb/1",
        "topics": [
            {"code": "other-theme", "name": "Other"},
            {"code": "garbage-recycling", "name": "Garbage & Recycling", "parent": "other-theme"},
        ],
    }
    with pytest.raises(InvalidInput) as raised:
        kb_exchange.load(db, city, moved, actor="tester", now=NOW)
    assert raised.value.problems == (
        "topics[1].parent: garbage-recycling holds topics; a theme stays a theme",
    )
    moved["topics"].append({"code": "bulky-items", "name": "Bulky items", "parent": "other-theme"})
    counts = kb_exchange.load(db, city, moved, actor="tester", now=NOW)
    assert (counts["topics_created"], counts["topics_updated"]) == (1, 2)
    topics = {t["code"]: t["parent"] for t in kb_exchange.dump(db, city)["topics"]}
    assert topics == {
        "other-theme": None,
        "garbage-recycling": "other-theme",
        "bulky-items": "other-theme",
    }
