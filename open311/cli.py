"""The `open311` command: one group, whose subcommands live in open311/commands/ by area."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from open311 import create_app
from open311.commands.apikeys import apikey_group
from open311.commands.cluster import cluster_group
from open311.commands.contacts import contacts_group
from open311.commands.db import db_group
from open311.commands.demo import demo_banner, seed
from open311.commands.geodata import geodata
from open311.commands.jurisdictions import jurisdiction_group
from open311.commands.kb import kb_group
from open311.commands.media import media_group
from open311.commands.openapi import openapi
from open311.commands.privacy import privacy_group
from open311.commands.redis_server import redis_group
from open311.commands.report import report
from open311.commands.requests import request_group
from open311.commands.serve import serve
from open311.commands.stats import stats_group
from open311.commands.translations import translations_group
from open311.commands.users import user_group
from open311.commands.worker import worker
from open311.commands.workorders import escalate, workorder_group
from open311.errors import Open311Error


class Open311Group(FlaskGroup):
    """A domain refusal (an unknown jurisdiction, bad input) ends any command the way click's
    own errors do: "Error: <message>" and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Open311Error as error:
            raise click.ClickException(str(error)) from None


# The commands' app has no statement or idle-in-transaction timeout: those are the web app's
# (a request must not hold a connection for long), while a seed's COPY or a backfill rightly
# runs for minutes. `open311 serve` starts gunicorn on wsgi.py, whose app keeps them.
COMMAND_CONFIG = {"OPEN311_STATEMENT_TIMEOUT_MS": 0, "OPEN311_IDLE_IN_TRANSACTION_TIMEOUT_MS": 0}


@click.group(
    cls=Open311Group, create_app=lambda: create_app(COMMAND_CONFIG), add_default_commands=False
)
def main() -> None:
    """Open311 GeoReport v2 server with a 311 back office, on PostgreSQL + PostGIS."""


for command in (
    db_group,
    redis_group,
    cluster_group,
    seed,
    apikey_group,
    user_group,
    jurisdiction_group,
    kb_group,
    contacts_group,
    serve,
    demo_banner,
    geodata,
    request_group,
    escalate,
    workorder_group,
    worker,
    media_group,
    privacy_group,
    stats_group,
    translations_group,
    openapi,
    report,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
