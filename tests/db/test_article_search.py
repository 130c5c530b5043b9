"""The knowledge-base search against real PostgreSQL: ranking and weights, each language's
text-search configuration, misspellings by trigram, NFC, filters, validity, states and the
locale chain."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta

import pytest

from open311.domain import article_search
from open311.domain.article_search import ArticleArgs
from open311.errors import InvalidInput, NotFound
from open311.values import ArticleState
from tests.db.article_fixtures import NOW, make_article, make_city, seed_kb


@pytest.fixture
def city(db):
    return make_city(db)


@pytest.fixture
def kb(db, city):
    return seed_kb(db, city)


def ids(db, city, locale: str = "en", **args) -> list[str]:
    page = article_search.search(db, city, ArticleArgs(**args), locale, NOW)
    return [found.view.article_id for found in page.items]


def top(db, city, q: str, locale: str = "en") -> str | None:
    found = ids(db, city, locale, q=q)
    return found[0] if found else None


# --- ranking ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("bulk item pickup", "bulk-item-pickup"),
        ("how do I get rid of an old couch", "bulk-item-pickup"),  # a keyword
        ("when is my recycling picked up", "trash-recycling-pickup"),
        ("pothole", "pothole-repair"),
        ("free paint", "pickup-free-paint"),
        ("bats", "bat-safety"),  # English stemming: bats -> bat
        ("rabies", "bat-safety"),
    ],
)
def test_english_questions_find_their_article(db, city, kb, q, expected):
    assert top(db, city, q) == expected


def test_title_outranks_keywords_outranks_body(db, city):
    make_article(db, city, "in-body", {"en": {"title": "Other", "body": "<p>Compost here.</p>"}})
    make_article(db, city, "in-keywords", {"en": {"title": "Another", "keywords": "compost"}})
    make_article(db, city, "in-title", {"en": {"title": "Compost pickup"}})

    page = article_search.search(db, city, ArticleArgs(q="compost"), "en", NOW)

    assert [f.view.article_id for f in page.items] == ["in-title", "in-keywords", "in-body"]
    scores = [f.score for f in page.items]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_whole_query_outranks_some_of_its_words(db, city):
    make_article(db, city, "some", {"en": {"title": "Bulk trash", "body": "<p>x</p>"}})
    make_article(db, city, "all", {"en": {"title": "Bulk mattress pickup"}})

    assert ids(db, city, q="bulk mattress")[0] == "all"


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("potwhole", "pothole-repair"),
        ("recyling", "trash-recycling-pickup"),
        ("matress", "bulk-item-pickup"),
        ("basurra", "trash-recycling-pickup"),
        ("reciclage", "trash-recycling-pickup"),
    ],
)
def test_misspellings_find_the_article_by_similarity(db, city, kb, q, expected):
    assert top(db, city, q) == expected


# --- languages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "locale", "expected"),
    [
        ("¿Cuándo recogen la basura?", "es", "trash-recycling-pickup"),
        ("reciclar", "es", "trash-recycling-pickup"),  # Spanish stemming meets reciclaje
        ("quiero tirar un colchón viejo", "es", "bulk-item-pickup"),
        ("colchon", "es", "bulk-item-pickup"),  # no accent
        ("bốc rác khối", "vi", "bulk-item-pickup"),  # simple configuration
        ("boc rac khoi", "vi", "bulk-item-pickup"),  # typed without diacritics
        ("lịch tái chế", "vi", "trash-recycling-pickup"),
        ("أثاث", "ar", "bulk-item-pickup"),
        ("جمع العناصر الكبيرة", "ar", "bulk-item-pickup"),
    ],
)
def test_each_language_finds_its_variant(db, city, kb, q, locale, expected):
    page = article_search.search(db, city, ArticleArgs(q=q), locale, NOW)
    assert page.items[0].view.article_id == expected
    assert page.items[0].view.locale == locale


def test_arabic_words_match_without_their_short_vowels(db, city):
    make_article(db, city, "ready", {"ar": {"title": "كُن على استعداد لجمع السماد"}})
    assert top(db, city, "كن على استعداد", "ar") == "ready"


def test_a_decomposed_query_finds_a_composed_text(db, city, kb):
    decomposed = unicodedata.normalize("NFD", "rác tái chế")
    assert decomposed != unicodedata.normalize("NFC", decomposed)

    assert top(db, city, decomposed, "vi") == "trash-recycling-pickup"


def test_a_query_of_stop_words_only_finds_nothing(db, city, kb):
    assert ids(db, city, q="the of and") == []


# --- filters, validity, states ----------------------------------------------------------------


def test_service_code_keeps_the_articles_that_end_in_it(db, city, kb):
    assert ids(db, city, service_code="BULKY") == ["bulk-item-pickup"]
    assert ids(db, city, service_code="POTHOLE", q="pothole") == ["pothole-repair"]
    assert ids(db, city, service_code="NOPE") == []


def test_topic_takes_a_topic_or_a_theme_with_its_topics(db, city, kb):
    assert sorted(ids(db, city, topic="collection")) == [
        "bulk-item-pickup",
        "trash-recycling-pickup",
    ]
    assert sorted(ids(db, city, topic="garbage-recycling")) == [
        "bulk-item-pickup",
        "pickup-free-paint",
        "trash-recycling-pickup",
    ]
    assert ids(db, city, topic="streets", q="pothole") == ["pothole-repair"]


def test_an_unknown_topic_is_refused(db, city, kb):
    with pytest.raises(InvalidInput, match="topic: nope is not a topic"):
        ids(db, city, topic="nope")


def test_only_articles_valid_today_are_offered(db, city):
    day = date(2026, 12, 5)  # NOW in Chicago
    texts = {"en": {"title": "Leaf collection"}}
    make_article(db, city, "open", texts)
    make_article(db, city, "from-today", texts, valid_from=day)
    make_article(db, city, "until-today", texts, valid_until=day)
    make_article(db, city, "tomorrow", texts, valid_from=day + timedelta(days=1))
    make_article(db, city, "ended", texts, valid_until=day - timedelta(days=1))

    assert sorted(ids(db, city, q="leaf")) == ["from-today", "open", "until-today"]
    assert sorted(ids(db, city)) == ["from-today", "open", "until-today"]
    with pytest.raises(NotFound):
        article_search.read(db, city, "tomorrow", "en", NOW)


def test_the_citys_date_decides_validity(db, city):
    # 03:00 UTC on the 6th is still the 5th in Chicago.
    make_article(db, city, "tomorrow", {"en": {"title": "x"}}, valid_from=date(2026, 12, 6))
    late = NOW.replace(hour=3) + timedelta(days=1)

    assert article_search.search(db, city, ArticleArgs(), "en", late).items == []


@pytest.mark.parametrize("state", [ArticleState.draft, ArticleState.retired])
def test_drafts_and_retired_articles_are_never_public(db, city, state):
    make_article(db, city, "hidden", {"en": {"title": "Compost pickup"}}, state=state)

    assert ids(db, city, q="compost") == []
    assert ids(db, city) == []
    with pytest.raises(NotFound):
        article_search.read(db, city, "hidden", "en", NOW)


def test_staff_may_see_drafts_but_never_retired(db, city):
    make_article(db, city, "draft", {"en": {"title": "Compost"}}, state=ArticleState.draft)
    make_article(db, city, "gone", {"en": {"title": "Compost"}}, state=ArticleState.retired)

    found = ids(db, city, q="compost", states=article_search.WITH_DRAFTS)

    assert found == ["draft"]


def test_another_citys_articles_are_not_found(db, city, kb):
    other = make_city(db, jurisdiction_id="other.example.org")
    make_article(db, other, "pothole-elsewhere", {"en": {"title": "Report a pothole"}})

    assert ids(db, city, q="pothole") == ["pothole-repair"]
    with pytest.raises(NotFound):
        article_search.read(db, city, "pothole-elsewhere", "en", NOW)


# --- languages of the answer ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "said_in"),
    [("es-MX", "es"), ("es", "es"), ("vi", "vi"), ("ar", "ar"), ("fr", "en"), ("en", "en")],
)
def test_the_locale_chain_picks_the_variant(db, city, kb, locale, said_in):
    view = article_search.read(db, city, "bulk-item-pickup", locale, NOW)
    assert view.locale == said_in


def test_an_article_without_the_language_falls_back_to_the_default(db, city, kb):
    assert article_search.read(db, city, "pothole-repair", "es", NOW).locale == "en"
    assert article_search.read(db, city, "trash-recycling-pickup", "ar", NOW).locale == "en"


def test_an_article_in_no_language_of_the_chain_is_said_in_its_own(db, city):
    make_article(db, city, "only-vi", {"vi": {"title": "Chỉ tiếng Việt"}})
    assert article_search.read(db, city, "only-vi", "es", NOW).locale == "vi"


def test_locale_chain():
    assert article_search.locale_chain("es-MX", "en") == ("es-MX", "es", "en")
    assert article_search.locale_chain("en", "en") == ("en",)
    assert article_search.locale_chain("vi", "en-US") == ("vi", "en-US", "en")


# --- bounds and paging ----------------------------------------------------------------------


def test_query_bounds(db, city, kb):
    with pytest.raises(InvalidInput, match="at most 500 characters"):
        ids(db, city, q="a" * 501)
    with pytest.raises(InvalidInput, match="at most 16 words"):
        ids(db, city, q=" ".join(["word"] * 17))
    assert ids(db, city, q="   ") == ids(db, city)


def test_pages_and_total(db, city, kb):
    first = article_search.search(db, city, ArticleArgs(page_size=2), "en", NOW)
    third = article_search.search(db, city, ArticleArgs(page=3, page_size=2), "en", NOW)
    beyond = article_search.search(db, city, ArticleArgs(page=9, page_size=2), "en", NOW)

    assert (first.total, len(first.items), first.more) == (5, 2, True)
    assert (third.total, len(third.items), third.more) == (5, 1, False)
    assert (beyond.total, beyond.items) == (5, [])
    with pytest.raises(InvalidInput, match="page"):
        article_search.search(db, city, ArticleArgs(page=200, page_size=100), "en", NOW)


@pytest.mark.parametrize(
    "q",
    [
        "it's o'reilly's",
        "back\\slash \\' quote",
        "& | ! <-> :* ( ) '' \"",
        '"unclosed phrase',
        "-only -negated",
        "or or or",
        "🙂 ♻️",
        "垃圾回收",
        "x",
        "'''",
    ],
)
def test_any_text_is_searched_without_error(db, city, kb, q):
    page = article_search.search(db, city, ArticleArgs(q=q), "en", NOW)
    assert page.total >= 0
