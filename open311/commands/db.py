"""`open311 db`: the project-local PostgreSQL cluster and the migrations."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.engine import make_url

from open311.config import LOCAL_CLUSTER_DIR, LOCAL_CLUSTER_PORT_FILE, Settings
from open311.db.cluster import ClusterError, LocalCluster, free_port, port_is_free


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """The database: the project-local cluster and its migrations."""


def _local_cluster(settings: Settings) -> LocalCluster:
    return LocalCluster(LOCAL_CLUSTER_DIR, settings.local_cluster_port(), bindir=settings.pg_bindir)


@db_group.command("up")
def db_up() -> None:
    """Start the project-local PostgreSQL+PostGIS cluster under var/ (used when DATABASE_URL is
    unset); initialises it the first time and does nothing if it is already running."""
    # The environment's settings, not the app's: the app's DATABASE_URL is never empty.
    settings = Settings()
    if settings.database_url:
        click.echo("DATABASE_URL is set: using that database, no local cluster needed.")
        return
    cluster = _local_cluster(settings)
    try:
        if not cluster.running() and not port_is_free(cluster.port):
            if settings.pgport is not None:
                raise click.ClickException(f"port {cluster.port} (OPEN311_PGPORT) is in use")
            # Another program (or another checkout's cluster) has the port: take a free one.
            cluster.port = free_port()
        url = cluster.up()
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None
    LOCAL_CLUSTER_PORT_FILE.write_text(f"{cluster.port}\n")
    # The password stays in its file (var/postgres-app.password), out of terminals and logs.
    shown = make_url(url).render_as_string(hide_password=True)
    click.echo(f"local PostgreSQL running: {shown}")


@db_group.command("down")
def db_down() -> None:
    """Stop the project-local cluster (its data stays in var/postgres)."""
    try:
        _local_cluster(Settings()).stop()
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("local PostgreSQL stopped")


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations up to REVISION (default: head)."""
    from open311.db.migrate import MigrationError, upgrade

    try:
        upgrade(current_app.config["DATABASE_URL"], revision)
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"database migrated to {revision}")
