"""Photo uploads: multipart `media` parts on POST requests and POST servicerequestupdates,
stored clean under OPEN311_MEDIA_DIR and served back at /media/<name>; whatever is refused
leaves neither rows nor files."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from open311.db.models import Activity, Media, ServiceRequest
from open311.domain import activity
from open311.media import photos
from open311.values import StaffRole
from tests.api.helpers import (
    FORMATS,
    bearer,
    body,
    counts,
    errors,
    fetch,
    files_in,
    make_staff,
    media_rows,
    part,
    post_request,
    post_update,
    pothole_fields,
    stored_request,
    url,
)
from tests.factories import (
    make_api_key,
    make_attribute,
    make_jurisdiction,
    make_request,
    make_service,
)
from tests.helpers import (
    RED,
    assert_no_metadata,
    close_to,
    heic_with_exif,
    jpeg_with_gps,
    png_with_text,
    webp_with_exif,
)


@pytest.fixture
def media_dir(app, tmp_path) -> Path:
    app.config["OPEN311_MEDIA_DIR"] = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def api_key(db):
    return make_api_key(db, "FixMyStreet")


@pytest.fixture
def pothole(db, city):
    return make_service(
        db,
        city,
        "POT-01",
        attributes=[make_attribute("DEPTH", "singlevaluelist", values=[("S", "Small")])],
    )


# --- accepted photos --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_jpeg_with_gps_is_served_back_without_any_metadata(
    client, db, pothole, api_key, media_dir, fmt
):
    original = jpeg_with_gps((640, 480))

    response = post_request(client, fmt, part(original), api_key=api_key)

    assert response.status_code == 200, response.data
    (answer,) = body(response, fmt, "service_requests")
    request = stored_request(db)
    assert answer["service_request_id"] == request.service_request_id
    (row,) = media_rows(db)
    assert request.media_url == f"/media/{row.name}"
    assert (row.content_type, row.width, row.height, row.position) == ("image/jpeg", 640, 480, 0)
    assert row.activity_id is None and row.service_request_pk == request.id
    assert files_in(media_dir) == sorted([row.name, row.thumbnail_name])
    assert row.size_bytes == (media_dir / row.name).stat().st_size

    served = fetch(client, request.media_url)

    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age" in served.headers["Cache-Control"]
    image = assert_no_metadata(served.data)
    assert image.size == (640, 480)
    assert close_to(image.convert("RGB").getpixel((100, 100)), RED)


def test_the_media_url_shows_in_get_requests(client, db, pothole, api_key, media_dir):
    post_request(client, "json", part(jpeg_with_gps()), api_key=api_key)
    request = stored_request(db)

    (item,) = client.get(url(f"requests/{request.service_request_id}", "json")).get_json()

    assert item["media_url"] == request.media_url
    assert urlsplit(item["media_url"]).path.startswith("/media/")


def test_the_thumbnail_is_served_and_fits_in_320_pixels(client, db, pothole, api_key, media_dir):
    post_request(client, "json", part(jpeg_with_gps((1600, 1200))), api_key=api_key)
    (row,) = media_rows(db)

    served = fetch(client, f"/media/{row.thumbnail_name}")

    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    thumbnail = assert_no_metadata(served.data)
    assert thumbnail.size == (320, 240)


@pytest.mark.parametrize(
    ("make", "filename", "content_type", "stored_type", "pillow_format"),
    [
        (png_with_text, "map.png", "image/png", "image/png", "PNG"),
        (webp_with_exif, "x.webp", "image/webp", "image/webp", "WEBP"),
        (heic_with_exif, "IMG_0001.HEIC", "image/heic", "image/jpeg", "JPEG"),
    ],
    ids=["png", "webp", "heic"],
)
def test_png_webp_and_heic_are_taken(
    client,
    db,
    pothole,
    api_key,
    media_dir,
    make,
    filename,
    content_type,
    stored_type,
    pillow_format,
):
    data = make()

    response = post_request(client, "json", part(data, filename, content_type), api_key=api_key)

    assert response.status_code == 200, response.data
    (row,) = media_rows(db)
    assert row.content_type == stored_type
    served = fetch(client, f"/media/{row.name}")
    assert served.headers["Content-Type"] == stored_type
    image = assert_no_metadata(served.data)
    assert image.format == pillow_format
    assert image.size == (row.width, row.height)
    assert close_to(image.convert("RGB").getpixel((5, 5)), RED, tolerance=20)


def test_the_type_is_told_by_content_not_by_name(client, db, pothole, api_key, media_dir):
    response = post_request(
        client, "json", part(png_with_text(), "holiday.jpg", "image/jpeg"), api_key=api_key
    )

    assert response.status_code == 200
    (row,) = media_rows(db)
    assert row.content_type == "image/png" and row.name.endswith(".png")


def test_several_photos_keep_their_order_and_the_first_is_the_media_url(
    client, db, pothole, api_key, media_dir
):
    response = post_request(
        client,
        "xml",
        part(jpeg_with_gps((300, 200))),
        part(png_with_text((200, 100)), "b.png", "image/png"),
        part(webp_with_exif((100, 50)), "c.webp", "image/webp"),
        api_key=api_key,
    )

    assert response.status_code == 200, response.data
    rows = media_rows(db)
    assert [(r.position, r.width) for r in rows] == [(0, 300), (1, 200), (2, 100)]
    assert stored_request(db).media_url.endswith(f"/media/{rows[0].name}")
    assert len(files_in(media_dir)) == 6


def test_an_uploaded_photo_outranks_a_linked_media_url(client, db, pothole, api_key, media_dir):
    post_request(
        client,
        "json",
        part(jpeg_with_gps()),
        api_key=api_key,
        media_url="https://img.example.org/elsewhere.jpg",
    )

    (row,) = media_rows(db)
    assert stored_request(db).media_url == f"/media/{row.name}"


def test_the_public_url_gives_the_media_url_its_site(client, app, db, pothole, api_key, media_dir):
    app.config["OPEN311_PUBLIC_URL"] = "https://311.example.gov/city/open311/v2"

    post_request(client, "json", part(jpeg_with_gps()), api_key=api_key)

    (row,) = media_rows(db)
    assert stored_request(db).media_url == f"https://311.example.gov/city/media/{row.name}"


def test_a_request_without_photos_is_as_before(client, db, pothole, api_key, media_dir):
    response = client.post(url("requests", "json"), data=pothole_fields(api_key))

    assert response.status_code == 200
    assert media_rows(db) == [] and files_in(media_dir) == []


def test_an_empty_file_input_is_no_photo(client, db, pothole, api_key, media_dir):
    """What a browser sends for a file input left empty: a part without file name or bytes."""
    response = post_request(
        client, "json", part(b"", "", "application/octet-stream"), api_key=api_key
    )

    assert response.status_code == 200, response.data
    assert media_rows(db) == [] and stored_request(db).media_url is None


# --- refused photos: nothing stored -------------------------------------------------------------


def refused(client, db, media_dir, fmt: str, status: int, *parts, **overrides) -> list[str]:
    before = (counts(db), len(media_rows(db)))
    response = post_request(client, fmt, *parts, **overrides)
    descriptions = errors(response, fmt, status)
    assert (counts(db), len(media_rows(db))) == before
    assert files_in(media_dir) == []
    return descriptions


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_text_file_that_says_it_is_a_jpeg_is_400(client, db, pothole, api_key, media_dir, fmt):
    liar = part(b"Just words, honest.\n" * 50, "photo.jpg", "image/jpeg")

    problems = refused(client, db, media_dir, fmt, 400, liar, api_key=api_key)

    assert problems == ["media: photo.jpg is not a JPEG, PNG, WebP or HEIC image"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_truncated_jpeg_is_400(client, db, pothole, api_key, media_dir, fmt):
    truncated = part(jpeg_with_gps()[:2500], "cut.jpg")

    problems = refused(client, db, media_dir, fmt, 400, truncated, api_key=api_key)

    assert problems == ["media: cut.jpg is not a JPEG, PNG, WebP or HEIC image"]


def test_one_bad_photo_among_good_ones_stores_none(client, db, pothole, api_key, media_dir):
    good = part(jpeg_with_gps(), "good.jpg")
    gif = io.BytesIO()
    Image.new("RGB", (20, 20)).save(gif, "GIF")

    problems = refused(
        client, db, media_dir, "json", 400, good, part(gif.getvalue(), "anim.gif"), api_key=api_key
    )

    assert problems == ["media: anim.gif is not a JPEG, PNG, WebP or HEIC image"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_oversized_photo_is_413(client, app, db, pothole, api_key, media_dir, fmt):
    big = jpeg_with_gps((640, 480))
    app.config["OPEN311_MEDIA_MAX_BYTES"] = len(big) - 1

    problems = refused(client, db, media_dir, fmt, 413, part(big, "big.jpg"), api_key=api_key)

    assert problems == [f"media: big.jpg is larger than {len(big) - 1} bytes"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_body_over_max_content_length_is_413(client, app, db, pothole, api_key, media_dir, fmt):
    app.config["MAX_CONTENT_LENGTH"] = 4096

    refused(client, db, media_dir, fmt, 413, part(jpeg_with_gps()), api_key=api_key)


@pytest.mark.parametrize("fmt", FORMATS)
def test_more_photos_than_allowed_is_400(client, app, db, pothole, api_key, media_dir, fmt):
    app.config["OPEN311_MEDIA_MAX_COUNT"] = 2
    jpeg = jpeg_with_gps((64, 48))

    problems = refused(
        client, db, media_dir, fmt, 400, *(part(jpeg) for _ in range(3)), api_key=api_key
    )

    assert problems == ["media: at most 2 photos may be sent at once"]


def test_media_as_a_text_field_is_400(client, db, pothole, api_key, media_dir):
    response = client.post(
        url("requests", "json"),
        data=pothole_fields(api_key) | {"media": "https://img.example.org/x.jpg"},
        content_type="multipart/form-data",
    )

    assert errors(response, "json", 400) == [
        "media: send photos as file parts (a file name in the part's header)"
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_refused_request_with_a_good_photo_leaves_no_file(
    client, db, pothole, api_key, media_dir, fmt
):
    problems = refused(
        client, db, media_dir, fmt, 404, part(jpeg_with_gps()), api_key=api_key, service_code="NOPE"
    )

    assert problems == ["service_code NOPE not found"]


def test_a_failed_commit_deletes_the_files_it_wrote(
    client, db, pothole, api_key, media_dir, monkeypatch
):
    """A name that is already taken makes the media insert fail after the files were written
    (in practice 128 random bits never collide; here the collision is forced)."""
    other = make_request(db, pothole, service_request_id="OTHER")
    db.add(
        Media(
            service_request_pk=other.id,
            name="taken-name-aaaaaaaaaaaa.jpg",
            thumbnail_name="taken-thumb-aaaaaaaaaaa.jpg",
            content_type="image/jpeg",
            size_bytes=1,
            width=1,
            height=1,
            created_at=datetime.now(UTC),
        )
    )
    db.flush()
    names = iter(["taken-name-aaaaaaaaaaaa.jpg", "fresh-thumb-aaaaaaaaaaa.jpg"])
    monkeypatch.setattr(photos, "new_name", lambda extension: next(names))
    before = db.scalar(select(func.count()).select_from(ServiceRequest))

    response = post_request(client, "json", part(jpeg_with_gps()), api_key=api_key)

    assert response.status_code == 500
    assert files_in(media_dir) == []
    assert db.scalar(select(func.count()).select_from(ServiceRequest)) == before


# --- serving ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/media/../etc/passwd",
        "/media/..%2F..%2Fetc%2Fpasswd",
        "/media/%2e%2e",
        "/media/..",
        "/media/x%2Fy.jpg",
        "/media/AAAAAAAAAAAAAAAAAAAAAA.jpg",  # the shape of a name, but no photo has it
        "/media/.AAAAAAAAAAAAAAAAAAAAAA.jpg.0000.tmp",
    ],
)
def test_unknown_names_and_path_tricks_are_404(client, db, media_dir, path):
    media_dir.mkdir(parents=True)
    (media_dir / "AAAAAAAAAAAAAAAAAAAAAA.jpg").write_bytes(b"a file without a row")
    (media_dir.parent / "passwd").write_text("root:x:0:0")

    response = fetch(client, path)

    assert response.status_code == 404
    assert b"root:x" not in response.data and b"without a row" not in response.data


# --- photos on an app's update ------------------------------------------------------------------


@pytest.fixture
def request_u1(db, pothole):
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
    db.flush()
    return request


def answer_id(response, fmt: str) -> str:
    """The update_id of a POST servicerequestupdates answer, in either format."""
    if fmt == "json":
        (answer,) = body(response, fmt)
        return answer["update_id"]
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    document = ET.fromstring(response.data)
    assert document.tag == "service_request_updates"
    return document.findtext("request_update/update_id")


@pytest.mark.parametrize("fmt", FORMATS)
def test_photos_of_an_update_reach_the_feed_once_published(
    client, db, request_u1, api_key, media_dir, fmt
):
    response = post_update(
        client,
        api_key,
        fmt,
        part(jpeg_with_gps()),
        part(png_with_text(), "b.png", "image/png"),
        media_url="https://img.example.org/linked.jpg",
    )

    assert response.status_code == 200, response.data
    update_id = answer_id(response, fmt)
    rows = media_rows(db)
    assert [r.activity_id for r in rows] == [int(update_id)] * 2
    assert all(r.service_request_pk == request_u1.id for r in rows)
    urls = [f"/media/{r.name}" for r in rows]
    expected = [*urls, "https://img.example.org/linked.jpg"]
    _user, token = make_staff(db, StaffRole.supervisor, "mod")
    listed = client.get("/api/v1/requests/U-1/app-updates", headers=bearer(token)).json
    assert listed[0]["media_url"] == expected

    published = client.post(
        f"/api/v1/app-updates/{update_id}/publish", json={}, headers=bearer(token)
    )

    assert published.status_code == 201, published.json
    assert published.json["media_url"] == expected
    feed = client.get(url("servicerequestupdates", "json")).get_json()
    assert feed[-1]["media_url"] == expected
    served = fetch(client, urls[0])
    assert served.status_code == 200
    assert_no_metadata(served.data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_bad_photo_on_an_update_stores_nothing(client, db, request_u1, api_key, media_dir, fmt):
    before = db.scalar(select(func.count()).select_from(Activity))

    response = post_update(client, api_key, fmt, part(b"GIF89a not really", "a.jpg"))

    assert errors(response, fmt, 400) == ["media: a.jpg is not a JPEG, PNG, WebP or HEIC image"]
    assert db.scalar(select(func.count()).select_from(Activity)) == before
    assert media_rows(db) == [] and files_in(media_dir) == []


def test_an_oversized_photo_on_an_update_is_413(client, app, db, request_u1, api_key, media_dir):
    app.config["OPEN311_MEDIA_MAX_BYTES"] = 1000

    response = post_update(client, api_key, "xml", part(jpeg_with_gps(), "big.jpg"))

    assert errors(response, "xml", 413) == ["media: big.jpg is larger than 1000 bytes"]
    assert media_rows(db) == [] and files_in(media_dir) == []


def test_a_repeated_update_id_stores_the_photos_once(client, db, request_u1, api_key, media_dir):
    first = post_update(client, api_key, "json", part(jpeg_with_gps()))
    again = post_update(client, api_key, "json", part(jpeg_with_gps()))

    assert first.status_code == again.status_code == 200
    assert answer_id(first, "json") == answer_id(again, "json")
    (row,) = media_rows(db)
    assert files_in(media_dir) == sorted([row.name, row.thumbnail_name])


# --- the fields' limit stays apart from the photos' ---------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_fields_over_the_form_limit_are_413_though_photos_may_be_larger(
    client, app, db, pothole, api_key, media_dir, fmt
):
    app.config["OPEN311_MAX_BODY_BYTES"] = 4096
    photo = jpeg_with_gps((800, 600))
    assert len(photo) > 4096

    too_long = client.post(
        url("requests", fmt), json=pothole_fields(api_key, description="d" * 5000)
    )
    with_photo = post_request(client, fmt, part(photo), api_key=api_key)

    errors(too_long, fmt, 413)
    assert with_photo.status_code == 200, with_photo.data
    assert len(media_rows(db)) == 1


# --- every photo's URL with extensions=true -----------------------------------------------------


def xml_media_urls(response) -> list[str]:
    document = ET.fromstring(response.data)
    (container,) = document.findall("request/extended_attributes/media_urls")
    assert all(child.tag == "media_url" for child in container)
    return [child.text for child in container]


@pytest.mark.parametrize("single", [False, True], ids=["list", "single"])
def test_all_photos_are_listed_in_extended_attributes(
    client, db, pothole, api_key, media_dir, single
):
    post_request(
        client,
        "json",
        part(jpeg_with_gps((300, 200))),
        part(png_with_text(), "b.png", "image/png"),
        api_key=api_key,
    )
    request = stored_request(db)
    expected = [f"/media/{row.name}" for row in media_rows(db)]
    assert expected[0] == request.media_url
    resource = f"requests/{request.service_request_id}" if single else "requests"

    def get(fmt: str):
        path = f"/open311/v2/{resource}.{fmt}"
        return client.get(path, query_string={"extensions": "true"})

    (item,) = get("json").get_json()
    (feature,) = get("geojson").get_json()["features"]
    assert item["extended_attributes"]["media_urls"] == expected
    assert feature["properties"]["extended_attributes"]["media_urls"] == expected
    assert item["media_url"] == expected[0]
    assert xml_media_urls(get("xml")) == expected
    for url_ in expected:
        assert fetch(client, url_).status_code == 200


@pytest.mark.parametrize("linked", [None, "https://img.example.org/linked.jpg"])
def test_without_uploads_media_urls_is_the_linked_url_or_empty(
    client, db, pothole, api_key, linked
):
    data = pothole_fields(api_key) | ({"media_url": linked} if linked else {})
    client.post(url("requests", "json"), data=data)
    request = stored_request(db)
    path = f"requests/{request.service_request_id}"

    (item,) = client.get(url(path, "json"), query_string={"extensions": "true"}).get_json()
    xml = client.get(url(path, "xml"), query_string={"extensions": "true"})

    assert item["extended_attributes"]["media_urls"] == ([linked] if linked else [])
    assert xml_media_urls(xml) == ([linked] if linked else [])


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("body_type", ["form", "multipart"])
def test_repeated_media_urls_are_all_kept(client, db, pothole, api_key, fmt, body_type):
    """FixMyStreet sends a report's photos as repeated media_url: the first is media_url,
    extended_attributes.media_urls lists all, in order."""
    links = [f"https://img.example.org/fms/{n}.jpeg" for n in (1, 2, 3)]
    data = MultiDict(list(pothole_fields(api_key).items()) + [("media_url", u) for u in links])
    content_type = "multipart/form-data" if body_type == "multipart" else None

    response = client.post(url("requests", fmt), data=data, content_type=content_type)

    assert response.status_code in (200, 201), response.data
    request = stored_request(db)
    path = f"requests/{request.service_request_id}"
    got = client.get(url(path, fmt), query_string={"extensions": "true"})
    if fmt == "json":
        (item,) = got.get_json()
        assert item["media_url"] == links[0]
        assert item["extended_attributes"]["media_urls"] == links
    else:
        assert ET.fromstring(got.data).findtext("request/media_url") == links[0]
        assert xml_media_urls(got) == links
    (listed,) = client.get(url("requests", "json"), query_string={"extensions": "true"}).json
    assert listed["extended_attributes"]["media_urls"] == links


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("bad", ["not a url", "javascript:alert(1)", "ftp://example.org/a.jpg"])
def test_each_repeated_media_url_is_checked(client, db, pothole, api_key, fmt, bad):
    fields = list(pothole_fields(api_key).items())
    data = MultiDict([*fields, ("media_url", "https://img.example.org/1.jpeg"), ("media_url", bad)])

    response = client.post(url("requests", fmt), data=data)

    assert response.status_code == 400
    assert "media_url" in response.text
    assert db.scalar(select(func.count()).select_from(ServiceRequest)) == 0


def test_photos_of_updates_are_not_the_requests_own(client, db, request_u1, api_key, media_dir):
    post_update(client, api_key, "json", part(jpeg_with_gps()))

    (item,) = client.get(
        url("requests/U-1", "json"), query_string={"extensions": "true"}
    ).get_json()

    assert item["extended_attributes"]["media_urls"] == []
