"""One uploaded photo made safe to publish: its type told by its bytes, never by its name,
decoded in full, turned upright, re-encoded without metadata (EXIF, GPS, XMP, text chunks, ICC
profiles), and a thumbnail made.

Re-encoding is the point: it is the one way to be sure nothing of the original file but its
pixels reaches the public, whatever the camera or the app wrote into it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageCms, ImageOps

from open311.errors import InvalidInput

# Pillow's format names of what we accept; HEIF is read by pillow-heif (iPhones' HEIC).
ACCEPTED = ("JPEG", "PNG", "WEBP", "HEIF")
# 50 megapixels: more than any phone's default photo (48 MP sensors bin to 12 MP), and a bound
# on memory (4 bytes a pixel: 200 MB) that a small file decompressing to a huge image must not
# get past. Pillow warns beyond MAX_IMAGE_PIXELS and refuses beyond twice that; both are bad.
MAX_PIXELS = 50_000_000
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
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def clean(data: bytes, label: str) -> CleanImage:
    """Decode `data` completely and re-encode it without metadata; `label` names the part in
    the 400 a file that is not a photo we accept gets (a GIF, text, a truncated file, a bomb)."""
    _setup()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED) as opened:
                if opened.width * opened.height > MAX_PIXELS:
                    raise NotAnImage(f"media: {label} has more than {MAX_PIXELS} pixels")
                opened.load()  # a truncated file fails here, not half-way through encoding
                source_format = opened.format or ""
                upright = ImageOps.exif_transpose(opened)
                icc = opened.info.get("icc_profile")
    except NotAnImage:
        raise
    except Exception:
        # Decoders of untrusted bytes fail in many ways (OSError "cannot identify" or
        # "truncated", SyntaxError, struct.error, the decompression-bomb error and warning...):
        # every one means the file is not a photo we can take, and the client learns only that.
        raise NotAnImage(f"media: {label} is not a JPEG, PNG, WebP or HEIC image") from None
    if source_format not in OUTPUT:
        raise NotAnImage(f"media: {label} is not a JPEG, PNG, WebP or HEIC image")
    encoding = OUTPUT[source_format]
    pixels = _to_srgb(_bare(upright), icc)
    thumbnail = pixels.copy()
    thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    return CleanImage(
        encoding=encoding,
        data=_encode(pixels, encoding),
        width=pixels.width,
        height=pixels.height,
        thumbnail=_encode(thumbnail, encoding),
    )


def _bare(image: Image.Image) -> Image.Image:
    """The pixels (and a palette's transparency) with every other piece of `info` dropped, so
    no plugin can write EXIF, XMP, text chunks or a profile back from it."""
    bare = image.copy()
    bare.info = {k: image.info[k] for k in ("transparency",) if k in image.info}
    return bare


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
