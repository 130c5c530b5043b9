"""Contacts (calls, chats, walk-ins, e-mails) in the database: the list staff read, the rows an
import of call-detail records upserts, and the caller numbers privacy clears."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, selectinload

from open311.db.models import (
    Article,
    ArticleAnswer,
    Contact,
    ServiceRequest,
    StaffUser,
    contact_request,
    staff_user_jurisdiction,
)
from open311.values import ContactChannel, ContactOutcome

# The columns an import writes; a changed one updates the stored call (the switch corrected it).
IMPORTED = (
    "channel",
    "language",
    "interpreter",
    "queued_at",
    "answered_at",
    "ended_at",
    "hold_seconds",
    "abandoned",
    "staff_user_id",
    "outcome",
    "transfer_agency",
    "caller_number",
)
# Numbers are compared on their last 10 digits: "+1 (213) 555-0199" is 2135550199 as a switch
# logs it; shorter numbers (extensions, short codes) never match anyone.
MATCHED_DIGITS = 10


@dataclass(frozen=True)
class ContactFilter:
    """What the staff list of contacts is narrowed by; None means any."""

    channel: ContactChannel | None = None
    outcome: ContactOutcome | None = None
    staff_user_id: int | None = None
    abandoned: bool | None = None
    start: datetime | None = None  # queued at or after
    end: datetime | None = None  # queued before


def get_contact(session: Session, contact_id: int, *, for_update: bool = False) -> Contact | None:
    query = select(Contact).where(Contact.id == contact_id)
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def find_contacts(
    session: Session,
    jurisdiction_pks: Iterable[int],
    where: ContactFilter,
    *,
    limit: int,
    offset: int,
) -> Sequence[Contact]:
    """The contacts of these cities matching `where`, newest first (queued_at, then id)."""
    query = select(Contact).where(Contact.jurisdiction_id.in_(list(jurisdiction_pks)))
    if where.channel is not None:
        query = query.where(Contact.channel == where.channel)
    if where.outcome is not None:
        query = query.where(Contact.outcome == where.outcome)
    if where.staff_user_id is not None:
        query = query.where(Contact.staff_user_id == where.staff_user_id)
    if where.abandoned is not None:
        query = query.where(Contact.abandoned.is_(where.abandoned))
    if where.start is not None:
        query = query.where(Contact.queued_at >= where.start)
    if where.end is not None:
        query = query.where(Contact.queued_at < where.end)
    query = query.order_by(Contact.queued_at.desc(), Contact.id.desc()).limit(limit).offset(offset)
    return session.scalars(query.options(selectinload(Contact.requests))).all()


def add_contact(session: Session, contact: Contact) -> Contact:
    session.add(contact)
    session.flush()
    return contact


def articles_of(session: Session, contact_ids: Sequence[int]) -> dict[int, list[str]]:
    """The article_ids that answered each of these contacts, by contact id."""
    if not contact_ids:
        return {}
    rows = session.execute(
        select(ArticleAnswer.contact_id, Article.article_id)
        .join(Article, Article.id == ArticleAnswer.article_pk)
        .where(ArticleAnswer.contact_id.in_(contact_ids))
        .order_by(ArticleAnswer.id)
    ).all()
    found: dict[int, list[str]] = {}
    for contact_id, article_id in rows:
        found.setdefault(contact_id, []).append(article_id)
    return found


def usernames_by_id(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """The usernames of these staff users, by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(wanted)))
    return dict(rows.all())


def staff_user_ids_of_city(session: Session, jurisdiction_pk: int) -> dict[str, int]:
    """The ids of the staff users working for this city, by username in lower case (an
    import's agent column)."""
    rows = session.execute(
        select(func.lower(StaffUser.username), StaffUser.id)
        .join(staff_user_jurisdiction, staff_user_jurisdiction.c.staff_user_id == StaffUser.id)
        .where(staff_user_jurisdiction.c.jurisdiction_id == jurisdiction_pk)
    ).all()
    return dict(rows)


