"""Where a person's details are held: the rows retention and erasure empty, the photos and
e-mails they delete, and what an export shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from open311.db.models import (
    Activity,
    Delivery,
    IdempotencyKey,
    Media,
    OutboxEvent,
    Requester,
    ServiceRequest,
    UpdateAuthor,
)
from open311.values import ActivityKind, DeliveryChannel, DeliveryState, Status

AUTHOR_FIELDS = ("email", "first_name", "last_name", "phone", "account_id")
REQUESTER_FIELDS = (*AUTHOR_FIELDS, "device_id", "language")


def _held(model: type[Requester] | type[UpdateAuthor]) -> ColumnElement[bool]:
    # The predicate of ix_requester_personal / ix_update_author_personal, arm for arm, so the
    # planner reads the partial index.
    arms = [getattr(model, name).isnot(None) for name in AUTHOR_FIELDS]
    if model is Requester:
        arms.append(Requester.device_id.isnot(None))
    return or_(*arms)


def _same_address(column: ColumnElement[str | None], email: str) -> ColumnElement[bool]:
    return func.lower(column) == email.strip().lower()


def _same_number(column: ColumnElement[str | None], key: str) -> ColumnElement[bool]:
    """A phone number whose last 10 digits are `key` (contact_queries.number_key), however
    it was written. No index serves it: an erasure by number is rare, and reads the table."""
    return func.right(func.regexp_replace(column, r"\D", "", "g"), len(key)) == key


# --- retention: requests closed before a moment ------------------------------------------------


def find_expired_requesters(
    session: Session, *, closed_before: datetime, after_id: int, limit: int
) -> Sequence[Requester]:
    """Requesters still holding details, of requests closed (and unchanged since) before
    `closed_before`, in id order after `after_id`; locked, skipping rows another run holds."""
    return session.scalars(expired_requesters(closed_before, after_id, limit)).all()


def expired_requesters(closed_before: datetime, after_id: int, limit: int) -> Select:
    """find_expired_requesters' statement: it reads ix_requester_personal, so a daily run costs
    the rows still holding details, not the whole table (tests/db/test_privacy_cli.py)."""
    return (
        select(Requester)
        .join(ServiceRequest, ServiceRequest.id == Requester.service_request_pk)
        .where(
            _held(Requester),
            Requester.id > after_id,
            ServiceRequest.status == Status.closed,
            ServiceRequest.updated_datetime < closed_before,
        )
        .order_by(Requester.id)
        .limit(limit)
        .with_for_update(of=Requester, skip_locked=True)
    )


def find_expired_update_authors(
    session: Session, *, closed_before: datetime, after_id: int, limit: int
) -> Sequence[UpdateAuthor]:
    """Update authors still holding details, on requests closed before `closed_before`."""
    return session.scalars(
        select(UpdateAuthor)
        .join(Activity, Activity.id == UpdateAuthor.activity_id)
        .join(ServiceRequest, ServiceRequest.id == Activity.service_request_pk)
        .where(
            _held(UpdateAuthor),
            UpdateAuthor.id > after_id,
            ServiceRequest.status == Status.closed,
            ServiceRequest.updated_datetime < closed_before,
        )
        .order_by(UpdateAuthor.id)
        .limit(limit)
        .with_for_update(of=UpdateAuthor, skip_locked=True)
    ).all()


def _unpublished() -> ColumnElement[bool]:
    """A photo of an app's update that staff never published (a request's own photos are its
    media_url: public)."""
    published = aliased(Activity)
    return Media.activity_id.isnot(None) & ~exists().where(
        published.service_request_pk == Media.service_request_pk,
        published.kind == ActivityKind.update_published,
        published.details["app_update_id"].as_integer() == Media.activity_id,
    )


def find_expired_unpublished_photos(
    session: Session, *, closed_before: datetime, after_id: int, limit: int
) -> Sequence[Media]:
    """Unpublished update photos of requests closed before `closed_before`, in id order."""
    return session.scalars(
        select(Media)
        .join(ServiceRequest, ServiceRequest.id == Media.service_request_pk)
        .where(
            Media.activity_id.isnot(None),
            Media.id > after_id,
            ServiceRequest.status == Status.closed,
            ServiceRequest.updated_datetime < closed_before,
            _unpublished(),
        )
        .order_by(Media.id)
        .limit(limit)
        .with_for_update(of=Media, skip_locked=True)
    ).all()


# --- one person ----------------------------------------------------------------------------------


def find_requesters(
    session: Session,
    *,
    email: str | None = None,
    request_pk: int | None = None,
    phone_key: str | None = None,
) -> Sequence[Requester]:
    """Requesters with the address `email` (any case), or of the request `request_pk`, or
    with a phone number ending in the digits `phone_key`."""
    wanted = []
    if email:
        wanted.append(_same_address(Requester.email, email))
    if phone_key:
        wanted.append(_same_number(Requester.phone, phone_key))
    if request_pk is not None:
        wanted.append(Requester.service_request_pk == request_pk)
    if not wanted:
        return []
    return session.scalars(
        select(Requester).where(or_(*wanted)).order_by(Requester.id).with_for_update()
    ).all()


def find_update_authors(
    session: Session, *, email: str | None = None, phone_key: str | None = None
) -> Sequence[UpdateAuthor]:
    """Authors of app updates with the address `email` (any case), or with a phone number
    ending in the digits `phone_key`."""
    same = (
        _same_address(UpdateAuthor.email, email)
        if email
        else _same_number(UpdateAuthor.phone, phone_key or "")
    )
    return session.scalars(
        select(UpdateAuthor).where(same).order_by(UpdateAuthor.id).with_for_update()
    ).all()


def find_unpublished_photos(session: Session, activity_ids: Sequence[int]) -> Sequence[Media]:
    """The unpublished photos of these app updates."""
    if not activity_ids:
        return []
    return session.scalars(
        select(Media)
        .where(Media.activity_id.in_(activity_ids), _unpublished())
        .order_by(Media.id)
        .with_for_update(of=Media)
    ).all()


def delete_queued_emails(session: Session, request_pks: Sequence[int]) -> int:
    """Delete the e-mails to these requests' requesters not yet sent (waiting or parked);
    how many. Those sent stay: they hold the template's name, never the address."""
    if not request_pks:
        return 0
    events = select(OutboxEvent.id).where(OutboxEvent.service_request_pk.in_(request_pks))
    result = session.execute(
        delete(Delivery).where(
            Delivery.channel == DeliveryChannel.email,
            Delivery.state != DeliveryState.delivered,
            Delivery.event_id.in_(events),
        )
    )
    return result.rowcount or 0


