"""`open311 kb`: a city's whole knowledge base in and out as one open311-kb/1 document (JSON
or YAML), as POST/GET /api/v1/knowledge-base do (domain/kb_exchange.py)."""

from __future__ import annotations

import getpass
from pathlib import Path

import click
from flask.cli import AppGroup

from open311.commands import app_session

FORMATS = ("yaml", "json")


@click.group("kb", cls=AppGroup)
def kb_group() -> None:
    """The knowledge base: articles in several languages, their topics."""


def _format_of(path: Path) -> str:
    return "json" if path.suffix.lower() == ".json" else "yaml"


@kb_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jurisdiction", "jurisdiction_id", metavar="ID", help="Default: the default one.")
@click.option(
    "--actor",
    help="Who the revisions name, as import:NAME (default: the user running the command).",
)
def kb_import(file: Path, jurisdiction_id: str | None, actor: str | None) -> None:
    """Load FILE (.json: JSON, else YAML) into the city's knowledge base: articles and topics
    matched by id are updated, new ones created; all or nothing, every problem listed."""
    from open311 import clock
    from open311.domain import audit, jurisdictions, kb_exchange
    from open311.errors import InvalidInput

    name = actor or _login_name()
    with app_session() as session:
        city = jurisdictions.resolve(session, jurisdiction_id)
        try:
            document = kb_exchange.parse(file.read_bytes(), _format_of(file))
            counts = kb_exchange.load(session, city, document, actor=name, now=clock.now())
        except InvalidInput as error:
            session.rollback()
            lines = "\n".join(f"  {problem}" for problem in error.problems)
            raise click.ClickException(f"{file}: nothing imported:\n{lines}") from None
        call = audit.Call(
            f"import:{name}", "RUN", "kb import", f"kb import {file.name}", (), counts
        )
        audit.record(session, call, now=clock.now())
        session.commit()
    summary = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items())
    click.echo(f"imported into {city.jurisdiction_id}: {summary}")


@kb_group.command("export")
@click.option("--jurisdiction", "jurisdiction_id", metavar="ID", help="Default: the default one.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Default: yaml.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (the format from its suffix unless --format); default: standard output.",
)
def kb_export(jurisdiction_id: str | None, fmt: str | None, output: Path | None) -> None:
    """Write every topic and article (all states) of the city as an open311-kb/1 document."""
    from open311.domain import jurisdictions, kb_exchange

    fmt = fmt or (_format_of(output) if output is not None else "yaml")
    with app_session() as session:
        city = jurisdictions.resolve(session, jurisdiction_id)
        text = kb_exchange.render(kb_exchange.dump(session, city), fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return "cli"
