"""The filing form (/report): generated from the service definition, checked by the API's own
rules with each problem next to its field, filed through intake.submit, confirmed after a 303;
without JavaScript (the test client runs none)."""

from __future__ import annotations

import io
import re

import pytest
import redis
from sqlalchemy import func, select

from open311 import create_app
from open311.db.models import Media, ServiceRequest
from open311.values import ServiceType
from tests.factories import make_boundary_layer, make_district, make_jurisdiction, make_service
from tests.web.filing_helpers import (
    CITY,
    csrf_token,
    make_filing_city,
    problems_next_to,
    small_jpeg,
)

FORM = f"/report/POT?jurisdiction_id={CITY}"


@pytest.fixture
def city(db):
    return make_filing_city(db)


@pytest.fixture
def media_dir(app, tmp_path):
    app.config["OPEN311_MEDIA_DIR"] = str(tmp_path / "media")
    return tmp_path / "media"


def stored(db) -> int:
    return db.scalar(select(func.count()).select_from(ServiceRequest))


def good_answers(token: str, **changes) -> dict:
    body = {
        "csrf_token": token,
        "jurisdiction_id": CITY,
        "attribute[SIZE]": "L",
        "attribute[DEPTH]": "7.5",
        "attribute[SEEN]": "2026-12-05T07:23",
        "attribute[WHERE]": "left lane",
        "attribute[DETAILS]": "Deep\nand wide",
        "attribute[HAZARDS][]": ["WATER", "GLASS"],
        "description": "A hole by the bus stop",
        "address_string": "742 Evergreen Terrace",
        "lat": "",
        "long": "",
    }
    return body | changes


def open_form(client, path: str = FORM) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, answer.data
    return answer.get_data(as_text=True)


def post(client, body: dict, path: str = FORM, **kwargs):
    return client.post(path, data=body, content_type="multipart/form-data", **kwargs)


# --- the service list ------------------------------------------------------------------------


def test_the_services_are_listed_by_group_with_links_to_their_forms(client, city):
    page = open_form(client, f"/report?jurisdiction_id={CITY}")
    assert page.index(">Streets<") < page.index("Pothole") and ">Walls<" in page
    assert f'href="/report/POT?jurisdiction_id={CITY}"' in page


def test_the_services_in_spanish(client, city):
    page = open_form(client, f"/report?jurisdiction_id={CITY}&locale=es")
    assert 'lang="es"' in page and "Bache" in page and ">Calles<" in page


def test_a_server_of_several_cities_asks_which_one_first(client, city, db):
    make_jurisdiction(db, jurisdiction_id="shelbyville.example", name="Shelbyville")
    page = open_form(client, "/report")
    assert "Springfield" in page and "Shelbyville" in page
    assert f'href="/report?jurisdiction_id={CITY}"' in page
    # A link that named a service but no city keeps the service.
    page = open_form(client, "/report/POT")
    assert f'href="/report/POT?jurisdiction_id={CITY}"' in page


def test_an_unknown_service_is_a_404_page(client, city):
    answer = client.get(f"/report/NOPE?jurisdiction_id={CITY}")
    assert answer.status_code == 404 and answer.mimetype == "text/html"


# --- the form as generated -------------------------------------------------------------------


def test_every_datatype_has_its_input(client, city):
    page = open_form(client)
    assert re.search(r'<input type="text" id="attribute-1" name="attribute\[WHERE\]"', page)
    assert re.search(r'<input type="text" inputmode="decimal" class="short" id="attribute-2"', page)
    assert re.search(r'<input type="datetime-local" class="short" id="attribute-3"', page)
    assert '<textarea id="attribute-4" name="attribute[DETAILS]"' in page
    assert '<select id="attribute-5" name="attribute[SIZE]" required aria-required="true"' in page
    assert page.count('name="attribute[HAZARDS][]"') == 2
    assert 'type="checkbox" id="attribute-6-0"' in page
    # Every input has its label.
    for input_id in ("attribute-1", "attribute-2", "attribute-3", "attribute-4", "attribute-5"):
        assert f'<label for="{input_id}">' in page
    assert '<label for="attribute-6-1"><bdi>Broken glass</bdi></label>' in page


