"""GET /: the map page without a browser: its filter form (a plain GET), the newest matching
requests listed by the public search, the city selector and what map.js is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from open311.values import ServiceType, Status
from tests.factories import (
    make_boundary_layer,
    make_district,
    make_jurisdiction,
    make_request,
    make_service,
)

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture
def cities(db):
    la = make_jurisdiction(db, is_default=True, time_zone="America/Los_Angeles")
    pothole = make_service(db, la, "POT", service_name="Pothole")
    feedback = make_service(db, la, "FEEDBACK", service_name="Feedback", type=ServiceType.blackbox)
    make_request(db, pothole, service_request_id="SR-OPEN", address="200 N Spring St")
    make_request(
        db,
        pothole,
        service_request_id="SR-OLD",
        status=Status.closed,
        requested_datetime=TODAY - timedelta(days=40),
    )
    make_request(db, feedback, service_request_id="FB-SECRET", description="private complaint")
    layer = make_boundary_layer(db, la, "council_districts")
    make_district(db, layer, "CD 14", bounds=(-118.30, 34.00, -118.20, 34.10))
    ny = make_jurisdiction(db, jurisdiction_id="nyc.gov", name="New York", time_zone="UTC")
    make_request(db, make_service(db, ny, "NOISE"), service_request_id="NY-1", lat=40.7, long=-74)
    db.flush()
    return la, ny


def test_the_page_lists_the_newest_published_requests_and_carries_the_map(client, cities):
    answer = client.get("/")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert 'href="/requests/SR-OPEN"' in page and 'href="/requests/SR-OLD"' in page
    assert "FB-SECRET" not in page and "private complaint" not in page
    assert "Feedback" not in page  # a blackbox service is no filter either
    assert 'data-requests-tiles="/tiles/requests/{z}/{x}/{y}.mvt"' in page
    assert 'data-jurisdiction="lacity.org"' in page
    assert 'data-bounds="-118.300000,34.000000,-118.200000,34.100000"' in page
    assert "data-districts-tiles=" in page
    assert 'class="wide"' in page
    assert "<script>" not in page
    assert "maplibre-gl.js" in page and "map.js" in page
    # Several cities: a selector, Los Angeles (the default) chosen.
    assert '<option value="nyc.gov"' in page
    assert "unsafe-inline" not in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("query", "listed", "not_listed"),
    [
        ("status=closed", "SR-OLD", "SR-OPEN"),
        ("status=open", "SR-OPEN", "SR-OLD"),
        (f"start_date={(TODAY - timedelta(days=2)).date()}", "SR-OPEN", "SR-OLD"),
        (f"end_date={(TODAY - timedelta(days=30)).date()}", "SR-OLD", "SR-OPEN"),
        ("jurisdiction_id=nyc.gov", "NY-1", "SR-OPEN"),
    ],
)
def test_the_filter_form_works_as_a_plain_get(client, cities, query, listed, not_listed):
    page = client.get(f"/?{query}").get_data(as_text=True)
    assert f"/requests/{listed}" in page and f"/requests/{not_listed}" not in page


def test_filters_are_shown_as_sent(client, cities):
    page = client.get("/?status=closed&service_code=POT&start_date=2026-01-02").get_data(
        as_text=True
    )
    assert '<option value="closed" selected>' in page
    assert '<option value="POT" selected>' in page
    assert 'value="2026-01-02"' in page


def test_a_malformed_filter_is_said_on_the_page(client, cities):
    answer = client.get("/?start_date=soon")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert 'class="problems map-problems"' in page and "start_date" in page
    assert "/requests/SR-OPEN" in page  # the rest of the page as without the filter


def test_an_unknown_city_is_a_404_page(client, cities):
    answer = client.get("/?jurisdiction_id=atlantis")
    assert answer.status_code == 404
    assert answer.content_type.startswith("text/html")


def test_the_basemap_setting_reaches_the_map(client, cities, app):
    app.config["OPEN311_BASEMAP_URL"] = "https://tiles.example.org/{z}/{x}/{y}.png"
    app.config["OPEN311_BASEMAP_ATTRIBUTION"] = "© Example & co"
    answer = client.get("/")
    page = answer.get_data(as_text=True)
    assert 'data-basemap-url="https://tiles.example.org/{z}/{x}/{y}.png"' in page
    assert 'data-basemap-attribution="© Example &amp; co"' in page
    assert "https://tiles.example.org" in answer.headers["Content-Security-Policy"]
