"""Writing the knowledge base (domain/knowledge.py, domain/article_text.py) against real
PostgreSQL: what is stored (NFC, sanitised HTML, search fields), revisions, the publishing
rules, answered calls and topics."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from open311.db import article_queries
from open311.db.models import ArticleAnswer, ArticleRevision, ArticleVariant, Translation
from open311.domain import article_text, knowledge
from open311.errors import Conflict, InvalidInput, NotFound
from open311.values import ArticleState
from tests.factories import make_jurisdiction, make_request, make_service

SEARCH_VECTOR = ArticleVariant.__table__.c.search_vector  # generated, not mapped
NOW = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
WHO = "staff:kim"


@pytest.fixture
def city(db):
    austin = make_jurisdiction(
        db, jurisdiction_id="austintexas.gov", name="Austin", time_zone="America/Chicago"
    )
    make_service(db, austin, "BULKY-ITEM")
    return austin


def _article(db, city, article_id="bulk", **variants):
    return knowledge.create_article(
        db,
        city,
        article_id,
        {},
        actor=WHO,
        now=NOW,
        variants=variants or {"en": {"title": "Bulk items"}},
    )


def _revisions(db, article) -> list[ArticleRevision]:
    return list(reversed(article_queries.find_revisions(db, article)))


# --- sanitising -----------------------------------------------------------------------------------

ATTACKS = [
    ("<script>alert(1)</script><p>ok</p>", "<p>ok</p>"),
    ('<img src=x onerror="alert(1)">text', "text"),
    ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
    ('<a href=" JaVaScRiPt:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
    ('<a href="data:text/html,<script>x</script>">x</a>', '<a rel="noopener noreferrer">x</a>'),
    ('<a href="/relative">x</a>', '<a rel="noopener noreferrer">x</a>'),
    (
        '<a href="https://a.org" onclick="x()" target="_blank">x</a>',
        '<a href="https://a.org" rel="noopener noreferrer">x</a>',
    ),
    (
        '<a href="mailto:311@austintexas.gov">m</a>',
        '<a href="mailto:311@austintexas.gov" rel="noopener noreferrer">m</a>',
    ),
    (
        '<a href="tel:+15129742000">t</a>',
        '<a href="tel:+15129742000" rel="noopener noreferrer">t</a>',
    ),
    ('<p style="background:url(javascript:x)">s</p>', "<p>s</p>"),
    ("<style>p{color:red}</style><p>s</p>", "<p>s</p>"),
    ('<iframe src="https://evil.example"></iframe>after', "after"),
    ('<svg onload="alert(1)"><circle/></svg>svg', "svg"),
    ("<math><mi>x</mi></math>", ""),
    ('<form action="https://e"><input name=a></form>f', "f"),
    ("<p>a<!-- hidden --></p>", "<p>a</p>"),
    ("<h1>Big</h1><h2>Sub</h2><h5>Small</h5>", "Big<h2>Sub</h2>Small"),
    (
        "<table><tr><td colspan=2 onclick=x>1</td></tr></table>",
        '<table><tbody><tr><td colspan="2">1</td></tr></tbody></table>',
    ),
    (
        "<ul><li><strong>b</strong> <em>e</em> <code>c</code></li></ul>",
        "<ul><li><strong>b</strong> <em>e</em> <code>c</code></li></ul>",
    ),
    ("<blockquote>q</blockquote><pre>p</pre><br>", "<blockquote>q</blockquote><pre>p</pre><br>"),
    ("<p>5 < 6 & 7 > 3</p>", "<p>5 &lt; 6 &amp; 7 &gt; 3</p>"),
]


@pytest.mark.parametrize(("html", "stored"), ATTACKS)
def test_html_is_cleaned_to_the_allow_list(html, stored):
    assert article_text.sanitise_html(html) == stored
    assert article_text.sanitise_html(stored) == stored  # cleaning twice changes nothing


def test_markdown_is_rendered_without_raw_html_and_cleaned():
    source = (
        "# Title\n\nText with <script>alert(1)</script> and <b>bold</b>.\n\n"
        "[bad](javascript:alert(1)) [good](https://austintexas.gov)\n\n"
        "| day | bin |\n|---|---|\n| Mon | trash |\n"
    )
    html = article_text.markdown_to_html(source)
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<h2>Title</h2>" in html
    assert 'href="javascript' not in html
    assert '<a href="https://austintexas.gov" rel="noopener noreferrer">good</a>' in html
    assert "<td>Mon</td>" in html


def test_a_variant_is_stored_nfc_with_its_search_fields(db, city):
    decomposed = "Ra\u0301c tha\u0309i"  # á and ả as letter + combining mark
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    article = _article(
        db,
        city,
        vi={
            "title": decomposed,
            "summary": decomposed,
            "body": f"<p>{decomposed}</p>",
            "steps": [f"<p>{decomposed}</p>"],
            "keywords": "Ra\u0301c",
            "answer_text": decomposed,
        },
    )
    variant = article.variants[0]
    nfc = unicodedata.normalize("NFC", decomposed)
    assert (variant.title, variant.summary, variant.answer_text) == (nfc, nfc, nfc)
    assert variant.body == f"<p>{nfc}</p>" and variant.steps == [f"<p>{nfc}</p>"]
    assert variant.match_text == "rac thai rac"
    assert variant.search_config == "simple"
    db.flush()
    found = db.scalar(
        select(ArticleVariant.id).where(
            SEARCH_VECTOR.op("@@")(func.plainto_tsquery("simple", "rác"))
        )
    )
    assert found == variant.id


def test_each_language_is_stemmed_as_its_own(db, city):
    article = _article(
        db,
        city,
        es={"title": "Reciclaje de basura"},
        en={"title": "Recycling bins"},
        ar={"title": "إعادة التدوير"},
    )
    configs = {v.locale: v.search_config for v in article.variants}
    assert configs == {"ar": "arabic", "en": "english", "es": "spanish"}
    db.flush()
    spanish = db.scalar(
        select(ArticleVariant.locale).where(
            SEARCH_VECTOR.op("@@")(func.to_tsquery(text("'spanish'"), "reciclajes"))
        )
    )
    assert spanish == "es"


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        ({}, ["title: required"]),
        ({"title": "x" * 256}, ["title: at most 255 characters"]),
        ({"title": "T", "summary": "a\x07b"}, ["summary: contains control characters"]),
        ({"title": "T", "summary": 3}, ["summary: must be text"]),
        ({"title": "T", "body": ["x"]}, ["body: must be text"]),
        ({"title": "T", "body_format": "rtf"}, ["body_format: one of html, markdown"]),
        ({"title": "T", "steps": "one"}, ["steps: must be a list of texts"]),
        ({"title": "T", "steps": ["<p> </p>", "ok"]}, ["steps[0]: empty"]),
        ({"title": "T", "steps": ["s"] * 51}, ["steps: at most 50 steps"]),
        ({"title": "T", "colour": "red"}, ["colour: unknown field"]),
    ],
)
def test_bad_variants_name_every_problem(data, problems):
    with pytest.raises(InvalidInput) as raised:
        article_text.prepare_variant("en", data)
    assert list(raised.value.problems) == problems


def test_language_tags_are_canonical_or_refused():
    assert article_text.canonical_locale("locale", "es_mx") == "es-MX"
    assert article_text.canonical_locale("locale", "ZH-hant-tw") == "zh-Hant-TW"
    for bad in ("", "xx", "klingon", None, 3, "e" * 40):
        with pytest.raises(InvalidInput, match="^locale: .* is not a known language tag$"):
            article_text.canonical_locale("locale", bad)


# --- articles and revisions -----------------------------------------------------------------------


def test_creating_and_changing_write_numbered_revisions(db, city):
    article = knowledge.create_article(
        db,
        city,
        "bulk",
        {"service_codes": ["BULKY-ITEM"], "contact": "3-1-1"},
        actor=WHO,
        now=NOW,
    )
    assert article.state is ArticleState.draft
    knowledge.put_variant(db, city, article, "en", {"title": "Bulk"}, actor=WHO, now=NOW)
    knowledge.put_variant(db, city, article, "en", {"title": "Bulk"}, actor=WHO, now=NOW)
    assert (
        knowledge.update_article(db, city, article, {"contact": "3-1-1"}, actor=WHO, now=NOW)
        is None
    )
    later = NOW + timedelta(hours=1)
    knowledge.update_article(
        db, city, article, {"valid_from": "2027-01-01"}, actor="staff:b", now=later
    )
    knowledge.put_variant(
        db, city, article, "en", {"title": "Bulk", "body": "x" * 300}, actor=WHO, now=later
    )
    revisions = _revisions(db, article)
    assert [(r.number, r.action, r.locale) for r in revisions] == [
        (1, "create", None),
        (2, "translate", "en"),
        (3, "update", None),
        (4, "edit", "en"),
    ]
    assert revisions[0].changes == {
        "service_codes": {"from": None, "to": ["BULKY-ITEM"]},
        "contact": {"from": None, "to": "3-1-1"},
        "state": {"from": None, "to": "draft"},
    }
    assert revisions[2].changes == {"valid_from": {"from": None, "to": "2027-01-01"}}
    assert (revisions[2].actor, revisions[2].at) == ("staff:b", later)
    body = revisions[3].changes["body"]
    assert body["from"] == "" and body["to"] == "x" * 200 + "…"
    assert article.updated_at == later


def test_article_fields_are_checked(db, city):
    with pytest.raises(InvalidInput) as raised:
        knowledge.create_article(
            db,
            city,
            "bad",
            {
                "topic": "nowhere",
                "service_codes": ["BULKY-ITEM", "NOPE"],
                "valid_from": "2027-02-01",
                "valid_until": "2027-01-01",
                "contact": "x" * 2001,
                "owner": "me",
            },
            actor=WHO,
            now=NOW,
        )
    assert list(raised.value.problems) == [
        "topic: no topic 'nowhere'",
        "service_codes: not services of this jurisdiction: NOPE",
        "contact: at most 2000 characters",
        "owner: unknown field",
        "valid_until: before valid_from",
    ]
    for bad_id in ("", "Bulk", "a b", "a" * 101, "é"):
        with pytest.raises(InvalidInput, match="article_id: 1 to 100"):
            knowledge.create_article(db, city, bad_id, {}, actor=WHO, now=NOW)
    _article(db, city)
    with pytest.raises(Conflict):
        _article(db, city)
    with pytest.raises(NotFound):
        knowledge.get_article(db, city, "missing")


def test_the_same_id_in_another_city_is_another_article(db, city):
    other = make_jurisdiction(db, jurisdiction_id="other.example", name="Other")
    _article(db, city)
    _article(db, other)
    assert knowledge.get_article(db, other, "bulk").jurisdiction_id == other.id


def test_languages_removed_but_never_the_last(db, city):
    article = _article(db, city, en={"title": "E"}, es={"title": "S"})
    with pytest.raises(NotFound):
        knowledge.remove_variant(db, city, article, "vi", actor=WHO, now=NOW)
    knowledge.remove_variant(db, city, article, "ES", actor=WHO, now=NOW)
    assert [v.locale for v in article.variants] == ["en"]
    with pytest.raises(InvalidInput, match="only language"):
        knowledge.remove_variant(db, city, article, "en", actor=WHO, now=NOW)


# --- publishing -----------------------------------------------------------------------------------


def test_publishing_needs_the_default_language(db, city):
    article = _article(db, city, es={"title": "S"})
    with pytest.raises(InvalidInput, match="publishing needs a variant in en"):
        knowledge.publish(db, city, article, actor=WHO, now=NOW)
    city.default_locale = "es"
    knowledge.publish(db, city, article, actor=WHO, now=NOW)
    assert article.state is ArticleState.published and article.published_at == NOW
    knowledge.put_variant(db, city, article, "en", {"title": "E"}, actor=WHO, now=NOW)
    with pytest.raises(InvalidInput, match="keeps its es variant"):
        knowledge.remove_variant(db, city, article, "es", actor=WHO, now=NOW)


@pytest.mark.parametrize(
    ("moves", "refused"),
    [
        (["published", "draft", "retired", "published"], None),
        (["retired", "draft"], None),
        (["draft"], "draft already"),
        (["published", "published"], "published already"),
        (["retired", "retired"], "retired already"),
    ],
)
def test_the_publishing_life(db, city, moves, refused):
    article = _article(db, city)
    *fine, last = moves
    for state in fine:
        knowledge.set_state(db, city, article, ArticleState(state), actor=WHO, now=NOW)
    if refused:
        with pytest.raises(Conflict, match=refused):
            knowledge.set_state(db, city, article, ArticleState(last), actor=WHO, now=NOW)
    else:
        knowledge.set_state(db, city, article, ArticleState(last), actor=WHO, now=NOW)
        assert article.state == last
        actions = [r.action for r in _revisions(db, article)][2:]
        verbs = {"published": "publish", "draft": "unpublish", "retired": "retire"}
        assert actions == [verbs[state] for state in moves]


# --- answered calls -------------------------------------------------------------------------------


def test_calls_are_recorded_for_current_published_articles_only(db, city):
    article = _article(db, city)
    with pytest.raises(InvalidInput, match="not published and current"):
        knowledge.record_answer(db, city, article, None, "en", NOW)
    knowledge.publish(db, city, article, actor=WHO, now=NOW)
    request = make_request(db, make_service(db, city, "OTHER"))
    answer = knowledge.record_answer(db, city, article, None, "vi", NOW, request)
    assert (answer.locale, answer.service_request_pk, answer.answered_at) == ("vi", request.id, NOW)
    # 18:00 UTC is noon in Austin: the city's calendar decides which day it is.
    article.valid_until = date(2026, 12, 5)
    knowledge.record_answer(db, city, article, None, "en", NOW)
    late = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)  # 23:00 on the 5th in Austin
    knowledge.record_answer(db, city, article, None, "en", late)
    with pytest.raises(InvalidInput):
        knowledge.record_answer(db, city, article, None, "en", late + timedelta(hours=2))
    article.valid_until, article.valid_from = None, date(2027, 1, 1)
    with pytest.raises(InvalidInput):
        knowledge.record_answer(db, city, article, None, "en", NOW)
    elsewhere = make_jurisdiction(db, jurisdiction_id="other.example", name="Other")
    foreign = make_request(db, make_service(db, elsewhere, "ELSE"))
    article.valid_from = None
    with pytest.raises(InvalidInput, match="service_request_id"):
        knowledge.record_answer(db, city, article, None, "en", NOW, foreign)
    with pytest.raises(InvalidInput, match="locale"):
        knowledge.record_answer(db, city, article, None, "qq-zz", NOW)
    assert db.scalar(select(func.count()).select_from(ArticleAnswer)) == 3


# --- topics ---------------------------------------------------------------------------------------


def test_topics_with_their_names_in_other_languages(db, city):
    theme = knowledge.create_topic(
        db, city, "garbage", " Garbage ", names={"es": "Basura", "en": "ignored", "vi": "Rác"}
    )
    assert theme.name == "Garbage"
    child = knowledge.create_topic(db, city, "bulky", "Bulky", parent="garbage")
    assert child.parent is theme
    with pytest.raises(Conflict):
        knowledge.create_topic(db, city, "garbage", "Again")
    with pytest.raises(InvalidInput, match="only themes hold topics"):
        knowledge.create_topic(db, city, "deeper", "Deeper", parent="bulky")
    with pytest.raises(InvalidInput, match="name: required"):
        knowledge.create_topic(db, city, "blank", "  ")
    knowledge.change_topic(db, city, theme, {"name": "Trash"}, actor=WHO)
    names = knowledge.topic_names(db, city, [theme])[theme.id]
    assert names == {"en": "Trash", "es": "Basura", "vi": "Rác"}
    rows = db.scalars(select(Translation).where(Translation.source == "Trash")).all()
    assert {(r.locale, r.context, r.updated_by) for r in rows} == {
        ("es", "topic", WHO),
        ("vi", "topic", WHO),
    }
    knowledge.create_topic(db, city, "other", "Other")
    with pytest.raises(InvalidInput, match="garbage holds topics; a theme stays a theme"):
        knowledge.change_topic(db, city, theme, {"parent": "other"})
    knowledge.change_topic(db, city, child, {"parent": None, "names": {"es-mx": "Voluminosos"}})
    assert child.parent is None
    assert knowledge.topic_names(db, city, [child])[child.id]["es-MX"] == "Voluminosos"
