"""Which store holds the photos: an S3-compatible bucket when one is named, else a directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from open311.media.s3 import S3Store
from open311.media.storage import DirectoryStore, MediaStore

if TYPE_CHECKING:
    from open311.config import Settings


def configured_store(
    *,
    media_dir: str,
    s3_bucket: str = "",
    s3_prefix: str = "media/",
    s3_endpoint_url: str = "",
    s3_region: str = "",
) -> MediaStore:
    """The bucket `s3_bucket` (at `s3_endpoint_url` for MinIO, Ceph, R2 ...; AWS when empty)
    under `s3_prefix` when it is set, else the directory `media_dir`. Cheap to call per request:
    the S3 client is made once per process."""
    if s3_bucket:
        return S3Store(s3_bucket, prefix=s3_prefix, endpoint_url=s3_endpoint_url, region=s3_region)
    return DirectoryStore(media_dir)


def store_for(settings: Settings) -> MediaStore:
    """The store `settings` name (OPEN311_MEDIA_S3_BUCKET, else OPEN311_MEDIA_DIR)."""
    return configured_store(
        media_dir=settings.media_dir,
        s3_bucket=settings.media_s3_bucket,
        s3_prefix=settings.media_s3_prefix,
        s3_endpoint_url=settings.media_s3_endpoint_url,
        s3_region=settings.media_s3_region,
    )
