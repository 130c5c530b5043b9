"""`open311 seed` and `open311 demo-banner`: the demo city, and what `make run` prints."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from open311.commands import app_session, app_settings
from open311.config import PROJECT_ROOT

DEMO_KEY_FILE = PROJECT_ROOT / "var" / "demo-api-key"
DEMO_STAFF_PASSWORD_FILE = PROJECT_ROOT / "var" / "demo-staff-password"


@click.command()
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
@click.option(
    "--no-nyc",
    is_flag=True,
    help="Leave out the second city, New York City (jurisdiction_id nyc.gov).",
)
@click.option(
    "--no-austin",
    is_flag=True,
    help="Leave out the third city, Austin, Texas (jurisdiction_id austintexas.gov).",
)
@with_appcontext
def seed(
    skip_history: bool,
    requests: int,
    years: int,
    random_seed: int,
    with_activity: bool,
    no_nyc: bool,
    no_austin: bool,
) -> None:
    """Load the demo cities: Los Angeles (services with definitions, real historical requests, and
    with --requests N synthetic ones, Spanish and information articles), New York City (its real
    311 complaint types and one day of its requests) and Austin (its 27 real services and service
    pages in English, Spanish, Vietnamese and Arabic, its council districts). Safe to run again:
    what is already there is left alone."""
    from contextlib import nullcontext

    from open311 import clock
    from open311.db.bulk import vacuum
    from open311.demo.austin import seed_austin
    from open311.demo.contacts import seed_demo_contacts
    from open311.demo.new_york import seed_new_york
    from open311.demo.seed import seed_demo_city
    from open311.demo.synthetic import SyntheticSpec

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
        if not no_nyc:
            report += [f"nyc.gov {line}" for line in seed_new_york(session, not skip_history)]
        if not no_austin:
            austin: list[str] = []
            seed_austin(session, austin)
            report += [f"austintexas.gov {line}" for line in austin]
        report += seed_demo_contacts(session, clock.now())
        session.commit()
        seconds = vacuum(session.get_bind()) if synthetic is not None else None
    if seconds is not None:
        report.append(f"synthetic load: VACUUM (ANALYZE) {seconds:.1f} s")
    for line in report:
        click.echo(line)


@click.command("demo-banner")
# No default here: PORT of the app's settings, read once the app is made.
@click.option("--port")
@with_appcontext
def demo_banner(port: str | None) -> None:
    """Print a ready-to-use API key for the demo (kept in var/demo-api-key), the pages, the demo
    staff accounts (password in var/demo-staff-password) and curl lines."""
    import secrets

    from open311.demo.staff_accounts import ACCOUNTS, ensure_demo_staff
    from open311.domain.apikeys import authenticate, create_api_client
    from open311.errors import InvalidApiKey
    from open311.wire.georeport import BASE_PATH

    port = port or str(app_settings().port)
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
        if not DEMO_STAFF_PASSWORD_FILE.exists():
            DEMO_STAFF_PASSWORD_FILE.touch(mode=0o600)
            DEMO_STAFF_PASSWORD_FILE.write_text(secrets.token_urlsafe(12) + "\n")
        password = DEMO_STAFF_PASSWORD_FILE.read_text().strip()
        seeded = ensure_demo_staff(session, password) is not None
        session.commit()
    site = f"http://127.0.0.1:{port}"
    base = f"{site}{BASE_PATH}"
    accounts = ", ".join(f"{name} ({role.value.replace('_', '-')})" for name, role, _ in ACCOUNTS)
    console = (
        f"  Staff console: {site}/staff as {accounts},\n"
        f"  password {password} (also in {DEMO_STAFF_PASSWORD_FILE.relative_to(PROJECT_ROOT)})\n"
        if seeded
        else f"  Staff console: {site}/staff (`open311 seed` first for the demo accounts)\n"
    )
    click.echo(
        f"""
open311 is starting on {base}

  Pages: {site}/ (the map), {site}/report, {site}/kb, {site}/city, {site}/docs
{console}
  API key for POST (also in {DEMO_KEY_FILE.relative_to(PROJECT_ROOT)}):  {key}

  curl -s {base}/services.json
  curl -s {base}/services/ABANDONED-VEHICLE.xml
  curl -s -X POST {base}/requests.json -d api_key={key} -d service_code=GRAFFITI \\
       -d lat=34.0522 -d long=-118.2437 -d 'attribute[SURFACE]=WALL' -d description='Tag on wall'
  curl -s '{base}/requests.json?start_date=2017-12-27T00:00:00Z&end_date=2018-01-05T00:00:00Z'
  curl -s '{base}/servicerequestupdates.json'

  New York City, the second city (Los Angeles is the default: jurisdiction_id=lacity.org):
  curl -s '{base}/services.json?jurisdiction_id=nyc.gov'
  curl -s -X POST {base}/requests.json -d api_key={key} -d jurisdiction_id=nyc.gov \\
       -d service_code=STREET-CONDITION -d lat=40.6710 -d long=-73.9778 -d description=Pothole

  Austin, Texas, the third city, in English, Spanish, Vietnamese and Arabic:
  curl -s '{base}/services.json?jurisdiction_id=austintexas.gov&locale=vi'
  curl -s '{base}/articles.json?jurisdiction_id=austintexas.gov&q=bulk+item&locale=es'

  Staff API (http://127.0.0.1:{port}/api/v1, README "Working requests"): make a user with
  .venv/bin/open311 user create NAME --role supervisor   (or crew_member --crew OCB/OCB-CD14)
"""
    )
