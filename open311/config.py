"""Settings: defaults overridden from the environment (DATABASE_URL, OPEN311_*)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_CLUSTER_DIR = PROJECT_ROOT / "var" / "postgres"
LOCAL_CLUSTER_PORT = 54311


def geodata_dir() -> Path:
    """The repository's geodata/ directory, or OPEN311_GEODATA_DIR when that is set."""
    override = os.environ.get("OPEN311_GEODATA_DIR")
    return Path(override) if override else PROJECT_ROOT / "geodata"


LOCAL_CLUSTER_PORT_FILE = LOCAL_CLUSTER_DIR.parent / "postgres.port"


def local_cluster_port() -> int:
    """OPEN311_PGPORT if set, else the port `open311 db up` recorded, else the default."""
    if os.environ.get("OPEN311_PGPORT"):
        return int(os.environ["OPEN311_PGPORT"])
    try:
        return int(LOCAL_CLUSTER_PORT_FILE.read_text())
    except (OSError, ValueError):
        return LOCAL_CLUSTER_PORT


def local_database_url() -> str:
    """URL of the project-local cluster that `open311 db up` starts under var/."""
    return f"postgresql+psycopg2://postgres@127.0.0.1:{local_cluster_port()}/open311"


@dataclass
class Settings:
    """Everything the app reads from its environment, in one typed place."""

    database_url: str = field(default_factory=lambda: os.environ.get("DATABASE_URL", ""))
    # The public base URL advertised by discovery; empty means "the host the client used".
    public_url: str = field(default_factory=lambda: os.environ.get("OPEN311_PUBLIC_URL", ""))
    endpoint_type: str = field(
        default_factory=lambda: os.environ.get("OPEN311_ENDPOINT_TYPE", "production")
    )
    contact: str = field(
        default_factory=lambda: os.environ.get(
            "OPEN311_CONTACT", "Open311 API team, open311@example.org"
        )
    )
    key_service: str = field(
        default_factory=lambda: os.environ.get(
            "OPEN311_KEY_SERVICE", "Ask the API team for a key: open311@example.org"
        )
    )
    max_body_bytes: int = field(
        default_factory=lambda: int(os.environ.get("OPEN311_MAX_BODY_BYTES", 1024 * 1024))
    )

    # How long a staff bearer token from POST /api/v1/login lives.
    staff_token_hours: float = field(
        default_factory=lambda: float(os.environ.get("OPEN311_STAFF_TOKEN_HOURS", 12))
    )

    # Photos (issue 6): where they are kept, and how many and how large one POST may carry.
    media_dir: str = field(
        default_factory=lambda: os.environ.get(
            "OPEN311_MEDIA_DIR", str(PROJECT_ROOT / "var" / "media")
        )
    )
    media_max_bytes: int = field(
        default_factory=lambda: int(os.environ.get("OPEN311_MEDIA_MAX_BYTES", 10 * 1024 * 1024))
    )
    media_max_count: int = field(
        default_factory=lambda: int(os.environ.get("OPEN311_MEDIA_MAX_COUNT", 5))
    )
    # ... or in an S3-compatible bucket instead of media_dir when a bucket is named. The endpoint
    # is for MinIO, Ceph, Garage, R2 ... (empty: AWS); credentials come from boto3's own chain
    # (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles).
    media_s3_bucket: str = field(
        default_factory=lambda: os.environ.get("OPEN311_MEDIA_S3_BUCKET", "")
    )
    media_s3_endpoint_url: str = field(
        default_factory=lambda: os.environ.get("OPEN311_MEDIA_S3_ENDPOINT_URL", "")
    )
    media_s3_region: str = field(
        default_factory=lambda: os.environ.get("OPEN311_MEDIA_S3_REGION", "")
    )
    media_s3_prefix: str = field(
        default_factory=lambda: os.environ.get("OPEN311_MEDIA_S3_PREFIX", "media/")
    )
    # E-mail to requesters, sent by `open311 worker`; no host: e-mail is neither queued nor sent.
    smtp_host: str = field(default_factory=lambda: os.environ.get("OPEN311_SMTP_HOST", ""))
    smtp_port: int = field(default_factory=lambda: int(os.environ.get("OPEN311_SMTP_PORT", 25)))
    smtp_user: str = field(default_factory=lambda: os.environ.get("OPEN311_SMTP_USER", ""))
    smtp_password: str = field(default_factory=lambda: os.environ.get("OPEN311_SMTP_PASSWORD", ""))
    smtp_starttls: bool = field(
        default_factory=lambda: os.environ.get("OPEN311_SMTP_STARTTLS", "") in ("1", "true")
    )
    smtp_from: str = field(
        default_factory=lambda: os.environ.get("OPEN311_SMTP_FROM", "311@example.org")
    )
    # Deliveries (webhooks and e-mail): attempts before a delivery is parked, HTTP timeout,
    # and how often an idle worker looks for due deliveries besides being woken by NOTIFY.
    delivery_max_attempts: int = field(
        default_factory=lambda: int(os.environ.get("OPEN311_DELIVERY_MAX_ATTEMPTS", 8))
    )
    webhook_timeout_s: float = field(
        default_factory=lambda: float(os.environ.get("OPEN311_WEBHOOK_TIMEOUT_S", 10))
    )
    # Webhooks to private, loopback or link-local addresses are refused unless this is set.
    webhook_allow_private: bool = field(
        default_factory=lambda: os.environ.get("OPEN311_WEBHOOK_ALLOW_PRIVATE", "") in ("1", "true")
    )
    worker_poll_s: float = field(
        default_factory=lambda: float(os.environ.get("OPEN311_WORKER_POLL_S", 5))
    )

    def resolved_database_url(self) -> str:
        return self.database_url or local_database_url()

    def flask_config(self) -> dict:
        return {
            "DATABASE_URL": self.resolved_database_url(),
            "OPEN311_PUBLIC_URL": self.public_url,
            "OPEN311_ENDPOINT_TYPE": self.endpoint_type,
            "OPEN311_CONTACT": self.contact,
            "OPEN311_KEY_SERVICE": self.key_service,
            # Photos make a POST larger than its form fields: each may be media_max_bytes.
            "MAX_CONTENT_LENGTH": self.max_body_bytes + self.media_max_count * self.media_max_bytes,
            # ... while the form fields themselves stay within the body limit (else 413).
            "MAX_FORM_MEMORY_SIZE": self.max_body_bytes,
            "OPEN311_MAX_BODY_BYTES": self.max_body_bytes,
            "OPEN311_MEDIA_DIR": self.media_dir,
            "OPEN311_MEDIA_MAX_BYTES": self.media_max_bytes,
            "OPEN311_MEDIA_MAX_COUNT": self.media_max_count,
            "OPEN311_MEDIA_S3_BUCKET": self.media_s3_bucket,
            "OPEN311_MEDIA_S3_ENDPOINT_URL": self.media_s3_endpoint_url,
            "OPEN311_MEDIA_S3_REGION": self.media_s3_region,
            "OPEN311_MEDIA_S3_PREFIX": self.media_s3_prefix,
            "OPEN311_STAFF_TOKEN_HOURS": self.staff_token_hours,
            "API_TITLE": "open311",
            "API_VERSION": "v2",
            "OPENAPI_VERSION": "3.0.3",
            "OPENAPI_URL_PREFIX": "/",
            "OPENAPI_JSON_PATH": "openapi.json",
            "JSON_SORT_KEYS": False,
        }
