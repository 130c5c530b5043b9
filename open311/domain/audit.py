"""The audit of staff changes: one entry per write through the staff API, in its transaction.

The staff API notes the call (`watch`) before the view runs; when the view commits, the entry is
written by a `before_commit` hook, so a change and its audit entry land together or not at all,
and a refused call (nothing committed) leaves none. Only the names of the fields sent are kept,
never their values: bodies carry passwords and callers' contact details.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from open311 import clock
from open311.db.models import AuditEntry

PENDING = "open311.audit.pending"
HOOKED = "open311.audit.hooked"
MAX_FIELDS = 50


@dataclass(frozen=True)
class Call:
    actor: str
    method: str
    route: str
    path: str
    fields: tuple[str, ...]


def watch(session: Session, call: Call) -> None:
    """Write `call` to the audit when `session` next commits."""
    if not session.info.get(HOOKED):
        event.listen(session, "before_commit", _before_commit)
        event.listen(session, "after_transaction_end", _after_transaction_end)
        session.info[HOOKED] = True
    session.info[PENDING] = call


def _before_commit(session: Session) -> None:
    call = session.info.pop(PENDING, None)
    if call is None:
        return
    session.add(
        AuditEntry(
            at=clock.now(),
            actor=call.actor,
            method=call.method,
            route=call.route[:255],
            path=call.path[:1000],
            fields=sorted(call.fields)[:MAX_FIELDS],
        )
    )
    session.flush()


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Rolled back without a commit: the change did not happen, nor does its entry.
    if transaction.parent is None:
        session.info.pop(PENDING, None)
