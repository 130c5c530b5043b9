"""Staff users and their bearer tokens for staff API tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from open311.db.models import Crew, StaffUser
from open311.domain import staff
from open311.values import StaffRole

PASSWORD = "correct horse battery"


def make_staff(
    session: Session,
    role: StaffRole | str,
    username: str | None = None,
    crews: Iterable[Crew] = (),
) -> tuple[StaffUser, str]:
    """A user of `role` and a live bearer token of theirs."""
    role = StaffRole(role)
    user = staff.create_user(
        session,
        username or role.value.replace("_", "-"),
        password=PASSWORD,
        role=role,
        crews=crews,
    )
    _token, plain = staff.issue_token(
        session, user, now=datetime.now(UTC), lifetime=timedelta(hours=1)
    )
    session.flush()
    return user, plain


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
