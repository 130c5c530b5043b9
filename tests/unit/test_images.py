"""media.images and media.storage on real files made with Pillow: metadata gone, pixels kept,
liars refused, files written whole."""

from __future__ import annotations

import io
import os

import pytest
from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo

from open311.media import images
from open311.media.photos import Photo, kept
from open311.media.storage import DirectoryStore, new_name

RED = (200, 30, 30)
GPS_LATITUDE = (34.0, 3.0, 8.5)
SECRET = "Secret garden, 12 Elm Street"


def camera_exif(orientation: int | None = None) -> Image.Exif:
    """What a phone writes: make, model, when, and where (a GPS IFD)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "EOS 5D"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:06 07:08:09"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = GPS_LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (118.0, 14.0, 37.25)
    return exif


def solid(size: tuple[int, int] = (640, 480), colour=RED, mode: str = "RGB") -> Image.Image:
    return Image.new(mode, size, colour if mode == "RGB" else (*colour, 255))


def jpeg_with_gps(size: tuple[int, int] = (640, 480), orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    solid(size).save(
        out, "JPEG", quality=95, exif=camera_exif(orientation), xmp=b"<x:xmpmeta>SECRET</x:xmpmeta>"
    )
    return out.getvalue()


def png_with_text(size: tuple[int, int] = (300, 200)) -> bytes:
    info = PngInfo()
    info.add_text("Comment", SECRET)
    out = io.BytesIO()
    solid(size, mode="RGBA").save(out, "PNG", pnginfo=info, exif=camera_exif())
    return out.getvalue()


def webp_with_exif(size: tuple[int, int] = (400, 300)) -> bytes:
    out = io.BytesIO()
    solid(size).save(out, "WEBP", quality=90, exif=camera_exif())
    return out.getvalue()


def heic_with_exif(size: tuple[int, int] = (400, 300)) -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif")
    out = io.BytesIO()
    try:
        pillow_heif.from_pillow(solid(size)).save(out, quality=90, exif=camera_exif().tobytes())
    except Exception as error:  # an encoder-less build of libheif reads but cannot write
        pytest.skip(f"pillow_heif cannot write HEIC here: {error}")
    return out.getvalue()


def assert_no_metadata(data: bytes) -> Image.Image:
    """Open the stored bytes and check that nothing but pixels is left."""
    opened = Image.open(io.BytesIO(data))
    opened.load()
    assert len(opened.getexif()) == 0
    assert not opened.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "Comment", "comment"):
        assert key not in opened.info, key
    for marker in (b"Exif", b"Canon", b"EOS 5D", b"SECRET", SECRET.encode(), b"2024:05:06"):
        assert marker not in data, marker
    return opened


def close_to(colour, expected, tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=False))


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
