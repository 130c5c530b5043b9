"""media.images and media.storage on real files made with Pillow: metadata gone, pixels kept,
liars refused, files written whole."""

from __future__ import annotations

import io
import logging
import os

import pytest
from PIL import ExifTags, Image

from open311.media import images
from open311.media.photos import Photo, kept
from open311.media.storage import DirectoryStore, new_name
from tests.helpers import (
    RED,
    assert_no_metadata,
    camera_exif,
    close_to,
    heic_with_exif,
    jpeg_with_gps,
    png_with_text,
    solid,
    webp_with_exif,
)


def test_a_jpeg_loses_its_exif_and_gps_and_keeps_its_pixels():
    original = jpeg_with_gps()
    assert b"Canon" in original  # the fixture does carry what must go

    cleaned = images.clean(original, "photo.jpg")

    assert cleaned.encoding is images.JPEG
    opened = assert_no_metadata(cleaned.data)
    assert opened.format == "JPEG"
    assert opened.size == (640, 480) == (cleaned.width, cleaned.height)
    assert close_to(opened.convert("RGB").getpixel((320, 240)), RED)


def test_exif_orientation_is_applied_before_it_is_dropped():
    cleaned = images.clean(jpeg_with_gps((640, 480), orientation=6), "sideways.jpg")

    assert (cleaned.width, cleaned.height) == (480, 640)
    assert Image.open(io.BytesIO(cleaned.data)).size == (480, 640)


def test_a_png_loses_its_text_chunk_and_keeps_transparency_mode():
    cleaned = images.clean(png_with_text(), "map.png")

    assert cleaned.encoding is images.PNG
    opened = assert_no_metadata(cleaned.data)
    assert opened.format == "PNG" and opened.mode == "RGBA"
    assert opened.text == {}
    assert close_to(opened.getpixel((10, 10)), (*RED, 255))


def test_a_webp_stays_webp_without_exif():
    cleaned = images.clean(webp_with_exif(), "x.webp")

    assert cleaned.encoding is images.WEBP
    opened = assert_no_metadata(cleaned.data)
    assert opened.format == "WEBP" and opened.size == (400, 300)
    assert close_to(opened.convert("RGB").getpixel((200, 150)), RED)


def test_a_heic_becomes_a_jpeg_without_exif():
    cleaned = images.clean(heic_with_exif(), "IMG_0001.HEIC")

    assert cleaned.encoding is images.JPEG
    opened = assert_no_metadata(cleaned.data)
    assert opened.format == "JPEG" and opened.size == (400, 300)
    assert close_to(opened.getpixel((200, 150)), RED, tolerance=20)


@pytest.mark.parametrize("size", [(1600, 1200), (200, 3000), (100, 80)])
def test_the_thumbnail_fits_in_320_pixels(size):
    cleaned = images.clean(jpeg_with_gps(size), "big.jpg")

    thumbnail = Image.open(io.BytesIO(cleaned.thumbnail))
    assert thumbnail.format == "JPEG"
    assert max(thumbnail.size) <= 320
    assert thumbnail.size == size if max(size) <= 320 else max(thumbnail.size) == 320
    assert_no_metadata(cleaned.thumbnail)


def gif() -> bytes:
    out = io.BytesIO()
    solid((50, 50)).save(out, "GIF")
    return out.getvalue()


def bomb() -> bytes:
    """A small PNG that decodes to more pixels than we accept (10000 x 10000, all zeros)."""
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"I am plain text, not a photo at all\n" * 20,
        jpeg_with_gps()[:3000],  # truncated
        gif(),
        bomb(),
        b"",
        b"\xff\xd8\xff\xe0" + b"\x00" * 100,  # a JPEG's magic and nothing else
    ],
    ids=["text", "truncated-jpeg", "gif", "decompression-bomb", "empty", "magic-only"],
)
def test_what_is_not_a_photo_we_take_is_refused(data):
    with pytest.raises(images.NotAnImage) as refused:
        images.clean(data, "photo.jpg")

    assert refused.value.problems[0].startswith("media: photo.jpg ")


def test_the_bomb_is_small_on_the_wire():
    assert len(bomb()) < 100_000


# --- storage ----------------------------------------------------------------------------------


def test_a_saved_file_reads_back_and_leaves_no_temporary_file(tmp_path):
    store = DirectoryStore(tmp_path / "media")
    name = new_name(".jpg")

    store.save(name, b"bytes")

    with store.open(name) as file:
        assert file.read() == b"bytes"
    assert os.listdir(tmp_path / "media") == [name]
    store.delete(name)
    store.delete(name)  # twice is fine
    assert os.listdir(tmp_path / "media") == []


@pytest.mark.parametrize(
    "name", ["../secret.jpg", "a/b.jpg", "..", "x" * 20 + ".gif", "x" * 20 + ".jpg/..", ""]
)
def test_names_the_store_did_not_make_are_not_files(tmp_path, name):
    store = DirectoryStore(tmp_path)

    with pytest.raises(FileNotFoundError):
        store.open(name)
    with pytest.raises(FileNotFoundError):
        store.save(name, b"x")


def test_kept_deletes_the_files_when_the_block_fails(tmp_path):
    store = DirectoryStore(tmp_path)
    cleaned = images.clean(jpeg_with_gps(), "a.jpg")
    photos = [Photo(new_name(".jpg"), new_name(".jpg"), cleaned) for _ in range(2)]

    with pytest.raises(RuntimeError), kept(store, photos):
        assert len(os.listdir(tmp_path)) == 4
        raise RuntimeError("the commit failed")

    assert os.listdir(tmp_path) == []


def test_kept_keeps_the_files_when_the_block_succeeds(tmp_path):
    store = DirectoryStore(tmp_path)
    photo = Photo(new_name(".png"), new_name(".png"), images.clean(png_with_text(), "a.png"))

    with kept(store, [photo]):
        pass

    assert sorted(os.listdir(tmp_path)) == sorted([photo.name, photo.thumbnail_name])


def test_reading_a_photo_logs_none_of_its_exif_at_debug(caplog):
    """PIL logs EXIF values at DEBUG while it reads them, before they are stripped; a DEBUG log
    level set by an operator must not carry the photographer's name into the log."""
    exif = camera_exif()
    exif[ExifTags.Base.Artist] = "Jane Personal-Name"
    buffer = io.BytesIO()
    solid().save(buffer, "JPEG", exif=exif)
    with caplog.at_level(logging.DEBUG):
        images.clean(buffer.getvalue(), "photo 1")
    assert "Personal-Name" not in caplog.text
