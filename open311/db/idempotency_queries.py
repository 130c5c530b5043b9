"""Statements of Idempotency-Key rows: claim a key, read what it answered, store that answer,
purge the expired ones.

The unique index on (api_client_id, key) is what makes concurrent retries safe: a second INSERT
of a key another transaction has inserted but not committed waits for that transaction to end,
then conflicts (it committed) or goes in (it rolled back).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from open311.db.models import IdempotencyKey


def claim_key(
    session: Session,
    *,
    api_client_id: int,
    key: str,
    fingerprint: str,
    now: datetime,
    expired_before: datetime,
) -> int | None:
    """Insert the key's row (created_at = now, no answer yet) and return its id; None when a
    live row holds the key already. A row created before `expired_before`, or one without an
    answer (never left committed by the API, which stores the answer in the transaction that
    claims the key), is taken over as if it were new: its fingerprint, time and answer reset.

    Waits while another transaction holds the key (the unique index, or the row lock that
    ON CONFLICT DO UPDATE takes), so of two concurrent claims exactly one returns an id."""
    statement = insert(IdempotencyKey).values(
        api_client_id=api_client_id, key=key, fingerprint=fingerprint, created_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[IdempotencyKey.api_client_id, IdempotencyKey.key],
        set_={
            "fingerprint": statement.excluded.fingerprint,
            "created_at": statement.excluded.created_at,
            "status_code": None,
            "content_type": None,
            "body": None,
            "service_request_pk": None,
        },
        where=or_(IdempotencyKey.created_at < expired_before, IdempotencyKey.status_code.is_(None)),
    ).returning(IdempotencyKey.id)
    return session.scalar(statement)


def get_key(session: Session, api_client_id: int, key: str) -> IdempotencyKey | None:
    """The committed row of a key (after claim_key found it held)."""
    return session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.api_client_id == api_client_id, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    )


def store_answer(
    session: Session,
    key_id: int,
    *,
    status_code: int,
    content_type: str,
    body: bytes,
    service_request_pk: int | None,
) -> None:
    """Record the answer a claimed key gave, for its retries to get again."""
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == key_id)
        .values(
            status_code=status_code,
            content_type=content_type,
            body=body,
            service_request_pk=service_request_pk,
        )
        .execution_options(synchronize_session=False)
    )


def purge_expired(session: Session, *, expired_before: datetime, limit: int) -> int:
    """Delete up to `limit` rows created before `expired_before`, oldest first, along the
    created_at index; rows another transaction has locked (one taking an expired key over, a
    concurrent purge) are skipped, never waited for. Returns how many went."""
    doomed = (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.created_at < expired_before)
        .order_by(IdempotencyKey.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.id.in_(doomed))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
