"""media.images under hostile sizes: a pixel cap per format refused before decoding, large
photos stored reduced (a JPEG decoded reduced), and the peak memory of the largest photo
taken and of a PNG bomb measured in a process of their own."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from open311.media import images

# Run in a fresh interpreter: its peak resident size (ru_maxrss) before and after clean().
MEASURE = """
import json, resource, sys
from open311.media import images
images._setup()
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cleaned = images.clean(data, "photo")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mb": (after - before) / 1024, "size": [cleaned.width, cleaned.height]}))
"""


def peak_growth(tmp_path: Path, data: bytes) -> dict:
    """How much images.clean(data) raised a fresh process's peak memory, in MB, and the size
    the photo was stored at."""
    photo = tmp_path / "photo"
    photo.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(photo)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def photo_like(size: tuple[int, int]) -> Image.Image:
    """A gradient, cheap to make and small to encode, decoded at full cost all the same."""
    return Image.linear_gradient("L").resize(size).convert("RGB")


# The largest JPEG taken: 40 megapixels, 4:3.
LARGEST_JPEG = (7302, 5477)
# The bomb: a PNG of a few tens of KB that declares 12.5 million RGBA pixels.
BOMB = (5000, 2500)


def test_a_png_bomb_is_decoded_within_bounded_memory(tmp_path):
    bomb = encoded(Image.new("RGBA", BOMB), "PNG", optimize=True)
    assert len(bomb) < 100_000

    measured = peak_growth(tmp_path, bomb)

    # Decoded once (50 MB at 4 bytes a pixel), reduced by 2; no full-size copies after that.
    assert measured["growth_mb"] < 130, measured
    assert measured["size"] == [2500, 1250]


def test_the_largest_jpeg_taken_is_decoded_reduced(tmp_path):
    assert LARGEST_JPEG[0] * LARGEST_JPEG[1] <= images.MAX_PIXELS["JPEG"]

    measured = peak_growth(tmp_path, encoded(photo_like(LARGEST_JPEG), "JPEG", quality=80))

    # At 1/2 scale: 10 megapixels (40 MB) instead of 40 (160 MB and copies).
    assert measured["growth_mb"] < 100, measured
    assert measured["size"] == [3651, 2739]


@pytest.mark.parametrize(
    ("fmt", "size"),
    [("JPEG", (8000, 5001)), ("PNG", (6000, 4001)), ("WEBP", (5000, 3201))],
)
def test_more_pixels_than_a_format_may_have_are_refused_before_decoding(monkeypatch, fmt, size):
    data = encoded(Image.new("RGB", size), fmt)

    def load(*_args, **_kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(Image.Image, "load", load)
    with pytest.raises(images.NotAnImage) as refused:
        images.clean(data, "big.img")

    cap = images.MAX_PIXELS[fmt] // 1_000_000
    name = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}[fmt]
    assert refused.value.problems == (
        f"media: big.img has more than the {cap} megapixels a {name} photo may have; "
        "send a smaller one",
    )


def test_beyond_every_cap_pillow_itself_refuses_with_the_same_words():
    data = encoded(Image.new("1", (10_000, 10_000)), "PNG")  # 100 megapixels

    with pytest.raises(images.NotAnImage) as refused:
        images.clean(data, "bomb.png")

    assert refused.value.problems == (
        "media: bomb.png has more than the 40 megapixels a photo may have; send a smaller one",
    )


@pytest.mark.parametrize(
    ("size", "stored"),
    [
        ((4097, 100), (2049, 50)),  # halved
        ((9000, 2000), (2250, 500)),  # quartered
    ],
)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_photo_longer_than_max_side_is_stored_halved_until_it_fits(fmt, size, stored):
    cleaned = images.clean(encoded(photo_like(size), fmt), "photo")
    within = images.clean(encoded(photo_like((4096, 100)), fmt), "photo")

    assert (cleaned.width, cleaned.height) == stored
    assert Image.open(io.BytesIO(cleaned.data)).size == stored
    assert max(Image.open(io.BytesIO(cleaned.thumbnail)).size) == images.THUMBNAIL_SIZE
    assert (within.width, within.height) == (4096, 100)  # as it came


def test_a_large_palette_image_is_reduced_in_colour():
    palette = Image.new("P", (5000, 100))
    palette.putpalette([200, 30, 30] * 256)

    cleaned = images.clean(encoded(palette, "PNG"), "map.png")

    opened = Image.open(io.BytesIO(cleaned.data))
    assert (opened.size, opened.mode) == ((2500, 50), "RGB")
    assert opened.getpixel((10, 10)) == (200, 30, 30)
