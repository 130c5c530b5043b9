"""`open311 apikey`: API keys of client applications."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from open311.commands import app_session


@click.group("apikey", cls=AppGroup)
def apikey_group() -> None:
    """API keys of client applications (needed to POST requests)."""


@apikey_group.command("create")
@click.argument("name")
@click.option(
    "--rate-limit",
    metavar="LIMIT",
    help="the client's own limit, e.g. 600/minute or 10/second;600/minute "
    "(default: OPEN311_RATE_LIMIT_WRITES for writes, OPEN311_RATE_LIMIT_READS for reads)",
)
def apikey_create(name: str, rate_limit: str | None) -> None:
    """Create a key for the application NAME and print it once; only its hash is stored."""
    from open311.domain.apikeys import create_api_client

    with app_session() as session:
        _client, key = create_api_client(session, name, rate_limit)
        session.commit()
    click.echo(key)


@apikey_group.command("check")
@click.argument("key")
def apikey_check(key: str) -> None:
    """Exit 0 if KEY is an active API key, 1 otherwise."""
    from open311.domain.apikeys import authenticate
    from open311.errors import InvalidApiKey

    with app_session() as session:
        try:
            client = authenticate(session, key)
        except InvalidApiKey as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"active key of {client.name}")
