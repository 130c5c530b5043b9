"""Personal data: retention (emptied once a request has been closed long enough), erasure on a
person's request, and an export of what is held about them.

What is personal lives in two tables, `requester` and `update_author` (e-mail, names, phone,
account and device ids, language), and in one column, `contact.caller_number` (the number a call
came from: cleared by retention once the call is older than the retention period, and on
erasure for the person's numbers and the calls that led to their requests). Nothing else holds
it: the activity log, the audit, webhook payloads and e-mail deliveries never carry it (a
delivery names its template; the address is read from `requester` when the message is sent).
Two things come close and are dealt with here: photos of an app's update that staff never
published (deleted: only published photos are part of the public record), and an
Idempotency-Key's stored answer (it may repeat an account_id; deleted on erasure; it is kept a
day anyway).

Rows are emptied, not deleted: a request keeps its filer's row, so counts stay, and the public
record (the request, its public updates and photos) is untouched. Photo rows are deleted here;
their files are the caller's to delete with `remove_files` after it commits (a rollback must not
lose files rows still name; a crash in between leaves files `open311 media sweep` removes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from open311.db import contact_queries, request_queries
from open311.db import privacy_queries as db
from open311.db.models import Contact, Media, Requester, UpdateAuthor
from open311.domain import audit
from open311.errors import InvalidInput, NotFound
from open311.media.storage import MediaStore

RETENTION_ACTOR = "system:retention"
BATCH = 1000


@dataclass
class Outcome:
    """What a retention run or an erasure did: counts for the audit, files left to delete."""

    requesters: int = 0
    update_authors: int = 0
    photos: int = 0
    emails_cancelled: int = 0
    stored_answers: int = 0
    contacts: int = 0  # caller numbers cleared
    files: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "requesters": self.requesters,
            "update_authors": self.update_authors,
            "photos": self.photos,
            "emails_cancelled": self.emails_cancelled,
            "stored_answers": self.stored_answers,
            "contacts": self.contacts,
        }

    def add(self, other: Outcome) -> None:
        self.requesters += other.requesters
        self.update_authors += other.update_authors
        self.photos += other.photos
        self.emails_cancelled += other.emails_cancelled
        self.stored_answers += other.stored_answers
        self.contacts += other.contacts
        self.files += other.files


def _drop_photos(session: Session, photos: Iterable[Media]) -> tuple[int, list[str]]:
    files: list[str] = []
    count = 0
    for photo in photos:
        files += [photo.name, photo.thumbnail_name]
        session.delete(photo)
        count += 1
    session.flush()
    return count, files


def remove_files(store: MediaStore, names: Iterable[str]) -> None:
    """Delete photo files whose rows are gone; call after the commit that deleted the rows."""
    for name in names:
        store.delete(name)


# --- retention ---------------------------------------------------------------------------------


@dataclass
class RetentionCursor:
    """Where a retention run has got to in each table (keyset order), between its batches."""

    requester: int = 0
    update_author: int = 0
    photo: int = 0
    contact: int = 0
    done: bool = False


def closed_before(now: datetime, retention_days: int) -> datetime:
    """Requests closed before this moment have their personal data emptied."""
    return now - timedelta(days=retention_days)


def retain_batch(
    session: Session,
    cursor: RetentionCursor,
    *,
    retention_days: int,
    now: datetime,
    limit: int = BATCH,
) -> Outcome:
    """One batch of retention: up to `limit` requesters, update authors and unpublished update
    photos of requests closed (and unchanged since) more than `retention_days` ago are emptied
    or deleted, and the caller numbers of up to `limit` contacts queued that long ago cleared;
    `cursor` moves on, and says `done` when nothing is left. The caller commits after each batch
    (short transactions on a big table) and deletes the files.

    Idempotent: emptied rows leave the partial indexes the queries read, so a second run finds
    nothing. Rows another run has locked are skipped (two runs at once share the work)."""
    before = closed_before(now, retention_days)
    outcome = Outcome()
    requesters = db.find_expired_requesters(
        session, closed_before=before, after_id=cursor.requester, limit=limit
    )
    authors = db.find_expired_update_authors(
        session, closed_before=before, after_id=cursor.update_author, limit=limit
    )
    photos = db.find_expired_unpublished_photos(
        session, closed_before=before, after_id=cursor.photo, limit=limit
    )
    contacts = contact_queries.find_expired_contacts(
        session, queued_before=before, after_id=cursor.contact, limit=limit
    )
    outcome.contacts = contact_queries.clear_caller_numbers(session, contacts)
    if contacts:
        cursor.contact = contacts[-1]
    outcome.requesters = db.empty_requesters(session, [row.id for row in requesters])
    outcome.update_authors = db.empty_update_authors(session, [row.id for row in authors])
    if requesters:
        cursor.requester = requesters[-1].id
    if authors:
        cursor.update_author = authors[-1].id
    if photos:
        cursor.photo = photos[-1].id
    outcome.photos, outcome.files = _drop_photos(session, photos)
    cursor.done = max(len(requesters), len(authors), len(photos), len(contacts)) < limit
    return outcome


def record_retention(
    session: Session, outcome: Outcome, *, retention_days: int, now: datetime
) -> None:
    """The one audit entry of a retention run, with its counts."""
    audit.record(
        session,
        audit.Call(
            RETENTION_ACTOR,
            "RUN",
            "privacy retain",
            f"privacy retain --days {retention_days}",
            (),
            outcome.counts(),
        ),
        now=now,
    )


# --- one person ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """The rows that hold one person's details."""

    requesters: list[Requester]
    authors: list[UpdateAuthor]
    # Calls from the person's numbers, or that led to their requests, still holding a number.
    contacts: list[Contact] = field(default_factory=list)


