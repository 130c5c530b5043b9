"""`open311 user`: staff users of the back office."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from open311.commands import app_session
from open311.values import StaffRole


@click.group("user", cls=AppGroup)
def user_group() -> None:
    """Staff users of the back office (the staff API under /api/v1)."""


@user_group.command("create")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice([role.value for role in StaffRole]),
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
    "--jurisdiction",
    "jurisdiction_ids",
    multiple=True,
    metavar="ID",
    help="A jurisdiction the user works for (repeatable; default: the default jurisdiction).",
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
    username: str,
    role: str,
    display_name: str | None,
    crews: tuple[str, ...],
    jurisdiction_ids: tuple[str, ...],
    password: str,
) -> None:
    """Create a staff user who signs in with POST /api/v1/login."""
    from open311.db import staff_queries
    from open311.domain import jurisdictions, staff
    from open311.errors import Open311Error

    with app_session() as session:
        cities = [jurisdictions.resolve(session, city) for city in dict.fromkeys(jurisdiction_ids)]
        if not cities:
            cities = staff.default_jurisdictions(session)
        if not cities and jurisdictions.find_all(session):
            raise click.ClickException(
                "several jurisdictions and none is the default: name the user's with --jurisdiction"
            )
        found = []
        for ref in crews:
            agency_code, _, crew_code = ref.partition("/")
            crew = next(
                (
                    crew
                    for city in cities
                    if (crew := staff_queries.get_crew(session, city, agency_code, crew_code))
                ),
                None,
            )
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
                jurisdictions=cities,
            )
        except Open311Error as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        of = ", ".join(city.jurisdiction_id for city in created.jurisdictions)
        click.echo(f"created {created.role.value} {created.username} of {of or 'no jurisdiction'}")