def test_required_marks_help_text_and_information(client, city):
    page = open_form(client)
    size_label = re.search(r'<label for="attribute-5">(.*?)</label>', page, re.S).group(1)
    assert "How big is it?" in size_label and 'class="required"' in size_label
    where_label = re.search(r'<label for="attribute-1">(.*?)</label>', page, re.S).group(1)
    assert 'class="required"' not in where_label
    assert '<p class="hint" id="attribute-2-hint"><bdi>A number, e.g. 7.5</bdi></p>' in page
    assert re.search(r'id="attribute-2"[^>]*aria-describedby="attribute-2-hint"', page)
    # The informational attribute is said, not asked.
    assert "Potholes are fixed within 3 days." in page
    assert 'name="attribute[NOTE]"' not in page


def test_the_form_works_without_javascript(client, city):
    page = open_form(client)
    assert 'enctype="multipart/form-data"' in page
    assert '<input type="file" id="media" name="media" multiple accept="image/*"' in page
    assert 'id="address_string" name="address_string"' in page
    assert 'id="picker-box" hidden' in page  # the map only appears with its script


def test_the_picker_starts_at_the_city_and_draws_its_districts(client, city, db):
    layer = make_boundary_layer(db, city, "wards")
    make_district(db, layer, "Ward 1", bounds=(-118.3, 34.0, -118.2, 34.1))
    page = open_form(client)
    assert 'data-extent="-118.300000,34.000000,-118.200000,34.100000"' in page
    tiles = f"/tiles/districts/{{z}}/{{x}}/{{y}}.mvt?jurisdiction_id={CITY}&amp;layer={layer.id}"
    assert f'data-districts="{tiles}"' in page


def test_the_form_in_arabic_reads_right_to_left(client, city):
    page = open_form(client, FORM + "&locale=ar")
    assert 'dir="rtl"' in page and "حفرة في الطريق" in page and "ما حجمها؟" in page


def test_the_form_in_spanish(client, city):
    page = open_form(client, FORM + "&locale=es")
    assert "Bache" in page and "¿Qué tamaño tiene?" in page
    assert "Elija el tamaño más parecido" in page and ">Pequeño<" in page


# --- filing ----------------------------------------------------------------------------------


def test_a_good_form_files_the_request_and_redirects_to_its_confirmation(client, city, db):
    token = csrf_token(open_form(client))
    body = good_answers(token, email="resident@example.org", first_name="Marge", phone="555")
    answer = post(client, body)
    assert answer.status_code == 303 and answer.headers["Location"] == "/report/filed"
    request = db.scalars(select(ServiceRequest)).one()
    assert request.channel == "web" and request.address == "742 Evergreen Terrace"
    assert request.attribute_values["SIZE"] == "L"
    assert request.attribute_values["HAZARDS"] == ["WATER", "GLASS"]
    assert request.attribute_values["SEEN"] == "2026-12-05T15:23:00Z"  # read in the city's zone
    requester = request.requester
    assert requester.email == "resident@example.org" and requester.language == "en"
    confirmation = client.get("/report/filed").get_data(as_text=True)
    assert request.service_request_id in confirmation
    assert f'href="/requests/{request.service_request_id}"' in confirmation
    for personal in ("resident@example.org", "Marge", "555"):
        assert personal not in confirmation
    # Reloading the confirmation files nothing again.
    client.get("/report/filed")
    assert stored(db) == 1


def test_a_point_from_the_picker_is_enough_for_a_location(client, city, db):
    token = csrf_token(open_form(client))
    body = good_answers(token, address_string="", lat="34.05", long="-118.25")
    assert post(client, body).status_code == 303
    request = db.scalars(select(ServiceRequest)).one()
    assert request.address is None and request.location is not None


