"""/kb and /kb/<article_id>: the public articles searched and read as pages, by the articles
API's rules (published and valid only), in the reader's language, escaped where not cleaned."""

from __future__ import annotations

from datetime import date

import pytest

from open311.values import ArticleState
from tests.db.article_fixtures import make_article, make_city, seed_kb
from tests.factories import make_service


@pytest.fixture
def city(db):
    return make_city(db, is_default=True)


@pytest.fixture
def kb(db, city):
    make_service(db, city, "BULKY", service_name="Bulky item pickup")
    return seed_kb(db, city)


def page(client, path: str, **params: str):
    headers = params.pop("headers", {})
    response = client.get(path, query_string=params, headers=headers)
    return response, response.get_data(as_text=True)


def test_search_finds_articles_with_title_and_snippet(client, kb):
    response, html = page(client, "/kb", q="mattress")
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert "Schedule a bulk item pickup" in html
    assert "Large items that do not fit in your trash cart" in html  # the body as a snippet
    assert 'href="/kb/bulk-item-pickup?jurisdiction_id=kb.example.org"' in html
    assert "Content-Security-Policy" in response.headers


def test_search_ranks_as_the_api_does(client, kb):
    _response, html = page(client, "/kb", q="pickup")
    api = client.get("/open311/v2/articles.json", query_string={"q": "pickup"}).get_json()
    positions = [html.index(f'href="/kb/{item["article_id"]}?') for item in api]
    assert positions == sorted(positions) and len(api) >= 2


def test_a_misspelt_word_still_finds(client, kb):
    _response, html = page(client, "/kb", q="potwhole")
    assert "Report a pothole" in html
    assert "1 answer for “potwhole”" in html  # one: the singular


def test_no_hits_says_so(client, kb):
    response, html = page(client, "/kb", q="zebra crossing permits")
    assert response.status_code == 200
    assert "0 answers" in html
    assert "No answer matches" in html


def test_topics_to_browse_and_a_topic_lists_its_articles(client, kb):
    _response, html = page(client, "/kb")
    assert "Garbage &amp; Recycling" in html and "Collection" in html
    assert "Latest answers" in html
    _response, html = page(client, "/kb", topic="streets")
    assert "Report a pothole" in html
    assert "Schedule a bulk item pickup" not in html


def test_an_unknown_topic_is_said_next_to_the_field(client, kb):
    response, html = page(client, "/kb", topic="nope")
    assert response.status_code == 200
    assert "nope is not a topic or theme here" in html


def test_a_query_too_long_is_said_next_to_the_field(client, kb):
    response, html = page(client, "/kb", q="word " * 40)
    assert response.status_code == 200
    assert 'aria-invalid="true"' in html


def test_a_script_in_the_query_is_escaped(client, kb):
    attack = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    response, html = page(client, "/kb", q=attack)
    assert response.status_code == 200
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_article_page_shows_body_steps_services_languages_and_date(client, kb):
    response, html = page(client, "/kb/bulk-item-pickup")
    assert response.status_code == 200
    assert "<h1>Schedule a bulk item pickup</h1>" in html
    assert "<p>Large items that do not fit in your trash cart are collected" in html
    assert "<li><p>Put items at the curb.</p></li>" in html
    assert 'href="/report/BULKY?jurisdiction_id=kb.example.org"' in html
    assert "Report this problem" in html and "Bulky item pickup" in html
    for tag, name in (("es", "español"), ("vi", "Tiếng Việt"), ("ar", "العربية")):
        assert f"language={tag}" in html
        assert name.lower() in html.lower()
    assert "Last updated" in html


def test_the_body_served_is_the_cleaned_one(client, db, city):
    """What the KB stored is served as is; the editing code cleaned it, and a stored script
    (which the editing code never lets in) would show that the page trusts the store."""
    from open311.domain.article_text import sanitise_html

    dirty = '<p onclick="x()">Hi<script>alert(1)</script></p><a href="javascript:x">y</a>'
    make_article(db, city, "clean", {"en": {"title": "Clean", "body": sanitise_html(dirty)}})
    _response, html = page(client, "/kb/clean")
    assert "<p>Hi</p>" in html
    assert "alert(1)" not in html and "onclick" not in html and "javascript:" not in html


