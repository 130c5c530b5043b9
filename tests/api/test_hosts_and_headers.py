"""The Host header and the headers of every answer: OPEN311_TRUSTED_HOSTS refuses other hosts
with a GeoReport 400, nothing kept is built from the Host header, staff answers are never
cached and no answer may be sniffed as another type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from open311.domain import activity
from open311.values import StaffRole
from tests.api.helpers import (
    FORMATS,
    bearer,
    body,
    counts,
    errors,
    make_staff,
    media_rows,
    part,
    pothole_fields,
    stored_request,
    url,
)
from tests.factories import make_api_key, make_jurisdiction, make_request, make_service
from tests.helpers import jpeg_with_gps

EVIL = {"Host": "evil.example"}
PUBLIC = "https://311.example.gov/city/open311/v2"


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def pothole(db, city):
    return make_service(db, city, "POT-01", service_name="Pothole")


@pytest.fixture
def api_key(db):
    return make_api_key(db, "FixMyStreet")


@pytest.fixture
def media_dir(app, tmp_path):
    app.config["OPEN311_MEDIA_DIR"] = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def trusted(app):
    app.config["OPEN311_TRUSTED_HOSTS"] = "127.0.0.1, localhost,.city.example"


def post_photo(client, fmt: str, api_key: str, headers: dict[str, str]):
    data = pothole_fields(api_key) | {"media": [part(jpeg_with_gps())]}
    return client.post(
        url("requests", fmt), data=data, content_type="multipart/form-data", headers=headers
    )


# --- OPEN311_TRUSTED_HOSTS ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_untrusted_host_is_a_georeport_400(client, pothole, trusted, fmt):
    response = client.get(url("services", fmt), headers=EVIL)

    (description,) = errors(response, fmt, 400)
    assert "Host" in description and "evil.example" not in description
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_post_under_an_untrusted_host_stores_nothing(
    client, db, pothole, api_key, media_dir, trusted, fmt
):
    before = counts(db)

    response = post_photo(client, fmt, api_key, EVIL)

    errors(response, fmt, 400)
    assert counts(db) == before and media_rows(db) == []


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("/open311/v2/exports/requests.csv", "json"),  # as the exports' own errors
        ("/open311/v2/exports/requests.ndjson", "json"),
        ("/open311/v2/requests.geojson", "json"),
        ("/open311/v2/nowhere", "xml"),  # the spec's default
    ],
)
def test_an_untrusted_host_elsewhere_is_a_400_in_the_path_s_error_format(
    client, pothole, trusted, path, fmt
):
    errors(client.get(path, headers=EVIL), fmt, 400)


def test_an_untrusted_host_on_the_staff_api_is_a_json_400(client, db, trusted):
    _user, token = make_staff(db, StaffRole.supervisor, "sam")

    response = client.get("/api/v1/me", headers=bearer(token) | EVIL)

    errors(response, "json", 400)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1:5311", "LOCALHOST:80", "a.city.example", "city.example"]
)
def test_a_trusted_host_with_or_without_its_port_is_answered(client, pothole, trusted, host):
    response = client.get(url("services", "json"), headers={"Host": host})

    assert response.status_code == 200, response.data


@pytest.mark.parametrize("host", ["localhost.evil.example", "evilcity.example", "localhost:99999"])
def test_look_alike_hosts_are_refused(client, pothole, trusted, host):
    errors(client.get(url("services", "json"), headers={"Host": host}), "json", 400)


def test_without_trusted_hosts_any_host_is_answered(client, pothole):
    assert client.get(url("services", "json"), headers=EVIL).status_code == 200


# --- nothing kept is built from the Host header ---------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_photo_under_a_forged_host_keeps_no_url_of_that_host(
    client, db, pothole, api_key, media_dir, fmt
):
    response = post_photo(client, fmt, api_key, EVIL)

    assert response.status_code == 200, response.data
    (row,) = media_rows(db)
    assert stored_request(db).media_url == f"/media/{row.name}"
    listed = client.get(url("requests", fmt), query_string={"extensions": "true"})
    (item,) = body(listed, fmt, "service_requests")
    assert item["media_url"] == f"/media/{row.name}"
    assert b"evil.example" not in listed.data


def test_with_a_public_url_a_photo_is_kept_under_it_whatever_the_host(
    client, app, db, pothole, api_key, media_dir
):
    app.config["OPEN311_PUBLIC_URL"] = PUBLIC

    assert post_photo(client, "json", api_key, EVIL).status_code == 200

    (row,) = media_rows(db)
    assert stored_request(db).media_url == f"https://311.example.gov/city/media/{row.name}"


def test_an_updates_photos_under_a_forged_host_keep_no_url_of_that_host(
    client, db, pothole, api_key, media_dir
):
    request = make_request(db, pothole, service_request_id="U-1")
    activity.record(
        db,
        request,
        actor="system",
        kind="status_notes",
        summary="Crew on the way",
        public=True,
        status="in_progress",
        at=datetime.now(UTC) - timedelta(hours=1),
    )
    data = {
        "api_key": api_key,
        "service_request_id": "U-1",
        "update_id": "fms-1",
        "status": "OPEN",
        "updated_datetime": "2026-11-14T08:02:11Z",
        "description": "Still there",
        "media": [part(jpeg_with_gps())],
    }

    response = client.post(
        url("servicerequestupdates", "json"),
        data=data,
        content_type="multipart/form-data",
        headers=EVIL,
    )

    assert response.status_code == 200, response.data
    (row,) = media_rows(db)
    _user, token = make_staff(db, StaffRole.supervisor, "mod")
    listed = client.get("/api/v1/requests/U-1/app-updates", headers=bearer(token)).json
    assert listed[0]["media_url"] == [f"/media/{row.name}"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_discovery_and_link_use_the_public_url_whatever_the_host(client, app, db, pothole, fmt):
    app.config["OPEN311_PUBLIC_URL"] = PUBLIC
    for i in range(3):
        make_request(db, pothole, service_request_id=f"L-{i}")

    discovery = body(client.get(url("discovery", fmt), headers=EVIL), fmt, "discovery")
    listed = client.get(url("requests", fmt), query_string={"page_size": 2}, headers=EVIL)

    assert PUBLIC in str(discovery) and "evil.example" not in str(discovery)
    assert listed.headers["Link"].startswith(f"<{PUBLIC}/requests.{fmt}?")


# --- headers of every answer -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [url("services", "json"), url("services", "xml"), url("nothing", "json"), "/nowhere"]
)
def test_every_answer_says_nosniff_and_public_ones_may_be_cached(client, city, path):
    response = client.get(path)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_a_photo_keeps_its_long_caching(client, db, pothole, api_key, media_dir):
    post_photo(client, "json", api_key, {})
    (row,) = media_rows(db)

    served = client.get(f"/media/{row.name}")
    served.get_data()
    served.close()

    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_staff_answers_are_never_stored(client, db):
    user, token = make_staff(db, StaffRole.supervisor, "sam")
    answers = [
        client.post("/api/v1/login", json={"username": "sam", "password": "correct horse battery"}),
        client.get("/api/v1/me", headers=bearer(token)),
        client.get("/api/v1/me"),  # 401
        client.get("/api/v1/nowhere", headers=bearer(token)),  # 404
        client.post("/api/v1/login", data="{", content_type="application/json"),  # 400
        client.post(  # 413
            "/api/v1/login", data=b"x" * (2 * 1024 * 1024), content_type="application/json"
        ),
    ]

    assert [a.status_code for a in answers] == [200, 200, 401, 404, 400, 413]
    assert "token" in answers[0].json
    for answer in answers:
        assert answer.headers["Cache-Control"] == "no-store", answer.status_code
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_security_txt_names_the_reporting_address_for_a_year(app, client):
    """RFC 9116 at /.well-known/security.txt: OPEN311_SECURITY_CONTACT as a mailto: Contact (a
    URL as it is), an Expires a year ahead, and the Canonical URL on OPEN311_PUBLIC_URL's site."""
    app.config["OPEN311_SECURITY_CONTACT"] = "psirt@city.example"
    app.config["OPEN311_PUBLIC_URL"] = "https://311.city.example/open311/v2"
    response = client.get("/.well-known/security.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    fields = dict(line.split(": ", 1) for line in response.text.splitlines())
    assert fields["Contact"] == "mailto:psirt@city.example"
    assert fields["Canonical"] == "https://311.city.example/.well-known/security.txt"
    expires = datetime.fromisoformat(fields["Expires"].replace("Z", "+00:00"))
    assert timedelta(days=364) < expires - datetime.now(UTC) <= timedelta(days=365)

    app.config["OPEN311_SECURITY_CONTACT"] = "https://city.example/report"
    assert "Contact: https://city.example/report" in client.get("/.well-known/security.txt").text
