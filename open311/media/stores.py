"""Which store holds the photos: an S3-compatible bucket when one is named, else a directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from open311.media.s3 import S3Store
from open311.media.storage import DirectoryStore, MediaStore

if TYPE_CHECKING:
    from open311.config import Settings


def store_for(settings: Settings) -> MediaStore:
    """The bucket OPEN311_MEDIA_S3_BUCKET (at OPEN311_MEDIA_S3_ENDPOINT_URL for MinIO, Ceph,
    R2 ...; AWS when empty) when one is named, else the directory OPEN311_MEDIA_DIR. Cheap to
    call per request: the S3 client is made once per process."""
    if settings.media_s3_bucket:
        return S3Store(
            settings.media_s3_bucket,
            prefix=settings.media_s3_prefix,
            endpoint_url=settings.media_s3_endpoint_url,
            region=settings.media_s3_region,
        )
    return DirectoryStore(settings.media_dir)
