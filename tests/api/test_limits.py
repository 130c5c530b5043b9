"""Limits before work: a body over its limit is refused with 413 before anything reads it, a
chunked one as soon as it passes the limit; only the photo endpoints take large multipart
bodies, and read their photos only for a known API key; JSON nests 32 deep at most."""

from __future__ import annotations

import io
import json
import tracemalloc
from typing import Any

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import EnvironBuilder, encode_multipart, run_wsgi_app

from open311.api import forms
from open311.domain import staff
from open311.errors import InvalidInput
from open311.media import images
from tests.api.helpers import (
    FORMATS,
    body,
    errors,
    part,
    post_request,
    post_update,
    pothole_fields,
    url,
)
from tests.factories import make_api_key, make_attribute, make_jurisdiction, make_service

MiB = 1024 * 1024
LOGIN = "/api/v1/login"


class Body(io.RawIOBase):
    """A request body of `size` bytes (`head`, then x's) that counts what is read of it and
    fails the test when more than `allowed` bytes are asked for: the server must not read what
    it is going to refuse."""

    def __init__(self, size: int, *, allowed: int, head: bytes = b"") -> None:
        self.size, self.allowed, self.head = size, allowed, head
        self.position = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True  # werkzeug's test client measures a stream's length by seeking

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        count = max(0, min(len(buffer), self.size - self.position))
        self.read_bytes += count
        assert self.read_bytes <= self.allowed, f"{self.read_bytes:,} bytes of the body were read"
        head = self.head[self.position : self.position + count]
        buffer[:count] = head + b"x" * (count - len(head))
        self.position += count
        return count


