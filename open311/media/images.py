"""One uploaded photo made safe to publish: its type told by its bytes, never by its name,
decoded in full, turned upright, re-encoded without metadata (EXIF, GPS, XMP, text chunks, ICC
profiles), and a thumbnail made.

Re-encoding is the point: it is the one way to be sure nothing of the original file but its
pixels reaches the public, whatever the camera or the app wrote into it.

Memory is what a hostile upload attacks (a 57 KB PNG can declare 12.5 million pixels), so the
decoded size is bounded before anything is decoded: at most MAX_PIXELS, and a photo longer than
MAX_SIDE is scaled down by 2, 4 or 8 (a JPEG by its decoder, which then never holds the full
size), with no copy of the full-size pixels made along the way.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageCms, ImageFile, ImageOps

from open311.errors import InvalidInput

# PIL logs the EXIF values it reads (a photographer's name) at DEBUG, before we strip them: an
# operator turning on DEBUG logging must not get requesters' personal data in the log.
logging.getLogger("PIL").setLevel(logging.INFO)

# Pillow's format names of what we accept; HEIF is read by pillow-heif (iPhones' HEIC).
ACCEPTED = ("JPEG", "PNG", "WEBP", "HEIF")
# How many pixels a photo may have, by format: what its decoding costs. Pillow holds 4 bytes a
# pixel; a JPEG is decoded already reduced (see MAX_SIDE), so 40 MP (more than any phone's
# default photo: 48 MP sensors bin to 12 MP) costs about 70 MB. PNG and HEIC are decoded whole:
# 24 MP (an iPhone's largest default) peaks near 200 MB; Pillow's WebP decoder holds four copies
# of the frame, so WebP stops at 16 MP (about 250 MB). More is a 400 before any pixel is decoded:
# a 57 KB PNG may declare 12.5 million pixels.
MAX_PIXELS = {"JPEG": 40_000_000, "PNG": 24_000_000, "HEIF": 24_000_000, "WEBP": 16_000_000}
# Longer sides are halved (quartered, ...) until they fit: a 40 MP photo is stored at about
# 3,650 x 2,740, a phone's usual 12 MP (4,032 x 3,024) as it came. Halving rather than fitting
# exactly is what lets a JPEG decoder skip the full size (its DCT scaling is 1/2, 1/4 or 1/8).
MAX_SIDE = 4096
THUMBNAIL_SIZE = 320
JPEG_QUALITY = 85
WEBP_QUALITY = 85


@dataclass(frozen=True)
class Encoding:
    """What a photo is stored as."""

    format: str  # Pillow's name
    content_type: str
    extension: str


JPEG = Encoding("JPEG", "image/jpeg", ".jpg")
PNG = Encoding("PNG", "image/png", ".png")
WEBP = Encoding("WEBP", "image/webp", ".webp")
_NAMES = {"HEIF": "HEIC", "WEBP": "WebP"}
# HEIC becomes JPEG: browsers other than Safari do not show HEIC.
OUTPUT = {"JPEG": JPEG, "PNG": PNG, "WEBP": WEBP, "HEIF": JPEG}


@dataclass(frozen=True)
class CleanImage:
    """A photo re-encoded without metadata, and its thumbnail in the same encoding."""

    encoding: Encoding
    data: bytes
    width: int
    height: int
    thumbnail: bytes


class NotAnImage(InvalidInput):
    """The bytes are not a complete JPEG, PNG, WebP or HEIC image of a sensible size."""


@cache
def _setup() -> None:
    """Teach Pillow HEIC and set its decompression-bomb bound; once per process, on first use
    rather than at import (registering an opener changes Pillow for the whole process)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    # Pillow's own bound, a backstop above ours: opening a file past it raises (see clean).
    Image.MAX_IMAGE_PIXELS = 2 * max(MAX_PIXELS.values())