def delete_stored_answers(session: Session, request_pks: Sequence[int]) -> int:
    """Forget the Idempotency-Key answers of these requests (an answer may repeat the filer's
    account_id); how many."""
    if not request_pks:
        return 0
    result = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.service_request_pk.in_(request_pks))
    )
    return result.rowcount or 0


def empty_requesters(session: Session, ids: Sequence[int]) -> int:
    """Empty these requesters' details (the rows stay: a request keeps its count of filers)."""
    return _empty(session, Requester, REQUESTER_FIELDS, ids)


def empty_update_authors(session: Session, ids: Sequence[int]) -> int:
    """Empty these update authors' details (the rows stay)."""
    return _empty(session, UpdateAuthor, AUTHOR_FIELDS, ids)


def _empty(session: Session, model: Any, fields: Sequence[str], ids: Sequence[int]) -> int:
    """Set `fields` of the rows with these ids to NULL; how many rows."""
    if not ids:
        return 0
    result = session.execute(
        update(model).where(model.id.in_(ids)).values(dict.fromkeys(fields)),
        execution_options={"synchronize_session": "fetch"},
    )
    return result.rowcount or 0


# --- an export -----------------------------------------------------------------------------------


def find_held_requests(
    session: Session, requesters: Sequence[Requester]
) -> Sequence[ServiceRequest]:
    """The requests these requesters filed, oldest first."""
    pks = [requester.service_request_pk for requester in requesters]
    if not pks:
        return []
    return session.scalars(
        select(ServiceRequest)
        .where(ServiceRequest.id.in_(pks))
        .order_by(ServiceRequest.requested_datetime, ServiceRequest.id)
    ).all()


def find_authored_updates(
    session: Session, authors: Sequence[UpdateAuthor]
) -> Sequence[tuple[Activity, str]]:
    """The app updates these authors posted, each with its request's public id."""
    ids = [author.activity_id for author in authors]
    if not ids:
        return []
    return session.execute(
        select(Activity, ServiceRequest.service_request_id)
        .join(ServiceRequest, ServiceRequest.id == Activity.service_request_pk)
        .where(Activity.id.in_(ids))
        .order_by(Activity.at, Activity.id)
    ).all()  # type: ignore[return-value]


def find_photos(
    session: Session, request_pks: Sequence[int], activity_ids: Sequence[int]
) -> Sequence[Media]:
    """Photos of these requests (their own) and of these app updates."""
    arms = []
    if request_pks:
        arms.append(Media.service_request_pk.in_(request_pks) & Media.activity_id.is_(None))
    if activity_ids:
        arms.append(Media.activity_id.in_(activity_ids))
    if not arms:
        return []
    return session.scalars(select(Media).where(or_(*arms)).order_by(Media.id)).all()
