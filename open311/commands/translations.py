"""`open311 translations`: a city's public texts in another language, out to a PO or XLIFF file
for translators and back in (the staff API's GET .po/.xlf and POST, from a shell)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from open311.commands import app_session

FORMATS = {"po": "po", "xliff": "xlf"}


@click.group("translations", cls=AppGroup)
def translations_group() -> None:
    """A city's service names, questions, answers and notes in its other languages."""


@translations_group.command("export")
@click.option("--locale", required=True, help="One of the city's languages, e.g. es.")
@click.option(
    "--format", "file_format", type=click.Choice(list(FORMATS)), default="po", show_default=True
)
@click.option("--jurisdiction", "jurisdiction_id", help="The city (default: the default one).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (default: standard output).",
)
def translations_export(
    locale: str, file_format: str, jurisdiction_id: str | None, output: Path | None
) -> None:
    """Write every public text of the city with its translation into LOCALE (empty where
    there is none) as a PO or XLIFF 1.2 file."""
    from open311 import clock
    from open311.domain import jurisdictions, translation_files

    with app_session() as session:
        city = jurisdictions.resolve(session, jurisdiction_id)
        data = translation_files.export_file(
            session, city, locale, FORMATS[file_format], now=clock.now()
        )
    if output is None:
        click.echo(data, nl=False)  # bytes: written as they are, UTF-8
    else:
        output.write_bytes(data)
        click.echo(f"wrote {output} ({len(data):,} bytes)", err=True)


@translations_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--locale", required=True, help="The language the file translates into, e.g. es.")
@click.option("--jurisdiction", "jurisdiction_id", help="The city (default: the default one).")
def translations_import(file: Path, locale: str, jurisdiction_id: str | None) -> None:
    """Store the translations of FILE, a PO file (.po) or XLIFF 1.2 (.xlf, .xliff, or any file
    starting with '<'), into LOCALE: all of them, or nothing and the problems listed."""
    from open311 import clock
    from open311.domain import jurisdictions, translation_files

    data = file.read_bytes()
    xliff = file.suffix.lower() in (".xlf", ".xliff") or data.lstrip()[:1] == b"<"
    kind = translation_files.XLIFF_TYPE if xliff else translation_files.PO_TYPE
    with app_session() as session:
        city = jurisdictions.resolve(session, jurisdiction_id)
        imported = translation_files.import_file(
            session, city, locale, data, kind, actor="cli", now=clock.now()
        )
        session.commit()
    click.echo(
        f"stored {len(imported.stored)} translations into {locale}; skipped "
        f"{imported.fuzzy} fuzzy and {imported.untranslated} untranslated"
    )
    for entry in imported.unused:
        click.echo(f"  not a text of the city now: [{entry.context}] {entry.source[:80]}")
