"""Statements of the per-recipient e-mail limit: how many e-mails went to one address lately.

The address is never stored anywhere new for this: it is matched against the requesters' own
rows (lower-cased), and the lock that makes counting and sending one at a time is keyed by a
hash of it, computed in PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from open311.db.models import Delivery, OutboxEvent, Requester
from open311.values import DeliveryChannel, DeliveryState

# The first key of the transaction-level advisory lock (RECIPIENT_LOCK, hash of the address)
# taken while an e-mail to that address is counted and leased (outbox_queries: 311_009 is the
# lanes').
RECIPIENT_LOCK = 311_012


def lock_recipient(session: Session, address: str) -> None:
    """Hold, until this transaction ends, the lock of e-mails to `address` (case-insensitive):
    two workers counting for one address count one after the other, each seeing the other's
    committed lease."""
    session.execute(
        select(func.pg_advisory_xact_lock(RECIPIENT_LOCK, func.hashtext(func.lower(address))))
    )


def count_emails_to(
    session: Session, address: str, *, since: datetime, now: datetime, besides: int
) -> int:
    """E-mails to `address` (case-insensitive, whichever request they were about) delivered
    after `since`, or being sent now (leased beyond `now`), delivery `besides` left out."""
    statement = (
        select(func.count())
        .select_from(Delivery)
        .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
        .join(Requester, Requester.service_request_pk == OutboxEvent.service_request_pk)
        .where(
            Delivery.channel == DeliveryChannel.email,
            Delivery.id != besides,
            func.lower(Requester.email) == func.lower(address),
            or_(
                and_(Delivery.state == DeliveryState.delivered, Delivery.delivered_at > since),
                Delivery.leased_until > now,
            ),
        )
    )
    return session.scalar(statement) or 0
