"""`open311 serve`: the API as in production, nginx in front of gunicorn (or gunicorn alone)."""

from __future__ import annotations

import os
import shutil

import click
from flask import current_app
from flask.cli import with_appcontext

from open311.commands import app_settings
from open311.config import Settings
from open311.serving import gunicorn, nginx
from open311.serving.supervisor import (
    Program,
    ServingError,
    port_is_free,
    run_together,
    tcp_port_accepts,
    unix_socket_accepts,
)


@click.command()
# No defaults here: OPEN311_LISTEN_HOST, PORT and WEB_CONCURRENCY of the app's settings, read
# once the app is made.
@click.option("--host", show_default="127.0.0.1 or $OPEN311_LISTEN_HOST")
@click.option("--port", type=int, show_default="5311 or $PORT")
@click.option("--workers", type=int, show_default="3 or $WEB_CONCURRENCY")
@click.option(
    "--no-proxy",
    is_flag=True,
    help="gunicorn alone on HOST:PORT, for a host whose own proxy buffers requests and answers.",
)
@with_appcontext
def serve(host: str | None, port: int | None, workers: int | None, no_proxy: bool) -> None:
    """Serve the API on HOST:PORT as in production: nginx, which reads whole requests and takes
    whole answers, in front of gunicorn on a unix socket under var/serve/PORT/. Both stop on
    SIGTERM or Ctrl-C. Without nginx, each slow client holds one of the few gunicorn workers."""
    settings = app_settings()
    host = host or settings.listen_host
    port = port or settings.port
    workers = workers or settings.web_concurrency
    if no_proxy:
        args = gunicorn.command(
            nginx.listen_address(host, port), workers, settings.worker_timeout_s
        )
        metrics = nginx.run_dir_for(port) / "metrics"
        shutil.rmtree(metrics, ignore_errors=True)  # a dead run's counts would be summed in
        metrics.mkdir(parents=True)
        os.execvpe(args[0], args, os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    try:
        stopped_by = _serve_behind_nginx(settings, host, port, workers)
    except ServingError as exc:
        raise click.ClickException(str(exc)) from None
    if stopped_by:
        raise click.ClickException(stopped_by)


def _serve_behind_nginx(settings: Settings, host: str, port: int, workers: int) -> str | None:
    """Run nginx and gunicorn until a signal (None) or until one of them ends (which one)."""
    if not port_is_free(host, port):
        raise ServingError(f"port {port} on {host} is in use; set PORT to a free one")
    run_dir = nginx.run_dir_for(port)
    shutil.rmtree(run_dir, ignore_errors=True)  # what a killed run left
    run_dir.mkdir(parents=True)
    run_dir.chmod(0o700)  # the socket is for nginx alone
    socket = run_dir / "gunicorn.sock"
    # gunicorn's workers write their metrics here and /metrics sums them (prometheus-client's
    # multiprocess mode); emptied with run_dir above, so no dead run's counts are summed in.
    metrics = run_dir / "metrics"
    metrics.mkdir()
    site = nginx.Site(
        listen=(nginx.listen_address(host, port),),
        upstream=(f"unix:{socket}",),
        client_timeout_s=settings.client_timeout_s,
        upstream_timeout_s=settings.worker_timeout_s,
        max_body_bytes=current_app.config["MAX_CONTENT_LENGTH"],
        access_log=str(run_dir / "access.log"),
    )
    config = run_dir / "nginx.conf"
    config.write_text(nginx.render_main(site, run_dir))
    try:
        problem = nginx.check(config)
        if problem:
            raise ServingError(problem)
        click.echo(f"serving http://{nginx.listen_address(host, port)} (nginx -> {socket})")
        return run_together(
            [
                Program(
                    "gunicorn",
                    gunicorn.command(f"unix:{socket}", workers, settings.worker_timeout_s),
                    unix_socket_accepts(socket),
                    env=os.environ
                    | {"OPEN311_BEHIND_PROXY": "1", "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
                ),
                Program("nginx", nginx.command(config), tcp_port_accepts(host, port)),
            ]
        )
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