def test_the_confirmation_without_a_filing_goes_back_to_the_list(client, city):
    answer = client.get("/report/filed")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/report")


# --- refusals: every problem next to its field, the answers kept, nothing stored ---------------


def test_each_problem_is_shown_next_to_its_field(client, city, db):
    token = csrf_token(open_form(client))
    body = good_answers(
        token,
        **{
            "attribute[SIZE]": "",
            "attribute[DEPTH]": "deep",
            "attribute[SEEN]": "yesterday",
            "attribute[HAZARDS][]": ["WATER", "LAVA"],
        },
    )
    answer = post(client, body)
    assert answer.status_code == 200 and answer.mimetype == "text/html"  # the form again
    page = answer.get_data(as_text=True)
    assert problems_next_to(page, "attribute-5") == ["attribute SIZE is required"]
    assert problems_next_to(page, "attribute-2") == ["attribute DEPTH: deep is not a number"]
    (seen,) = problems_next_to(page, "attribute-3")
    assert seen.startswith("attribute SEEN: 'yesterday' is not a W3C datetime")
    assert problems_next_to(page, "attribute-6") == [
        "attribute HAZARDS: LAVA not among the allowed values"
    ]
    assert problems_next_to(page, "attribute-1") == []
    # The summary at the top is an alert whose items link to the fields.
    summary = re.search(r'<div class="problems" role="alert".*?</div>', page, re.S).group(0)
    for anchor in ("#attribute-5", "#attribute-2", "#attribute-3", "#attribute-6-0"):
        assert f'href="{anchor}"' in summary
    assert 'aria-invalid="true"' in page
    # The rest of the form is kept as it was filled.
    assert 'value="deep"' in page and 'value="left lane"' in page
    assert "A hole by the bus stop</textarea>" in page
    assert re.search(r'value="WATER" checked', page)
    assert stored(db) == 0


def test_an_unknown_single_value_is_refused(client, city, db):
    token = csrf_token(open_form(client))
    answer = post(client, good_answers(token, **{"attribute[SIZE]": "HUGE"}))
    page = answer.get_data(as_text=True)
    assert problems_next_to(page, "attribute-5") == [
        "attribute SIZE: HUGE is not among the allowed values"
    ]
    assert stored(db) == 0


def test_a_request_without_a_location_says_so_by_the_address(client, city, db):
    token = csrf_token(open_form(client))
    answer = post(client, good_answers(token, address_string=""))
    assert answer.status_code == 200
    (problem,) = problems_next_to(answer.get_data(as_text=True), "location")
    assert problem.startswith("a location is required")
    assert stored(db) == 0


def test_a_bad_email_is_shown_by_the_email_field(client, city, db):
    token = csrf_token(open_form(client))
    answer = post(client, good_answers(token, email="not an address"))
    (problem,) = problems_next_to(answer.get_data(as_text=True), "email")
    assert problem.startswith("email:")
    assert stored(db) == 0


def test_a_bad_email_and_no_location_are_both_said(client, city, db):
    token = csrf_token(open_form(client))
    answer = post(client, good_answers(token, email="nope", address_string=""))
    page = answer.get_data(as_text=True)
    assert problems_next_to(page, "email") and problems_next_to(page, "location")
    assert stored(db) == 0


def test_a_blackbox_filing_is_confirmed_without_a_number(client, db, city):
    make_service(db, city, "TIP", type=ServiceType.blackbox, service_name="Feedback")
    token = csrf_token(open_form(client, f"/report/TIP?jurisdiction_id={CITY}"))
    body = {"csrf_token": token, "jurisdiction_id": CITY, "address_string": "City Hall"}
    assert post(client, body, f"/report/TIP?jurisdiction_id={CITY}").status_code == 303
    request = db.scalars(select(ServiceRequest)).one()
    confirmation = client.get("/report/filed").get_data(as_text=True)
    assert "no public page" in confirmation
    assert request.service_request_id not in confirmation


