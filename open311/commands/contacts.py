"""`open311 contacts import FILE`: a phone system's call-detail records (CSV) as contacts, so
the call statistics can come from the real switch (domain/contact_import.py)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask.cli import AppGroup

from open311.commands import app_session


@click.group("contacts", cls=AppGroup)
def contacts_group() -> None:
    """Contacts: every call, chat, TTY call, walk-in and e-mail the centre takes."""


@contacts_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jurisdiction", "jurisdiction_id", metavar="ID", help="Default: the default one.")
def contacts_import(file: Path, jurisdiction_id: str | None) -> None:
    """Load FILE, a CSV of call-detail records (columns in the README), into the city's
    contacts. A call is known by its call_id: new ones are added, changed ones updated, the
    same ones left alone. All or nothing: every problem is listed by line."""
    from open311 import clock
    from open311.domain import audit, contact_import, jurisdictions
    from open311.errors import InvalidInput

    started = time.monotonic()
    with app_session() as session:
        city = jurisdictions.resolve(session, jurisdiction_id)
        try:
            # utf-8-sig: spreadsheet programs write a byte order mark.
            with file.open(encoding="utf-8-sig", newline="") as lines:
                report = contact_import.import_calls(session, city, lines, now=clock.now())
        except UnicodeDecodeError as error:
            session.rollback()
            message = f"{file}: nothing imported: not UTF-8 ({error.reason})"
            raise click.ClickException(message) from None
        except InvalidInput as error:
            session.rollback()
            lines_ = "\n".join(f"  {problem}" for problem in error.problems)
            raise click.ClickException(f"{file}: nothing imported:\n{lines_}") from None
        call = audit.Call(
            "system:contacts-import",
            "RUN",
            "contacts import",
            f"contacts import {file.name}",
            (),
            report.counts(),
        )
        audit.record(session, call, now=clock.now())
        session.commit()
    seconds = time.monotonic() - started
    click.echo(
        f"imported into {city.jurisdiction_id}: {report.rows:,} rows, {report.inserted:,} new, "
        f"{report.updated:,} updated, {report.unchanged:,} unchanged ({seconds:.1f} s)"
    )
