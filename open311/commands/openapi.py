"""`open311 openapi`: the OpenAPI document /openapi.json serves, written without a server."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("openapi")
@click.option(
    "--output",
    "-o",
    type=click.File("w", encoding="utf-8"),
    default="-",
    show_default=True,
    help="Write the document to this file ('-': standard output).",
)
@with_appcontext
def openapi(output: click.utils.LazyFile) -> None:
    """Write the OpenAPI document of the API (what GET /openapi.json answers) as JSON: for
    client generators and contract tests that run without a server or a database."""
    # The app's flask-smorest Api: the same spec object /openapi.json renders. Reached through
    # the app, since commands import neither api nor app (README: Contributing, layers).
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    output.write(json.dumps(api.spec.to_dict(), indent=2, sort_keys=True) + "\n")
