"""Request updates (FixMyStreet's extension, digest §8): the public feed's window and paging,
an app's posted update, and staff publishing one.

What an app posts is a citizen's comment: it is stored as an internal activity entry (the
author's contact apart, in update_author) and reaches citizens only when staff publish it, as
a new public entry. A status of REOPEN, or OPEN on a closed request, reopens the request at
once (workflow.reopen: a public `open` entry and a work order for the supervisors).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from open311 import clock
from open311.db import request_queries
from open311.db import update_queries as db
from open311.db.models import Activity, ApiClient, Jurisdiction, ServiceRequest, UpdateAuthor
from open311.db.session import settings_of
from open311.domain import activity, publication, workflow
from open311.domain.requests_window import MAX_RESULTS, as_utc, standard_window
from open311.errors import InvalidInput, NotFound, UnknownRequest
from open311.i18n import _
from open311.values import ActivityKind, DuplicateState, Status, UpdateStatus

# GET output, lower case (open311-adapter's list, digest §8.4); POST takes them upper-cased.
POST_STATUSES = tuple(status.upper() for status in UpdateStatus)
MAX_PAGE_SIZE = MAX_RESULTS
# The cursor's sort name (wire.cursor): the feed runs by updated_datetime ascending.
CURSOR_SORT = "updated_datetime"
# What a client may send to reopen a closed request.
REOPENING = ("REOPEN", "OPEN")
PERSONAL_FIELDS = ("first_name", "last_name", "email", "phone", "account_id")


# --- GET: the feed -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedPlan:
    """The page to read, and the window a next link must repeat (the standard query's
    default window, which the cursor alone would lift)."""

    query: db.FeedQuery
    window: tuple[datetime, datetime] | None


def plan_feed(
    session: Session,
    jurisdiction_id: str | None,
    *,
    start: datetime | None,
    end: datetime | None,
    page_size: int | None,
    cursor: tuple[str, Any, int] | None,
    now: datetime,
) -> FeedPlan:
    """GET requests' rules (domain.request_search): without paging, no dates mean the last 90
    days, one bound 90 days from or to it, a wider span is a 400; `page_size` or `cursor` lift
    the window (dates then bound it as given). At most 1000 a page, 1000 by default. Updates
    of requests the public reads leave out (domain/publication.py) are left out too, and so are
    the automatic entries of filing (activity.AUTOMATIC_KINDS) unless the settings keep them."""
    window = None
    if page_size is None and cursor is None:
        start, end = window = standard_window(start=start, end=end, now=now)
    else:
        start, end = as_utc(start), as_utc(end)
        if start is not None and end is not None and end < start:
            raise InvalidInput(_("end_date is earlier than start_date"))
    after = None
    if cursor is not None:
        sort, key, row_id = cursor
        if sort != CURSOR_SORT or not isinstance(key, datetime):
            raise InvalidInput(
                _("cursor: not a cursor of this feed; follow the Link header of the previous page")
            )
        after = (key, row_id)
    query = db.FeedQuery(
        jurisdiction_id=jurisdiction_id,
        start=start,
        end=end,
        after=after,
        limit=page_size or MAX_PAGE_SIZE,
        blackbox=publication.publishes_blackbox(session),
        hidden_kinds=(
            frozenset()
            if settings_of(session).publish_automatic_updates
            else frozenset(activity.AUTOMATIC_KINDS)
        ),
    )
    return FeedPlan(query=query, window=window)


def next_cursor(page: db.FeedPage) -> tuple[str, datetime, int] | None:
    if not page.more or not page.rows:
        return None
    last = page.rows[-1]
    return (CURSOR_SORT, last.at, last.update_id)


# --- POST: an app's update ---------------------------------------------------------------------


@dataclass(frozen=True)
class AppUpdate:
    """A POST servicerequestupdates body after its fields were parsed and typed."""

    service_request_id: str
    update_id: str
    status: str  # one of POST_STATUSES
    updated_datetime: datetime
    description: str = ""
    media_url: tuple[str, ...] = ()
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    account_id: str | None = None


def normalise_status(value: str) -> str:
    """A POST status, case-insensitive, as the upper-case word; 400 for any other."""
    word = value.strip().upper()
    if word not in POST_STATUSES:
        raise InvalidInput(
            _(
                "status: %(status)s is not one of %(statuses)s",
                status=repr(value[:40]),
                statuses=", ".join(POST_STATUSES),
            )
        )
    return word


def post_update(
    session: Session,
    jurisdiction: Jurisdiction,
    client: ApiClient,
    update: AppUpdate,
    *,
    now: datetime | None = None,
) -> Activity:
    """Store an app's update (idempotent per client and update_id) and reopen the request when
    it asks to; returns the stored entry, whose id is the server's update_id.

    A repeated update_id of the same client stores nothing and returns the first entry; reused
    for another request it is a 400. Nothing is written unless every check passed.
    """
    now = now or clock.now()
    request = request_queries.get_request(session, jurisdiction, update.service_request_id)
    # Apps know only the ids the public reads show: a request they leave out is not found.
    if request is None or not publication.is_published(session, request):
        raise UnknownRequest(_("service_request_id %(id)s not found", id=update.service_request_id))
    existing = db.get_client_update(session, client.id, update.update_id)
    if existing is not None:
        return _same_request(existing, request, update)
    # A merged duplicate is not worked any more: asking to reopen it reopens its parent.
    target = request
    if request.duplicate_state is DuplicateState.confirmed and request.duplicate_of is not None:
        target = request.duplicate_of
    reopening = update.status in REOPENING and target.status is Status.closed
    if reopening:
        # Locked and read again: of two reopen requests at once, the second finds it open.
        session.refresh(target, with_for_update=True)
        # REOPEN of a request already open again is a comment: nothing is left to reopen.
        reopening = target.status is Status.closed
    try:
        # A savepoint: two identical POSTs at once meet at the unique constraint, and the loser
        # answers with the winner's entry instead of an error.
        with session.begin_nested():
            entry = activity.record(
                session,
                request,
                actor=activity.client_actor(client.name),
                kind=ActivityKind.app_update,
                summary=f"Update {update.update_id} from {client.name}: {update.status}",
                details={
                    "description": update.description,
                    "client_status": update.status,
                    "client_updated_datetime": update.updated_datetime.isoformat(),
                    "media_url": list(update.media_url),
                },
                at=now,
            )
            entry.api_client_id = client.id
            entry.client_update_id = update.update_id
            session.flush()
    except IntegrityError:
        existing = db.get_client_update(session, client.id, update.update_id)
        if existing is None:
            raise
        return _same_request(existing, request, update)
    personal = {name: getattr(update, name) for name in PERSONAL_FIELDS}
    if any(personal.values()):
        session.add(UpdateAuthor(activity_id=entry.id, **personal))
    if reopening:
        workflow.reopen(
            session,
            target,
            actor=activity.client_actor(client.name),
            # Not the citizen's words: they are published only once staff moderate them.
            reason=_(
                "the requester reported the problem is not solved (via %(client)s)",
                client=client.name,
            ),
            now=now,
        )
    session.flush()
    return entry


def _same_request(existing: Activity, request: ServiceRequest, update: AppUpdate) -> Activity:
    if existing.service_request_pk != request.id:
        raise InvalidInput(
            _(
                "update_id %(id)s was already used for another service request",
                id=update.update_id,
            )
        )
    return existing


# --- staff: reading and publishing app updates ------------------------------------------------


def app_updates_of(session: Session, service_request_id: str) -> list[db.AppUpdateRow]:
    request = request_queries.get_request_by_public_id(session, service_request_id)
    if request is None:
        raise UnknownRequest(_("service_request_id %(id)s not found", id=service_request_id))
    return list(db.find_app_updates(session, request))


def publish(
    session: Session, update_id: int, *, text: str | None, actor: str, now: datetime
) -> tuple[Activity, ServiceRequest]:
    """Publish an app's update to citizens: a public entry with the request's current update
    status, the text (staff may edit it; by default the citizen's own) and its photos. The
    update is locked first, so it is published once even when two staff try at the same time;
    publishing it again is a 400."""
    update = db.get_app_update(session, update_id, lock=True)
    if update is None:
        raise NotFound(f"no app update {update_id}")
    if db.get_publication(session, update) is not None:
        raise InvalidInput(f"app update {update_id} is already published")
    words = (text if text is not None else update.details.get("description")) or ""
    media = update.details.get("media_url") or []
    if not words.strip() and not media:
        raise InvalidInput("text: the update has neither text nor photos; send a text")
    request = session.get(ServiceRequest, update.service_request_pk)
    assert request is not None  # a foreign key guarantees it
    request.updated_datetime = now
    entry = activity.record(
        session,
        request,
        actor=actor,
        kind=ActivityKind.update_published,
        summary=words,
        details={"app_update_id": update.id, "media_url": media},
        public=True,
        status=workflow.current_status(session, request),
        at=now,
    )
    session.flush()
    return entry, request
