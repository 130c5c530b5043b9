"""`open311 serve`: the API under gunicorn, as in production."""

from __future__ import annotations

import os
import sys

import click
from flask.cli import with_appcontext

from open311.commands import app_settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
# No defaults here: PORT and WEB_CONCURRENCY of the app's settings, read once the app is made.
@click.option("--port", show_default="5311 or $PORT")
@click.option("--workers", show_default="3 or $WEB_CONCURRENCY")
@with_appcontext
def serve(host: str, port: str | None, workers: str | None) -> None:
    """Serve the API with gunicorn (as in production) on HOST:PORT."""
    settings = app_settings()
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port or settings.port}",
        "--workers",
        str(workers or settings.web_concurrency),
        # Several servers may run on one machine (tests, checkouts): no shared control socket.
        "--no-control-socket",
        # Sync workers stream exports; the default 30 s would cut a download of millions of rows.
        "--timeout",
        str(settings.worker_timeout_s),
        "--access-logfile",
        "-",
        "open311:create_app()",
    ]
    os.execvp(args[0], args)
