"""servicerequestupdates (FixMyStreet's extension, digest §8): the public feed and app updates."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from open311.db import update_queries
from open311.db.models import Activity, RoutingRule, ServiceRequest, UpdateAuthor, WorkOrder
from open311.domain import activity, workflow
from open311.values import CrewKind, DuplicateState, Status, WorkOrderState
from open311.wire import cursor as cursors
from tests.api.helpers import CONTENT_TYPES, FORMATS, errors, form, next_link, url
from tests.factories import (
    make_agency,
    make_api_client,
    make_api_key,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_request,
    make_rule,
    make_service,
    make_workflow,
)

T = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WINDOW = {"start_date": "2026-11-01T00:00:00Z", "end_date": "2026-11-30T00:00:00Z"}
FEED = "servicerequestupdates"
PERSONAL = {
    "first_name": "Pat",
    "last_name": "Leeworth",
    "email": "pat.leeworth@example.org",
    "phone": "+1 555 0199",
    "account_id": "acct-4711",
}


# --- reading the wire ---------------------------------------------------------------------------


def updates_of(response, fmt: str) -> list[dict[str, Any]]:
    """The items of a servicerequestupdates answer, XML read back by the spec's names."""
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"] == CONTENT_TYPES[fmt]
    if fmt == "json":
        items = response.get_json()
        assert isinstance(items, list)
        return items
    assert response.data.lower().startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(response.data)
    assert root.tag == "service_request_updates"
    items = []
    for element in root:
        assert element.tag == "request_update"
        item: dict[str, Any] = {}
        for child in element:
            text = child.text or ""
            if child.tag in item:  # a repeated element: several media_url
                previous = item[child.tag]
                item[child.tag] = [*(previous if isinstance(previous, list) else [previous]), text]
            else:
                item[child.tag] = text
        items.append(item)
    return items


def feed(client, fmt: str, **query) -> list[dict[str, Any]]:
    return updates_of(client.get(url(FEED, fmt), query_string=query), fmt)


def activity_counts(db) -> tuple[int, int, int]:
    """(activity rows, update_author rows, work orders): compare around a refused POST."""
    return (
        db.scalar(select(func.count()).select_from(Activity)),
        db.scalar(select(func.count()).select_from(UpdateAuthor)),
        db.scalar(select(func.count()).select_from(WorkOrder)),
    )


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def pothole(db, city):
    return make_service(db, city, "POT-01", service_name="Pothole")


@pytest.fixture
def api_key(db):
    return make_api_key(db, "FixMyStreet")


def public(db, request, at, status, summary, **details):
    return activity.record(
        db,
        request,
        actor="system",
        kind="status_notes",
        summary=summary,
        public=True,
        status=status,
        details=details,
        at=at,
    )


def internal(db, request, at, summary):
    return activity.record(
        db, request, actor="staff:jo", kind="internal_note", summary=summary, at=at
    )


@pytest.fixture
def history(db, pothole):
    """Two requests with public and internal entries in November 2026."""
    first = make_request(db, pothole, service_request_id="U-1", requested_datetime=T)
    second = make_request(db, pothole, service_request_id="U-2", requested_datetime=T)
    entries = [
        public(db, first, T, "open", "Request received via web"),
        public(db, second, T + timedelta(minutes=30), "action_scheduled", "Visit booked"),
    ]
    internal(db, first, T + timedelta(minutes=45), "Crew says: INTERNAL ONLY")
    entries += [
        public(
            db,
            first,
            T + timedelta(hours=1),
            "in_progress",
            "Crew on site",
            media_url="https://img.example.org/before.jpg",
        ),
        public(
            db,
            first,
            T + timedelta(hours=2),
            "fixed",
            "",
            media_url=["https://img.example.org/a.jpg", "https://img.example.org/b.jpg"],
        ),
    ]
    db.flush()
    return entries


