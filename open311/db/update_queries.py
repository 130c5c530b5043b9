"""Queries of request updates: the public feed, and the updates apps posted.

The feed is one statement per page: public activity entries in (at, id) order, read along the
partial index ix_activity_public_at (EXPLAIN checked in tests/api/test_updates.py), joined to
their request for its public id and jurisdiction. The jurisdiction is resolved inside the
statement, as db.request_search does: the one named, else the only one (NULL, so no rows,
when there are several); a page that finds nothing lets the caller say what was wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select, tuple_
from sqlalchemy.orm import Session, aliased

from open311.db.models import Activity, ApiClient, Jurisdiction, ServiceRequest, UpdateAuthor
from open311.db.request_queries import of_published_service
from open311.values import ActivityKind


@dataclass(frozen=True)
class FeedQuery:
    """One page of the feed: bounds on `at` (inclusive), the keyset position to continue
    after, and the page size."""

    jurisdiction_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    after: tuple[datetime, int] | None = None
    limit: int = 1000
    # Whether updates of blackbox services' requests are included (domain/publication.py).
    blackbox: bool = False
    # Kinds of public entries left out (domain/activity.AUTOMATIC_KINDS).
    hidden_kinds: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FeedRow:
    update_id: int
    service_request_id: str
    status: str
    at: datetime
    description: str
    media_url: Any  # details.media_url as stored: None, a string or a list


@dataclass(frozen=True)
class FeedPage:
    rows: list[FeedRow]
    more: bool


def _jurisdiction_pk(jurisdiction_id: str | None) -> Any:
    if jurisdiction_id:
        return (
            select(Jurisdiction.id)
            .where(Jurisdiction.jurisdiction_id == jurisdiction_id)
            .scalar_subquery()
        )
    # None named: the default one (flagged is_default, else the only one), as resolve says.
    flagged = select(Jurisdiction.id).where(Jurisdiction.is_default).limit(1).scalar_subquery()
    named = select(Jurisdiction.id).limit(2).subquery()
    only = select(case((func.count() == 1, func.min(named.c.id)))).scalar_subquery()
    return select(func.coalesce(flagged, only)).scalar_subquery()


def feed_statement(query: FeedQuery) -> Select:
    """The page's SELECT, one row more than the page to tell whether more follow."""
    statement = (
        select(
            Activity.id,
            ServiceRequest.service_request_id,
            Activity.status,
            Activity.at,
            Activity.summary,
            Activity.details["media_url"],
        )
        .join(ServiceRequest, ServiceRequest.id == Activity.service_request_pk)
        # Written as the index's own predicate, so the planner can use ix_activity_public_at.
        .where(Activity.public)
        .where(ServiceRequest.jurisdiction_id == _jurisdiction_pk(query.jurisdiction_id))
    )
    if not query.blackbox:
        statement = statement.where(of_published_service(ServiceRequest.service_id))
    if query.hidden_kinds:
        statement = statement.where(Activity.kind.not_in(sorted(query.hidden_kinds)))
    if query.start is not None:
        statement = statement.where(Activity.at >= query.start)
    if query.end is not None:
        statement = statement.where(Activity.at <= query.end)
    if query.after is not None:
        key, row_id = query.after
        statement = statement.where(tuple_(Activity.at, Activity.id) > tuple_(key, row_id))
    return statement.order_by(Activity.at, Activity.id).limit(query.limit + 1)


def find_feed_page(session: Session, query: FeedQuery) -> FeedPage:
    rows = [FeedRow(*row) for row in session.execute(feed_statement(query))]
    return FeedPage(rows=rows[: query.limit], more=len(rows) > query.limit)


# --- updates posted by apps ----------------------------------------------------------------------


def get_client_update(
    session: Session, api_client_id: int, client_update_id: str
) -> Activity | None:
    """The update a client already posted under its own update_id (the unique constraint)."""
    return session.scalar(
        select(Activity).where(
            Activity.api_client_id == api_client_id,
            Activity.client_update_id == client_update_id,
        )
    )


def get_app_update(session: Session, update_id: int, *, lock: bool = False) -> Activity | None:
    """An update posted by an app, by its server id; `lock` serialises publishing it."""
    statement = select(Activity).where(
        Activity.id == update_id, Activity.kind == ActivityKind.app_update
    )
    if lock:
        statement = statement.with_for_update(of=Activity)
    return session.scalar(statement)


def get_publication(session: Session, update: Activity) -> Activity | None:
    """The public entry that published `update`, if staff published it."""
    return session.scalar(
        select(Activity)
        .where(
            Activity.service_request_pk == update.service_request_pk,
            Activity.kind == ActivityKind.update_published,
            Activity.details["app_update_id"].as_integer() == update.id,
        )
        .limit(1)
    )


@dataclass(frozen=True)
class AppUpdateRow:
    update: Activity
    client_name: str | None
    author: UpdateAuthor | None
    published_id: int | None


def find_app_updates(session: Session, request: ServiceRequest) -> Sequence[AppUpdateRow]:
    """A request's app updates, oldest first, each with its client, author and publication."""
    published = aliased(Activity)
    rows = session.execute(
        select(Activity, ApiClient.name, UpdateAuthor, published.id)
        .outerjoin(ApiClient, ApiClient.id == Activity.api_client_id)
        .outerjoin(UpdateAuthor, UpdateAuthor.activity_id == Activity.id)
        .outerjoin(
            published,
            (published.service_request_pk == Activity.service_request_pk)
            & (published.kind == ActivityKind.update_published)
            & (published.details["app_update_id"].as_integer() == Activity.id),
        )
        .where(Activity.service_request_pk == request.id, Activity.kind == ActivityKind.app_update)
        .order_by(Activity.at, Activity.id)
    )
    return [AppUpdateRow(*row) for row in rows]
