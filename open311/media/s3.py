"""Photos in an S3-compatible bucket (AWS S3, MinIO, Ceph, Garage, R2): the same three calls as
DirectoryStore, for sites whose app servers have no shared disk.

The bucket stays private: photos are still served by GET /media/<name>, which knows from the
`media` table which names exist. Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance or task roles); open311 has no secrets of its own.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from open311.media.storage import valid_name

# The extensions new_name() gives, and what a bucket should say they are.
CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}

# A POST waits on these while the citizen's app waits on the POST: fail in seconds, not minutes.
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 30
MAX_ATTEMPTS = 3

# Answers that mean "no such object" (GetObject says NoSuchKey; HEAD-style answers say 404).
MISSING = {"NoSuchKey", "404", "NotFound"}


class StoreUnavailable(OSError):
    """The bucket could not be reached or refused a call. An OSError, as a disk's failures are,
    so callers handle both stores alike (photos.kept logs a failed clean-up and goes on)."""


@functools.lru_cache(maxsize=8)
def client_for(endpoint_url: str, region: str) -> BaseClient:
    """One client per process and configuration: it holds the connection pool and the resolved
    credentials, and botocore clients are safe to share between threads."""
    custom = bool(endpoint_url)
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        # Other stores seldom serve bucket names as host names (bucket.minio.example.org):
        # address them by path, which all of them take.
        s3={"addressing_style": "path" if custom else "auto"},
        # Newer botocore adds CRC trailers to every upload by default, which several
        # S3-compatible stores refuse; checksums only where S3 requires them.
        request_checksum_calculation="when_required" if custom else "when_supported",
        response_checksum_validation="when_required" if custom else "when_supported",
    )
    # A session of its own: boto3's default session is not safe to build clients from in
    # several threads at once.
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config
    )


def normal_prefix(prefix: str) -> str:
    """A key prefix as a folder: no leading slash, one trailing slash ("media" -> "media/");
    empty means the bucket's root."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


class S3Store:
    """Objects `<prefix><name>` in one bucket. A PUT is all or nothing by S3's nature, so there
    is no temporary name; only names new_name() makes are taken, so no key leaves the prefix."""

    def __init__(
        self, bucket: str, prefix: str = "media/", endpoint_url: str = "", region: str = ""
    ) -> None:
        self.bucket = bucket
        self.prefix = normal_prefix(prefix)
        self.client = client_for(endpoint_url, region)

    def key(self, name: str) -> str:
        if not valid_name(name):
            raise FileNotFoundError(name)
        return self.prefix + name

    def save(self, name: str, data: bytes) -> None:
        key = self.key(name)
        content_type = CONTENT_TYPES.get(key[key.rindex(".") :], "application/octet-stream")
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as error:
            raise StoreUnavailable(f"could not store {key} in bucket {self.bucket}") from error

    def open(self, name: str) -> BinaryIO:
        # Photos are at most OPEN311_MEDIA_MAX_BYTES (10 MiB): read whole, the response
        # is then served like a file and the connection goes back to the pool at once.
        key = self.key(name)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            with answer["Body"] as body:
                return io.BytesIO(body.read())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING:
                raise FileNotFoundError(name) from None
            raise StoreUnavailable(f"could not read {key} from bucket {self.bucket}") from error
        except BotoCoreError as error:
            raise StoreUnavailable(f"could not read {key} from bucket {self.bucket}") from error

    def stored(self) -> Iterator[tuple[str, datetime]]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) :]
                    if valid_name(name):
                        yield name, item["LastModified"]
        except (BotoCoreError, ClientError) as error:
            raise StoreUnavailable(f"could not list bucket {self.bucket}") from error

    def delete(self, name: str) -> None:
        # DeleteObject succeeds for a key that is not there: nothing to check.
        key = self.key(name)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as error:
            raise StoreUnavailable(f"could not delete {key} from bucket {self.bucket}") from error
