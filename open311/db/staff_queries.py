"""Staff users, their tokens, crews and the audit of their changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session, joinedload, selectinload

from open311.db.models import (
    Agency,
    AuditEntry,
    Crew,
    Jurisdiction,
    StaffToken,
    StaffUser,
)

# --- staff users and tokens ----------------------------------------------------------------------


def get_staff_user(session: Session, username: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def find_staff_users(session: Session) -> Sequence[StaffUser]:
    return session.scalars(
        select(StaffUser).options(selectinload(StaffUser.crews)).order_by(StaffUser.username)
    ).all()


def find_crews_by_id(session: Session, ids: Sequence[int]) -> Sequence[Crew]:
    if not ids:
        return []
    return session.scalars(select(Crew).where(Crew.id.in_(ids)).order_by(Crew.id)).all()


def get_crew(
    session: Session, jurisdiction: Jurisdiction, agency_code: str, crew_code: str
) -> Crew | None:
    return session.scalar(
        select(Crew)
        .join(Agency)
        .where(
            Agency.jurisdiction_id == jurisdiction.id,
            Agency.code == agency_code,
            Crew.code == crew_code,
        )
    )


def get_staff_token_by_hash(session: Session, token_hash: str) -> StaffToken | None:
    return session.scalar(
        select(StaffToken)
        .where(StaffToken.token_hash == token_hash)
        .options(joinedload(StaffToken.user).selectinload(StaffUser.crews))
    )


def find_live_staff_tokens(
    session: Session, staff_user_id: int, now: datetime
) -> Sequence[StaffToken]:
    return session.scalars(
        select(StaffToken).where(
            StaffToken.staff_user_id == staff_user_id,
            StaffToken.revoked_at.is_(None),
            StaffToken.expires_at > now,
        )
    ).all()


def find_audit_entries(
    session: Session,
    *,
    actor: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int,
) -> Sequence[AuditEntry]:
    statement = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if actor is not None:
        statement = statement.where(AuditEntry.actor == actor)
    if since is not None:
        statement = statement.where(AuditEntry.at >= since)
    if before_id is not None:
        statement = statement.where(AuditEntry.id < before_id)
    return session.scalars(statement.limit(limit)).all()
