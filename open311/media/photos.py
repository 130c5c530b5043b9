"""The photos of one POST, from parts to stored files and rows: every part is checked before
anything is written, and the files are removed again when the transaction does not commit.

The order a caller follows (api.georeport.post_request, api.updates.post_update):
`prepare` (400 on any bad part, nothing written), use the photos' names in the request or
update, then `kept(store, photos)` around `record(...)` and the commit.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from open311.db.models import Media
from open311.media import images
from open311.media.storage import MediaStore, new_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upload:
    """One `media` part as it arrived: its bytes, and the file name the client gave, which
    is used only to name the part in an error."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Photo:
    """A checked, cleaned photo with the random names its files will have."""

    name: str
    thumbnail_name: str
    image: images.CleanImage


def label(upload: Upload, index: int) -> str:
    """How an error names a part: its file name (shortened, without a directory) or its place."""
    name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:80] if name else f"part {index + 1}"


def prepare(uploads: Sequence[Upload]) -> list[Photo]:
    """Check and clean every upload, in order; the first that is not a photo we accept is a
    400 (images.NotAnImage) and nothing has been written anywhere."""
    photos = []
    for index, upload in enumerate(uploads):
        image = images.clean(upload.data, label(upload, index))
        extension = image.encoding.extension
        photos.append(Photo(new_name(extension), new_name(extension), image))
    return photos


@contextlib.contextmanager
def kept(store: MediaStore, photos: Sequence[Photo]) -> Iterator[None]:
    """Write the photos' files, then run the block (which records the rows and commits); if
    the block fails, the files written are deleted (best effort: a failed delete is logged)
    so that a refused request leaves nothing behind."""
    written: list[str] = []
    try:
        for photo in photos:
            for name, data in (
                (photo.name, photo.image.data),
                (photo.thumbnail_name, photo.image.thumbnail),
            ):
                store.save(name, data)
                written.append(name)
        yield
    except BaseException:
        for name in written:
            try:
                store.delete(name)
            except OSError:
                log.warning("could not delete media file %s of a refused upload", name)
        raise


def record(
    session: Session,
    photos: Sequence[Photo],
    *,
    service_request_pk: int,
    activity_id: int | None = None,
    now: datetime,
) -> None:
    """One media row per photo, in the caller's transaction, numbered in the order sent."""
    session.add_all(
        Media(
            service_request_pk=service_request_pk,
            activity_id=activity_id,
            name=photo.name,
            thumbnail_name=photo.thumbnail_name,
            content_type=photo.image.encoding.content_type,
            size_bytes=len(photo.image.data),
            width=photo.image.width,
            height=photo.image.height,
            position=position,
            created_at=now,
        )
        for position, photo in enumerate(photos)
    )
    session.flush()


def media_root(public_url: str, host_url: str, georeport_prefix: str) -> str:
    """The URL /media is served under: the site root of the advertised GeoReport endpoint
    (OPEN311_PUBLIC_URL without its /open311/v2), else of the host the client used."""
    if not public_url:
        return host_url.rstrip("/")
    public = public_url.rstrip("/")
    if public.endswith(georeport_prefix):
        return public.removesuffix(georeport_prefix)
    # An endpoint a proxy maps elsewhere: its origin is the best guess of the site root.
    scheme, _, rest = public.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
