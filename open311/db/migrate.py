"""Run Alembic migrations from code (the CLI, the tests), against any database URL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError as AlembicError
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from open311.config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


class MigrationError(Exception):
    """A migration that cannot run as asked: an unknown revision, one older than the database's,
    or a database that cannot be reached. Its message is safe to show (no password)."""


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate up to `revision`. Alembic would silently do nothing for a revision the database
    is already past; that is refused here, as are unknown revisions and unreachable databases."""
    config = alembic_config(database_url)
    scripts = ScriptDirectory.from_config(config)
    try:
        target = scripts.get_revision(revision)
    except AlembicError as exc:
        raise MigrationError(str(exc)) from None
    engine = create_engine(database_url, hide_parameters=True)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        first_line = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise MigrationError(f"cannot reach the database: {first_line}") from None
    finally:
        engine.dispose()
    if target is not None and current is not None and current != target.revision:
        # The database is past the target when the target is one of its revision's ancestors.
        behind = {script.revision for script in scripts.iterate_revisions(current, "base")}
        if target.revision in behind:
            raise MigrationError(
                f"the database is at revision {current}, past {target.revision}: "
                "upgrade never goes back"
            )
    command.upgrade(config, revision)


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """What Alembic compares: our tables, not those extensions own (PostGIS's spatial_ref_sys)."""
    if type_ == "table" and reflected and compare_to is None:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def schema_drift(connection) -> list:
    """Differences between the database behind `connection` and the models; [] when in step."""
    from open311.db import models  # noqa: F401  (registers every table)
    from open311.db.base import Base

    context = MigrationContext.configure(
        connection, opts={"include_object": include_object, "compare_type": True}
    )
    return compare_metadata(context, Base.metadata)


def head_revision() -> str | None:
    """The newest revision of the migrations this code carries."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(connection) -> str | None:
    """The revision the database behind `connection` is at (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()
