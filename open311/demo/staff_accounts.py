"""The demo's staff accounts, one per role of the console's screens, for Los Angeles: what
`make run` prints so that /staff can be tried at once (README "Pages"). Never part of `open311
seed` itself: a city that seeds the demo to look at it gets no account it did not ask for."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from open311.db import staff_queries
from open311.db.models import Agency, Crew, Jurisdiction
from open311.domain import staff
from open311.values import CrewKind, StaffRole

CITY = "lacity.org"
# (username, role, display name); the crew member belongs to every field crew of the city, so
# whichever crew a request filed on the demo is routed to, its work order is on their board.
ACCOUNTS = (
    ("demo-desk", StaffRole.call_taker, "Demo call-taker"),
    ("demo-supervisor", StaffRole.supervisor, "Demo supervisor"),
    ("demo-crew", StaffRole.crew_member, "Demo crew member"),
)


def ensure_demo_staff(session: Session, password: str) -> list[str] | None:
    """Create the accounts that are missing (with `password`), leave the others alone; the
    usernames created, or None without the demo city (not seeded). Adds and flushes only; the
    caller commits."""
    city = session.scalars(select(Jurisdiction).where(Jurisdiction.jurisdiction_id == CITY)).first()
    if city is None:
        return None
    field_crews = session.scalars(
        select(Crew)
        .join(Agency)
        .where(Agency.jurisdiction_id == city.id, Crew.kind == CrewKind.field)
        .order_by(Crew.id)
    ).all()
    made = []
    for username, role, display_name in ACCOUNTS:
        if staff_queries.get_staff_user(session, username) is not None:
            continue
        staff.create_user(
            session,
            username,
            password=password,
            role=role,
            display_name=display_name,
            crews=field_crews if role == StaffRole.crew_member else (),
            jurisdictions=[city],
        )
        made.append(username)
    return made
