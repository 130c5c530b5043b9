"""`open311 media sweep`: delete stored photo files that no photo row names."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from open311 import clock
from open311.commands import app_session, app_settings
from open311.media.stores import store_for


@click.group("media", cls=AppGroup)
def media_group() -> None:
    """Photos kept in OPEN311_MEDIA_DIR or the S3 bucket."""


@media_group.command("sweep")
@click.option(
    "--older-than-hours",
    type=click.FloatRange(min=0.5),
    default=24.0,
    show_default=True,
    help="Only files written this long ago (a POST in flight has written but not committed).",
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
def sweep(older_than_hours: float, dry_run: bool) -> None:
    """Delete files no photo row names: leftovers of a crash between writing a photo and
    committing its request, and of interrupted saves. Safe to run from cron."""
    from open311.db import media_queries
    from open311.media import sweep as sweeping

    store = store_for(app_settings())
    with app_session() as session:
        found = sweeping.orphans(
            store,
            lambda names: media_queries.find_known_files(session, names),
            now=clock.now(),
            grace=timedelta(hours=older_than_hours),
        )
    for name in found:
        click.echo(f"{'would delete' if dry_run else 'deleting'} {name}")
    if not dry_run:
        sweeping.sweep(store, found)
    click.echo(f"{len(found)} orphan file(s){' found' if dry_run else ' deleted'}")