def expected_history(entries) -> list[dict[str, Any]]:
    ids = [str(entry.id) for entry in entries]
    return [
        {
            "update_id": ids[0],
            "service_request_id": "U-1",
            "status": "open",
            "updated_datetime": "2026-11-02T09:00:00Z",
            "description": "Request received via web",
            "media_url": "",
        },
        {
            "update_id": ids[1],
            "service_request_id": "U-2",
            "status": "action_scheduled",
            "updated_datetime": "2026-11-02T09:30:00Z",
            "description": "Visit booked",
            "media_url": "",
        },
        {
            "update_id": ids[2],
            "service_request_id": "U-1",
            "status": "in_progress",
            "updated_datetime": "2026-11-02T10:00:00Z",
            "description": "Crew on site",
            "media_url": "https://img.example.org/before.jpg",
        },
        {
            "update_id": ids[3],
            "service_request_id": "U-1",
            "status": "fixed",
            "updated_datetime": "2026-11-02T11:00:00Z",
            "description": "",
            "media_url": ["https://img.example.org/a.jpg", "https://img.example.org/b.jpg"],
        },
    ]


# --- GET: items, formats, order ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_feed_lists_public_entries_oldest_first(client, history, fmt):
    items = feed(client, fmt, **WINDOW)

    assert items == expected_history(history)
    if fmt == "json":
        assert list(items[0]) == [
            "update_id",
            "service_request_id",
            "status",
            "updated_datetime",
            "description",
            "media_url",
        ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_internal_entries_never_appear(client, history, fmt):
    response = client.get(url(FEED, fmt), query_string=WINDOW)

    assert b"INTERNAL ONLY" not in response.data
    assert len(updates_of(response, fmt)) == 4


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_feed(client, city, fmt):
    response = client.get(url(FEED, fmt), query_string=WINDOW)

    assert updates_of(response, fmt) == []
    if fmt == "xml":
        assert b"<service_request_updates></service_request_updates>" in response.data
    assert "Link" not in response.headers


def test_ties_in_time_are_ordered_by_update_id(client, db, pothole):
    request = make_request(db, pothole, service_request_id="U-9")
    made = [public(db, request, T, "open", f"same moment {n}") for n in range(3)]
    db.flush()

    items = feed(client, "json", **WINDOW)

    assert [item["update_id"] for item in items] == [str(entry.id) for entry in made]


@pytest.mark.parametrize("fmt", FORMATS)
def test_dates_bound_the_feed_inclusively(client, history, fmt):
    items = feed(
        client, fmt, start_date="2026-11-02T09:30:00Z", end_date="2026-11-02T05:00:00-05:00"
    )

    assert [item["status"] for item in items] == ["action_scheduled", "in_progress"]


def test_jurisdiction_id_must_match(client, history):
    assert len(feed(client, "json", jurisdiction_id="lacity.org", **WINDOW)) == 4
    for fmt in FORMATS:
        response = client.get(url(FEED, fmt), query_string={"jurisdiction_id": "nowhere.gov"})
        assert "jurisdiction_id nowhere.gov not found" in errors(response, fmt, 404)


def test_feed_of_one_city_leaves_out_another(client, db, history):
    other = make_jurisdiction(db, jurisdiction_id="other.gov", name="Other")
    elsewhere = make_request(db, make_service(db, other, "X-1"), service_request_id="O-1")
    public(db, elsewhere, T, "open", "Other city")
    db.flush()

    mine = feed(client, "json", jurisdiction_id="lacity.org", **WINDOW)
    theirs = feed(client, "json", jurisdiction_id="other.gov", **WINDOW)
    unnamed = client.get(url(FEED, "json"), query_string=WINDOW)

    assert {item["service_request_id"] for item in mine} == {"U-1", "U-2"}
    assert [item["service_request_id"] for item in theirs] == ["O-1"]
    assert "jurisdiction_id is required" in errors(unnamed, "json", 400)[0]


def test_api_key_is_accepted_and_ignored_on_get(client, history):
    assert len(feed(client, "json", api_key="anything", **WINDOW)) == 4


def test_jsonp_and_unknown_formats(client, history):
    wrapped = client.get(url(FEED, "json"), query_string={"callback": "cb"} | WINDOW)
    assert wrapped.status_code == 200
    assert wrapped.data.startswith(b"/**/cb(") or wrapped.data.startswith(b"cb(")
    assert client.get(url(FEED, "geojson"), query_string=WINDOW).status_code == 404
    refused = client.get(url(FEED, "xml"), query_string={"callback": "cb"} | WINDOW)
    assert errors(refused, "xml", 400)


# --- GET: the 90-day window ---------------------------------------------------------------------


@pytest.fixture
def spread(db, pothole):
    """Public entries 10, 100 and 200 days ago."""
    now = datetime.now(UTC)
    request = make_request(db, pothole, service_request_id="W-1")
    for days in (10, 100, 200):
        public(db, request, now - timedelta(days=days), "open", f"{days} days ago")
    db.flush()
    return now


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_dates_means_the_last_90_days(client, spread, fmt):
    assert [item["description"] for item in feed(client, fmt)] == ["10 days ago"]


def test_one_bound_opens_90_days_from_or_to_it(client, spread):
    start = (spread - timedelta(days=150)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (spread - timedelta(days=50)).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert [i["description"] for i in feed(client, "json", start_date=start)] == ["100 days ago"]
    assert [i["description"] for i in feed(client, "json", end_date=end)] == ["100 days ago"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
            "at most 90 days",
        ),
        (
            {"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
            "earlier than start_date",
        ),
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-06-01"}, "end_date"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        (
            {"cursor": cursors.encode(("-requested_datetime", T, 5))},
            "cursor: not a cursor of this feed",
        ),
        ({"jurisdiction_id": "la\x01city"}, "control characters"),
    ],
)
def test_bad_arguments_are_400_in_the_requested_format(client, city, fmt, query, message):
    descriptions = errors(client.get(url(FEED, fmt), query_string=query), fmt, 400)

    assert any(message in description for description in descriptions), descriptions


