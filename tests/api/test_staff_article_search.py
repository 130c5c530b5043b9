"""GET /api/v1/article-search: the knowledge base searched during a call, by role."""

from __future__ import annotations

import pytest

from open311.values import ArticleState, StaffRole
from tests.api.helpers import bearer, make_staff
from tests.db.article_fixtures import make_article, make_city, seed_kb
from tests.factories import make_agency, make_crew

PATH = "/api/v1/article-search"
SEARCHERS = [
    StaffRole.call_taker,
    StaffRole.supervisor,
    StaffRole.administrator,
    StaffRole.editor,
]


@pytest.fixture
def city(db):
    return make_city(db, is_default=True)


@pytest.fixture
def kb(db, city):
    made = seed_kb(db, city)
    make_article(db, city, "draft-compost", {"en": {"title": "Compost"}}, state=ArticleState.draft)
    make_article(db, city, "old-compost", {"en": {"title": "Compost"}}, state=ArticleState.retired)
    return made


def search(client, token: str, **params):
    return client.get(PATH, query_string=params, headers=bearer(token))


@pytest.mark.parametrize("role", SEARCHERS)
def test_desk_roles_and_editors_search(client, db, city, kb, role):
    _user, token = make_staff(db, role, jurisdictions=[city])

    response = search(client, token, q="matress", locale="es")

    assert response.status_code == 200, response.json
    answer = response.get_json()
    assert answer["locale"] == "es" and answer["total"] >= 1
    first = answer["articles"][0]
    assert first["article_id"] == "bulk-item-pickup"
    assert first["locale"] == "es" and first["dir"] == "ltr" and first["state"] == "published"
    assert first["score"] > 0 and first["updated_datetime"].endswith("Z")


def test_crew_members_may_not(client, db, city, kb):
    crew = make_crew(db, make_agency(db, city))
    _user, token = make_staff(db, StaffRole.crew_member, crews=[crew], jurisdictions=[city])
    assert search(client, token, q="compost").status_code == 403


def test_no_token_is_401(client, city, kb):
    assert client.get(PATH, query_string={"q": "compost"}).status_code == 401


@pytest.mark.parametrize("role", [StaffRole.editor, StaffRole.administrator])
def test_editors_and_administrators_may_see_drafts(client, db, city, kb, role):
    _user, token = make_staff(db, role, jurisdictions=[city])

    public = search(client, token, q="compost").get_json()["articles"]
    drafts = search(client, token, q="compost", state="draft").get_json()["articles"]

    assert [a["article_id"] for a in public] == []
    assert [(a["article_id"], a["state"]) for a in drafts] == [("draft-compost", "draft")]


@pytest.mark.parametrize("role", [StaffRole.call_taker, StaffRole.supervisor])
def test_desk_roles_may_not_see_drafts(client, db, city, kb, role):
    _user, token = make_staff(db, role, jurisdictions=[city])
    response = search(client, token, q="compost", state="draft")
    assert response.status_code == 403
    assert "drafts" in response.get_json()[0]["description"]


def test_arabic_caller(client, db, city, kb):
    _user, token = make_staff(db, StaffRole.call_taker, jurisdictions=[city])

    answer = search(client, token, q="أثاث", locale="ar").get_json()

    assert answer["articles"][0]["article_id"] == "bulk-item-pickup"
    assert answer["articles"][0]["dir"] == "rtl"


def test_filters_and_pages(client, db, city, kb):
    _user, token = make_staff(db, StaffRole.call_taker, jurisdictions=[city])

    by_service = search(client, token, service_code="BULKY").get_json()
    by_topic = search(client, token, topic="garbage-recycling", page_size=2, page=2).get_json()

    assert [a["article_id"] for a in by_service["articles"]] == ["bulk-item-pickup"]
    assert (by_topic["total"], by_topic["page"], len(by_topic["articles"])) == (3, 2, 1)


@pytest.mark.parametrize(
    "params",
    [
        {"q": "a" * 501},
        {"q": " ".join(["w"] * 17)},
        {"state": "retired"},
        {"topic": "nope"},
        {"page": "0"},
        {"page_size": "500"},
        {"colour": "blue"},  # staff arguments refuse unknown ones
        {"q": "bulk\x00"},
    ],
)
def test_bad_arguments_are_400(client, db, city, kb, params):
    _user, token = make_staff(db, StaffRole.call_taker, jurisdictions=[city])
    response = search(client, token, **params)
    assert response.status_code == 400, response.json
    assert response.get_json()[0]["code"] == 400


def test_another_citys_user_gets_403(client, db, city, kb):
    other = make_city(db, jurisdiction_id="other.example.org")
    _user, token = make_staff(db, StaffRole.call_taker, jurisdictions=[other])

    assert search(client, token, jurisdiction_id=city.jurisdiction_id).status_code == 403
    assert search(client, token).get_json()["articles"] == []