def test_the_same_article_as_the_api_serves(client, kb):
    _response, html = page(client, "/kb/bulk-item-pickup", language="es")
    api = client.get(
        "/open311/v2/articles/bulk-item-pickup.json", query_string={"locale": "es"}
    ).get_json()[0]
    assert api["title"] in html and api["body"] in html
    assert '<article class="kb-article" lang="es" dir="ltr">' in html


@pytest.mark.parametrize("path", ["/kb/no-such-article", "/kb/draft-one", "/kb/retired-one"])
def test_unknown_draft_and_retired_articles_are_not_found(client, db, city, kb, path):
    make_article(db, city, "draft-one", {"en": {"title": "Draft"}}, state=ArticleState.draft)
    make_article(db, city, "retired-one", {"en": {"title": "Old"}}, state=ArticleState.retired)
    response, html = page(client, path)
    assert response.status_code == 404
    assert "Draft" not in html and "Old" not in html
    assert response.content_type.startswith("text/html")


def test_an_article_not_valid_today_is_not_found(client, db, city, kb):
    make_article(db, city, "later", {"en": {"title": "Later"}}, valid_from=date(2999, 1, 1))
    response, _html = page(client, "/kb/later")
    assert response.status_code == 404
    _response, html = page(client, "/kb", q="later")
    assert 'href="/kb/later' not in html


def test_drafts_are_not_found_by_search(client, db, city, kb):
    make_article(
        db, city, "secret", {"en": {"title": "Secret mattress plan"}}, state=ArticleState.draft
    )
    _response, html = page(client, "/kb", q="mattress")
    assert "Secret mattress plan" not in html


def test_the_page_language_chooses_the_variant(client, kb):
    _response, html = page(client, "/kb/bulk-item-pickup", locale="vi")
    assert '<html lang="vi" dir="ltr">' in html
    assert "Bốc rác khối để lề đường" in html


def test_a_language_the_article_lacks_falls_back_to_the_city_default(client, kb):
    _response, html = page(client, "/kb/pothole-repair", locale="es")
    assert '<html lang="es"' in html
    assert '<article class="kb-article" lang="en" dir="ltr">' in html
    assert "Report a pothole" in html


def test_accept_language_chooses_when_no_locale_is_asked(client, kb):
    _response, html = page(
        client, "/kb/bulk-item-pickup", headers={"Accept-Language": "es-MX,es;q=0.9"}
    )
    assert "Recolección de artículos grandes" in html


def test_arabic_is_right_to_left(client, kb):
    _response, html = page(client, "/kb", locale="ar", q="أثاث")
    assert '<html lang="ar" dir="rtl">' in html
    assert "جمع العناصر كبيرة الحجم" in html
    _response, html = page(client, "/kb/bulk-item-pickup")  # the session remembers Arabic
    assert '<article class="kb-article" lang="ar" dir="rtl">' in html


def test_jurisdiction_id_chooses_the_city_and_an_unknown_one_is_404(client, db, kb):
    other = make_city(db, jurisdiction_id="other.example.org", name="Other Town")
    make_article(db, other, "other-answer", {"en": {"title": "Other answer"}})
    _response, html = page(client, "/kb", jurisdiction_id="other.example.org")
    assert "Answers from Other Town" in html and "Other answer" in html
    assert "Schedule a bulk item pickup" not in html
    assert 'name="jurisdiction_id"' in html  # two cities: a selector
    response, _html = page(client, "/kb/bulk-item-pickup", jurisdiction_id="other.example.org")
    assert response.status_code == 404
    response, _html = page(client, "/kb", jurisdiction_id="nowhere")
    assert response.status_code == 404
