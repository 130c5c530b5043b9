"""Settings: defaults overridden from the environment, the one place that reads it."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = PROJECT_ROOT / "node_modules"
SECRET_KEY_FILE = PROJECT_ROOT / "var" / "secret-key"
LOCAL_CLUSTER_DIR = PROJECT_ROOT / "var" / "postgres"
LOCAL_CLUSTER_PORT = 54311
LOCAL_CLUSTER_PORT_FILE = LOCAL_CLUSTER_DIR.parent / "postgres.port"
# The local cluster's roles: the bootstrap superuser, which only `open311 db up` uses, and the
# app's own role, which owns the app's schema and nothing else. `db up` generates a password for
# each and keeps it beside the data directory (mode 0600); the default URL reads the app's.
LOCAL_CLUSTER_SUPERUSER = "postgres"
LOCAL_CLUSTER_APP_ROLE = "open311"
SUPERUSER_PASSWORD_FILE_NAME = "postgres-superuser.password"
APP_PASSWORD_FILE_NAME = "postgres-app.password"
LOCAL_CLUSTER_APP_PASSWORD_FILE = LOCAL_CLUSTER_DIR.parent / APP_PASSWORD_FILE_NAME
LOCAL_REDIS_DIR = PROJECT_ROOT / "var" / "redis"
LOCAL_REDIS_PORT = 63311
LOCAL_REDIS_PORT_FILE = LOCAL_REDIS_DIR.parent / "redis.port"
GEODATA_DIR = PROJECT_ROOT / "geodata"

# The metadata key of a field's environment variable, which is also its Flask config key.
ENV = "env"

# Flask and flask-smorest settings that are not the operator's to change.
FLASK_CONSTANTS: dict[str, Any] = {
    "API_TITLE": "open311",
    "API_VERSION": "v2",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "JSON_SORT_KEYS": False,
}


def _env(name: str, default: Any, parse: Callable[[str], Any] = str) -> Any:
    """A field read from the variable `name` when Settings() is made; `parse` gets its text
    (set but empty included), `default` stands when it is unset."""

    def read() -> Any:
        value = os.environ.get(name)
        return default if value is None else parse(value)

    return field(default_factory=read, metadata={ENV: name})


def _flag(value: str) -> bool:
    return value in ("1", "true")


def _on_unless_off(value: str) -> bool:
    return value.strip().lower() not in ("off", "0", "false", "no")


def _optional_int(value: str) -> int | None:
    return int(value) if value else None


def _optional_path(value: str) -> Path | None:
    return Path(value) if value else None


@dataclass
class Settings:
    """Everything the app, the worker and the commands read from their environment, typed.

    Each field names its variable (the README's configuration table lists them all); made once
    by the app factory, and handed to the code that needs a value rather than read there."""

    # Empty: the project-local cluster that `open311 db up` starts.
    database_url: str = _env("DATABASE_URL", "")
    # Streaming standbys of that database for the public reads (GET, HEAD), comma-separated
    # URLs; empty: every statement goes to DATABASE_URL. A standby further behind than the lag
    # limit (seconds) is skipped, as is one behind a client's own last write (db/replicas.py).
    database_replica_urls: str = _env("DATABASE_REPLICA_URLS", "")
    replica_max_lag_s: float = _env("OPEN311_REPLICA_MAX_LAG_S", 5.0, float)
    # The port of that cluster; unset (or empty): the one `db up` recorded, else 54311.
    pgport: int | None = _env("OPEN311_PGPORT", None, _optional_int)
    # The PostgreSQL programs of that cluster; unset: the newest install with PostGIS.
    pg_bindir: Path | None = _env("OPEN311_PG_BINDIR", None, _optional_path)
    # Where `open311 serve` listens, with how many gunicorn workers, and how long one may take
    # over a request. Behind nginx a worker hands even a long export to nginx's buffers at local
    # speed, so a slow download no longer needs a long timeout; a stuck worker is freed sooner.
    port: int = _env("PORT", 5311, int)
    listen_host: str = _env("OPEN311_LISTEN_HOST", "127.0.0.1")
    web_concurrency: int = _env("WEB_CONCURRENCY", 3, int)
    # Above OPEN311_EXPORT_STATEMENT_TIMEOUT_MS, so a long export ends by its own timeout.
    worker_timeout_s: int = _env("OPEN311_WORKER_TIMEOUT", 75, int)
    # nginx's patience with a client (headers, body, reading the answer, an idle keep-alive):
    # a stalled or trickling client costs an nginx connection for this long, never a worker.
    client_timeout_s: int = _env("OPEN311_CLIENT_TIMEOUT_S", 10, int)
    # Set by `open311 serve` for the gunicorn behind its nginx (and by a production unit): trust
    # one proxy's X-Forwarded-For and X-Forwarded-Proto for the client's address and scheme.
    behind_proxy: bool = _env("OPEN311_BEHIND_PROXY", False, _flag)
    # The public base URL advertised by discovery; empty means "the host the client used".
    public_url: str = _env("OPEN311_PUBLIC_URL", "")
    endpoint_type: str = _env("OPEN311_ENDPOINT_TYPE", "production")
    contact: str = _env("OPEN311_CONTACT", "Open311 API team, open311@example.org")
    key_service: str = _env(
        "OPEN311_KEY_SERVICE", "Ask the API team for a key: open311@example.org"
    )
    max_body_bytes: int = _env("OPEN311_MAX_BODY_BYTES", 1024 * 1024, int)
    # Time limits of the web app's database sessions (0: none; the worker and the commands have
    # none): a statement, an export's statement (a full scan may be right there), and a
    # transaction left idle (a request stuck between two statements keeps its locks).
    statement_timeout_ms: int = _env("OPEN311_STATEMENT_TIMEOUT_MS", 5000, int)
    export_statement_timeout_ms: int = _env("OPEN311_EXPORT_STATEMENT_TIMEOUT_MS", 60000, int)
    idle_in_transaction_timeout_ms: int = _env("OPEN311_IDLE_IN_TRANSACTION_TIMEOUT_MS", 60000, int)
    # A lookup by id runs as a statement prepared once per server connection. Off: never
    # prepared, for a pooler in transaction mode (pgbouncer 1.18 keeps no prepared statement
    # from one transaction to the next, as the next may run on another server connection).
    prepared_statements: bool = _env("OPEN311_PREPARED_STATEMENTS", True, _on_unless_off)
    # The demo city's data files; unset (or empty): the repository's geodata/.
    geodata_dir: Path = _env("OPEN311_GEODATA_DIR", GEODATA_DIR, lambda v: Path(v or GEODATA_DIR))
    # How long a staff bearer token from POST /api/v1/login lives.
    staff_token_hours: float = _env("OPEN311_STAFF_TOKEN_HOURS", 12.0, float)
    # Photos: where they are kept, and how many and how large one POST may carry ...
    media_dir: str = _env("OPEN311_MEDIA_DIR", str(PROJECT_ROOT / "var" / "media"))
    media_max_bytes: int = _env("OPEN311_MEDIA_MAX_BYTES", 10 * 1024 * 1024, int)
    media_max_count: int = _env("OPEN311_MEDIA_MAX_COUNT", 5, int)
    # ... or in an S3-compatible bucket instead of media_dir when a bucket is named. The endpoint
    # is for MinIO, Ceph, Garage, R2 ... (empty: AWS); credentials come from boto3's own chain
    # (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance roles).
    media_s3_bucket: str = _env("OPEN311_MEDIA_S3_BUCKET", "")
    media_s3_endpoint_url: str = _env("OPEN311_MEDIA_S3_ENDPOINT_URL", "")
    media_s3_region: str = _env("OPEN311_MEDIA_S3_REGION", "")
    media_s3_prefix: str = _env("OPEN311_MEDIA_S3_PREFIX", "media/")
    # E-mail to requesters, sent by `open311 worker`; no host: e-mail is neither queued nor sent.
    smtp_host: str = _env("OPEN311_SMTP_HOST", "")
    smtp_port: int = _env("OPEN311_SMTP_PORT", 25, int)
    smtp_user: str = _env("OPEN311_SMTP_USER", "")
    smtp_password: str = _env("OPEN311_SMTP_PASSWORD", "")
    smtp_starttls: bool = _env("OPEN311_SMTP_STARTTLS", False, _flag)
    smtp_from: str = _env("OPEN311_SMTP_FROM", "311@example.org")
    # Deliveries (webhooks and e-mail): attempts before a delivery is parked, the total
    # deadline of one webhook attempt and of one e-mail handed to SMTP (the whole attempt, not
    # each socket read), and how often an idle worker looks for due deliveries besides being
    # woken by NOTIFY. A worker leases what it sends for the deadline plus the margin (then
    # another worker may take it: the first one died); it sends from this many threads.
    delivery_max_attempts: int = _env("OPEN311_DELIVERY_MAX_ATTEMPTS", 8, int)
    webhook_timeout_s: float = _env("OPEN311_WEBHOOK_TIMEOUT_S", 10.0, float)
    smtp_timeout_s: float = _env("OPEN311_SMTP_TIMEOUT_S", 30.0, float)
    delivery_lease_margin_s: float = _env("OPEN311_DELIVERY_LEASE_MARGIN_S", 15.0, float)
    worker_threads: int = _env("OPEN311_WORKER_THREADS", 4, int)
    # Webhooks to private, loopback or link-local addresses are refused unless this is set.
    webhook_allow_private: bool = _env("OPEN311_WEBHOOK_ALLOW_PRIVATE", False, _flag)
    worker_poll_s: float = _env("OPEN311_WORKER_POLL_S", 5.0, float)
    # Where the worker LISTENs for new deliveries; empty: DATABASE_URL. LISTEN needs a session
    # of its own, which pgbouncer in transaction mode does not give: behind it, name a
    # session-mode alias or the database itself, or the worker finds new deliveries by polling
    # (every OPEN311_WORKER_POLL_S) instead of at once.
    database_listen_url: str = _env("DATABASE_LISTEN_URL", "")
    # The scheduled jobs `open311 worker` runs (one worker at a time across all nodes): seconds
    # between two runs of each; 0: that job is not run by the worker (cron may run its command).
    escalation_interval_s: float = _env("OPEN311_ESCALATION_INTERVAL_S", 60.0, float)
    sweep_interval_s: float = _env("OPEN311_SWEEP_INTERVAL_S", 86400.0, float)
    retention_interval_s: float = _env("OPEN311_RETENTION_INTERVAL_S", 86400.0, float)
    # The request statistics' rollups are brought up to date this often by `open311 worker`;
    # the public statistics are never older than this.
    stats_interval_s: float = _env("OPEN311_STATS_INTERVAL_S", 300.0, float)
    # A call answered within this many seconds counts as answered within the service level.
    service_level_s: float = _env("OPEN311_SERVICE_LEVEL_S", 30.0, float)
    # Rate limits (README: Rate limits), `limits` notation ("60/minute", "10/second;600/minute"),
    # counted in Redis so that every worker and node shares them. Empty REDIS_URL: the
    # project-local Redis that `open311 redis up` starts. OPEN311_RATE_LIMITS=off: no limits.
    redis_url: str = _env("REDIS_URL", "")
    rate_limits: bool = _env("OPEN311_RATE_LIMITS", True, _on_unless_off)
    rate_limit_writes: str = _env("OPEN311_RATE_LIMIT_WRITES", "60/minute")
    rate_limit_reads: str = _env("OPEN311_RATE_LIMIT_READS", "600/minute")
    rate_limit_exports: str = _env("OPEN311_RATE_LIMIT_EXPORTS", "30/minute")
    rate_limit_login_ip: str = _env("OPEN311_RATE_LIMIT_LOGIN_IP", "10/minute")
    rate_limit_login_user: str = _env("OPEN311_RATE_LIMIT_LOGIN_USER", "10/minute")
    # Security and privacy (README: Security and privacy).
    # Host names the server answers for, comma-separated; another Host header gets 400. Empty:
    # any host (then set OPEN311_PUBLIC_URL, since no URL is ever built from the Host header).
    trusted_hosts: str = _env("OPEN311_TRUSTED_HOSTS", "")
    # Personal data of requests closed longer ago than this is anonymised by the retention job.
    retention_days: int = _env("OPEN311_RETENTION_DAYS", 365, int)
    # Blackbox services' requests (FEEDBACK etc.) in public lists, exports, feeds and webhooks.
    publish_blackbox: bool = _env("OPEN311_PUBLISH_BLACKBOX", False, _flag)
    # The entries written when a request is filed ("Request received via api", the first step's
    # note) in servicerequestupdates too; off: apps post them as council comments on every report.
    publish_automatic_updates: bool = _env("OPEN311_PUBLISH_AUTOMATIC_UPDATES", False, _flag)
    # E-mails the city sends to one recipient address in 24 hours, at most; the rest are dropped.
    emails_per_recipient_per_day: int = _env("OPEN311_EMAILS_PER_RECIPIENT_PER_DAY", 10, int)
    # Where security problems are reported (README: Security and privacy; discovery's contact).
    security_contact: str = _env("OPEN311_SECURITY_CONTACT", "security@example.org")
    # Health, logs and metrics (README: Health, logs and metrics).
    # The bearer token GET /metrics asks for; empty: /metrics answers 404 (not public by default).
    metrics_token: str = _env("OPEN311_METRICS_TOKEN", "")
    # prometheus-client's multiprocess directory: set, the workers' metrics are written there and
    # /metrics sums them (`open311 serve` sets it to var/serve/PORT/metrics, wiped at start).
    prometheus_multiproc_dir: str = _env("PROMETHEUS_MULTIPROC_DIR", "")
    # The pages (README: Pages: the public site, the staff console, the API docs).
    # Signs the pages' session cookie (staff sign-in, CSRF tokens); every node of a city must
    # share it. Empty: var/secret-key, made on first use (one machine only).
    secret_key: str = _env("OPEN311_SECRET_KEY", "")
    # A raster basemap under the map's requests and districts, as an XYZ URL template
    # (https://tile.example.org/{z}/{x}/{y}.png) and the attribution its licence asks for.
    # Empty: none; the map draws the districts on a plain background and needs no other host.
    basemap_url: str = _env("OPEN311_BASEMAP_URL", "")
    basemap_attribution: str = _env("OPEN311_BASEMAP_ATTRIBUTION", "")
    # Where `npm ci` put the pages' browser libraries (MapLibre GL, Swagger UI); unset (or
    # empty): the repository's node_modules/.
    node_modules: Path = _env(
        "OPEN311_NODE_MODULES", NODE_MODULES, lambda v: Path(v or NODE_MODULES)
    )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """The settings behind a Flask config (see flask_config), read from its keys, which a
        test may have changed since; a field whose variable the mapping lacks is read from the
        environment."""
        return cls(
            **{f.name: config[f.metadata[ENV]] for f in fields(cls) if f.metadata[ENV] in config}
        )

    def local_cluster_port(self) -> int:
        """OPEN311_PGPORT if set, else the port `open311 db up` recorded, else the default."""
        if self.pgport is not None:
            return self.pgport
        try:
            return int(LOCAL_CLUSTER_PORT_FILE.read_text())
        except (OSError, ValueError):
            return LOCAL_CLUSTER_PORT

    def local_redis_port(self) -> int:
        """The port `open311 redis up` recorded, else the default."""
        try:
            return int(LOCAL_REDIS_PORT_FILE.read_text())
        except (OSError, ValueError):
            return LOCAL_REDIS_PORT

    def resolved_redis_url(self) -> str:
        """REDIS_URL, else the URL of the project-local Redis that `open311 redis up` starts."""
        return self.redis_url or f"redis://127.0.0.1:{self.local_redis_port()}/0"

    def resolved_secret_key(self) -> str:
        """OPEN311_SECRET_KEY, else var/secret-key, made (mode 0600) by the first process that
        needs it; the others, gunicorn's workers starting together, read what it wrote."""
        if self.secret_key:
            return self.secret_key
        SECRET_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(SECRET_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            for _attempt in range(50):  # the maker may not have written it yet
                if key := SECRET_KEY_FILE.read_text().strip():
                    return key
                time.sleep(0.02)
            raise RuntimeError(f"{SECRET_KEY_FILE} is empty: delete it and start again") from None
        key = secrets.token_urlsafe(48)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        return key

    def replica_urls(self) -> list[str]:
        """DATABASE_REPLICA_URLS as a list, blanks left out."""
        return [url.strip() for url in self.database_replica_urls.split(",") if url.strip()]

    def resolved_database_url(self) -> str:
        """DATABASE_URL, else the URL of the project-local cluster that `open311 db up` starts,
        as its app role (never the superuser), with the password `db up` generated."""
        if self.database_url:
            return self.database_url
        try:
            password = LOCAL_CLUSTER_APP_PASSWORD_FILE.read_text().strip()
        except OSError:
            password = ""  # no cluster made yet: the server will say no password was given
        return local_cluster_url(self.local_cluster_port(), "open311", password=password)

    def flask_config(self) -> dict[str, Any]:
        """The app's config: every field under its variable's name (what the views read), the
        database URL resolved, werkzeug's body limits, and flask-smorest's constants."""
        config = {f.metadata[ENV]: getattr(self, f.name) for f in fields(self)}
        return (
            config
            | FLASK_CONSTANTS
            | {
                "DATABASE_URL": self.resolved_database_url(),
                # Photos make a POST larger than its form fields: each may be media_max_bytes ...
                "MAX_CONTENT_LENGTH": self.max_body_bytes
                + self.media_max_count * self.media_max_bytes,
                # ... while the form fields themselves stay within the body limit (else 413).
                "MAX_FORM_MEMORY_SIZE": self.max_body_bytes,
            }
        )


def local_cluster_url(
    port: int, database: str, *, password: str = "", user: str = LOCAL_CLUSTER_APP_ROLE
) -> str:
    """The SQLAlchemy URL of a database of a project-local cluster (on 127.0.0.1)."""
    auth = f"{user}:{quote(password, safe='')}" if password else user
    return f"postgresql+psycopg2://{auth}@127.0.0.1:{port}/{database}"


def geodata_dir() -> Path:
    """The demo city's data directory of the environment's settings (OPEN311_GEODATA_DIR)."""
    return Settings().geodata_dir
