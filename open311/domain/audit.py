"""The audit of staff changes: one entry per write through the staff API, in its transaction.

The staff API notes the call (`watch`) before the view runs; when the view commits, the entry is
written by a `before_commit` hook, so a change and its audit entry land together or not at all,
and a refused call (nothing committed) leaves none. Only the names of the fields sent are kept,
never their values: bodies carry passwords and callers' contact details. Reads of personal data
(a requester's contact, a privacy export) are noted the same way, and the views that make them
commit. Commands and scheduled jobs write theirs with `record`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

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
    # Counts the call reports (a privacy erasure's rows emptied, ...); never personal values.
    details: Mapping[str, int] = field(default_factory=dict)


def watch(session: Session, call: Call) -> None:
    """Write `call` to the audit when `session` next commits."""
    if not session.info.get(HOOKED):
        event.listen(session, "before_commit", _before_commit)
        event.listen(session, "after_transaction_end", _after_transaction_end)
        session.info[HOOKED] = True
    session.info[PENDING] = call


def add_details(session: Session, details: Mapping[str, int]) -> None:
    """Add counts to the entry `watch` will write for this transaction (nothing if none)."""
    call = session.info.get(PENDING)
    if call is not None:
        session.info[PENDING] = replace(call, details={**call.details, **details})


def record(session: Session, call: Call, *, now: datetime) -> AuditEntry:
    """Write `call` now, in the session's transaction: for work done outside the staff API
    (a command, a scheduled job), which the caller commits with the entry."""
    entry = _entry(call, now)
    session.add(entry)
    session.flush()
    return entry


def _entry(call: Call, at: datetime) -> AuditEntry:
    return AuditEntry(
        at=at,
        actor=call.actor[:255],
        method=call.method,
        route=call.route[:255],
        path=call.path[:1000],
        fields=sorted(call.fields)[:MAX_FIELDS],
        details=dict(call.details),
    )


def _before_commit(session: Session) -> None:
    call = session.info.pop(PENDING, None)
    if call is None:
        return
    session.add(_entry(call, clock.now()))
    session.flush()


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Rolled back without a commit: the change did not happen, nor does its entry.
    if transaction.parent is None:
        session.info.pop(PENDING, None)
