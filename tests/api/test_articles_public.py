"""GET /open311/v2/articles.{json,xml} and GET /open311/v2/articles/{id}.{json,xml}: every
parameter, both formats, the languages (locale, Accept-Language, Content-Language, rtl) and
every error path."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from open311.values import ArticleState
from tests.api.helpers import CONTENT_TYPES, FORMATS, errors, url
from tests.db.article_fixtures import make_article, make_city, seed_kb
from tests.factories import make_service

# The element names the articles' XML uses: containers and their items.
CONTAINERS = {"articles": "article", "steps": "step", "services": "service", "errors": "error"}
ITEM_FIELDS = {
    "article_id",
    "title",
    "summary",
    "body",
    "steps",
    "keywords",
    "answer_text",
    "topic",
    "theme",
    "services",
    "valid_from",
    "valid_until",
    "contact",
    "locale",
    "dir",
    "updated_datetime",
}


def read_xml(element: ET.Element) -> Any:
    item = CONTAINERS.get(element.tag)
    if item is not None:
        assert all(child.tag == item for child in element), element.tag
        return [read_xml(child) for child in element]
    if len(element):
        return {child.tag: read_xml(child) for child in element}
    return element.text or ""


def items(response, fmt: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == CONTENT_TYPES[fmt]
    if fmt == "json":
        return response.get_json()
    assert response.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(response.data)  # well-formed, whatever the script
    assert root.tag == "articles"
    return read_xml(root)


def ids_of(response, fmt: str) -> list[str]:
    return [item["article_id"] for item in items(response, fmt)]


@pytest.fixture
def city(db):
    return make_city(db, is_default=True)


@pytest.fixture
def kb(db, city):
    make_service(db, city, "BULKY", service_name="Bulky item pickup")
    return seed_kb(db, city)


def get(client, resource: str, fmt: str, **params: str):
    headers = params.pop("headers", {})
    return client.get(url(resource, fmt), query_string=params, headers=headers)


# --- the list --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_list_without_q_is_every_published_article(client, db, city, kb, fmt):
    make_article(db, city, "draft", {"en": {"title": "Draft"}}, state=ArticleState.draft)

    response = get(client, "articles", fmt)

    found = items(response, fmt)
    assert sorted(i["article_id"] for i in found) == sorted(a.article_id for a in kb.values())
    assert response.headers["X-Total-Count"] == "5"
    assert response.headers["Content-Language"] == "en"
    for item in found:
        assert "score" not in item
        assert set(item) - {"score"} <= ITEM_FIELDS


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_item_carries_every_field(client, db, city, kb, fmt):
    response = get(client, "articles", fmt, q="mattress", jurisdiction_id=city.jurisdiction_id)

    item = items(response, fmt)[0]
    assert item["article_id"] == "bulk-item-pickup"
    assert item["title"] == "Schedule a bulk item pickup"
    assert item["body"].startswith("<p>Large items")
    assert item["steps"] == ["<p>Put items at the curb.</p>"]
    assert item["keywords"] == "bulky, furniture, couch, mattress, appliances"
    assert item["answer_text"] == "Bulk items are picked up twice a year at the curb."
    assert item["topic"] == {"code": "collection", "name": "Collection"}
    assert item["theme"] == {"code": "garbage-recycling", "name": "Garbage & Recycling"}
    assert item["services"] == [{"service_code": "BULKY", "service_name": "Bulky item pickup"}]
    assert item["locale"] == "en" and item["dir"] == "ltr"
    assert item["updated_datetime"].endswith("Z")
    if fmt == "json":
        assert item["summary"] is None and item["valid_from"] is None
        assert item["contact"] is None
        assert isinstance(item["score"], float) and item["score"] > 0
    else:
        assert "summary" not in item and "valid_from" not in item
        assert float(item["score"]) > 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("potwhole", "pothole-repair"),
        ("recyling", "trash-recycling-pickup"),
        ("bats", "bat-safety"),
    ],
)
def test_q_finds_and_ranks(client, city, kb, fmt, q, expected):
    response = get(client, "articles", fmt, q=q)

    found = items(response, fmt)
    assert found[0]["article_id"] == expected
    scores = [float(item["score"]) for item in found]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_code_and_topic_filter(client, city, kb, fmt):
    assert ids_of(get(client, "articles", fmt, service_code="BULKY"), fmt) == ["bulk-item-pickup"]
    assert sorted(ids_of(get(client, "articles", fmt, topic="collection"), fmt)) == [
        "bulk-item-pickup",
        "trash-recycling-pickup",
    ]
    assert len(ids_of(get(client, "articles", fmt, topic="garbage-recycling"), fmt)) == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_pages_link_and_count(client, city, kb, fmt):
    first = get(client, "articles", fmt, page_size="2")
    last = get(client, "articles", fmt, page_size="2", page="3")
    beyond = get(client, "articles", fmt, page_size="2", page="4")

    assert len(items(first, fmt)) == 2
    assert first.headers["X-Total-Count"] == "5" and first.headers["X-Page-Size"] == "2"
    link = first.headers["Link"]
    assert link.endswith('; rel="next"')
    query = parse_qs(urlsplit(link[1 : link.index(">")]).query)
    assert query["page"] == ["2"] and query["page_size"] == ["2"]
    assert len(items(last, fmt)) == 1 and "Link" not in last.headers
    assert items(beyond, fmt) == [] and beyond.headers["X-Total-Count"] == "5"
    seen = ids_of(first, fmt) + ids_of(get(client, "articles", fmt, page_size="2", page="2"), fmt)
    assert len(set(seen + ids_of(last, fmt))) == 5


# --- languages -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("params", "header", "language", "title"),
    [
        ({"locale": "es"}, None, "es", "Recolección de artículos grandes"),
        ({"locale": "es-MX"}, None, "es", "Recolección de artículos grandes"),
        ({"locale": "es_MX"}, None, "es", "Recolección de artículos grandes"),
        ({}, "vi,en;q=0.5", "vi", "Bốc rác khối để lề đường"),
        ({"locale": "en"}, "es", "en", "Schedule a bulk item pickup"),  # the parameter wins
        ({"locale": "xx-nope"}, None, "en", "Schedule a bulk item pickup"),  # never a 4xx
        ({"locale": "a" * 200}, None, "en", "Schedule a bulk item pickup"),
    ],
)
def test_locale_and_accept_language(client, city, kb, fmt, params, header, language, title):
    headers = {"Accept-Language": header} if header else {}
    response = get(client, "articles/bulk-item-pickup", fmt, headers=headers, **params)

    [item] = items(response, fmt)
    assert (item["locale"], item["title"]) == (language, title)
    assert response.headers["Content-Language"] == language
    assert "Accept-Language" in response.headers["Vary"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_arabic_is_right_to_left_and_well_formed(client, city, kb, fmt):
    response = get(client, "articles/bulk-item-pickup", fmt, locale="ar")

    [item] = items(response, fmt)
    assert item["dir"] == "rtl" and item["locale"] == "ar"
    assert item["title"] == "جمع العناصر كبيرة الحجم"
    assert response.headers["Content-Language"] == "ar"


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_script_survives_both_formats(client, db, city, fmt):
    said = {
        "en": {"title": "Tom & Jerry <b>", "body": "<p>a &lt; b</p>"},
        "vi": {"title": "Tiếng Việt: rác thải, đồ đạc", "keywords": "ệ ở ừ"},
        "ar": {"title": "العربية: جمع القمامة", "keywords": "سماد"},
        "zh": {"title": "垃圾回收 日本語 한국어", "keywords": "回收"},
    }
    make_article(db, city, "scripts", said)
    for locale, texts in said.items():
        city.locales = ["en", "vi", "ar", "zh"]
        db.flush()
        response = get(client, "articles/scripts", fmt, locale=locale)
        [item] = items(response, fmt)
        assert item["title"] == texts["title"]
        listed = items(get(client, "articles", fmt, q=texts.get("keywords", "jerry")), fmt)
        assert listed[0]["article_id"] == "scripts"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_list_says_each_article_in_the_best_language_it_has(client, city, kb, fmt):
    found = items(get(client, "articles", fmt, locale="es", topic="garbage-recycling"), fmt)

    assert {item["article_id"]: item["locale"] for item in found} == {
        "bulk-item-pickup": "es",
        "trash-recycling-pickup": "es",
        "pickup-free-paint": "en",
    }


def test_topic_and_service_names_follow_the_articles_language(client, db, city, kb):
    from open311.db.models import Translation

    for context, source, text in [
        ("topic", "Collection", "Recolección"),
        ("topic", "Garbage & Recycling", "Basura y reciclaje"),
        ("service_name", "Bulky item pickup", "Recolección de artículos voluminosos"),
    ]:
        db.add(
            Translation(
                jurisdiction_id=city.id, locale="es", context=context, source=source, text=text
            )
        )
    db.flush()

    [item] = items(get(client, "articles/bulk-item-pickup", "json", locale="es"), "json")

    assert item["topic"] == {"code": "collection", "name": "Recolección"}
    assert item["theme"]["name"] == "Basura y reciclaje"
    assert item["services"][0]["service_name"] == "Recolección de artículos voluminosos"


# --- one article -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_article(client, city, kb, fmt):
    response = get(client, "articles/pothole-repair", fmt, jurisdiction_id=city.jurisdiction_id)

    [item] = items(response, fmt)
    assert item["article_id"] == "pothole-repair" and "score" not in item


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("state", [ArticleState.draft, ArticleState.retired])
def test_unpublished_articles_are_not_found(client, db, city, fmt, state):
    make_article(db, city, "hidden", {"en": {"title": "Hidden"}}, state=state)

    assert errors(get(client, "articles/hidden", fmt), fmt, 404) == ["article_id hidden not found"]
    assert items(get(client, "articles", fmt, q="hidden"), fmt) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_article_is_not_found(client, city, kb, fmt):
    assert errors(get(client, "articles/nope", fmt), fmt, 404) == ["article_id nope not found"]


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("resource", ["articles", "articles/bulk-item-pickup"])
def test_unknown_jurisdiction(client, city, kb, fmt, resource):
    found = errors(get(client, resource, fmt, jurisdiction_id="nowhere.example"), fmt, 404)
    assert found == ["jurisdiction_id nowhere.example not found"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "101"}, "page_size"),
        ({"page": "200", "page_size": "100"}, "page"),
        ({"q": "a" * 501}, "q"),
        ({"q": " ".join(["word"] * 17)}, "q: at most 16 words"),
        ({"topic": "nope"}, "topic: nope is not a topic or theme here"),
        ({"q": "bulk\x01"}, "q: contains control characters"),
    ],
)
def test_bad_arguments(client, city, kb, fmt, params, message):
    found = errors(get(client, "articles", fmt, **params), fmt, 400)
    assert any(line.startswith(message) for line in found), found


def test_control_characters_in_the_id_are_refused(client, city, kb):
    assert errors(client.get(url("articles/a\x02b", "xml")), "xml", 400)


@pytest.mark.parametrize("resource", ["articles", "articles/bulk-item-pickup"])
def test_an_unknown_format_is_not_found(client, city, kb, resource):
    response = client.get(f"/open311/v2/{resource}.yaml")
    assert response.status_code == 404
    assert b".json or .xml" in response.data


def test_unknown_parameters_are_ignored(client, city, kb):
    assert len(ids_of(get(client, "articles", "json", colour="blue"), "json")) == 5


def test_several_cities_need_a_jurisdiction_or_a_default(client, db):
    first = make_city(db)
    make_city(db, jurisdiction_id="second.example.org")
    make_article(db, first, "one", {"en": {"title": "One"}})

    assert errors(get(client, "articles", "json"), "json", 400)
    assert ids_of(get(client, "articles", "json", jurisdiction_id="kb.example.org"), "json") == [
        "one"
    ]
    assert (
        ids_of(get(client, "articles", "json", jurisdiction_id="second.example.org"), "json") == []
    )


def test_post_is_not_allowed(client, city, kb):
    assert client.post(url("articles", "json")).status_code == 405


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("locale", "resource", "params", "status", "said"),
    [
        ("es", "articles/nope", {}, 404, "no se encontró article_id nope"),
        ("vi", "articles/nope", {}, 404, "không tìm thấy article_id nope"),
        (
            "ko",
            "articles",
            {"topic": "nope"},
            400,
            "topic: nope은(는) 이곳의 주제나 테마가 아닙니다",
        ),
        ("ar", "articles", {"q": " ".join(["w"] * 17)}, 400, "q: \u200f16 كلمات على الأكثر"),
        ("es", "articles", {"page": "200", "page_size": "100"}, 400, "page: page x page_size"),
    ],
)
def test_errors_in_the_callers_language(
    client, city, kb, fmt, locale, resource, params, status, said
):
    response = get(client, resource, fmt, locale=locale, **params)

    found = errors(response, fmt, status)
    assert found[0].startswith(said), found
    assert response.headers["Content-Language"] == locale


def test_article_reads_count_against_the_reads_limit(
    database_url, session_factory, redis_url, city, kb
):
    from open311 import create_app

    config = {"DATABASE_URL": database_url, "TESTING": True, "REDIS_URL": redis_url}
    app = create_app(config | {"OPEN311_RATE_LIMIT_READS": "2/minute"})
    app.extensions["open311.sessions"] = session_factory
    limited = app.test_client()
    address = {"REMOTE_ADDR": "198.51.100.42"}  # counted apart from any other test's calls

    assert limited.get(url("articles", "json"), environ_base=address).status_code == 200
    assert limited.get(url("articles/bat-safety", "json"), environ_base=address).status_code == 200
    refused = limited.get(url("articles", "xml"), environ_base=address, query_string={"q": "bat"})

    assert errors(refused, "xml", 429)
    assert int(refused.headers["Retry-After"]) > 0