def requests_by_public_id(
    session: Session, jurisdiction_pk: int, public_ids: Iterable[str]
) -> dict[str, int]:
    """The primary keys of this city's requests with these public ids (unknown ones absent)."""
    wanted = sorted(set(public_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(ServiceRequest.service_request_id, ServiceRequest.id).where(
            ServiceRequest.jurisdiction_id == jurisdiction_pk,
            ServiceRequest.service_request_id.in_(wanted),
        )
    ).all()
    return dict(rows)


@dataclass(frozen=True)
class Upserted:
    inserted: int
    updated: int


def upsert_calls(
    session: Session,
    rows: Sequence[dict[str, Any]],
    links: dict[str, list[int]],
) -> Upserted:
    """Store imported calls by (city, external_id) in one statement: new ones inserted, ones
    whose imported columns changed updated, identical ones left alone (not counted). `links`
    maps an external_id to the requests it led to; links are added, never removed."""
    if not rows:
        return Upserted(0, 0)
    # One statement compiled once and run over the rows (SQLAlchemy's insertmanyvalues batches
    # them), not a fresh VALUES list of thousands of parameters per batch.
    statement = insert(Contact)
    excluded = statement.excluded
    changed = or_(*(getattr(Contact, name).is_distinct_from(excluded[name]) for name in IMPORTED))
    statement = statement.on_conflict_do_update(
        index_elements=["jurisdiction_id", "external_id"],
        index_where=text("external_id IS NOT NULL"),
        set_={name: excluded[name] for name in IMPORTED},
        where=changed,
    ).returning(Contact.external_id, literal_column("xmax = 0").label("inserted"))
    returned = session.execute(statement, list(rows)).all()
    inserted = sum(1 for _external_id, fresh in returned if fresh)
    if links:
        jurisdiction_pk = rows[0]["jurisdiction_id"]
        ids = dict(
            session.execute(
                select(Contact.external_id, Contact.id).where(
                    Contact.jurisdiction_id == jurisdiction_pk,
                    Contact.external_id.in_(list(links)),
                )
            ).all()
        )
        pairs = [
            {"contact_id": ids[external_id], "service_request_pk": pk}
            for external_id, pks in links.items()
            for pk in pks
        ]
        if pairs:
            session.execute(insert(contact_request).values(pairs).on_conflict_do_nothing())
    return Upserted(inserted, len(returned) - inserted)


# --- privacy: the caller's number -----------------------------------------------------------------


def _digits(column: Any) -> ColumnElement[str]:
    return func.right(func.regexp_replace(column, r"\D", "", "g"), MATCHED_DIGITS)


def number_key(number: str | None) -> str | None:
    """The digits a caller number is matched on, or None when it is too short to be anyone's."""
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    return digits[-MATCHED_DIGITS:] if len(digits) >= MATCHED_DIGITS else None


def find_contacts_of(
    session: Session, *, numbers: Iterable[str], request_pks: Iterable[int]
) -> Sequence[Contact]:
    """Contacts holding a caller number that is one of `numbers` (on their last 10 digits) or
    that led to one of these requests: a person's calls. Locked for an erasure."""
    keys = sorted({key for key in map(number_key, numbers) if key})
    pks = sorted(set(request_pks))
    arms: list[ColumnElement[bool]] = []
    if keys:
        arms.append(_digits(Contact.caller_number).in_(keys))
    if pks:
        linked = select(contact_request.c.contact_id).where(
            contact_request.c.service_request_pk.in_(pks)
        )
        arms.append(Contact.id.in_(linked))
    if not arms:
        return []
    return session.scalars(
        select(Contact)
        .where(Contact.caller_number.isnot(None), or_(*arms))
        .order_by(Contact.queued_at, Contact.id)
        .with_for_update(of=Contact)
    ).all()


def clear_caller_numbers(session: Session, ids: Sequence[int]) -> int:
    """Empty the caller number of these contacts (the contacts stay: they are the statistics)."""
    if not ids:
        return 0
    result = session.execute(
        update(Contact)
        .where(Contact.id.in_(ids))
        .values(caller_number=None)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0


def find_expired_contacts(
    session: Session, *, queued_before: datetime, after_id: int, limit: int
) -> Sequence[int]:
    """Ids of contacts still holding a caller number, queued before `queued_before`, in id
    order after `after_id`; locked, skipping rows another run holds."""
    return session.scalars(
        select(Contact.id)
        .where(
            and_(
                Contact.caller_number.isnot(None),
                Contact.queued_at < queued_before,
                Contact.id > after_id,
            )
        )
        .order_by(Contact.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()


def unlink_requests(session: Session, contact_id: int) -> None:
    session.execute(delete(contact_request).where(contact_request.c.contact_id == contact_id))