def test_paging_lifts_the_90_day_limit(client, spread):
    query = {"start_date": "2000-01-01T00:00:00Z", "end_date": "2100-01-01T00:00:00Z"}

    items = feed(client, "json", page_size="10", **query)

    assert [item["description"] for item in items] == [
        "200 days ago",
        "100 days ago",
        "10 days ago",
    ]


# --- GET: paging --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_cursor_pages_follow_the_link_to_the_end(client, db, pothole, fmt):
    request = make_request(db, pothole, service_request_id="P-1")
    made = [
        public(db, request, T + timedelta(minutes=n // 2), "open", f"entry {n}") for n in range(5)
    ]
    db.flush()

    seen, pages = [], 0
    response = client.get(url(FEED, fmt), query_string={"page_size": "2"} | WINDOW)
    while True:
        pages += 1
        items = updates_of(response, fmt)
        assert len(items) <= 2
        seen += [item["update_id"] for item in items]
        link = next_link(response)
        if link is None:
            break
        assert "page_size=2" in link and "cursor=" in link
        response = client.get(link)

    assert seen == [str(entry.id) for entry in made]
    assert pages == 3


def test_standard_query_links_the_rest_of_its_window(client, db, pothole):
    """More than 1000 in the default window: the next link pins that window and continues."""
    request = make_request(db, pothole, service_request_id="P-2")
    now = datetime.now(UTC)
    rows = [
        {
            "service_request_pk": request.id,
            "at": now - timedelta(hours=1, seconds=n),
            "actor": "system",
            "kind": "status_notes",
            "summary": f"bulk {n}",
            "details": {},
            "public": True,
            "status": "open",
        }
        for n in range(1001)
    ]
    db.execute(insert(Activity), rows)

    first = client.get(url(FEED, "json"))
    items = updates_of(first, "json")
    link = next_link(first)
    rest = updates_of(client.get(link), "json")

    assert len(items) == 1000 and items[0]["description"] == "bulk 1000"
    assert "start_date=" in link and "end_date=" in link and "page_size=1000" in link
    assert [item["description"] for item in rest] == ["bulk 0"]


def test_the_feed_reads_the_partial_index_in_one_statement(db, history):
    query = update_queries.FeedQuery(
        jurisdiction_id="lacity.org",
        start=T,
        end=T + timedelta(days=1),
        after=(T, history[0].id),
        limit=10,
        hidden_kinds=frozenset(activity.AUTOMATIC_KINDS),
    )
    statement = update_queries.feed_statement(query).compile(
        dialect=db.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    cursor = db.connection().connection.cursor()
    # A tiny table would be scanned; what matters is that the feed can use its index.
    cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute("EXPLAIN " + str(statement), statement.params)
    plan = "\n".join(row[0] for row in cursor.fetchall())
    cursor.execute("SET LOCAL enable_seqscan = on")

    assert "ix_activity_public_at" in plan, plan
    assert "Sort" not in plan, plan  # the index gives the order


# --- statuses from real workflow actions ----------------------------------------------------------


@pytest.fixture
def town(db):
    """A city whose potholes go to a district crew for one step; a supervisor crew for reopens."""
    city = make_jurisdiction(db)
    layer = make_boundary_layer(db, city, "council_districts")
    district = make_district(db, layer, "CD1", (-118.30, 34.00, -118.20, 34.10))
    agency = make_agency(db, city, "BSS", name="Bureau of Street Services")
    make_crew(db, agency, "FIELD", districts=[district])
    make_crew(db, agency, "SUPER", CrewKind.supervisor)
    service = make_service(db, city, "POT-01", service_name="Pothole")
    steps = make_workflow(db, city, {"code": "FIX", "name": "Fill the pothole"})
    make_rule(db, service, agency, workflow=steps, layer_id=layer.id)
    return city


def file_request(client, api_key: str) -> str:
    response = client.post(
        url("requests", "json"),
        data={
            "api_key": api_key,
            "service_code": "POT-01",
            "lat": "34.05",
            "long": "-118.25",
            "description": "Deep hole",
            "email": "filer@example.org",
        },
    )
    assert response.status_code == 200, response.data
    return response.get_json()[0]["service_request_id"]


def work_order_of(db, service_request_id: str) -> WorkOrder:
    return db.scalars(
        select(WorkOrder)
        .join(ServiceRequest)
        .where(ServiceRequest.service_request_id == service_request_id)
        .order_by(WorkOrder.id.desc())
    ).first()


@pytest.mark.parametrize("fmt", FORMATS)
def test_workflow_actions_show_as_open_in_progress_fixed(client, db, town, api_key, fmt):
    sr_id = file_request(client, api_key)
    order = work_order_of(db, sr_id)
    now = datetime.now(UTC)
    workflow.transition(
        db, order, WorkOrderState.in_progress, actor="staff:al", note="secret", now=now
    )
    workflow.transition(
        db, order, WorkOrderState.done, actor="staff:al", now=now + timedelta(seconds=1)
    )
    db.flush()

    since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = client.get(url(FEED, fmt), query_string={"start_date": since})
    items = [item for item in updates_of(response, fmt) if item["service_request_id"] == sr_id]

    # The receipt is no news to the citizen who just filed it (activity.AUTOMATIC_KINDS).
    assert [item["status"] for item in items] == ["in_progress", "fixed"]
    assert items[-1]["description"] == "Closed: Completed: Fill the pothole"
    assert b"secret" not in response.data and b"filer@example.org" not in response.data


@pytest.fixture
def noted_town(db, town):
    """`town` whose workflow's first step has a public note, published when a request is filed."""
    steps = make_workflow(
        db,
        town,
        {"code": "LOOK", "name": "Look", "public_note": "An inspector will come."},
        code="NOTED",
    )
    rule = db.scalar(select(RoutingRule))
    rule.workflow = steps
    db.flush()
    return town


@pytest.mark.parametrize("keep", [False, True], ids=["default", "kept"])
def test_the_automatic_entries_of_filing_stay_out_of_the_feed_unless_kept(
    app, client, db, noted_town, api_key, keep
):
    app.config["OPEN311_PUBLISH_AUTOMATIC_UPDATES"] = keep
    sr_id = file_request(client, api_key)
    now = datetime.now(UTC)
    workflow.add_note(
        db,
        work_order_of(db, sr_id).service_request,
        "Crew booked",
        actor="staff:al",
        public=True,
        now=now,
    )
    order = work_order_of(db, sr_id)
    for seconds, state in enumerate((WorkOrderState.in_progress, WorkOrderState.done), 1):
        workflow.transition(
            db, order, state, actor="staff:al", now=now + timedelta(seconds=seconds)
        )
    db.flush()

    since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = client.get(url(FEED, "json"), query_string={"start_date": since})
    items = [
        (item["status"], item["description"])
        for item in updates_of(response, "json")
        if item["service_request_id"] == sr_id
    ]

    automatic = [("open", "Request received via api"), ("open", "An inspector will come.")]
    news = [
        ("open", "Crew booked"),
        ("in_progress", "Work in progress: Look"),
        ("fixed", "Closed: Completed: Look"),
    ]
    assert items == (automatic + news if keep else news)
    # They stay public: the request's status_notes and its notes still show them.
    notes = client.get(url(f"requests/{sr_id}", "json"), query_string={"extensions": "true"})
    assert "An inspector will come." in notes.get_data(as_text=True)


# --- POST: an app's update ------------------------------------------------------------------------


@pytest.fixture
def request_u1(db, pothole):
    return make_request(db, pothole, service_request_id="U-1")


def post_body(api_key: str, **fields: str) -> dict[str, str]:
    return {
        "api_key": api_key,
        "service_request_id": "U-1",
        "update_id": "fms-78812",
        "status": "OPEN",
        "updated_datetime": "2026-11-14T08:02:11+01:00",
        "description": "Still there, getting worse",
    } | fields


def answer_of(response, fmt: str) -> list[dict[str, Any]]:
    return updates_of(response, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_updated_datetime_without_zone_is_the_jurisdictions_local_time(
    client, db, city, request_u1, api_key, fmt
):
    city.time_zone = "America/Los_Angeles"
    db.flush()

    response = client.post(
        url(FEED, fmt), data=post_body(api_key, updated_datetime="2026-11-14T08:02")
    )

    (item,) = answer_of(response, fmt)
    entry = db.get(Activity, int(item["update_id"]))
    assert entry.details["client_updated_datetime"] == "2026-11-14T08:02:00-08:00"


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_stores_an_internal_update_and_answers_its_id(client, db, request_u1, api_key, fmt):
    data = form(
        ("media_url", "https://img.example.org/1.jpg"),
        ("media_url", "https://img.example.org/2.jpg"),
        **post_body(api_key, **PERSONAL),
    )
    before = activity_counts(db)

    response = client.post(url(FEED, fmt), data=data)

    (item,) = answer_of(response, fmt)
    entry = db.get(Activity, int(item["update_id"]))
    assert item == {"update_id": str(entry.id), "account_id": "acct-4711"}
    assert (entry.kind, entry.public, entry.status) == ("app_update", False, None)
    assert entry.client_update_id == "fms-78812"
    assert entry.actor == "api:FixMyStreet"
    assert entry.details == {
        "description": "Still there, getting worse",
        "client_status": "OPEN",
        "client_updated_datetime": "2026-11-14T08:02:11+01:00",
        "media_url": ["https://img.example.org/1.jpg", "https://img.example.org/2.jpg"],
    }
    author = db.scalar(select(UpdateAuthor).where(UpdateAuthor.activity_id == entry.id))
    assert {name: getattr(author, name) for name in PERSONAL} == PERSONAL
    assert "pat" not in (entry.summary + str(entry.details)).lower()
    assert activity_counts(db) == (before[0] + 1, before[1] + 1, before[2])
    # Not published: the feed does not show it.
    assert feed(client, "json") == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_post_accepts_json_and_multipart_bodies(client, db, request_u1, api_key, fmt):
    as_json = client.post(
        url(FEED, fmt),
        json=post_body(api_key, update_id="j-1", media_url="https://img.example.org/j.jpg"),
    )
    as_multipart = client.post(
        url(FEED, fmt),
        data=post_body(api_key, update_id="m-1"),
        content_type="multipart/form-data",
    )

    for response in (as_json, as_multipart):
        (item,) = answer_of(response, fmt)
        assert set(item) == {"update_id"}
    stored = db.get(Activity, int(answer_of(as_json, fmt)[0]["update_id"]))
    assert stored.details["media_url"] == ["https://img.example.org/j.jpg"]


def test_photo_only_update_with_empty_description(client, db, request_u1, api_key):
    response = client.post(
        url(FEED, "json"),
        data=post_body(api_key, description="", media_url="https://img.example.org/x.jpg"),
    )

    (item,) = answer_of(response, "json")
    assert db.get(Activity, int(item["update_id"])).details["description"] == ""


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_update_id_twice_stores_one_update(client, db, request_u1, api_key, fmt):
    first = client.post(url(FEED, fmt), data=post_body(api_key, **PERSONAL))
    before = activity_counts(db)
    second = client.post(url(FEED, fmt), data=post_body(api_key, **PERSONAL))

    assert second.status_code == 200
    assert answer_of(second, fmt) == answer_of(first, fmt)
    assert activity_counts(db) == before
    assert (
        db.scalar(
            select(func.count())
            .select_from(Activity)
            .where(Activity.client_update_id == "fms-78812")
        )
        == 1
    )


def test_same_update_id_from_another_client_is_another_update(client, db, request_u1, api_key):
    _other, other_key = make_api_client(db, "Other app")

    mine = answer_of(client.post(url(FEED, "json"), data=post_body(api_key)), "json")
    theirs = answer_of(client.post(url(FEED, "json"), data=post_body(other_key)), "json")

    assert mine[0]["update_id"] != theirs[0]["update_id"]
    rows = db.scalars(select(Activity).where(Activity.client_update_id == "fms-78812")).all()
    assert len(rows) == 2 and len({row.api_client_id for row in rows}) == 2


def test_same_update_id_for_another_request_is_400(client, db, pothole, request_u1, api_key):
    make_request(db, pothole, service_request_id="U-2")
    client.post(url(FEED, "json"), data=post_body(api_key))
    before = activity_counts(db)

    response = client.post(url(FEED, "json"), data=post_body(api_key, service_request_id="U-2"))

    assert "already used for another service request" in errors(response, "json", 400)[0]
    assert activity_counts(db) == before


# --- POST: reopening ---------------------------------------------------------------------------


@pytest.fixture
def closed(db, pothole, city):
    """A closed request whose agency has a supervisor crew."""
    agency = make_agency(db, city, "BSS")
    supervisors = make_crew(db, agency, "SUPER", CrewKind.supervisor)
    make_rule(db, pothole, agency)
    request = make_request(db, pothole, service_request_id="U-1", status=Status.closed)
    public(db, request, datetime.now(UTC) - timedelta(days=1), "fixed", "Filled")
    db.flush()
    return request, supervisors


def request_status(client, sr_id: str) -> str:
    response = client.get(url(f"requests/{sr_id}", "json"))
    return response.get_json()[0]["status"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("status", ["REOPEN", "reopen", "OPEN"])
def test_reopen_of_a_closed_request(client, db, closed, api_key, fmt, status):
    request, supervisors = closed

    response = client.post(url(FEED, fmt), data=post_body(api_key, status=status))

    assert response.status_code == 200, response.data
    assert request_status(client, "U-1") == "open"
    orders = db.scalars(select(WorkOrder).where(WorkOrder.service_request_pk == request.id)).all()
    assert [(o.title, o.crew_id) for o in orders] == [(workflow.REOPEN_TITLE, supervisors.id)]
    items = feed(client, fmt)
    assert [item["status"] for item in items] == ["fixed", "open"]
    # The citizen's own words wait for moderation; the public is told a fixed text.
    assert items[-1]["description"].startswith("Reopened: the requester reported")
    assert "getting worse" not in str(items)


def test_reopen_of_a_merged_duplicate_reopens_its_parent(client, db, pothole, closed, api_key):
    parent, supervisors = closed
    duplicate = make_request(db, pothole, service_request_id="U-9", status=Status.closed)
    duplicate.duplicate_of, duplicate.duplicate_state = parent, DuplicateState.confirmed
    db.flush()

    response = client.post(
        url(FEED, "json"), data=post_body(api_key, service_request_id="U-9", status="REOPEN")
    )

    assert response.status_code == 200, response.data
    assert (request_status(client, "U-1"), request_status(client, "U-9")) == ("open", "closed")
    orders = db.scalars(select(WorkOrder).where(WorkOrder.service_request_pk == parent.id)).all()
    assert [(o.title, o.crew_id) for o in orders] == [(workflow.REOPEN_TITLE, supervisors.id)]


def test_reopen_without_text_reopens_too(client, db, closed, api_key):
    client.post(url(FEED, "json"), data=post_body(api_key, status="REOPEN", description=""))

    assert feed(client, "json")[-1]["status"] == "open"


@pytest.mark.parametrize("status", ["OPEN", "REOPEN", "CLOSED", "UNCHANGED"])
def test_updates_on_an_open_request_only_comment(client, db, request_u1, api_key, status):
    before = activity_counts(db)

    response = client.post(url(FEED, "json"), data=post_body(api_key, status=status))

    assert response.status_code == 200
    assert request_status(client, "U-1") == "open"
    assert activity_counts(db) == (before[0] + 1, before[1], before[2])


def test_a_comment_on_a_closed_request_leaves_it_closed(client, db, closed, api_key):
    client.post(url(FEED, "json"), data=post_body(api_key, status="FIXED"))

    assert request_status(client, "U-1") == "closed"


# --- POST: refusals store nothing ---------------------------------------------------------------


REQUIRED = ("service_request_id", "update_id", "status", "updated_datetime", "description")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"api_key": None}, 403, "api_key was not provided"),
        ({"api_key": "wrong"}, 403, "api_key not recognised"),
        *[({name: None}, 400, f"{name} was not provided") for name in REQUIRED],
        ({"status": ""}, 400, "status was not provided"),
        ({"status": "SOLVED"}, 400, "status: 'SOLVED' is not one of"),
        ({"updated_datetime": "14/11/2026"}, 400, "updated_datetime"),
        ({"update_id": "x" * 65}, 400, "update_id"),
        ({"media_url": "not a url"}, 400, "media_url"),
        ({"email": "not-an-email"}, 400, "email"),
        ({"description": "bad \x07 bell"}, 400, "control characters"),
        ({"service_request_id": "NOPE"}, 404, "service_request_id NOPE not found"),
        ({"jurisdiction_id": "nowhere.gov"}, 404, "jurisdiction_id nowhere.gov not found"),
    ],
)
def test_refused_posts_store_nothing(client, db, request_u1, api_key, fmt, change, status, message):
    body = {
        key: value
        for key, value in (post_body(api_key, **PERSONAL) | change).items()
        if value is not None
    }
    before = activity_counts(db)

    response = client.post(url(FEED, fmt), data=body)

    descriptions = errors(response, fmt, status)
    assert any(message in description for description in descriptions), descriptions
    assert activity_counts(db) == before


def test_disabled_client_is_403(client, db, request_u1):
    _client, key = make_api_client(db, "Old app", active=False)

    assert errors(client.post(url(FEED, "json"), data=post_body(key)), "json", 403)


def test_reopen_without_a_routing_rule_is_400_and_stores_nothing(client, db, pothole, api_key):
    make_request(db, pothole, service_request_id="U-1", status=Status.closed)
    before = activity_counts(db)

    response = client.post(url(FEED, "json"), data=post_body(api_key, status="REOPEN"))

    assert "has no routing rule" in errors(response, "json", 400)[0]
    assert activity_counts(db) == before


def test_unsupported_body_type_is_415(client, request_u1, api_key):
    response = client.post(url(FEED, "json"), data="x", content_type="text/plain")

    assert errors(response, "json", 415)


# --- privacy ------------------------------------------------------------------------------------


def test_personal_fields_never_reach_any_get(client, db, closed, api_key):
    client.post(url(FEED, "json"), data=post_body(api_key, status="REOPEN", **PERSONAL))
    client.post(url(FEED, "json"), data=post_body(api_key, update_id="2", **PERSONAL))
    db.flush()

    responses = [
        client.get(url(FEED, fmt), query_string=query)
        for fmt in FORMATS
        for query in ({}, {"page_size": "5"})
    ] + [
        client.get(url("requests/U-1", fmt), query_string={"extensions": "true"}) for fmt in FORMATS
    ]

    for response in responses:
        assert response.status_code == 200
        for value in PERSONAL.values():
            assert value.encode() not in response.data
        assert b"Leeworth" not in response.data