def clean(data: bytes, label: str) -> CleanImage:
    """Decode `data` (reduced as MAX_SIDE says) and re-encode it without metadata; `label`
    names the part in the 400 a file that is not a photo we accept gets (a GIF, text, a
    truncated file, one of more than MAX_PIXELS)."""
    _setup()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED) as opened:
                source_format = opened.format or ""
                cap = MAX_PIXELS.get(source_format, 0)
                if opened.width * opened.height > cap:
                    raise _too_large(label, cap, source_format)
                icc = opened.info.get("icc_profile")
                transparency = opened.info.get("transparency")
                pixels = _decode(opened)
                # Upright, in place: no second full-size image.
                ImageOps.exif_transpose(pixels, in_place=True)
    except NotAnImage:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        # Pillow's own check (Image.MAX_IMAGE_PIXELS) fires on opening, before the format is
        # known.
        raise _too_large(label, max(MAX_PIXELS.values())) from None
    except Exception:
        # Decoders of untrusted bytes fail in many ways (OSError "cannot identify" or
        # "truncated", SyntaxError, struct.error, ...): every one means the file is not a
        # photo we can take, and the client learns only that.
        raise NotAnImage(f"media: {label} is not a JPEG, PNG, WebP or HEIC image") from None
    if source_format not in OUTPUT:
        raise NotAnImage(f"media: {label} is not a JPEG, PNG, WebP or HEIC image")
    encoding = OUTPUT[source_format]
    # Every piece of `info` but a palette's transparency dropped, so no plugin can write EXIF,
    # XMP, text chunks or a profile back from it (encoders read only `info` and their
    # arguments; the pixels are not copied for it).
    pixels.info = {} if transparency is None else {"transparency": transparency}
    pixels = _to_srgb(pixels, icc)
    return CleanImage(
        encoding=encoding,
        data=_encode(pixels, encoding),
        width=pixels.width,
        height=pixels.height,
        thumbnail=_encode(_thumbnail(pixels), encoding),
    )


def _too_large(label: str, cap: int, source_format: str | None = None) -> NotAnImage:
    """The 400 of a photo over its format's MAX_PIXELS (`source_format` None: over them all)."""
    if not cap:  # a format we do not take at all
        return NotAnImage(f"media: {label} is not a JPEG, PNG, WebP or HEIC image")
    kind = f"a {_NAMES.get(source_format, source_format)} photo" if source_format else "a photo"
    return NotAnImage(
        f"media: {label} has more than the {cap // 1_000_000} megapixels {kind} may have; "
        "send a smaller one"
    )


def reduction(size: tuple[int, int]) -> int:
    """By how much an image of `size` is scaled down: 1, or the smallest power of two that
    brings its longer side within MAX_SIDE."""
    factor = 1
    while max(size) > MAX_SIDE * factor:
        factor *= 2
    return factor


def _decode(opened: ImageFile.ImageFile) -> Image.Image:
    """The pixels of `opened` scaled down by `reduction`: a JPEG decoded at 1/2, 1/4 or 1/8
    of its size (libjpeg's DCT scaling), anything else decoded and then reduced, so that the
    full size is held once at most and a JPEG's never."""
    factor = reduction(opened.size)
    if factor > 1 and opened.format == "JPEG":
        # draft() picks the largest scale (8, 4, 2) whose result is at least the size asked.
        width, height = opened.size
        opened.draft(None, (max(1, width // factor), max(1, height // factor)))
        factor //= round(width / opened.width)  # what is left for reduce() (beyond 1/8)
    opened.load()  # a truncated file fails here, not half-way through encoding
    if factor == 1:
        return opened
    image: Image.Image = opened
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        # A palette or bilevel image is averaged in colour: reduce() works on these modes.
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    return image.reduce(factor)


def _thumbnail(image: Image.Image) -> Image.Image:
    """At most THUMBNAIL_SIZE on each side, aspect kept, resized straight from `image`
    (Image.thumbnail works in place, so it would need a full-size copy first)."""
    if max(image.size) <= THUMBNAIL_SIZE:
        return image
    scale = THUMBNAIL_SIZE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resample = Image.Resampling.NEAREST if image.mode in ("1", "P") else Image.Resampling.BICUBIC
    return image.resize(size, resample, reducing_gap=2.0)


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels in another colour space (an iPhone's Display P3) converted to sRGB, since the
    profile that described them is not kept; a profile Pillow cannot read is ignored."""
    if not icc or image.mode not in ("RGB", "RGBA"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(image, source, srgb, outputMode=image.mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image
    assert converted is not None  # not in place: profileToProfile returns the new image
    converted.info = {}
    return converted


def _encode(image: Image.Image, encoding: Encoding) -> bytes:
    out = io.BytesIO()
    if encoding is JPEG:
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif encoding is WEBP:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if image.has_transparency_data else "RGB")
        image.save(out, "WEBP", quality=WEBP_QUALITY)
    else:
        image.save(out, "PNG")
    return out.getvalue()