def test_problems_in_spanish(client, city, db):
    token = csrf_token(open_form(client, FORM + "&locale=es"))
    answer = post(client, good_answers(token, **{"attribute[SIZE]": ""}))
    page = answer.get_data(as_text=True)
    assert 'lang="es"' in page
    (problem,) = problems_next_to(page, "attribute-5")
    assert "SIZE" in problem and problem != "attribute SIZE is required"


def test_problems_in_arabic(client, city, db):
    token = csrf_token(open_form(client, FORM + "&locale=ar"))
    answer = post(client, good_answers(token, **{"attribute[SIZE]": ""}))
    page = answer.get_data(as_text=True)
    assert 'dir="rtl"' in page
    (problem,) = problems_next_to(page, "attribute-5")
    assert "SIZE" in problem and problem != "attribute SIZE is required"


# --- photos ----------------------------------------------------------------------------------


def test_a_photo_is_stored_and_linked(client, city, db, media_dir):
    token = csrf_token(open_form(client))
    body = good_answers(token, media=(io.BytesIO(small_jpeg()), "hole.jpg"))
    assert post(client, body).status_code == 303
    request = db.scalars(select(ServiceRequest)).one()
    (photo,) = db.scalars(select(Media)).all()
    assert photo.service_request_pk == request.id
    assert request.media_url.endswith(f"/media/{photo.name}")
    assert (media_dir / photo.name).is_file()
    confirmation = client.get("/report/filed").get_data(as_text=True)
    assert "Photos attached: 1" in confirmation


def test_a_file_that_is_not_a_photo_is_refused_next_to_the_photos(client, city, db, media_dir):
    token = csrf_token(open_form(client))
    body = good_answers(token, media=(io.BytesIO(b"not a picture"), "notes.txt"))
    answer = post(client, body)
    assert answer.status_code == 200
    (problem,) = problems_next_to(answer.get_data(as_text=True), "media")
    assert "notes.txt" in problem
    assert stored(db) == 0 and db.scalar(select(func.count()).select_from(Media)) == 0
    assert not media_dir.exists() or not any(media_dir.iterdir())


# --- CSRF ------------------------------------------------------------------------------------


def test_a_post_without_the_csrf_token_is_refused_and_stores_nothing(client, city, db):
    open_form(client)
    answer = post(client, good_answers("") | {"csrf_token": ""})
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    assert "expired" in answer.get_data(as_text=True)
    assert stored(db) == 0


# --- the API's write limit, per address --------------------------------------------------------


@pytest.fixture
def limited_client(database_url, session_factory, redis_url):
    """A client of an app whose write limit is 2 a minute, counted in the worker's Redis."""
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    store.close()
    config = {
        "DATABASE_URL": database_url,
        "TESTING": True,
        "REDIS_URL": redis_url,
        "OPEN311_RATE_LIMITS": True,
        "OPEN311_RATE_LIMIT_WRITES": "2/minute",
    }
    app = create_app(config)
    app.extensions["open311.sessions"] = session_factory
    return app.test_client()


def test_the_form_counts_against_the_write_limit_of_the_address(limited_client, city, db):
    token = csrf_token(open_form(limited_client))
    for _ in range(2):
        first = post(limited_client, good_answers(token))
        assert first.status_code == 303, first.get_data(as_text=True)
    answer = post(limited_client, good_answers(token))
    assert answer.status_code == 429 and answer.mimetype == "text/html"
    assert "too many requests" in answer.get_data(as_text=True)
    assert stored(db) == 2
    # Another address has its own count.
    other = {"REMOTE_ADDR": "203.0.113.7"}
    assert post(limited_client, good_answers(token), environ_base=other).status_code == 303
