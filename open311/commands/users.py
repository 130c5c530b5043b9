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
