"""The knowledge base through the staff API: every endpoint, every role (the editor kept out
of requests and work), refusals that change nothing, sanitised HTML, revisions and audit rows,
the whole base out and in."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from open311.db.models import (
    Article,
    ArticleAnswer,
    ArticleRevision,
    ArticleTopic,
    ArticleVariant,
    AuditEntry,
    Translation,
)
from open311.values import StaffRole
from tests.api.helpers import bearer, make_staff
from tests.factories import make_jurisdiction, make_request, make_service

API = "/api/v1"
ROLES = [role.value for role in StaffRole]
WRITERS = {"administrator", "editor"}
READERS = {"administrator", "editor", "supervisor", "call_taker"}
ANSWERERS = {"administrator", "supervisor", "call_taker"}

EN = {
    "title": "Schedule a bulk item pickup",
    "summary": "Furniture and appliances.",
    "body": "<p>Put items at the curb.</p>",
    "steps": ["<p>Call 3-1-1</p>"],
    "keywords": "bulky, couch",
    "answer_text": "Twice a year.",
}


@pytest.fixture
def city(db):
    austin = make_jurisdiction(
        db, jurisdiction_id="austintexas.gov", name="Austin", time_zone="America/Chicago"
    )
    make_service(db, austin, "BULKY-ITEM")
    make_service(db, austin, "GRAFFITI")
    return austin


@pytest.fixture
def tokens(db, city) -> dict[str, str]:
    from tests.factories import make_agency, make_crew

    crew = make_crew(db, make_agency(db, city))
    found = {}
    for role in ROLES:
        crews = [crew] if role == "crew_member" else []
        _user, token = make_staff(db, role, crews=crews, jurisdictions=[city])
        found[role] = token
    return found


@pytest.fixture
def editor(tokens) -> dict[str, str]:
    return bearer(tokens["editor"])


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def _create(client, headers, article_id="bulk-item-pickup", **fields: Any):
    body = {"article_id": article_id, "variants": {"en": EN}} | fields
    response = client.post(f"{API}/articles", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _errors(response, status: int) -> list[str]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return [error["description"] for error in response.get_json()]


# --- articles -------------------------------------------------------------------------------------


def test_an_editor_writes_an_article_and_every_change_is_a_revision(client, db, city, editor):
    made = _create(client, editor, service_codes=["BULKY-ITEM"], contact="3-1-1")
    assert made["state"] == "draft"
    assert made["variants"]["en"]["title"] == EN["title"]
    assert made["variants"]["en"]["direction"] == "ltr"
    assert made["service_codes"] == ["BULKY-ITEM"]
    changed = client.patch(
        f"{API}/articles/bulk-item-pickup",
        json={"valid_until": "2027-01-31", "contact": None},
        headers=editor,
    )
    assert changed.status_code == 200
    assert changed.get_json()["valid_until"] == "2027-01-31"
    assert changed.get_json()["contact"] is None
    ar = {"title": "جمع الأغراض", "body": "<p>نص</p>"}
    added = client.put(f"{API}/articles/bulk-item-pickup/variants/AR", json=ar, headers=editor)
    assert added.status_code == 200
    assert added.get_json()["variants"]["ar"]["direction"] == "rtl"
    edited = client.put(
        f"{API}/articles/bulk-item-pickup/variants/en",
        json=EN | {"title": "Bulk items"},
        headers=editor,
    )
    assert edited.get_json()["variants"]["en"]["title"] == "Bulk items"
    published = client.post(f"{API}/articles/bulk-item-pickup/publish", headers=editor)
    assert published.status_code == 200
    assert published.get_json()["state"] == "published"
    assert published.get_json()["published_at"]
    revisions = client.get(f"{API}/articles/bulk-item-pickup/revisions", headers=editor)
    listed = revisions.get_json()
    assert [r["number"] for r in listed] == [6, 5, 4, 3, 2, 1]
    assert [r["action"] for r in listed] == [
        "publish",
        "edit",
        "translate",
        "update",
        "translate",
        "create",
    ]
    assert {r["actor"] for r in listed} == {"staff:editor"}
    assert listed[1]["locale"] == "en"
    assert listed[1]["changes"] == {"title": {"from": EN["title"], "to": "Bulk items"}}
    assert listed[3]["changes"] == {
        "valid_until": {"from": None, "to": "2027-01-31"},
        "contact": {"from": "3-1-1", "to": None},
    }
    entries = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.actor, e.method, e.route) for e in entries] == [
        ("staff:editor", "POST", "/api/v1/articles"),
        ("staff:editor", "PATCH", "/api/v1/articles/<article_id>"),
        ("staff:editor", "PUT", "/api/v1/articles/<article_id>/variants/<locale>"),
        ("staff:editor", "PUT", "/api/v1/articles/<article_id>/variants/<locale>"),
        ("staff:editor", "POST", "/api/v1/articles/<article_id>/publish"),
    ]


def test_html_is_sanitised_and_markdown_rendered(client, city, editor):
    attack = {
        "title": "Cafe\u0301 hours",
        "body": (
            '<p onclick="steal()">Open <script>alert(1)</script>'
            '<img src=x onerror="alert(1)"><a href="javascript:alert(1)">here</a> '
            '<a href="https://austintexas.gov" target="_blank">city</a></p><style>p{}</style>'
        ),
        "steps": ['<b onmouseover="x()">Call</b>', "<iframe src=//evil></iframe>Go"],
    }
    made = client.put(
        f"{API}/articles/x/variants/en", json=attack, headers=editor
    )  # no such article yet
    assert made.status_code == 404
    _create(client, editor, "cafe", variants={"en": attack})
    variant = client.get(f"{API}/articles/cafe", headers=editor).get_json()["variants"]["en"]
    assert variant["title"] == "Café hours"  # NFC: one code point
    assert variant["body"] == (
        '<p>Open <a rel="noopener noreferrer">here</a> '
        '<a href="https://austintexas.gov" rel="noopener noreferrer">city</a></p>'
    )
    assert variant["steps"] == ["<b>Call</b>", "Go"]
    markdown = {
        "title": "M",
        "body": "## Hours\n\n*Open* <script>x</script>",
        "body_format": "markdown",
    }
    done = client.put(f"{API}/articles/cafe/variants/es", json=markdown, headers=editor).get_json()
    es = done["variants"]["es"]
    assert es["body"] == "<h2>Hours</h2>\n<p><em>Open</em> &lt;script&gt;x&lt;/script&gt;</p>"
    assert es["body_source"] == markdown["body"]
    assert es["body_format"] == "markdown"


def test_list_filters_and_pages(client, db, city, editor):
    client.post(
        f"{API}/article-topics", json={"code": "garbage", "name": "Garbage"}, headers=editor
    )
    _create(client, editor, "a-one", topic="garbage", service_codes=["GRAFFITI"])
    _create(client, editor, "b-two", variants={"es": {"title": "Dos"}})
    _create(client, editor, "c-three")
    client.post(f"{API}/articles/c-three/publish", headers=editor)

    def ids(query: str) -> list[str]:
        response = client.get(f"{API}/articles{query}", headers=editor)
        assert response.status_code == 200, response.get_json()
        return [item["article_id"] for item in response.get_json()]

    assert ids("") == ["a-one", "b-two", "c-three"]
    assert ids("?state=published") == ["c-three"]
    assert ids("?state=draft") == ["a-one", "b-two"]
    assert ids("?topic=garbage") == ["a-one"]
    assert ids("?topic=nothing") == []
    assert ids("?locale=es") == ["b-two"]
    assert ids("?locale=ES") == ["b-two"]
    assert ids("?service_code=GRAFFITI") == ["a-one"]
    assert ids("?jurisdiction_id=austintexas.gov&page_size=2") == ["a-one", "b-two"]
    first = client.get(f"{API}/articles?page_size=2", headers=editor)
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    assert ids("?page_size=2&page=2") == ["c-three"]
    assert "Link" not in client.get(f"{API}/articles?page=2&page_size=2", headers=editor).headers
    item = client.get(f"{API}/articles?locale=es", headers=editor).get_json()[0]
    assert item["titles"] == {"es": "Dos"}
    for bad in ("?state=gone", "?stat=draft", "?page=0", "?page_size=501", "?locale=x" * 10):
        assert client.get(f"{API}/articles{bad}", headers=editor).status_code == 400, bad
    assert _errors(client.get(f"{API}/articles?locale=qq-zz", headers=editor), 400) == [
        "locale: 'qq-zz' is not a known language tag"
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"article_id": "Bad Id"}, "article_id: 1 to 100 lower-case letters, digits or '-'"),
        ({"article_id": "a", "service_codes": ["NOPE"]}, "not services of this jurisdiction"),
        ({"article_id": "a", "topic": "missing"}, "topic: no topic 'missing'"),
        (
            {"article_id": "a", "valid_from": "2027-01-02", "valid_until": "2027-01-01"},
            "valid_until: before valid_from",
        ),
        ({"article_id": "a", "valid_from": "soon"}, "valid_from: Not a valid date."),
        ({"article_id": "a", "variants": {"en": {"title": " "}}}, "title: not blank"),
        ({"article_id": "a", "variants": {"xx-yy": {"title": "T"}}}, "not a known language tag"),
        ({"article_id": "a", "variants": {"en": {"title": "T", "steps": ["<i></i>"]}}}, "empty"),
        ({"article_id": "a", "colour": "red"}, "colour: Unknown field."),
        ({"article_id": "a", "contact": "bad\x01"}, "contains control characters"),
    ],
)
def test_bad_articles_are_refused_and_nothing_stored(client, db, city, editor, body, problem):
    problems = _errors(client.post(f"{API}/articles", json=body, headers=editor), 400)
    assert any(problem in line for line in problems), problems
    assert _count(db, Article) == _count(db, ArticleRevision) == 0


def test_a_taken_article_id_is_a_conflict(client, db, city, editor):
    _create(client, editor)
    again = client.post(f"{API}/articles", json={"article_id": "bulk-item-pickup"}, headers=editor)
    assert _errors(again, 409) == ["article_id: bulk-item-pickup exists"]
    assert _count(db, Article) == 1


def test_an_unknown_article_is_404_everywhere(client, city, editor, tokens):
    missing = f"{API}/articles/nothing-here"
    assert client.get(missing, headers=editor).status_code == 404
    assert client.patch(missing, json={}, headers=editor).status_code == 404
    assert client.put(f"{missing}/variants/en", json=EN, headers=editor).status_code == 404
    assert client.delete(f"{missing}/variants/en", headers=editor).status_code == 404
    for move in ("publish", "unpublish", "retire"):
        assert client.post(f"{missing}/{move}", headers=editor).status_code == 404
    assert client.get(f"{missing}/revisions", headers=editor).status_code == 404
    answer = client.post(
        f"{missing}/answers", json={"locale": "en"}, headers=bearer(tokens["call_taker"])
    )
    assert answer.status_code == 404


def test_patch_refusals_change_nothing(client, db, city, editor):
    _create(client, editor, valid_from="2027-01-01")
    url = f"{API}/articles/bulk-item-pickup"
    assert client.patch(url, json={"valid_until": "2026-12-31"}, headers=editor).status_code == 400
    assert client.patch(url, json={"service_codes": ["X"]}, headers=editor).status_code == 400
    assert client.patch(url, json={"article_id": "new"}, headers=editor).status_code == 400
    same = client.patch(url, json={"valid_from": "2027-01-01"}, headers=editor)
    assert same.status_code == 200
    assert _count(db, ArticleRevision) == 2  # create, translate: nothing changed since


def test_languages_are_added_replaced_and_removed(client, db, city, editor):
    _create(client, editor)
    url = f"{API}/articles/bulk-item-pickup/variants"
    assert _errors(client.delete(f"{url}/en", headers=editor), 400) == [
        "locale: en is the article's only language; retire it instead"
    ]
    assert client.put(f"{url}/es-mx", json={"title": "Muebles"}, headers=editor).status_code == 200
    assert client.delete(f"{url}/vi", headers=editor).status_code == 404
    assert _errors(client.put(f"{url}/klingon", json=EN, headers=editor), 400) == [
        "locale: 'klingon' is not a known language tag"
    ]
    assert client.put(f"{url}/es", json={"summary": "x"}, headers=editor).status_code == 400
    client.post(f"{API}/articles/bulk-item-pickup/publish", headers=editor)
    assert _errors(client.delete(f"{url}/en", headers=editor), 400) == [
        "locale: a published article keeps its en variant (the city's default language)"
    ]
    removed = client.delete(f"{url}/es-MX", headers=editor)
    assert removed.status_code == 200
    assert list(removed.get_json()["variants"]) == ["en"]
    last = db.scalar(select(ArticleRevision).order_by(ArticleRevision.number.desc()).limit(1))
    assert (last.action, last.locale) == ("remove_variant", "es-MX")
    assert last.changes == {"title": {"from": "Muebles", "to": None}}


def test_the_publishing_life(client, db, city, editor):
    _create(client, editor, variants={"es": {"title": "Muebles"}})
    url = f"{API}/articles/bulk-item-pickup"
    assert _errors(client.post(f"{url}/publish", headers=editor), 400) == [
        "state: publishing needs a variant in en, the jurisdiction's default language"
    ]
    assert _errors(client.post(f"{url}/unpublish", headers=editor), 409) == [
        "article bulk-item-pickup is draft already"
    ]
    client.put(f"{url}/variants/en", json=EN, headers=editor)
    assert client.post(f"{url}/publish", headers=editor).get_json()["state"] == "published"
    assert client.post(f"{url}/publish", headers=editor).status_code == 409
    assert client.post(f"{url}/unpublish", headers=editor).get_json()["state"] == "draft"
    assert client.post(f"{url}/retire", headers=editor).get_json()["state"] == "retired"
    assert client.post(f"{url}/retire", headers=editor).status_code == 409
    assert client.post(f"{url}/publish", headers=editor).get_json()["state"] == "published"
    actions = db.scalars(select(ArticleRevision.action).order_by(ArticleRevision.number)).all()
    assert actions[-4:] == ["publish", "unpublish", "retire", "publish"]


def test_revisions_page_and_shorten_long_texts(client, city, editor):
    _create(client, editor)
    url = f"{API}/articles/bulk-item-pickup"
    client.put(f"{url}/variants/en", json=EN | {"body": "<p>" + "x" * 500 + "</p>"}, headers=editor)
    first = client.get(f"{url}/revisions?page_size=1", headers=editor)
    assert [r["number"] for r in first.get_json()] == [3]
    assert "page=2" in first.headers["Link"]
    change = first.get_json()[0]["changes"]["body"]["to"]
    assert len(change) == 201 and change.endswith("…")
    assert [
        r["number"]
        for r in client.get(f"{url}/revisions?page=3&page_size=1", headers=editor).get_json()
    ] == [1]
    assert client.get(f"{url}/revisions?page=0", headers=editor).status_code == 400


# --- answered calls -------------------------------------------------------------------------------


def test_a_call_taker_records_a_call_answered(client, db, city, editor, tokens):
    _create(client, editor)
    client.post(f"{API}/articles/bulk-item-pickup/publish", headers=editor)
    request = make_request(db, make_service(db, city, "OTHER"), service_request_id="REQ-1")
    url = f"{API}/articles/bulk-item-pickup/answers"
    taker = bearer(tokens["call_taker"])
    answered = client.post(url, json={"locale": "es-mx"}, headers=taker)
    assert answered.status_code == 201
    assert answered.get_json()["locale"] == "es-MX"
    assert answered.get_json()["service_request_id"] is None
    with_request = client.post(
        url, json={"locale": "en", "service_request_id": "REQ-1"}, headers=taker
    )
    assert with_request.get_json()["service_request_id"] == "REQ-1"
    rows = db.scalars(select(ArticleAnswer).order_by(ArticleAnswer.id)).all()
    assert [(r.locale, r.service_request_pk) for r in rows] == [("es-MX", None), ("en", request.id)]
    assert rows[0].staff_user_id is not None
    unknown = client.post(url, json={"locale": "en", "service_request_id": "NOPE"}, headers=taker)
    assert unknown.status_code == 404
    elsewhere = make_jurisdiction(db, jurisdiction_id="other.example", name="Other")
    make_request(db, make_service(db, elsewhere, "ELSE"), service_request_id="REQ-2")
    other = client.post(url, json={"locale": "en", "service_request_id": "REQ-2"}, headers=taker)
    assert other.status_code == 404
    assert client.post(url, json={"locale": "zz-top"}, headers=taker).status_code == 400
    assert client.post(url, json={}, headers=taker).status_code == 400
    assert _count(db, ArticleAnswer) == 2


@pytest.mark.parametrize("state", ["draft", "retired", "expired"])
def test_only_a_current_published_article_answers_calls(client, db, city, editor, tokens, state):
    _create(client, editor)
    url = f"{API}/articles/bulk-item-pickup"
    if state == "retired":
        client.post(f"{url}/retire", headers=editor)
    if state == "expired":
        client.patch(url, json={"valid_until": "2020-01-01"}, headers=editor)
        client.post(f"{url}/publish", headers=editor)
    refused = client.post(
        f"{url}/answers", json={"locale": "en"}, headers=bearer(tokens["call_taker"])
    )
    assert _errors(refused, 400) == [
        "article_id: bulk-item-pickup is not published and current; it answers no calls"
    ]
    assert _count(db, ArticleAnswer) == 0


# --- topics ---------------------------------------------------------------------------------------


def test_topics_are_created_renamed_moved_and_translated(client, db, city, editor, tokens):
    url = f"{API}/article-topics"
    theme = client.post(
        url,
        json={"code": "garbage", "name": "Garbage", "names": {"es": "Basura", "vi": "Rác"}},
        headers=editor,
    )
    assert theme.status_code == 201
    assert theme.get_json() == {
        "code": "garbage",
        "name": "Garbage",
        "parent": None,
        "names": {"en": "Garbage", "es": "Basura", "vi": "Rác"},
    }
    child = client.post(
        url, json={"code": "bulky", "name": "Bulky items", "parent": "garbage"}, headers=editor
    )
    assert child.get_json()["parent"] == "garbage"
    assert _errors(
        client.post(url, json={"code": "x", "name": "X", "parent": "bulky"}, headers=editor), 400
    ) == ["parent: bulky is a topic under a theme; only themes hold topics"]
    assert (
        client.post(url, json={"code": "garbage", "name": "G"}, headers=editor).status_code == 409
    )
    assert (
        client.post(
            url, json={"code": "x", "name": "X", "parent": "no"}, headers=editor
        ).status_code
        == 400
    )
    renamed = client.patch(f"{url}/garbage", json={"name": "Trash"}, headers=editor)
    assert renamed.get_json()["names"] == {"en": "Trash", "es": "Basura", "vi": "Rác"}
    moved = client.patch(
        f"{url}/bulky", json={"parent": None, "names": {"es": "Muebles"}}, headers=editor
    )
    assert moved.get_json()["parent"] is None
    assert moved.get_json()["names"]["es"] == "Muebles"
    assert (
        client.patch(f"{url}/garbage", json={"parent": "bulky"}, headers=editor).status_code == 200
    )
    assert _errors(
        client.patch(f"{url}/bulky", json={"parent": "garbage"}, headers=editor), 400
    ) == ["parent: garbage is a topic under a theme; only themes hold topics"]
    assert client.patch(f"{url}/nothing", json={"name": "N"}, headers=editor).status_code == 404
    listed = client.get(url, headers=bearer(tokens["call_taker"])).get_json()
    assert [t["code"] for t in listed] == ["bulky", "garbage"]
    stored = db.scalars(select(Translation.source).where(Translation.locale == "es")).all()
    assert set(stored) >= {"Trash", "Bulky items"}
    assert client.get(f"{url}?jurisdiction=x", headers=editor).status_code == 400


# --- the whole knowledge base ---------------------------------------------------------------------


def test_export_and_import_in_both_formats(client, db, city, editor, tokens):
    client.post(
        f"{API}/article-topics",
        json={"code": "garbage", "name": "Garbage", "names": {"es": "Basura"}},
        headers=editor,
    )
    _create(client, editor, topic="garbage", service_codes=["BULKY-ITEM"])
    client.post(f"{API}/articles/bulk-item-pickup/publish", headers=editor)
    reader = bearer(tokens["supervisor"])
    as_json = client.get(f"{API}/knowledge-base", headers=reader)
    assert as_json.status_code == 200
    assert as_json.headers["Content-Type"] == "application/json; charset=utf-8"
    assert as_json.headers["Content-Disposition"] == (
        'attachment; filename="austintexas.gov-knowledge-base.json"'
    )
    document = json.loads(as_json.data)
    assert document["format"] == "open311-kb/1"
    assert document["topics"] == [
        {"code": "garbage", "name": {"en": "Garbage", "es": "Basura"}, "parent": None}
    ]
    as_yaml = client.get(f"{API}/knowledge-base?format=yaml", headers=reader)
    assert as_yaml.headers["Content-Type"] == "application/yaml; charset=utf-8"
    assert yaml.safe_load(as_yaml.data) == document
    assert client.get(f"{API}/knowledge-base?format=xml", headers=reader).status_code == 400

    document["articles"][0]["variants"]["en"]["title"] = "Changed"
    imported = client.post(f"{API}/knowledge-base", json=document, headers=editor)
    assert imported.status_code == 200
    assert imported.get_json()["articles_updated"] == 1
    revision = db.scalar(select(ArticleRevision).order_by(ArticleRevision.id.desc()).limit(1))
    assert revision.actor == "import:editor"
    entry = db.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert entry.route == "/api/v1/knowledge-base"
    assert entry.details["articles_updated"] == 1
    document["articles"][0]["variants"]["en"]["title"] = "Again"
    again = client.post(
        f"{API}/knowledge-base",
        data=yaml.safe_dump(document, allow_unicode=True),
        headers=editor | {"Content-Type": "application/yaml"},
    )
    assert again.status_code == 200, again.get_json()
    assert db.scalar(select(ArticleVariant.title)) == "Again"


def test_a_bad_import_names_every_problem_and_stores_nothing(client, db, city, editor):
    document = {
        "format": "open311-kb/1",
        "topics": [{"code": "t", "name": {"en": "T"}}],
        "articles": [
            {"article_id": "ok", "variants": {"en": {"title": "Fine"}}},
            {"article_id": "bad", "variants": {"en": {"title": ""}, "es": {}}},
        ],
    }
    problems = _errors(client.post(f"{API}/knowledge-base", json=document, headers=editor), 400)
    assert problems == [
        "articles[1].variants.en.title: required",
        "articles[1].variants.es.title: required",
    ]
    assert _count(db, Article) == _count(db, ArticleTopic) == 0
    assert _errors(
        client.post(
            f"{API}/knowledge-base", data="a: [", headers=editor | {"Content-Type": "text/yaml"}
        ),
        400,
    )[0].startswith("document: not YAML")
    assert _errors(
        client.post(
            f"{API}/knowledge-base", data="x", headers=editor | {"Content-Type": "text/plain"}
        ),
        400,
    ) == ["Content-Type: application/json or application/yaml"]
    assert (
        client.post(
            f"{API}/knowledge-base", data="{", headers=editor | {"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert _count(db, AuditEntry) == 0


# --- roles ----------------------------------------------------------------------------------------

CALLS = [
    ("GET", "/articles", None, READERS),
    ("POST", "/articles", {"article_id": "new-one", "variants": {"en": EN}}, WRITERS),
    ("GET", "/articles/bulk-item-pickup", None, READERS),
    ("PATCH", "/articles/bulk-item-pickup", {"contact": "x"}, WRITERS),
    ("PUT", "/articles/bulk-item-pickup/variants/es", {"title": "E"}, WRITERS),
    ("DELETE", "/articles/bulk-item-pickup/variants/vi", None, WRITERS),
    ("POST", "/articles/bulk-item-pickup/unpublish", None, WRITERS),
    ("GET", "/articles/bulk-item-pickup/revisions", None, READERS),
    ("POST", "/articles/bulk-item-pickup/answers", {"locale": "en"}, ANSWERERS),
    ("GET", "/article-topics", None, READERS),
    ("POST", "/article-topics", {"code": "t", "name": "T"}, WRITERS),
    ("PATCH", "/article-topics/garbage", {"name": "G"}, WRITERS),
    ("GET", "/knowledge-base", None, READERS),
    ("POST", "/knowledge-base", {"format": "open311-kb/1", "articles": []}, WRITERS),
]


@pytest.fixture
def published(client, db, city, editor):
    client.post(
        f"{API}/article-topics", json={"code": "garbage", "name": "Garbage"}, headers=editor
    )
    _create(client, editor, variants={"en": EN, "vi": {"title": "V"}})
    client.post(f"{API}/articles/bulk-item-pickup/publish", headers=editor)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), CALLS, ids=[f"{c[0]} {c[1]}" for c in CALLS]
)
def test_roles(client, db, tokens, published, role, method, path, body, allowed):
    response = client.open(f"{API}{path}", method=method, json=body, headers=bearer(tokens[role]))
    if role in allowed:
        assert response.status_code < 300, response.get_json()
    else:
        assert _errors(response, 403)
    assert client.open(f"{API}{path}", method=method, json=body).status_code == 401


EDITOR_REFUSED = [
    ("GET", "/requests/REQ-1", None),
    ("POST", "/requests/REQ-1/notes", {"note": "hello"}),
    ("GET", "/intake/nearby?lat=30.27&long=-97.74", None),
    ("POST", "/intake/requests", {"service_code": "BULKY-ITEM", "lat": 30.27, "long": -97.74}),
    ("POST", "/requests/REQ-1/merge", {"into": "REQ-2"}),
    ("GET", "/requests/REQ-1/app-updates", None),
    ("POST", "/app-updates/1/publish", {}),
    ("GET", "/work-orders", None),
    ("POST", "/work-orders/1/transitions", {"to": "done"}),
    ("GET", "/services", None),
    ("POST", "/services", {"service_code": "X", "service_name": "X"}),
    ("GET", "/users", None),
    ("GET", "/audit", None),
    ("GET", "/deliveries", None),
    ("POST", "/privacy/erasures", {"email": "a@example.org"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), EDITOR_REFUSED, ids=[f"{c[0]} {c[1]}" for c in EDITOR_REFUSED]
)
def test_an_editor_may_not_work_requests(client, db, city, tokens, method, path, body):
    make_request(db, make_service(db, city, "OTHER"), service_request_id="REQ-1")
    response = client.open(
        f"{API}{path}", method=method, json=body, headers=bearer(tokens["editor"])
    )
    assert _errors(response, 403)
    assert _count(db, AuditEntry) == 0


def test_an_editor_has_an_account_and_cities(client, tokens):
    editor = bearer(tokens["editor"])
    assert client.get(f"{API}/me", headers=editor).get_json()["role"] == "editor"
    assert [
        j["jurisdiction_id"] for j in client.get(f"{API}/jurisdictions", headers=editor).get_json()
    ] == ["austintexas.gov"]
    assert client.post(f"{API}/logout", headers=editor).status_code == 204


def test_an_administrator_creates_an_editor(client, db, city, tokens):
    admin = bearer(tokens["administrator"])
    body = {"username": "writer", "password": "correct horse battery", "role": "editor"}
    created = client.post(f"{API}/users", json=body, headers=admin)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["role"] == "editor"


def test_the_city_is_one_of_the_users(client, db, city, editor):
    other = make_jurisdiction(db, jurisdiction_id="other.example", name="Other")
    make_service(db, other, "BULKY-ITEM")
    _create(client, editor)
    assert (
        client.get(f"{API}/articles?jurisdiction_id=other.example", headers=editor).status_code
        == 403
    )
    assert (
        client.get(f"{API}/articles?jurisdiction_id=nowhere.example", headers=editor).status_code
        == 404
    )
    assert client.get(f"{API}/articles?jurisdiction_id=", headers=editor).status_code == 400
    for path in ("/articles/bulk-item-pickup", "/article-topics", "/knowledge-base"):
        response = client.get(f"{API}{path}?jurisdiction_id=other.example", headers=editor)
        assert response.status_code == 403, path
    _user, theirs = make_staff(db, "editor", "other-editor", jurisdictions=[other])
    assert client.get(f"{API}/articles/bulk-item-pickup", headers=bearer(theirs)).status_code == 404
    assert client.get(f"{API}/articles", headers=bearer(theirs)).get_json() == []
