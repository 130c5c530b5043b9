"""Photos in an S3-compatible bucket (OPEN311_MEDIA_S3_BUCKET): S3Store against a real S3 server
(moto's, over HTTP on 127.0.0.1), and uploads through the app that land in the bucket, are
served back by GET /media/<name>, and leave nothing in the bucket when the request is refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from open311.db.models import Media
from open311.media import photos, sweep
from open311.media.s3 import S3Store, normal_prefix
from tests.api.helpers import (
    counts,
    errors,
    fetch,
    files_in,
    media_rows,
    part,
    post_request,
    post_update,
    stored_request,
)
from tests.factories import make_api_key, make_jurisdiction, make_request, make_service
from tests.helpers import RED, assert_no_metadata, close_to, jpeg_with_gps

REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API on a free local port, for the whole module (it starts in a moment)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path) -> None:
    """Dummy credentials through boto3's own chain, and no profile of the machine's user."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def bucket(s3_endpoint, aws_env):
    """A fresh bucket, as an operator would have made it: the app never creates buckets."""
    name = f"photos-{uuid.uuid4().hex[:12]}"
    resource = boto3.resource("s3", endpoint_url=s3_endpoint, region_name=REGION)
    created = resource.create_bucket(Bucket=name)
    yield created
    created.objects.all().delete()
    created.delete()


def keys(bucket) -> list[str]:
    return sorted(item.key for item in bucket.objects.all())


@pytest.fixture
def s3_store(bucket, s3_endpoint) -> S3Store:
    return S3Store(bucket.name, prefix="media/", endpoint_url=s3_endpoint, region=REGION)


# --- the store ----------------------------------------------------------------------------------

NAME = "AbCdEfGhIjKlMnOpQrStUv.jpg"


def test_save_open_delete_round_trip(s3_store, bucket):
    s3_store.save(NAME, b"\xff\xd8 jpeg bytes")

    assert keys(bucket) == [f"media/{NAME}"]
    assert bucket.Object(f"media/{NAME}").content_type == "image/jpeg"
    with s3_store.open(NAME) as stream:
        assert stream.read() == b"\xff\xd8 jpeg bytes"

    s3_store.delete(NAME)

    assert keys(bucket) == []


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("AbCdEfGhIjKlMnOpQrStUv.png", "image/png"), ("AbCdEfGhIjKlMnOpQrStUv.webp", "image/webp")],
)
def test_the_object_says_what_it_is(s3_store, bucket, name, content_type):
    s3_store.save(name, b"pixels")

    assert bucket.Object(f"media/{name}").content_type == content_type


def test_a_missing_object_is_file_not_found(s3_store):
    with pytest.raises(FileNotFoundError):
        s3_store.open(NAME)


def test_deleting_a_missing_object_is_fine(s3_store, bucket):
    s3_store.delete(NAME)

    assert keys(bucket) == []


@pytest.mark.parametrize(
    "name",
    ["../AbCdEfGhIjKlMnOpQrStUv.jpg", "x/AbCdEfGhIjKlMnOpQrStUv.jpg", "..", "", "short.jpg"],
)
def test_names_the_store_did_not_make_are_refused(s3_store, bucket, name):
    with pytest.raises(FileNotFoundError):
        s3_store.save(name, b"data")
    with pytest.raises(FileNotFoundError):
        s3_store.open(name)
    with pytest.raises(FileNotFoundError):
        s3_store.delete(name)

    assert keys(bucket) == []


def test_an_unreachable_store_fails_as_an_os_error(aws_env):
    """Nothing listens on port 9: a caller sees an OSError, as from a failing disk."""
    dead = S3Store("photos", endpoint_url="http://127.0.0.1:9", region=REGION)

    with pytest.raises(OSError):
        dead.open(NAME)


@pytest.mark.parametrize(
    ("given", "prefix"), [("media/", "media/"), ("media", "media/"), ("/a/b/", "a/b/"), ("", "")]
)
def test_a_prefix_is_a_folder(given, prefix):
    assert normal_prefix(given) == prefix


# --- through the app ----------------------------------------------------------------------------


@pytest.fixture
def media_dir(app, tmp_path) -> Path:
    """The directory the app would use without a bucket: it must stay empty."""
    app.config["OPEN311_MEDIA_DIR"] = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def s3_app(app, bucket, s3_endpoint, media_dir):
    app.config |= {
        "OPEN311_MEDIA_S3_BUCKET": bucket.name,
        "OPEN311_MEDIA_S3_ENDPOINT_URL": s3_endpoint,
        "OPEN311_MEDIA_S3_REGION": REGION,
        "OPEN311_MEDIA_S3_PREFIX": "city/photos",
    }
    return app


