"""GET requests and GET requests/{id}: filters, the 90-day window, the 1000 cap, rendering."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest

from open311.values import ServiceType, Status
from tests.api.helpers import FORMATS, body, errors, url, wire
from tests.factories import insert_requests, make_jurisdiction, make_request, make_service

T = datetime(2023, 3, 1, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def pothole(db, city):
    return make_service(db, city, "POT-01", service_name="Pothole")


@pytest.fixture
def graffiti(db, city):
    return make_service(db, city, "GRF", service_name="Graffiti", type=ServiceType.batch)


def listed(client, fmt: str, **query: str) -> list[str]:
    """service_request_ids a successful GET requests returns, in its order."""
    response = client.get(url("requests", fmt), query_string=query)
    assert response.status_code == 200, response.data
    return [item["service_request_id"] for item in body(response, fmt, "service_requests")]


def at(db, service, moment: datetime, **overrides) -> str:
    return make_request(
        db, service, requested_datetime=moment, updated_datetime=moment, **overrides
    ).service_request_id


# --- the window ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_default_window_is_the_last_90_days(client, db, pothole, fmt):
    now = datetime.now(UTC)
    ten = at(db, pothole, now - 10 * DAY)
    eighty_nine = at(db, pothole, now - 89 * DAY)
    at(db, pothole, now - 91 * DAY)
    at(db, pothole, now - 100 * DAY)

    assert listed(client, fmt) == [ten, eighty_nine]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_dates_count_as_absent(client, db, pothole, fmt, blank):
    now = datetime.now(UTC)
    recent = at(db, pothole, now - 10 * DAY)
    at(db, pothole, now - 100 * DAY)

    assert listed(client, fmt, start_date=blank, end_date=blank) == [recent]


@pytest.mark.parametrize("fmt", FORMATS)
def test_start_date_alone_opens_90_days_forward(client, db, pothole, fmt):
    at(db, pothole, T - SECOND)
    first = at(db, pothole, T)
    middle = at(db, pothole, T + 45 * DAY)
    last = at(db, pothole, T + 90 * DAY)
    at(db, pothole, T + 90 * DAY + SECOND)

    assert listed(client, fmt, start_date=stamp(T)) == [last, middle, first]


@pytest.mark.parametrize("fmt", FORMATS)
def test_end_date_alone_opens_90_days_back(client, db, pothole, fmt):
    at(db, pothole, T + SECOND)
    last = at(db, pothole, T)
    first = at(db, pothole, T - 90 * DAY)
    at(db, pothole, T - 90 * DAY - SECOND)

    assert listed(client, fmt, end_date=stamp(T)) == [last, first]


@pytest.mark.parametrize("fmt", FORMATS)
def test_both_bounds_are_inclusive(client, db, pothole, fmt):
    at(db, pothole, T - SECOND)
    start = at(db, pothole, T)
    inside = at(db, pothole, T + DAY)
    end = at(db, pothole, T + 2 * DAY)
    at(db, pothole, T + 2 * DAY + SECOND)

    found = listed(client, fmt, start_date=stamp(T), end_date=stamp(T + 2 * DAY))

    assert found == [end, inside, start]


@pytest.mark.parametrize("fmt", FORMATS)
def test_start_equal_to_end_is_one_instant(client, db, pothole, fmt):
    exact = at(db, pothole, T)
    at(db, pothole, T + SECOND)

    assert listed(client, fmt, start_date=stamp(T), end_date=stamp(T)) == [exact]


@pytest.mark.parametrize("fmt", FORMATS)
def test_exactly_90_days_is_allowed(client, db, pothole, fmt):
    first = at(db, pothole, T)
    last = at(db, pothole, T + 90 * DAY)

    found = listed(client, fmt, start_date=stamp(T), end_date=stamp(T + 90 * DAY))

    assert found == [last, first]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("span", [90 * DAY + SECOND, 91 * DAY, 365 * DAY])
def test_span_over_90_days_is_400(client, db, pothole, fmt, span):
    at(db, pothole, T)

    response = client.get(
        url("requests", fmt), query_string={"start_date": stamp(T), "end_date": stamp(T + span)}
    )

    (description,) = errors(response, fmt, 400)
    assert "90" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_end_before_start_is_400(client, db, pothole, fmt):
    response = client.get(
        url("requests", fmt),
        query_string={"start_date": stamp(T), "end_date": stamp(T - SECOND)},
    )

    (description,) = errors(response, fmt, 400)
    assert "end_date" in description


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["start_date", "end_date"])
@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2023-03-01",
        "2023-03-01T12",
        "2023-02-30T12:00",
        "2023-03-01 12:00:00Z",
        "2023-02-30T12:00:00Z",
        "2023-03-01T25:00:00Z",
        "2023-03-01T12:00:00+5",
        "1677672000",
    ],
)
def test_malformed_date_is_400(client, db, pothole, fmt, name, value):
    response = client.get(url("requests", fmt), query_string={name: value})

    (description,) = errors(response, fmt, 400)
    assert name in description


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "start",
    [
        "2023-03-01T12:00:00Z",
        "2023-03-01T12:00:00+00:00",
        "2023-03-01T17:30:00+05:30",
        "2023-03-01T07:00:00-05:00",
        "2023-03-01T12:00:00.000Z",
        "2023-03-01T07:00:00.000000000-05:00",
    ],
)
def test_dates_with_offsets_and_fractions_name_the_same_instant(client, db, pothole, fmt, start):
    at(db, pothole, T - SECOND)
    exact = at(db, pothole, T)

    assert listed(client, fmt, start_date=start, end_date=stamp(T + DAY)) == [exact]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "start",
    [
        # Los Angeles is UTC-8 in March before the clock change: T is 04:00 local.
        "2023-03-01T04:00",
        "2023-03-01T04:00:00",
        "2023-03-01T04:00:00.000000",
    ],
)
@pytest.mark.parametrize("name", ["start_date", "updated_after"])
def test_a_date_without_zone_is_the_jurisdictions_local_time(client, db, fmt, start, name):
    """A validator sends 2026-12-03T15:20:11.609737: read in the city's time zone, not refused."""
    city = make_jurisdiction(db, time_zone="America/Los_Angeles")
    service = make_service(db, city, "POT-01", service_name="Pothole")
    at(db, service, T - SECOND)
    exact = at(db, service, T)
    later = at(db, service, T + SECOND)
    query = {name: start, "end_date": stamp(T + DAY)}

    expected = [later, exact] if name == "start_date" else [later]  # updated_after is strict
    assert listed(client, fmt, **query) == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_date_without_zone_of_an_unknown_jurisdiction_is_404(client, db, pothole, fmt):
    query = {"start_date": "2023-03-01T04:00", "jurisdiction_id": "nowhere.example"}

    errors(client.get(url("requests", fmt), query_string=query), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
def test_fractional_seconds_are_honoured(client, db, pothole, fmt):
    at(db, pothole, T)
    later = at(db, pothole, T + SECOND)

    found = listed(client, fmt, start_date="2023-03-01T12:00:00.5Z", end_date=stamp(T + DAY))

    assert found == [later]


# --- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_request_id_list_overrides_every_other_filter(client, db, pothole, graffiti, fmt):
    now = datetime.now(UTC)
    old_closed = at(db, graffiti, now - 200 * DAY, status=Status.closed)
    recent_open = at(db, pothole, now - DAY)
    at(db, pothole, now - 2 * DAY)  # matches the other filters but was not asked for

    found = listed(
        client,
        fmt,
        service_request_id=f"{old_closed},{recent_open},999999999",
        service_code="POT-01",
        status="open",
        start_date=stamp(now - 3 * DAY),
        end_date=stamp(now),
    )

    assert found == [recent_open, old_closed]


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_request_id_list_ignores_a_reversed_or_oversized_window(client, db, pothole, fmt):
    one = at(db, pothole, T)

    found = listed(
        client,
        fmt,
        service_request_id=one,
        start_date=stamp(T + 400 * DAY),
        end_date=stamp(T),
    )

    assert found == [one]


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_code_comma_list(client, db, pothole, graffiti, fmt):
    other = make_service(db, pothole.jurisdiction, "TREE")
    now = datetime.now(UTC)
    p = at(db, pothole, now - 3 * DAY)
    g = at(db, graffiti, now - 2 * DAY)
    at(db, other, now - DAY)

    assert listed(client, fmt, service_code="POT-01,GRF") == [g, p]
    assert listed(client, fmt, service_code="GRF") == [g]
    assert listed(client, fmt, service_code="POT-01, GRF") == [g, p]
    assert listed(client, fmt, service_code="NOPE") == []
    assert len(listed(client, fmt, service_code="  ")) == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_status_filter(client, db, pothole, fmt):
    now = datetime.now(UTC)
    opened = at(db, pothole, now - 2 * DAY)
    closed = at(db, pothole, now - DAY, status=Status.closed, status_notes="Filled")

    assert listed(client, fmt, status="open") == [opened]
    assert listed(client, fmt, status="closed") == [closed]
    assert listed(client, fmt, status="open,closed") == [closed, opened]
    assert listed(client, fmt, status="") == [closed, opened]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("status", ["AAA", "open,AAA", "OPEN", "in_progress"])
def test_unknown_status_is_400(client, db, pothole, fmt, status):
    response = client.get(url("requests", fmt), query_string={"status": status})

    (description,) = errors(response, fmt, 400)
    assert "status" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_filters_combine(client, db, pothole, graffiti, fmt):
    now = datetime.now(UTC)
    wanted = at(db, graffiti, now - DAY, status=Status.closed)
    at(db, graffiti, now - DAY, status=Status.open)
    at(db, pothole, now - DAY, status=Status.closed)
    at(db, graffiti, now - 50 * DAY, status=Status.closed)

    found = listed(
        client, fmt, service_code="GRF", status="closed", start_date=stamp(now - 10 * DAY)
    )

    assert found == [wanted]


# --- volume, order, scope --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_at_most_1000_newest_first(client, db, pothole, fmt):
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    moments = [newest - timedelta(minutes=i) for i in range(1005)]
    insert_requests(db, pothole, moments[::-1])  # inserted oldest first

    response = client.get(url("requests", fmt))

    items = body(response, fmt, "service_requests")
    assert [item["requested_datetime"] for item in items] == [stamp(m) for m in moments[:1000]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_jurisdiction_is_404(client, db, pothole, fmt):
    response = client.get(url("requests", fmt), query_string={"jurisdiction_id": "no.where"})

    (description,) = errors(response, fmt, 404)
    assert "no.where" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_requests_of_another_jurisdiction_are_not_listed(client, db, pothole, fmt):
    other = make_jurisdiction(db, jurisdiction_id="example.gov", name="Example")
    theirs = make_service(db, other, "POT-01")
    now = datetime.now(UTC)
    ours = at(db, pothole, now - DAY)
    at(db, theirs, now - DAY)

    assert listed(client, fmt, jurisdiction_id="lacity.org") == [ours]
    errors(client.get(url("requests", fmt)), fmt, 400)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_match_is_an_empty_list(client, db, pothole, fmt):
    at(db, pothole, datetime.now(UTC) - 200 * DAY)

    response = client.get(url("requests", fmt))

    assert response.status_code == 200
    assert body(response, fmt, "service_requests") == []
    if fmt == "json":
        assert response.data.strip() == b"[]"
    else:
        assert len(ET.fromstring(response.data)) == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_api_key_on_get_is_accepted_and_ignored(client, db, pothole, fmt):
    recent = at(db, pothole, datetime.now(UTC) - DAY)

    assert listed(client, fmt, api_key="whatever-key") == [recent]
    single = client.get(url(f"requests/{recent}", fmt), query_string={"api_key": "x"})
    assert single.status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_field_of_a_closed_request_is_rendered(client, db, pothole, fmt):
    offset = timezone(timedelta(hours=-4))
    sr = make_request(
        db,
        pothole,
        lat=40.7001,
        long=-74.0102,
        status=Status.closed,
        status_notes="Duplicate of SR-8990.",
        description="Graffiti & <tags>",
        agency_responsible="Dept. of Streets",
        service_notice="Inspection within 3 business days.",
        requested_datetime=datetime(2024, 3, 2, 9, 5, tzinfo=offset),
        updated_datetime=datetime(2024, 3, 4, 6, 0, 0, 999999, tzinfo=offset),
        expected_datetime=datetime(2024, 3, 9, 17, 0, tzinfo=offset),
        address="12 Elm St, Springfield",
        address_id="A-1",
        zipcode="01101",
        media_url="https://img.example.org/a.jpg",
        service_request_id="SR-9001",
    )

    response = client.get(url(f"requests/{sr.service_request_id}", fmt))

    expected = {
        "service_request_id": "SR-9001",
        "status": "closed",
        "status_notes": "Duplicate of SR-8990.",
        "service_name": "Pothole",
        "service_code": "POT-01",
        "description": "Graffiti & <tags>",
        "agency_responsible": "Dept. of Streets",
        "service_notice": "Inspection within 3 business days.",
        "requested_datetime": "2024-03-02T13:05:00Z",
        "updated_datetime": "2024-03-04T10:00:00Z",
        "expected_datetime": "2024-03-09T21:00:00Z",
        "address": "12 Elm St, Springfield",
        "address_id": "A-1",
        "zipcode": "01101",
        "lat": 40.7001,
        "long": -74.0102,
        "media_url": "https://img.example.org/a.jpg",
    }
    assert body(response, fmt, "service_requests") == [wire(expected, fmt)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_optional_fields_are_null_in_json_and_absent_in_xml(client, db, pothole, fmt):
    sr = make_request(
        db, pothole, lat=None, long=None, description="", address=None, service_request_id="S-1"
    )

    (item,) = body(client.get(url(f"requests/{sr.service_request_id}", fmt)), fmt)

    optional = {
        "status_notes",
        "description",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    }
    if fmt == "json":
        assert all(item[name] is None for name in optional)
    else:
        assert not optional & set(item)
    assert item["service_request_id"] == "S-1"
    assert item["status"] == "open"


# --- GET requests/{id} -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_single_request_is_a_one_item_list(client, db, pothole, fmt):
    wanted = at(db, pothole, datetime.now(UTC) - DAY)
    at(db, pothole, datetime.now(UTC) - 2 * DAY)

    response = client.get(url(f"requests/{wanted}", fmt))

    assert response.status_code == 200
    items = body(response, fmt, "service_requests")
    assert [item["service_request_id"] for item in items] == [wanted]


@pytest.mark.parametrize("fmt", FORMATS)
def test_single_request_ignores_the_window(client, db, pothole, fmt):
    ancient = at(db, pothole, datetime(2001, 1, 1, tzinfo=UTC))

    items = body(client.get(url(f"requests/{ancient}", fmt)), fmt, "service_requests")

    assert [item["service_request_id"] for item in items] == [ancient]
    assert items[0]["requested_datetime"] == "2001-01-01T00:00:00Z"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("sr_id", ["1-870704831", "SR.10.42", "2024.001", "a_b-c.d"])
def test_ids_with_dots_and_dashes(client, db, pothole, fmt, sr_id):
    make_request(db, pothole, service_request_id=sr_id)
    make_request(db, pothole, service_request_id=sr_id + "0")

    response = client.get(url(f"requests/{sr_id}", fmt))

    assert response.status_code == 200
    (item,) = body(response, fmt, "service_requests")
    assert item["service_request_id"] == sr_id
    assert listed(client, fmt, service_request_id=sr_id) == [sr_id]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_request_is_404(client, db, pothole, fmt):
    make_request(db, pothole, service_request_id="100")

    response = client.get(url("requests/101", fmt))

    (description,) = errors(response, fmt, 404)
    assert "101" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_single_request_of_another_jurisdiction_is_404(client, db, pothole, fmt):
    other = make_jurisdiction(db, jurisdiction_id="example.gov", name="Example")
    theirs = make_request(db, make_service(db, other, "X"), service_request_id="EX-1")

    response = client.get(
        url(f"requests/{theirs.service_request_id}", fmt),
        query_string={"jurisdiction_id": "lacity.org"},
    )

    errors(response, fmt, 404)
    found = client.get(url("requests/EX-1", fmt), query_string={"jurisdiction_id": "example.gov"})
    assert found.status_code == 200
