"""`open311 redis`: the project-local Redis that keeps the rate limits' counts."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from open311.config import LOCAL_REDIS_DIR, LOCAL_REDIS_PORT_FILE, Settings
from open311.db.cluster import free_port, port_is_free
from open311.db.redis_server import LocalRedis, RedisServerError


@click.group("redis", cls=AppGroup)
def redis_group() -> None:
    """The Redis that keeps the rate limits' counts: the project-local one under var/."""


@redis_group.command("up")
def redis_up() -> None:
    """Start the project-local Redis under var/ (used when REDIS_URL is unset) on 127.0.0.1;
    does nothing if it is already running."""
    # The environment's settings, as `db up` reads them: the app's are made for serving.
    settings = Settings()
    if settings.redis_url:
        click.echo("REDIS_URL is set: using that Redis, no local one needed.")
        return
    server = LocalRedis(LOCAL_REDIS_DIR, settings.local_redis_port())
    try:
        if not server.running() and not port_is_free(server.port):
            # Another program (or another checkout's Redis) has the port: take a free one.
            server.port = free_port()
        url = server.up()
    except RedisServerError as exc:
        raise click.ClickException(str(exc)) from None
    LOCAL_REDIS_PORT_FILE.write_text(f"{server.port}\n")
    click.echo(f"local Redis running: {url}")


@redis_group.command("down")
def redis_down() -> None:
    """Stop the project-local Redis (the counts go with it: windows start afresh)."""
    try:
        LocalRedis(LOCAL_REDIS_DIR, Settings().local_redis_port()).stop()
    except RedisServerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("local Redis stopped")