@pytest.fixture
def no_sign_in(monkeypatch):
    """Sign-in must not be reached (neither the view's work nor a password hash)."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the sign-in ran")

    monkeypatch.setattr(staff, "login", refuse)


# --- 413 before the body is read ---------------------------------------------------------------


def test_a_5_mb_sign_in_is_refused_unread_before_anything_runs(client, no_sign_in):
    stream = Body(5 * MiB, allowed=0, head=b'{"username": "admin", "password": "')

    response = client.post(LOGIN, input_stream=stream, content_type="application/json")

    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("application/json")
    (problem,) = [item["description"] for item in response.get_json()]
    assert "larger than the 1,048,576 bytes" in problem
    assert stream.read_bytes == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_any_georeport_body_over_the_limit_is_413_unread_in_the_format_asked(client, fmt):
    for method in ("GET", "POST"):
        stream = Body(2 * MiB, allowed=0)

        response = client.open(
            url("requests", fmt),
            method=method,
            input_stream=stream,
            content_type="application/x-www-form-urlencoded",
        )

        assert errors(response, fmt, 413) == [
            "the request body is larger than the 1,048,576 bytes this endpoint takes"
        ], method
        assert stream.read_bytes == 0


def chunked(app, path: str, stream: Body, content_type: str):
    """POST `stream` as a chunked body: no Content-Length, a server that ends the stream
    (gunicorn sets wsgi.input_terminated for chunked requests)."""
    environ = EnvironBuilder(
        path=path, method="POST", input_stream=stream, content_type=content_type
    ).get_environ()
    del environ["CONTENT_LENGTH"]
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input_terminated"] = True
    app_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
    return app.response_class(app_iter, status, headers)


@pytest.mark.parametrize(
    ("path", "content_type", "fmt"),
    [
        (LOGIN, "application/json", "json"),
        (url("requests", "xml"), "application/x-www-form-urlencoded", "xml"),
        (url("servicerequestupdates", "json"), "application/json", "json"),
    ],
)
def test_a_chunked_body_is_cut_off_at_the_limit(app, no_sign_in, path, content_type, fmt):
    # Read in blocks, so a little past the limit at most; never the 5 MB. (Cut off at the
    # limit and handed on, the body would be a truncated form or broken JSON: not a 413.)
    stream = Body(5 * MiB, allowed=MiB + 128 * 1024, head=b'{"description": "')

    response = chunked(app, path, stream, content_type)

    assert errors(response, fmt, 413)
    assert stream.read_bytes <= MiB + 128 * 1024


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


@pytest.fixture
def media_dir(app, tmp_path):
    app.config["OPEN311_MEDIA_DIR"] = str(tmp_path / "media")
    return tmp_path / "media"


def noise_jpeg(megabytes: float) -> bytes:
    """A JPEG of about that many megabytes (noise does not compress)."""
    side = int((megabytes * 1_000_000 / 0.8) ** 0.5)
    out = io.BytesIO()
    Image.effect_noise((side, side), 120).convert("RGB").save(out, "JPEG", quality=95)
    return out.getvalue()


def multipart(fields: dict[str, str], *photos: bytes) -> dict[str, Any]:
    """The test client's arguments of a multipart body of `fields` and `photos` (as `media`
    parts), encoded here in memory: the client's own encoding of a large body is a temporary
    file that nothing closes when the server refuses to read it."""
    values = MultiDict(fields)
    for number, photo in enumerate(photos):
        values.add("media", FileStorage(io.BytesIO(photo), f"{number}.jpg", "media", "image/jpeg"))
    boundary, data = encode_multipart(values)
    content_type = f'multipart/form-data; boundary="{boundary}"'
    return {"input_stream": io.BytesIO(data), "content_type": content_type}


def test_only_the_photo_endpoints_take_multipart_bodies_over_the_limit(
    client, pothole, api_key, media_dir, no_sign_in
):
    photo = noise_jpeg(1.5)
    assert len(photo) > MiB

    elsewhere = client.post(LOGIN, **multipart({"username": "admin", "password": "x"}, photo))
    with_photo = client.post(url("requests", "json"), **multipart(pothole_fields(api_key), photo))

    assert elsewhere.status_code == 413
    assert with_photo.status_code == 200, with_photo.data


# --- the API key before the photos --------------------------------------------------------------


def png_bomb() -> bytes:
    """The issue's bomb: 12.5 million pixels in a few tens of KB."""
    out = io.BytesIO()
    Image.new("RGBA", (5000, 2500)).save(out, "PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("endpoint", ["requests", "servicerequestupdates"])
def test_a_wrong_key_is_refused_before_any_photo_is_read(
    client, monkeypatch, pothole, media_dir, fmt, endpoint
):
    def decoded(*_args, **_kwargs):
        raise AssertionError("a photo was decoded")

    monkeypatch.setattr(images, "clean", decoded)
    # More photos than taken (a 400 once they are read), the first of them a bomb.
    parts = [part(png_bomb(), "bomb.png", "image/png")] + [part(b"\xff\xd8\xff") for _ in range(5)]

    if endpoint == "requests":
        response = post_request(client, fmt, *parts, api_key="wrong")
    else:
        response = post_update(client, "wrong", fmt, *parts)

    assert errors(response, fmt, 403) == ["api_key not recognised"]


def test_a_wrong_key_holds_no_photo_in_memory(client, pothole, media_dir):
    # Three 8 MB parts: werkzeug spools a large multipart body to a temporary file; reading
    # the photos into memory before the key is checked held them all.
    photos = [b"\xff\xd8\xff" + bytes(8 * 1_000_000) for _ in range(3)]
    upload = multipart(pothole_fields("wrong"), *photos)

    tracemalloc.start()
    try:
        response = client.post(url("requests", "json"), **upload)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 403
    assert peak < 4_000_000, f"{peak:,} bytes"


# --- JSON nesting ---------------------------------------------------------------------------------


def nested(depth: int) -> str:
    """A JSON object whose description nests arrays so that the document is `depth` deep."""
    return (
        '{"service_code": "POT-01", "description": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    )


TOO_DEEP = "the JSON body is nested more than 32 levels deep"


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
@pytest.mark.parametrize("fmt", FORMATS)
def test_json_nested_too_deep_is_a_400_that_says_so(client, api_key, pothole, fmt, depth):
    response = client.post(
        url("requests", fmt), data=nested(depth), content_type="application/json"
    )

    assert errors(response, fmt, 400) == [TOO_DEEP]


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_the_staff_api_refuses_deep_json_before_signing_in(client, no_sign_in, depth):
    document = '{"username": "admin", "password": ' + "[" * depth + "]" * depth + "}"

    response = client.post(LOGIN, data=document, content_type="application/json")

    assert response.status_code == 400
    assert [item["description"] for item in body(response, "json")] == [TOO_DEEP]


def test_32_levels_are_read_as_json():
    document = json.dumps({"a": json.loads("[" * 31 + "]" * 31)})

    assert forms.parse_json(document) == json.loads(document)
    with pytest.raises(InvalidInput):
        forms.parse_json(json.dumps({"a": json.loads("[" * 32 + "]" * 32)}))
