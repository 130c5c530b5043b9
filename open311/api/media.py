"""Photos served back: GET /media/<name>, and the store and URLs the POST views use."""

from __future__ import annotations

from flask import Response, send_file

from open311.api import database, links
from open311.api.smorest import Blueprint
from open311.db import media_queries
from open311.errors import NotFound
from open311.i18n import _
from open311.media.storage import MediaStore, valid_name
from open311.media.stores import store_for

blp = Blueprint("media", __name__, url_prefix="/media", description="Photos of requests.")

# A name is never reused for other bytes, so a cache may keep a photo for good.
CACHE_CONTROL = "public, max-age=31536000, immutable"


def store() -> MediaStore:
    """The configured store (OPEN311_MEDIA_S3_BUCKET, else OPEN311_MEDIA_DIR)."""
    return store_for(database.settings())


def media_url(name: str) -> str:
    """The URL a stored file is served at, as kept in the request or update: absolute on
    OPEN311_PUBLIC_URL's site, else the path `/media/<name>` (never the Host header's)."""
    return links.stored_url(f"{blp.url_prefix}/{name}")


@blp.route("/<name>", methods=["GET"])
def get_media(name: str) -> Response:
    """A photo or its thumbnail, as stored: re-encoded, without metadata."""
    # Only names the store makes, and only those a row knows: `..` or a slash cannot match.
    found = media_queries.get_media_by_file(database.session(), name) if valid_name(name) else None
    if found is None:
        raise NotFound(_("no media file of that name"))
    try:
        stream = store().open(name)
    except FileNotFoundError:
        raise NotFound(_("no media file of that name")) from None
    response = send_file(stream, mimetype=found.content_type, etag=name, conditional=True)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
