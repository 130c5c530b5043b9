"""`open311 report`: one city's monthly report for its director, as a PDF or an HTML page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask.cli import with_appcontext

from open311 import clock
from open311.commands import app_session, app_settings
from open311.domain import jurisdictions, monthly_report
from open311.wire import monthly_report as page


@click.command("report")
@click.option(
    "--month",
    help="The month, YYYY-MM (default: the last month over, in the city's time zone).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(page.FORMATS),
    default="pdf",
    show_default=True,
    help="PDF pages to print, or one self-contained HTML page.",
)
@click.option(
    "--jurisdiction",
    "jurisdiction_id",
    help="The city's jurisdiction_id (default: the server's default city).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Where to write it; - for standard output (default: report-<city>-<month>.<format>).",
)
@with_appcontext
def report(
    month: str | None, output_format: str, jurisdiction_id: str | None, output: Path | None
) -> None:
    """Write the monthly report of one city: requests opened and closed against the month
    before, on time, backlog and its age, the call centre's figures, the top hotspots, each
    with its chart. Reads only."""
    settings = app_settings()
    now = clock.now()
    with app_session() as session:
        jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
        if month is None:
            local_today = now.astimezone(ZoneInfo(jurisdiction.time_zone)).date()
            first = (local_today.replace(day=1) - timedelta(days=1)).replace(day=1)
        else:
            first = monthly_report.parse_month(month)
        figures = monthly_report.build(
            session, jurisdiction, first, now=now, service_level_s=settings.service_level_s
        )
        session.rollback()
    body = page.render_pdf(figures) if output_format == "pdf" else page.render_html(figures)
    if output is not None and str(output) == "-":
        click.echo(body, nl=False)
        return
    target = output or Path(f"report-{figures.jurisdiction_id}-{first:%Y-%m}.{output_format}")
    target.write_bytes(body)
    click.echo(f"{target}: {output_format}, {len(body):,} bytes, {figures.city}, {first:%Y-%m}")