@pytest.fixture
def api_key(db):
    return make_api_key(db, "FixMyStreet")


@pytest.fixture
def pothole(db):
    return make_service(db, make_jurisdiction(db), "POT-01")


def test_a_photo_goes_to_the_bucket_and_is_served_back_clean(
    s3_app, client, db, bucket, pothole, api_key, media_dir
):
    response = post_request(client, "json", part(jpeg_with_gps((640, 480))), api_key=api_key)

    assert response.status_code == 200, response.data
    request = stored_request(db)
    (row,) = media_rows(db)
    assert request.media_url == f"/media/{row.name}"
    assert keys(bucket) == sorted([f"city/photos/{row.name}", f"city/photos/{row.thumbnail_name}"])
    assert bucket.Object(f"city/photos/{row.name}").content_length == row.size_bytes
    assert files_in(media_dir) == []

    served = fetch(client, request.media_url)

    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    image = assert_no_metadata(served.data)
    assert image.size == (640, 480)
    assert close_to(image.convert("RGB").getpixel((100, 100)), RED)
    thumbnail = fetch(client, f"/media/{row.thumbnail_name}")
    assert thumbnail.status_code == 200 and max(assert_no_metadata(thumbnail.data).size) <= 320


def test_a_photo_of_an_update_goes_to_the_bucket(
    s3_app, client, db, bucket, pothole, api_key, media_dir
):
    make_request(db, pothole, service_request_id="U-1")

    response = post_update(client, api_key, "json", part(jpeg_with_gps()))

    assert response.status_code == 200, response.data
    (row,) = media_rows(db)
    assert keys(bucket) == sorted([f"city/photos/{row.name}", f"city/photos/{row.thumbnail_name}"])
    assert files_in(media_dir) == []
    assert fetch(client, f"/media/{row.name}").status_code == 200


def test_a_refused_request_leaves_no_object(
    s3_app, client, db, bucket, pothole, api_key, media_dir
):
    """Refused before any photo is written: nothing reaches the bucket."""
    before = counts(db)

    response = post_request(
        client, "json", part(jpeg_with_gps()), api_key=api_key, service_code="NOPE"
    )

    assert errors(response, "json", 404) == ["service_code NOPE not found"]
    assert counts(db) == before and media_rows(db) == []
    assert keys(bucket) == [] and files_in(media_dir) == []


def test_a_failed_commit_deletes_the_objects_it_wrote(
    s3_app, client, db, bucket, pothole, api_key, monkeypatch
):
    """A name already taken makes the media insert fail after both objects were put (128
    random bits never collide in practice; here the collision is forced)."""
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
    put = []
    real_save = S3Store.save
    monkeypatch.setattr(S3Store, "save", lambda self, n, d: put.append(n) or real_save(self, n, d))

    response = post_request(client, "json", part(jpeg_with_gps()), api_key=api_key)

    assert response.status_code == 500
    assert put == ["taken-name-aaaaaaaaaaaa.jpg", "fresh-thumb-aaaaaaaaaaa.jpg"]
    assert keys(bucket) == []


def test_a_row_whose_object_is_gone_is_404(s3_app, client, db, bucket, pothole, api_key):
    post_request(client, "json", part(jpeg_with_gps()), api_key=api_key)
    (row,) = media_rows(db)
    bucket.Object(f"city/photos/{row.name}").delete()

    assert fetch(client, f"/media/{row.name}").status_code == 404


def test_the_sweep_finds_objects_no_row_names(s3_store, bucket):
    known, orphan = NAME, "ZyXwVuTsRqPoNmLkJiHgFe.png"
    for name in (known, orphan):
        s3_store.save(name, b"pixels")
    bucket.put_object(Key="elsewhere/" + orphan, Body=b"not ours")  # outside the prefix

    listed = dict(s3_store.stored())
    assert set(listed) == {known, orphan}
    assert all(written.tzinfo is not None for written in listed.values())
    found = sweep.orphans(
        s3_store,
        lambda names: {n for n in names if n == known},
        now=datetime.now(UTC),
        grace=timedelta(0),
    )
    assert found == [orphan]
    assert sweep.sweep(s3_store, found) == 1
    assert keys(bucket) == ["elsewhere/" + orphan, "media/" + known]
