"""The `open311` command: local database, migrations, demo data, API keys and the server."""

from __future__ import annotations

import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup

from open311 import create_app
from open311.commands import app_session
from open311.commands.geodata import geodata
from open311.commands.media import media_group
from open311.commands.requests import request_group
from open311.commands.worker import worker
from open311.commands.workorders import escalate, workorder_group
from open311.config import (
    LOCAL_CLUSTER_DIR,
    LOCAL_CLUSTER_PORT_FILE,
    PROJECT_ROOT,
    local_cluster_port,
)


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_default_commands=False)
def main() -> None:
    """Open311 GeoReport v2 server with a 311 back office, on PostgreSQL + PostGIS."""


@main.group()
def db() -> None:
    """The database: the project-local cluster and its migrations."""


@db.command("up")
def db_up() -> None:
    """Start the project-local PostgreSQL+PostGIS cluster under var/ (used when DATABASE_URL is
    unset); initialises it the first time and does nothing if it is already running."""
    from open311.db.cluster import ClusterError, LocalCluster, free_port, port_is_free

    if os.environ.get("DATABASE_URL"):
        click.echo("DATABASE_URL is set: using that database, no local cluster needed.")
        return
    cluster = LocalCluster(LOCAL_CLUSTER_DIR, local_cluster_port())
    if not cluster.running() and not port_is_free(cluster.port):
        if os.environ.get("OPEN311_PGPORT"):
            raise click.ClickException(f"port {cluster.port} (OPEN311_PGPORT) is in use")
        # Another program (or another checkout's cluster) has the port: take a free one.
        cluster.port = free_port()
    try:
        url = cluster.up()
    except ClusterError as exc:
        raise click.ClickException(str(exc)) from None
    LOCAL_CLUSTER_PORT_FILE.write_text(f"{cluster.port}\n")
    click.echo(f"local PostgreSQL running: {url}")


