"""Paging GET requests: page/page_size, keyset cursors, Link/X-Page-Size/X-Total-Count, and
which queries keep the 90-day window."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from open311.domain import request_search
from open311.wire import cursor as cursors
from tests.api.helpers import FORMATS, errors, items_of, next_link, url
from tests.factories import (
    insert_request_rows,
    insert_requests,
    make_jurisdiction,
    make_request,
    make_service,
)

DAY = timedelta(days=1)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def pothole(db):
    return make_service(db, make_jurisdiction(db), "POT-01", service_name="Pothole")


@pytest.fixture
def fifty(db, pothole):
    """50 requests one hour apart, the newest an hour ago; ids P-00 (oldest) .. P-49."""
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    rows = [
        {
            "service_request_id": f"P-{i:02d}",
            "requested_datetime": newest - timedelta(hours=49 - i),
            "updated_datetime": newest - timedelta(hours=49 - i),
            "lat": 34.0 + i / 1000,
            "long": -118.25,
        }
        for i in range(50)
    ]
    insert_request_rows(db, pothole, rows)
    return [row["service_request_id"] for row in rows]


def ids(items) -> list[str]:
    return [item["service_request_id"] for item in items]


def follow(client, first: str, query: dict, fmt: str, between=None) -> list[list[str]]:
    """Every page from `first` on, by the Link headers; `between(n)` runs after page n."""
    pages = []
    response = client.get(first, query_string=query)
    while True:
        pages.append(ids(items_of(response, fmt)))
        if between is not None:
            between(len(pages))
        link = next_link(response)
        if link is None:
            return pages
        assert len(pages) < 500, "the Link chain does not end"
        response = client.get(link)


# --- page and page_size -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_pages_cover_the_set_exactly(client, fifty, fmt):
    newest_first = fifty[::-1]
    seen = []
    for page in range(1, 9):
        response = client.get(url("requests", fmt), query_string={"page": page, "page_size": 7})
        got = ids(items_of(response, fmt))
        assert got == newest_first[(page - 1) * 7 : page * 7]
        assert response.headers["X-Page-Size"] == "7"
        assert response.headers["X-Total-Count"] == "50"
        link = next_link(response)
        if page < 8:
            assert parse_qs(urlsplit(link).query) == {"page": [str(page + 1)], "page_size": ["7"]}
        else:
            assert link is None
        seen += got
    assert seen == newest_first


@pytest.mark.parametrize("fmt", FORMATS)
def test_past_the_last_page_is_an_empty_list_with_the_total(client, fifty, fmt):
    response = client.get(url("requests", fmt), query_string={"page": 9, "page_size": 7})

    assert items_of(response, fmt) == []
    assert response.headers["X-Total-Count"] == "50"
    assert next_link(response) is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_page_size_alone_defaults_to_page_one_and_continues_by_cursor(client, fifty, fmt):
    pages = follow(client, url("requests", fmt), {"page_size": 20}, fmt)

    assert [len(p) for p in pages] == [20, 20, 10]
    assert sum(pages, []) == fifty[::-1]


def test_paging_defaults_to_50_per_page(client, db, pothole):
    insert_requests(db, pothole, [datetime.now(UTC) - timedelta(minutes=i) for i in range(60)])

    response = client.get(url("requests", "json"), query_string={"page": 1})

    assert len(response.get_json()) == 50
    assert response.headers["X-Page-Size"] == "50"
    assert response.headers["X-Total-Count"] == "60"


def test_total_count_is_left_out_beyond_the_cap(client, fifty, monkeypatch):
    monkeypatch.setattr(request_search, "TOTAL_COUNT_CAP", 30)

    first = client.get(url("requests", "json"), query_string={"page": 1, "page_size": 10})
    last = client.get(url("requests", "json"), query_string={"page": 5, "page_size": 10})

    assert "X-Total-Count" not in first.headers
    assert last.headers["X-Total-Count"] == "50"  # the last page tells it without counting


def test_total_count_is_only_sent_with_page(client, fifty):
    first = client.get(url("requests", "json"), query_string={"page_size": 10})
    assert "X-Total-Count" not in first.headers
    assert "X-Total-Count" not in client.get(next_link(first)).headers
    assert "X-Total-Count" not in client.get(url("requests", "json")).headers
    paged = client.get(url("requests", "json"), query_string={"page": 2, "page_size": 10})
    assert paged.headers["X-Total-Count"] == "50"


def test_next_link_is_absolute_and_keeps_every_other_argument(client, fifty):
    query = {"status": "open", "service_code": "POT-01", "page": 2, "page_size": 5}

    link = next_link(client.get(url("requests", "json"), query_string=query))

    assert parse_qs(urlsplit(link).query) == {
        "status": ["open"],
        "service_code": ["POT-01"],
        "page": ["3"],
        "page_size": ["5"],
    }


def test_next_link_uses_the_public_url(app, client, fifty):
    app.config["OPEN311_PUBLIC_URL"] = "https://api.example.gov/open311/v2"

    response = client.get(url("requests", "json"), query_string={"page_size": 5})

    assert response.headers["Link"].startswith("<https://api.example.gov/open311/v2/requests.json?")


# --- keyset cursors -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_change_feed_by_cursor_has_no_gaps_or_repeats_while_requests_arrive(
    client, db, pothole, fifty, fmt
):
    start = datetime.now(UTC) - 60 * DAY
    arrived: list[str] = []

    def arrive(page: int) -> None:
        if page <= 3:  # new requests land while the client is paging
            arrived.append(make_request(db, pothole, description=f"new {page}").service_request_id)

    pages = follow(
        client,
        url("requests", fmt),
        {"updated_after": stamp(start), "sort": "updated_datetime", "page_size": 8},
        fmt,
        between=arrive,
    )

    listed = sum(pages, [])
    assert len(listed) == len(set(listed))
    assert listed == fifty + arrived  # oldest change first, the new ones at the end
    assert all(len(p) == 8 for p in pages[:-1])


@pytest.mark.parametrize("fmt", FORMATS)
def test_newest_first_cursor_is_not_shifted_by_arrivals(client, db, pothole, fifty, fmt):
    def arrive(_page: int) -> None:
        make_request(db, pothole)

    pages = follow(client, url("requests", fmt), {"page_size": 9}, fmt, between=arrive)

    # The new ones are newer than the first page: before the cursor, so never listed.
    assert sum(pages, []) == fifty[::-1]


def test_cursor_over_distance(client, fifty):
    query = {"lat": 34.0, "long": -118.25, "radius": 50000, "sort": "distance", "page_size": 6}

    pages = follow(client, url("requests", "json"), query, "json")

    assert sum(pages, []) == fifty  # P-00 sits on the point, each next one 111 m further


def test_cursor_survives_equal_sort_keys(client, db, pothole):
    moment = datetime.now(UTC).replace(microsecond=0) - DAY
    insert_requests(db, pothole, [moment] * 25)

    pages = follow(client, url("requests", "json"), {"page_size": 4}, "json")

    listed = sum(pages, [])
    assert len(listed) == len(set(listed)) == 25


def test_the_standard_query_links_the_rest_of_its_window(client, db, pothole):
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    insert_requests(db, pothole, [newest - timedelta(minutes=i) for i in range(1003)])
    insert_requests(db, pothole, [newest - 91 * DAY])  # outside the window

    first = client.get(url("requests", "json"))
    link = next_link(first)
    rest = client.get(link)

    assert len(first.get_json()) == 1000
    assert len(rest.get_json()) == 3  # the window is pinned in the link, so not the old one
    assert next_link(rest) is None
    query = parse_qs(urlsplit(link).query)
    assert set(query) == {"page_size", "cursor", "start_date", "end_date"}


# --- the 90-day window ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("paging", [{"page": "1"}, {"page_size": "10"}])
def test_paging_lifts_the_90_day_window(client, db, pothole, fmt, paging):
    old = make_request(
        db,
        pothole,
        requested_datetime=datetime(2019, 1, 1, tzinfo=UTC),
        updated_datetime=datetime(2019, 1, 1, tzinfo=UTC),
    ).service_request_id
    recent = make_request(db, pothole).service_request_id

    assert ids(items_of(client.get(url("requests", fmt)), fmt)) == [recent]
    assert ids(items_of(client.get(url("requests", fmt), query_string=paging), fmt)) == [
        recent,
        old,
    ]
    wide = {"start_date": "2018-01-01T00:00:00Z", "end_date": "2020-01-01T00:00:00Z"}
    response = client.get(url("requests", fmt), query_string=paging | wide)
    assert ids(items_of(response, fmt)) == [old]


@pytest.mark.parametrize("fmt", FORMATS)
def test_paging_keeps_refusing_a_reversed_window(client, pothole, fmt):
    query = {"page": 1, "start_date": "2020-01-02T00:00:00Z", "end_date": "2020-01-01T00:00:00Z"}

    (description,) = errors(client.get(url("requests", fmt), query_string=query), fmt, 400)
    assert "end_date" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_sort_and_extensions_alone_keep_the_window(client, db, pothole, fmt):
    make_request(
        db,
        pothole,
        requested_datetime=datetime(2019, 1, 1, tzinfo=UTC),
        updated_datetime=datetime(2019, 1, 1, tzinfo=UTC),
    )
    recent = make_request(db, pothole).service_request_id

    for query in ({"sort": "updated_datetime"}, {"extensions": "true"}):
        assert ids(items_of(client.get(url("requests", fmt), query_string=query), fmt)) == [recent]
    wide = {"start_date": "2018-01-01T00:00:00Z", "end_date": "2020-01-01T00:00:00Z"}
    errors(
        client.get(url("requests", fmt), query_string=wide | {"sort": "updated_datetime"}), fmt, 400
    )


# --- bad paging input --------------------------------------------------------------------------


def a_cursor(sort: str = "-requested_datetime") -> str:
    return cursors.encode((sort, datetime(2024, 1, 1, tzinfo=UTC), 5))


def garbled(token: str) -> str:
    return token[:10] + ("B" if token[10] == "A" else "A") + token[11:]


@pytest.mark.parametrize("fmt", (*FORMATS, "geojson"))
@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "two"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "many"}, "page_size"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": a_cursor()[:-3]}, "cursor"),
        ({"cursor": garbled(a_cursor())}, "cursor"),
        ({"cursor": "x" * 300}, "cursor"),
        ({"cursor": a_cursor("updated_datetime")}, "cursor"),
        ({"cursor": a_cursor(), "page": "2"}, "page"),
    ],
)
def test_bad_paging_arguments_are_400(client, pothole, fmt, query, name):
    response = client.get(url("requests", fmt), query_string=query)

    descriptions = errors(response, "json" if fmt == "geojson" else fmt, 400)
    assert any(name in d for d in descriptions), descriptions


def test_cursor_tokens_round_trip_and_reject_tampering():
    moment = datetime(2024, 4, 12, 9, 14, 3, 123456, tzinfo=UTC)
    for cursor in [("-requested_datetime", moment, 7), ("distance", 231.40000000000001, 9)]:
        assert cursors.decode(cursors.encode(cursor)) == cursor
    token = cursors.encode(("updated_datetime", moment, 7))
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    forged = raw.replace(b",7,", b",8,")
    with pytest.raises(ValueError):
        cursors.decode(base64.urlsafe_b64encode(forged).decode().rstrip("="))
