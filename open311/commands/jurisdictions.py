"""`open311 jurisdiction`: the cities this server serves."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from open311.commands import app_session


@click.group("jurisdiction", cls=AppGroup)
def jurisdiction_group() -> None:
    """The cities this server serves, each with its own catalogue, layers and staff."""


@jurisdiction_group.command("create")
@click.argument("jurisdiction_id")
@click.option("--name", required=True, help="The city's name.")
@click.option("--timezone", "time_zone", required=True, help="IANA zone, e.g. America/New_York.")
@click.option(
    "--service-area",
    "service_area",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A boundary file (GeoJSON, Shapefile, ...) of where requests are taken.",
)
@click.option("--public-url", help="Discovery's endpoint URL for it (default: OPEN311_PUBLIC_URL).")
@click.option("--contact", help="Discovery's contact for it (default: OPEN311_CONTACT).")
@click.option(
    "--default",
    "default",
    is_flag=True,
    help="Make it the default: the city GeoReport calls without jurisdiction_id mean.",
)
@click.option("--locales", help="The languages it serves, BCP 47, comma-separated: en,es,vi.")
@click.option(
    "--default-locale",
    help="The language its catalogue is written in (default: the first of --locales, else en).",
)
def jurisdiction_create(
    jurisdiction_id: str,
    name: str,
    time_zone: str,
    service_area: Path | None,
    public_url: str | None,
    contact: str | None,
    default: bool,
    locales: str | None,
    default_locale: str | None,
) -> None:
    """Create the jurisdiction JURISDICTION_ID (its web domain, e.g. nyc.gov)."""
    from open311.domain import districts, jurisdictions, translations
    from open311.geodata.reader import BoundaryFileError, read_area

    polygons = []
    if service_area is not None:
        try:
            polygons = read_area(service_area).polygons
        except BoundaryFileError as exc:
            raise click.ClickException(str(exc)) from None
    with app_session() as session:
        created = jurisdictions.create(
            session,
            jurisdiction_id,
            name=name,
            time_zone=time_zone,
            default=default,
            public_url=public_url,
            contact=contact,
        )
        tags = _tags(locales)
        default_locale = translations.new_city_default(tags, default_locale)
        translations.set_locales(session, created, tags, default_locale)
        if polygons:
            districts.set_service_area(session, created, polygons)
        session.commit()
        flag = " (default)" if created.is_default else ""
        click.echo(f"created jurisdiction {created.jurisdiction_id}: {created.name}{flag}")


@jurisdiction_group.command("default")
@click.argument("jurisdiction_id")
def jurisdiction_default(jurisdiction_id: str) -> None:
    """Make JURISDICTION_ID the one GeoReport calls without jurisdiction_id mean."""
    from open311.domain import jurisdictions

    with app_session() as session:
        jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
        jurisdictions.make_default(session, jurisdiction)
        session.commit()
    click.echo(f"default jurisdiction: {jurisdiction_id}")


@jurisdiction_group.command("locales")
@click.argument("jurisdiction_id")
@click.option("--locales", help="The languages it serves, BCP 47, comma-separated: en,es,vi.")
@click.option("--default-locale", help="The language its catalogue is written in.")
def jurisdiction_locales(
    jurisdiction_id: str, locales: str | None, default_locale: str | None
) -> None:
    """Show JURISDICTION_ID's languages, or change them (the default among the locales)."""
    from open311.domain import jurisdictions, translations

    with app_session() as session:
        jurisdiction = jurisdictions.resolve(session, jurisdiction_id)
        translations.set_locales(session, jurisdiction, _tags(locales), default_locale)
        session.commit()
        shown = ", ".join(jurisdiction.locales)
        click.echo(f"{jurisdiction_id}: {shown} (default {jurisdiction.default_locale})")


def _tags(listed: str | None) -> list[str] | None:
    """`en, es` as ['en', 'es']; None when the option was not given."""
    if listed is None:
        return None
    return [tag.strip() for tag in listed.split(",") if tag.strip()]


@jurisdiction_group.command("list")
def jurisdiction_list() -> None:
    """Every jurisdiction: id, time zone, name; the default one marked with *."""
    from open311.domain import jurisdictions

    with app_session() as session:
        for found in jurisdictions.find_all(session):
            mark = "*" if found.is_default else " "
            click.echo(f"{mark} {found.jurisdiction_id}\t{found.time_zone}\t{found.name}")