@db.command("down")
def db_down() -> None:
    """Stop the project-local cluster (its data stays in var/postgres)."""
    from open311.db.cluster import LocalCluster

    LocalCluster(LOCAL_CLUSTER_DIR, local_cluster_port()).stop()
    click.echo("local PostgreSQL stopped")


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations up to REVISION (default: head)."""
    from open311.db.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database migrated to {revision}")


@main.command()
@click.option("--skip-history", is_flag=True, help="Do not import the MyLA311 historical rows.")
@click.option(
    "--requests",
    type=click.IntRange(min=0),
    default=0,
    help="Also make sure synthetic requests SYN-1 ... SYN-N exist (load tests); only the "
    "missing ones are added.",
)
@click.option(
    "--years",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Synthetic requests are filed over this many years up to today.",
)
@click.option(
    "--seed",
    "random_seed",
    type=int,
    default=311,
    show_default=True,
    help="Random seed of the synthetic requests: the same seed gives the same requests.",
)
@click.option(
    "--with-activity",
    is_flag=True,
    help="Also log a public 'submitted' (and 'request_closed') entry per synthetic request.",
)
def seed(
    skip_history: bool, requests: int, years: int, random_seed: int, with_activity: bool
) -> None:
    """Load the demo city (Los Angeles): services with definitions, and real historical requests,
    and with --requests N synthetic ones. Safe to run again: what is already there is left
    alone."""
    from contextlib import nullcontext

    from open311.demo.seed import seed_demo_city
    from open311.demo.synthetic import SyntheticSpec, vacuum

    synthetic = None
    bar = nullcontext(None)
    if requests:
        synthetic = SyntheticSpec(
            requests, years=years, seed=random_seed, with_activity=with_activity
        )
        bar = click.progressbar(length=requests, label="synthetic requests", file=sys.stderr)
    with app_session() as session, bar as progress:
        report = seed_demo_city(
            session,
            with_history=not skip_history,
            synthetic=synthetic,
            progress=progress.update if progress is not None else None,
        )
        session.commit()
        seconds = vacuum(session.get_bind()) if synthetic is not None else None
    if seconds is not None:
        report.append(f"synthetic load: VACUUM (ANALYZE) {seconds:.1f} s")
    for line in report:
        click.echo(line)


@main.group()
def apikey() -> None:
    """API keys of client applications (needed to POST requests)."""


@apikey.command("create")
@click.argument("name")
def apikey_create(name: str) -> None:
    """Create a key for the application NAME and print it once; only its hash is stored."""
    from open311.domain.apikeys import create_api_client

    with app_session() as session:
        _client, key = create_api_client(session, name)
        session.commit()
    click.echo(key)


@apikey.command("check")
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


@main.group()
def user() -> None:
    """Staff users of the back office (the staff API under /api/v1)."""


@user.command("create")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["administrator", "supervisor", "call_taker", "crew_member"]),
)
@click.option("--name", "display_name", help="How the user is shown (default: the username).")
@click.option(
    "--crew",
    "crews",
    multiple=True,
    metavar="AGENCY/CREW",
    help="A crew the user works for, by agency and crew code (repeatable).",
)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="OPEN311_NEW_USER_PASSWORD",
    help="Prompted for when not given (or set OPEN311_NEW_USER_PASSWORD).",
)
def user_create(
    username: str, role: str, display_name: str | None, crews: tuple[str, ...], password: str
) -> None:
    """Create a staff user who signs in with POST /api/v1/login."""
    from open311.db import staff_queries
    from open311.domain import jurisdictions, staff
    from open311.errors import Open311Error

    with app_session() as session:
        jurisdiction = jurisdictions.resolve(session, None)
        found = []
        for ref in crews:
            agency_code, _, crew_code = ref.partition("/")
            crew = staff_queries.get_crew(session, jurisdiction, agency_code, crew_code)
            if crew is None:
                raise click.ClickException(f"no crew {ref} (give AGENCY/CREW codes)")
            found.append(crew)
        try:
            created = staff.create_user(
                session,
                username,
                password=password,
                role=role,
                display_name=display_name,
                crews=found,
            )
        except Open311Error as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        click.echo(f"created {created.role.value} {created.username}")


DEMO_KEY_FILE = PROJECT_ROOT / "var" / "demo-api-key"


@main.command("demo-banner")
@click.option("--port", default=lambda: int(os.environ.get("PORT", 5311)))
def demo_banner(port: int) -> None:
    """Print a ready-to-use API key for the demo (kept in var/demo-api-key) and curl lines."""
    from open311.domain.apikeys import authenticate, create_api_client
    from open311.errors import InvalidApiKey

    with app_session() as session:
        key = DEMO_KEY_FILE.read_text().strip() if DEMO_KEY_FILE.exists() else ""
        try:
            authenticate(session, key)
        except InvalidApiKey:
            _client, key = create_api_client(session, "demo (make run)")
            session.commit()
            DEMO_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
            DEMO_KEY_FILE.touch(mode=0o600)
            DEMO_KEY_FILE.write_text(key + "\n")
    base = f"http://127.0.0.1:{port}/open311/v2"
    click.echo(
        f"""
open311 is starting on {base}

  API key for POST (also in {DEMO_KEY_FILE.relative_to(PROJECT_ROOT)}):  {key}

  curl -s {base}/services.json
  curl -s {base}/services/ABANDONED-VEHICLE.xml
  curl -s -X POST {base}/requests.json -d api_key={key} -d service_code=GRAFFITI \\
       -d lat=34.0522 -d long=-118.2437 -d 'attribute[SURFACE]=WALL' -d description='Tag on wall'
  curl -s '{base}/requests.json?start_date=2017-12-27T00:00:00Z&end_date=2018-01-05T00:00:00Z'
  curl -s '{base}/servicerequestupdates.json'

  Staff API (http://127.0.0.1:{port}/api/v1, README "Working requests"): make a user with
  .venv/bin/open311 user create NAME --role supervisor   (or crew_member --crew OCB/OCB-CD14)
"""
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", default=lambda: int(os.environ.get("PORT", 5311)), show_default="5311 or $PORT"
)
@click.option(
    "--workers",
    default=lambda: int(os.environ.get("WEB_CONCURRENCY", 3)),
    show_default="3 or $WEB_CONCURRENCY",
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API with gunicorn (as in production) on HOST:PORT."""
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        # Several servers may run on one machine (tests, checkouts): no shared control socket.
        "--no-control-socket",
        # Sync workers stream exports; the default 30 s would cut a download of millions of rows.
        "--timeout",
        os.environ.get("OPEN311_WORKER_TIMEOUT", "600"),
        "--access-logfile",
        "-",
        "open311:create_app()",
    ]
    os.execvp(args[0], args)


for command in (geodata, request_group, escalate, workorder_group, worker, media_group):
    main.add_command(command)


if __name__ == "__main__":
    main()
