"""GET /api/v1/stats/contacts, /stats/articles and /stats/work-orders: the figures of the
domain (tests/db/test_call_stats.py recomputes them) through the API, every parameter, every
error, every role, and the charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from open311.db.models import Article, ArticleAnswer, ArticleVariant, Contact
from open311.values import StaffRole
from tests.api.helpers import bearer, make_staff
from tests.db.test_call_stats import expected_figures, make_orders
from tests.factories import make_agency, make_crew, make_jurisdiction

LA = ZoneInfo("America/Los_Angeles")
CALLER = "+1 213 555 0142"


@pytest.fixture
def city(db):
    return make_jurisdiction(db, time_zone="America/Los_Angeles", default_locale="en")


def contact(db, city, queued: datetime, wait: float | None, **fields) -> Contact:
    row = Contact(
        jurisdiction_id=city.id,
        channel=fields.pop("channel", "phone"),
        queued_at=queued,
        answered_at=queued + timedelta(seconds=wait) if wait is not None else None,
        ended_at=queued + timedelta(seconds=(wait or 0) + 300),
        caller_number=CALLER,
        **fields,
    )
    db.add(row)
    db.flush()
    return row


@pytest.fixture
def calls(db, city):
    """A supervisor, two call-takers and their calls of 2 and 3 November 2026 (local)."""
    _boss, boss = make_staff(db, StaffRole.supervisor, "sue", jurisdictions=[city])
    ann, ann_token = make_staff(db, StaffRole.call_taker, "ann", jurisdictions=[city])
    bob, _bob_token = make_staff(db, StaffRole.call_taker, "bob", jurisdictions=[city])
    ann.display_name = "Ann Agent"
    day = datetime(2026, 11, 2, 9, tzinfo=LA).astimezone(UTC)
    rows = [
        contact(db, city, day, 12, staff_user_id=ann.id, language="en", outcome="information"),
        contact(db, city, day, 45, staff_user_id=ann.id, language="es", interpreter=True,
                outcome="request", hold_seconds=30),
        contact(db, city, day + timedelta(days=1), 5, staff_user_id=bob.id, channel="chat",
                language="en", outcome="request"),
        contact(db, city, day + timedelta(hours=2), None, abandoned=True, language="en"),
    ]  # fmt: skip
    return {"boss": boss, "ann": ann_token, "ann_user": ann, "rows": rows}


WINDOW = {"start": "2026-11-02", "end": "2026-11-04"}


def test_a_supervisor_reads_every_figure_per_day_and_channel(client, calls):
    response = client.get(
        "/api/v1/stats/contacts", query_string=WINDOW, headers=bearer(calls["boss"])
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["periods"] == ["2026-11-02T00:00:00-08:00", "2026-11-03T00:00:00-08:00"]
    assert (body["period"], body["group_by"], body["time_zone"]) == (
        "day",
        "channel",
        "America/Los_Angeles",
    )
    assert body["service_level_seconds"] == 30
    assert body["start"] == "2026-11-02T00:00:00-08:00"  # a date is the city's midnight
    rows = calls["rows"]
    phone_monday = next(
        r
        for r in body["rows"]
        if r["group"] == "phone" and r["period_start"].startswith("2026-11-02")
    )
    assert {k: phone_monday[k] for k in expected_figures([])} == expected_figures(
        [rows[0], rows[1], rows[3]]
    )
    assert phone_monday["service_level_pct"] == round(100 / 3, 1)
    assert body["total"] == expected_figures(rows)
    assert [t["group"] for t in body["totals"]] == ["phone", "chat"]
    assert CALLER not in response.get_data(as_text=True)


def test_by_call_taker_names_staff_and_never_callers(client, calls):
    response = client.get(
        "/api/v1/stats/contacts",
        query_string=WINDOW | {"group_by": "staff_user", "period": "week"},
        headers=bearer(calls["boss"]),
    )
    assert response.status_code == 200, response.json
    totals = {t["group"]: t for t in response.json["totals"]}
    assert set(totals) == {"ann", "bob", None}
    assert totals["ann"]["group_name"] == "Ann Agent"
    assert totals[None]["group_name"] == "no call-taker"
    assert totals[None]["abandoned"] == 1
    assert response.json["periods"] == ["2026-11-02T00:00:00-08:00"]
    assert CALLER not in response.get_data(as_text=True)


def test_a_call_taker_sees_their_own_contacts_only(client, calls):
    response = client.get(
        "/api/v1/stats/contacts",
        query_string=WINDOW | {"group_by": "staff_user"},
        headers=bearer(calls["ann"]),
    )
    assert response.status_code == 200, response.json
    assert [t["group"] for t in response.json["totals"]] == ["ann"]
    assert response.json["total"] == expected_figures(calls["rows"][:2])
    for path in ("/api/v1/stats/articles", "/api/v1/stats/work-orders"):
        assert client.get(path, headers=bearer(calls["ann"])).status_code == 403


@pytest.mark.parametrize("role", [StaffRole.crew_member, StaffRole.editor])
def test_crews_and_editors_are_refused(client, db, city, role):
    crews = [make_crew(db, make_agency(db, city))] if role == StaffRole.crew_member else []
    _user, token = make_staff(db, role, crews=crews, jurisdictions=[city])
    for path in ("contacts", "contacts.svg", "articles", "work-orders", "work-orders.png"):
        response = client.get(f"/api/v1/stats/{path}", headers=bearer(token))
        assert response.status_code == 403, path
        assert response.is_json


def test_without_a_token_nothing(client, city):
    assert client.get("/api/v1/stats/contacts").status_code == 401
    assert client.get("/api/v1/stats/work-orders.svg").status_code == 401


def test_filters_and_local_times(client, calls):
    boss = bearer(calls["boss"])
    chats = client.get(
        "/api/v1/stats/contacts",
        query_string=WINDOW | {"channel": "chat", "group_by": "language"},
        headers=boss,
    )
    assert chats.json["total"]["offered"] == 1
    assert [t["group"] for t in chats.json["totals"]] == ["en"]
    # A zone-less time is the city's: 09:00 local to 10:00 local holds the two 09:00 calls.
    hour = client.get(
        "/api/v1/stats/contacts",
        query_string={"start": "2026-11-02T09:00", "end": "2026-11-02T10:00", "period": "hour"},
        headers=boss,
    )
    assert hour.status_code == 200, hour.json
    assert hour.json["total"]["offered"] == 2
    zoned = client.get(
        "/api/v1/stats/contacts",
        query_string={"start": "2026-11-02T17:00:00Z", "end": "2026-11-02T18:00:00Z",
                      "period": "hour", "group_by": "none"},
        headers=boss,
    )  # fmt: skip
    assert zoned.json["rows"][0]["period_start"] == "2026-11-02T09:00:00-08:00"
    assert zoned.json["rows"][0]["group_name"] == "all contacts"
    assert zoned.json["total"]["offered"] == 2


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ({"period": "fortnight"}, 400, "period"),
        ({"group_by": "district"}, 400, "group_by"),
        ({"channel": "pigeon"}, 400, "channel"),
        ({"metric": "happiness"}, 400, "metric"),
        ({"start": "yesterday"}, 400, "start"),
        ({"end": "2026-02-31"}, 400, "end: not a W3C datetime"),
        ({"start": "2026-11-04", "end": "2026-11-02"}, 400, "start must be before end"),
        ({"start": "2026-10-01", "end": "2026-11-02", "period": "hour"}, 400, "744"),
        ({"jurisdiction_id": "nowhere.example"}, 404, "nowhere"),
        ({"stauts": "open"}, 400, "stauts"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(client, calls, query, status, words):
    for path in ("/api/v1/stats/contacts", "/api/v1/stats/contacts.svg"):
        response = client.get(path, query_string=query, headers=bearer(calls["boss"]))
        assert response.status_code == status, (path, response.json)
        assert words in str(response.json)


def test_another_citys_figures_are_forbidden(client, db, calls):
    make_jurisdiction(db, jurisdiction_id="nyc.gov", name="New York")
    response = client.get(
        "/api/v1/stats/contacts",
        query_string={"jurisdiction_id": "nyc.gov"},
        headers=bearer(calls["boss"]),
    )
    assert response.status_code == 403


def test_an_unknown_format_is_not_found(client, calls):
    for path in ("contacts.gif", "contacts.xml", "work-orders.csv"):
        response = client.get(f"/api/v1/stats/{path}", headers=bearer(calls["boss"]))
        assert response.status_code == 404


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_charts_of_one_metric(client, calls, fmt):
    response = client.get(
        f"/api/v1/stats/contacts.{fmt}",
        query_string=WINDOW | {"metric": "service_level_pct"},
        headers=bearer(calls["boss"]),
    )
    assert response.status_code == 200
    assert response.content_type == {"svg": "image/svg+xml", "png": "image/png"}[fmt]
    data = response.get_data()
    if fmt == "svg":
        assert b"Service level per day" in data and b"lacity.org" in data
    else:
        assert data.startswith(b"\x89PNG")
    again = client.get(
        f"/api/v1/stats/contacts.{fmt}",
        query_string=WINDOW | {"metric": "service_level_pct"},
        headers=bearer(calls["boss"]),
    )
    assert again.get_data() == data


def test_top_articles(client, db, city, calls):
    article = Article(jurisdiction_id=city.id, article_id="bulky-items")
    article.variants = [
        ArticleVariant(locale="en", title="Bulky items"),
        ArticleVariant(locale="es", title="Objetos grandes"),
    ]
    db.add(article)
    db.flush()
    at = datetime(2026, 11, 2, 10, tzinfo=LA)
    for locale in ("en", "en", "es"):
        db.add(
            ArticleAnswer(
                jurisdiction_id=city.id, article_pk=article.id, locale=locale, answered_at=at
            )
        )
    db.flush()
    boss = bearer(calls["boss"])
    response = client.get("/api/v1/stats/articles", query_string=WINDOW, headers=boss)
    assert response.status_code == 200, response.json
    assert response.json["articles"] == [
        {
            "article_id": "bulky-items",
            "title": "Bulky items",
            "answers": 3,
            "by_locale": {"en": 2, "es": 1},
        }
    ]
    spanish = client.get(
        "/api/v1/stats/articles", query_string=WINDOW | {"locale": "es"}, headers=boss
    )
    assert spanish.json["articles"][0]["title"] == "Objetos grandes"
    assert spanish.json["articles"][0]["answers"] == 1
    for bad in ({"limit": 0}, {"limit": 101}, {"start": "2026-11-05", "end": "2026-11-01"}):
        assert (
            client.get("/api/v1/stats/articles", query_string=bad, headers=boss).status_code == 400
        )


def test_work_orders_per_crew_and_agency(client, db, city, calls):
    make_orders(db, city)
    boss = bearer(calls["boss"])
    query = {"start": "2026-10-28", "end": "2026-11-04", "period": "week"}
    crews = client.get("/api/v1/stats/work-orders", query_string=query, headers=boss)
    assert crews.status_code == 200, crews.json
    assert crews.json["group_by"] == "crew"
    agencies = client.get(
        "/api/v1/stats/work-orders", query_string=query | {"group_by": "agency"}, headers=boss
    )
    assert {t["group"] for t in agencies.json["totals"]} == {"BSS", "BSL"}
    assert sum(t["done"] for t in agencies.json["totals"]) == crews.json["total"]["done"]
    assert agencies.json["total"] == crews.json["total"]
    png = client.get(
        "/api/v1/stats/work-orders.png", query_string=query | {"metric": "overdue"}, headers=boss
    )
    assert png.status_code == 200 and png.content_type == "image/png"
    for bad in ({"group_by": "channel"}, {"metric": "offered"}, {"period": "year"}):
        response = client.get("/api/v1/stats/work-orders", query_string=bad, headers=boss)
        assert response.status_code == 400, bad


def test_an_administrator_chooses_the_city(client, db, city, calls):
    other = make_jurisdiction(db, jurisdiction_id="nyc.gov", name="New York")
    _admin, token = make_staff(db, StaffRole.administrator, "ada", jurisdictions=[city, other])
    contact(db, other, datetime(2026, 11, 2, 15, tzinfo=UTC), 3)
    response = client.get(
        "/api/v1/stats/contacts",
        query_string=WINDOW | {"jurisdiction_id": "nyc.gov"},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.json
    assert response.json["jurisdiction_id"] == "nyc.gov"
    assert response.json["total"]["offered"] == 1
    # Both cities and no default among them: which one must be said.
    unnamed = client.get("/api/v1/stats/contacts", headers=bearer(token))
    assert unnamed.status_code in (200, 400)