def find_person(
    session: Session,
    *,
    email: str | None = None,
    service_request_id: str | None = None,
    phone: str | None = None,
) -> Held:
    """The person with this e-mail address (any case), or who filed this request, or with
    this phone number (its last 10 digits: someone who only ever phoned): every requester and
    update-author row with their address or number (the request's requester alone when it gave
    no address), and their calls. Exactly one of the three is needed."""
    if sum(1 for given in (email, service_request_id, phone) if given) != 1:
        raise InvalidInput("give either email, phone or service_request_id")
    if phone:
        key = contact_queries.number_key(phone)
        if key is None:
            raise InvalidInput("phone: at least 10 digits")
        requesters = list(db.find_requesters(session, phone_key=key))
        authors = list(db.find_update_authors(session, phone_key=key))
        calls = contact_queries.find_contacts_of(
            session, numbers=[phone], request_pks=[row.service_request_pk for row in requesters]
        )
        return Held(requesters, authors, list(calls))
    request_pk = None
    if service_request_id:
        found = request_queries.get_request_by_public_id(session, service_request_id)
        if found is None:
            raise NotFound(f"service_request_id {service_request_id} not found")
        request_pk = found.id
        if found.requester is not None and found.requester.email:
            email = found.requester.email
    requesters = list(db.find_requesters(session, email=email, request_pk=request_pk))
    authors = list(db.find_update_authors(session, email=email)) if email else []
    numbers = [row.phone for row in [*requesters, *authors] if row.phone]
    calls = contact_queries.find_contacts_of(
        session, numbers=numbers, request_pks=[row.service_request_pk for row in requesters]
    )
    return Held(requesters, authors, list(calls))


def erase(session: Session, held: Held) -> Outcome:
    """Empty every row of `held`, delete the person's unpublished update photos, cancel the
    e-mails queued to them and forget the stored answers of their requests; flushes. The caller
    audits the counts (`Outcome.counts`, never the address), commits, then `remove_files`."""
    request_pks = sorted({row.service_request_pk for row in held.requesters})
    activity_ids = [row.activity_id for row in held.authors]
    outcome = Outcome()
    outcome.requesters = db.empty_requesters(session, [row.id for row in held.requesters])
    outcome.update_authors = db.empty_update_authors(session, [row.id for row in held.authors])
    outcome.photos, outcome.files = _drop_photos(
        session, db.find_unpublished_photos(session, activity_ids)
    )
    outcome.emails_cancelled = db.delete_queued_emails(session, request_pks)
    outcome.stored_answers = db.delete_stored_answers(session, request_pks)
    outcome.contacts = contact_queries.clear_caller_numbers(
        session, [row.id for row in held.contacts]
    )
    session.flush()
    return outcome


def _details(row: Requester | UpdateAuthor, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def export(session: Session, held: Held) -> dict[str, Any]:
    """What is held about the person, as JSON-ready values: each request they filed with the
    details they gave, each app update they posted, the names of their photos' files, and the
    calls (contacts) holding their number."""
    requests = db.find_held_requests(session, held.requesters)
    by_request = {row.service_request_pk: row for row in held.requesters}
    updates = db.find_authored_updates(session, held.authors)
    photos = db.find_photos(
        session, [request.id for request in requests], [row.activity_id for row in held.authors]
    )
    request_photos: dict[int, list[str]] = {}
    update_photos: dict[int, list[str]] = {}
    for photo in photos:
        if photo.activity_id is None:
            request_photos.setdefault(photo.service_request_pk, []).append(photo.name)
        else:
            update_photos.setdefault(photo.activity_id, []).append(photo.name)
    by_activity = {row.activity_id: row for row in held.authors}
    return {
        "requests": [
            {
                "service_request_id": request.service_request_id,
                "service_code": request.service.service_code,
                "status": str(request.status),
                "requested_datetime": request.requested_datetime.isoformat(),
                "description": request.description,
                "address": request.address,
                "channel": request.channel,
                "requester": _details(by_request[request.id], db.REQUESTER_FIELDS),
                "photos": request_photos.get(request.id, []),
            }
            for request in requests
        ],
        "updates": [
            {
                "service_request_id": public_id,
                "update_id": entry.id,
                "at": entry.at.isoformat(),
                "description": entry.details.get("description"),
                "author": _details(by_activity[entry.id], db.AUTHOR_FIELDS),
                "photos": update_photos.get(entry.id, []),
            }
            for entry, public_id in updates
        ],
        "contacts": [
            {
                "channel": str(call.channel),
                "queued_at": call.queued_at.isoformat(),
                "caller_number": call.caller_number,
                "outcome": str(call.outcome) if call.outcome is not None else None,
                "service_request_ids": sorted(r.service_request_id for r in call.requests),
            }
            for call in held.contacts
        ],
    }
