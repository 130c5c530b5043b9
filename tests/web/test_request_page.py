"""A request's public page: what GET requests/<id>.json?extensions=true answers and nothing
more (never the requester), its public notes only, its photos and districts, in the page's
language; 404 for what the public API does not show; a batch service's token page."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from open311.db.models import Media, Requester, ServiceRequest
from open311.domain import activity
from open311.values import ServiceType
from tests.factories import (
    make_boundary_layer,
    make_district,
    make_request,
    make_service,
    place_request,
)
from tests.web.filing_helpers import CITY, csrf_token, make_filing_city, small_jpeg

T = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
INTERNAL = "Assigned to the night crew, call the foreman"
PERSONAL = {
    "email": "homer@example.org",
    "first_name": "Homer",
    "last_name": "Simpsonovich",
    "phone": "+1 555 0134",
}


@pytest.fixture
def city(db):
    return make_filing_city(db)


@pytest.fixture
def pothole(db, city):
    return next(s for s in city.services if s.service_code == "POT")


@pytest.fixture
def worked(db, city, pothole):
    """A request with a requester, districts, an expected date, public and internal history."""
    request = make_request(
        db,
        pothole,
        service_request_id="WEB-1",
        description="Hole near the school",
        status_notes="Crew scheduled",
        agency_responsible="Bureau of Street Services",
        expected_datetime=T + timedelta(days=3),
        requested_datetime=T,
        address="742 Evergreen Terrace",
    )
    request.requester = Requester(**PERSONAL)
    layer = make_boundary_layer(db, city, "council_districts", title="Council district")
    place_request(db, request, make_district(db, layer, "District 14"))
    for minutes, kind, summary, public in [
        (0, "submitted", "Request received via web", True),
        (5, "internal_note", INTERNAL, False),
        (60, "status_notes", "Crew on the way", True),
    ]:
        activity.record(
            db,
            request,
            actor="system",
            kind=kind,
            summary=summary,
            public=public,
            status="open" if public else None,
            at=T + timedelta(minutes=minutes),
        )
    db.flush()
    return request


def page_of(client, path: str, status: int = 200) -> str:
    answer = client.get(path)
    assert answer.status_code == status, answer.data
    assert answer.mimetype == "text/html"
    return answer.get_data(as_text=True)


def test_the_page_shows_what_the_public_api_shows(client, worked):
    page = page_of(client, "/requests/WEB-1")
    for shown in (
        "Pothole",
        "WEB-1",
        "Hole near the school",
        "Crew scheduled",
        "Bureau of Street Services",
        "742 Evergreen Terrace",
        "Council district",
        "District 14",
        "Crew on the way",
        "Request received via web",
        'class="status open"',
    ):
        assert shown in page, shown
    # Times in the city's zone (Los Angeles: 17:00 UTC is 9:00 AM), and exact in <time>.
    assert re.search(r'<time datetime="2026-11-30T\S+">Nov 30, 2026, 9:00:00\WAM</time>', page)
    assert "Expected by" in page and "Dec 3, 2026" in page
    assert f"/open311/v2/requests/WEB-1.json?extensions=true&amp;jurisdiction_id={CITY}" in page
    # A small map of the point (hidden until its script shows it).
    assert 'id="request-map" class="map request-map" hidden' in page
    assert 'data-point="-118.2437,34.0522"' in page


def test_a_request_without_a_point_has_no_map(client, db, pothole):
    make_request(db, pothole, service_request_id="WEB-2", lat=None, long=None, address="1 Elm")
    page = page_of(client, "/requests/WEB-2")
    assert "request-map" not in page and "maplibre-gl.js" not in page


def test_no_personal_data_and_no_internal_note(client, worked):
    page = page_of(client, "/requests/WEB-1")
    for secret in (*PERSONAL.values(), INTERNAL):
        assert secret not in page, secret


def test_an_unknown_request_is_a_404_page(client, city):
    page = page_of(client, "/requests/NOPE-9", 404)
    assert "NOPE-9 not found" in page


def test_a_blackbox_request_is_a_404_page_as_in_the_api(client, db, city):
    secret = make_service(db, city, "SECRET", type=ServiceType.blackbox)
    make_request(db, secret, service_request_id="BB-1")
    page_of(client, "/requests/BB-1", 404)
    assert client.get("/open311/v2/requests/BB-1.json").status_code == 404


def test_the_page_in_spanish_names_the_service_in_spanish(client, worked):
    page = page_of(client, "/requests/WEB-1?locale=es")
    assert 'lang="es"' in page and "Bache" in page and "2026" in page


def test_the_page_in_arabic_reads_right_to_left(client, worked):
    page = page_of(client, "/requests/WEB-1?locale=ar")
    assert 'dir="rtl"' in page and "حفرة في الطريق" in page
    # Coordinates stay left to right inside the mirrored layout.
    assert '<dd><bdi dir="ltr">34.05220, -118.24370</bdi></dd>' in page


def test_a_closed_request_says_so(client, db, worked):
    worked.status = "closed"
    db.flush()
    assert 'class="status closed"' in page_of(client, "/requests/WEB-1")


def test_a_photo_filed_with_the_form_is_on_the_page(client, app, db, city, tmp_path):
    app.config["OPEN311_MEDIA_DIR"] = str(tmp_path / "media")
    form = client.get(f"/report/POT?jurisdiction_id={CITY}").get_data(as_text=True)
    body = {
        "csrf_token": csrf_token(form),
        "jurisdiction_id": CITY,
        "attribute[SIZE]": "S",
        "address_string": "1 Main Street",
        "media": (io.BytesIO(small_jpeg()), "hole.jpg"),
    }
    answer = client.post(
        f"/report/POT?jurisdiction_id={CITY}", data=body, content_type="multipart/form-data"
    )
    assert answer.status_code == 303
    request = db.scalars(select(ServiceRequest)).one()
    page = page_of(client, f"/requests/{request.service_request_id}")
    (link, src) = re.findall(r'<a href="([^"]+)"><img class="photo" src="([^"]+)"', page)[0]
    (stored_photo,) = db.scalars(select(Media)).all()
    # The thumbnail, linked to the photo itself.
    assert link == request.media_url and src.endswith(f"/media/{stored_photo.thumbnail_name}")
    for url in (link, src):
        with client.get(url) as photo:
            assert photo.status_code == 200 and photo.mimetype == "image/jpeg"


def test_a_linked_photo_of_another_site_is_a_link(client, db, pothole):
    make_request(db, pothole, service_request_id="WEB-3", media_url="https://example.org/a.jpg")
    page = page_of(client, "/requests/WEB-3")
    assert '<img class="photo"' not in page  # the pages show images of this host only
    assert '<a href="https://example.org/a.jpg" rel="noopener noreferrer">Photo 1' in page


# --- a batch service's token ------------------------------------------------------------------


def test_a_token_leads_to_its_request(client, db, city):
    batch = make_service(db, city, "BATCH", type=ServiceType.batch)
    make_request(db, batch, service_request_id="B-7", token="tok-abc")
    answer = client.get(f"/requests/token/tok-abc?jurisdiction_id={CITY}")
    assert answer.status_code == 303 and answer.headers["Location"] == "/requests/B-7"


def test_an_unknown_token_is_being_processed(client, city):
    page = page_of(client, f"/requests/token/tok-later?jurisdiction_id={CITY}", 404)
    assert "being processed" in page and "tok-later" in page


def test_a_batch_filing_confirms_with_a_link_to_its_token(client, db, city):
    make_service(db, city, "BATCH", type=ServiceType.batch, service_name="Bulky items")
    form = client.get(f"/report/BATCH?jurisdiction_id={CITY}").get_data(as_text=True)
    body = {"csrf_token": csrf_token(form), "jurisdiction_id": CITY, "address_string": "2 Elm"}
    answer = client.post(
        f"/report/BATCH?jurisdiction_id={CITY}", data=body, content_type="multipart/form-data"
    )
    assert answer.status_code == 303
    request = db.scalars(select(ServiceRequest)).one()
    confirmation = page_of(client, "/report/filed")
    assert f"/requests/token/{request.token}?jurisdiction_id={CITY}" in confirmation
    assert f"/requests/{request.service_request_id}" not in confirmation
