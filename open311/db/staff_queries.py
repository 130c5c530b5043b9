"""Staff users, their tokens, crews and the audit of their changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    case,
    select,
    update,
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


def count_failed_login(
    session: Session, user_id: int, *, limit: int, now: datetime, locked_until: datetime
) -> tuple[int, datetime | None]:
    """One more wrong password for the user, counted in one UPDATE; the count and lock after it.

    failed_logins + 1 is computed by PostgreSQL under the row lock the UPDATE takes, so parallel
    wrong passwords each add one (a read in Python and a write back would lose all but one of
    them). When the count reaches `limit` the same statement sets `locked_until`, unless a lock
    is running already (guesses during a lockout are counted but do not prolong it). After a
    lockout has passed, the count starts again from this wrong password.
    """
    running = StaffUser.locked_until.is_not(None) & (StaffUser.locked_until > now)
    passed = StaffUser.locked_until.is_not(None) & (StaffUser.locked_until <= now)
    count = case((passed, 1), else_=StaffUser.failed_logins + 1)
    row = session.execute(
        update(StaffUser)
        .where(StaffUser.id == user_id)
        .values(
            failed_logins=count,
            locked_until=case(
                (running, StaffUser.locked_until),
                (count >= limit, locked_until),
                (passed, None),
                else_=StaffUser.locked_until,
            ),
        )
        .returning(StaffUser.failed_logins, StaffUser.locked_until)
        .execution_options(synchronize_session="fetch")
    ).one()
    return row[0], row[1]


def lock_staff_user(session: Session, user_id: int) -> StaffUser | None:
    """SELECT ... FOR UPDATE, reloading the row and its crews: a decision taken on it (a
    lockout, a crew member's crews) holds until the transaction ends."""
    return session.scalar(
        select(StaffUser)
        .where(StaffUser.id == user_id)
        .with_for_update(of=StaffUser)
        .options(selectinload(StaffUser.crews))
        .execution_options(populate_existing=True)
    )


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
    """The token with its user, the user's crews and cities, in one statement: every staff
    call starts here, and a round trip each for the crews and the cities cost more than the
    token's own lookup (the two collections multiply the rows, a user's few crews times their
    few cities, which `unique()` folds back)."""
    user = joinedload(StaffToken.user)
    return (
        session.scalars(
            select(StaffToken)
            .where(StaffToken.token_hash == token_hash)
            .options(
                user.joinedload(StaffUser.crews),
                user.joinedload(StaffUser.jurisdictions),
            )
        )
        .unique()
        .first()
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
