"""Settings: one field per environment variable, each in the README's table, and the Flask
config made from the fields."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from open311.config import (
    ENV,
    GEODATA_DIR,
    LOCAL_CLUSTER_APP_PASSWORD_FILE,
    PROJECT_ROOT,
    Settings,
)

VARIABLES = {f.metadata[ENV] for f in fields(Settings)}


def readme_variables() -> set[str]:
    """The variables named in the first column of README's configuration table."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Configuration (environment variables)", 1)[1]
    table = section.split("\n\n", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows, "no table under README's configuration heading"
    return {name for row in rows for name in re.findall(r"`([A-Z0-9_]+)`", row.split("|")[1])}


def test_every_setting_is_in_the_readme_table():
    assert VARIABLES - readme_variables() == set()


def test_every_variable_in_the_readme_table_is_a_setting():
    assert readme_variables() - VARIABLES == set()


def test_the_flask_config_holds_every_field_under_its_variable():
    settings = Settings(database_url="postgresql+psycopg2://app@db.example.org/open311")
    config = settings.flask_config()

    for f in fields(Settings):
        assert config[f.metadata[ENV]] == getattr(settings, f.name), f.name
    # Werkzeug's limits: the form fields within the body limit, room for the photos beside.
    assert config["MAX_FORM_MEMORY_SIZE"] == settings.max_body_bytes
    assert config["MAX_CONTENT_LENGTH"] == (
        settings.max_body_bytes + settings.media_max_count * settings.media_max_bytes
    )
    assert (config["API_TITLE"], config["API_VERSION"]) == ("open311", "v2")


def test_without_database_url_the_config_names_the_local_cluster_as_the_app_role():
    config = Settings(database_url="", pgport=55432).flask_config()
    url = make_url(config["DATABASE_URL"])
    # Never the superuser: the app's role, with the password `open311 db up` keeps in var/.
    assert (url.username, url.host, url.port, url.database) == (
        "open311",
        "127.0.0.1",
        55432,
        "open311",
    )
    try:
        password = LOCAL_CLUSTER_APP_PASSWORD_FILE.read_text().strip()
    except FileNotFoundError:
        password = None  # no local cluster made in this checkout
    assert url.password == password


def test_settings_read_back_from_a_changed_flask_config():
    config = Settings(
        database_url="postgresql+psycopg2://app@db.example.org/open311"
    ).flask_config()
    config["OPEN311_WEBHOOK_ALLOW_PRIVATE"] = True
    config["OPEN311_MEDIA_DIR"] = "/srv/photos"

    settings = Settings.from_config(config)

    assert settings.webhook_allow_private is True
    assert settings.media_dir == "/srv/photos"
    assert settings.flask_config() == config


@pytest.mark.parametrize(
    ("variable", "text", "field", "value"),
    [
        ("OPEN311_SMTP_STARTTLS", "1", "smtp_starttls", True),
        ("OPEN311_SMTP_STARTTLS", "true", "smtp_starttls", True),
        ("OPEN311_SMTP_STARTTLS", "yes", "smtp_starttls", False),
        ("OPEN311_WEBHOOK_ALLOW_PRIVATE", "1", "webhook_allow_private", True),
        ("OPEN311_SMTP_PORT", "587", "smtp_port", 587),
        ("OPEN311_WORKER_POLL_S", "0.5", "worker_poll_s", 0.5),
        ("PORT", "8080", "port", 8080),
        ("WEB_CONCURRENCY", "6", "web_concurrency", 6),
        ("OPEN311_WORKER_TIMEOUT", "120", "worker_timeout_s", 120),
        ("OPEN311_PGPORT", "55432", "pgport", 55432),
        ("OPEN311_PG_BINDIR", "/opt/pg/bin", "pg_bindir", Path("/opt/pg/bin")),
        ("OPEN311_GEODATA_DIR", "/data/geo", "geodata_dir", Path("/data/geo")),
        # Set but empty: a text stays empty; these four mean "unset".
        ("OPEN311_CONTACT", "", "contact", ""),
        ("OPEN311_PGPORT", "", "pgport", None),
        ("OPEN311_PG_BINDIR", "", "pg_bindir", None),
        ("OPEN311_GEODATA_DIR", "", "geodata_dir", GEODATA_DIR),
        ("DATABASE_URL", "", "database_url", ""),
    ],
)
def test_a_variable_read_from_the_environment(monkeypatch, variable, text, field, value):
    monkeypatch.setenv(variable, text)
    assert getattr(Settings(), field) == value
