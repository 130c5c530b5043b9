"""`open311 stats refresh`: bring the request statistics' rollups up to date (README: Request
statistics, open data). The worker runs the same every OPEN311_STATS_INTERVAL_S; the command
is for cron users and for the first load (`--full` rebuilds from every request)."""

from __future__ import annotations

import time
from datetime import datetime

import click
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.orm import Session

from open311 import clock
from open311.commands import app_session
from open311.domain import jurisdictions, request_stats


def run_refresh(
    session: Session,
    *,
    now: datetime,
    jurisdiction_id: str | None = None,
    full: bool = False,
    echo=None,
) -> dict[str, int]:
    """Refresh each jurisdiction's rollup (or the one named), a transaction per city so that
    one city's readers wait for no other's; the counts summed, for the job's log line."""
    cities = (
        [jurisdictions.resolve(session, jurisdiction_id)]
        if jurisdiction_id
        else list(jurisdictions.find_all(session))
    )
    totals = {"jurisdictions": 0, "requests": 0, "days": 0, "rows": 0}
    for city in cities:
        started = time.monotonic()
        done = request_stats.refresh(session, city, now=now, full=full)
        session.commit()
        totals["jurisdictions"] += 1
        for name, count in done.counts().items():
            totals[name] += count
        if echo is not None:
            counts = done.counts()
            echo(
                f"{city.jurisdiction_id}: {'rebuilt' if done.full else 'refreshed'}"
                f" {counts['days']} days ({counts['requests']} requests changed,"
                f" {counts['rows']} rows) in {time.monotonic() - started:.2f} s"
            )
    return totals


stats_group = AppGroup("stats", help="Request statistics: the rollups the stats API reads.")


@stats_group.command("refresh")
@click.option("--jurisdiction", "jurisdiction_id", help="Only this city (its jurisdiction_id).")
@click.option("--full", is_flag=True, help="Rebuild from every request (the first load).")
@with_appcontext
def refresh(jurisdiction_id: str | None, full: bool) -> None:
    """Recompute the days changed since the last refresh (or all of them with --full)."""
    with app_session() as session:
        run_refresh(
            session, now=clock.now(), jurisdiction_id=jurisdiction_id, full=full, echo=click.echo
        )
