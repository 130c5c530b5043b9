"""Alembic environment: the models' metadata, with GeoAlchemy2's helpers for spatial columns."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers

from open311.config import Settings
from open311.db import models  # noqa: F401  (registers every table on Base.metadata)
from open311.db.base import Base
from open311.db.migrate import include_object
from open311.db.session import make_engine

config = context.config


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or Settings().resolved_database_url()
    connection = config.attributes.get("connection")
    if connection is None:
        engine = make_engine(url)
        with engine.connect() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
