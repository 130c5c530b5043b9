"""Selects of single requests and their activity log (lists of requests: search_queries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    any_,
    bindparam,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session, selectinload

from open311.db.models import (
    Activity,
    Jurisdiction,
    Service,
    ServiceRequest,
)
from open311.values import ServiceType


def of_published_service(service_id: ColumnElement[int]) -> ColumnElement[bool]:
    """The public reads' condition (domain/publication.py): the request's service is not
    blackbox. NOT IN of a subquery, like search_queries' own: a filter on the scan the other
    conditions chose, never a join that would change it."""
    return service_id.not_in(select(Service.id).where(Service.type == ServiceType.blackbox))


def get_request_by_token(
    session: Session, jurisdiction: Jurisdiction, token: str
) -> ServiceRequest | None:
    return session.scalar(
        select(ServiceRequest).where(
            ServiceRequest.jurisdiction_id == jurisdiction.id, ServiceRequest.token == token
        )
    )


def get_request(
    session: Session, jurisdiction: Jurisdiction, service_request_id: str
) -> ServiceRequest | None:
    return session.scalar(
        select(ServiceRequest)
        .where(
            ServiceRequest.jurisdiction_id == jurisdiction.id,
            ServiceRequest.service_request_id == service_request_id,
        )
        .options(selectinload(ServiceRequest.service))
    )


def find_existing_request_ids(session: Session, candidates: list[str]) -> set[str]:
    # One array parameter rather than tens of thousands of IN-list binds.
    ids = bindparam("ids", candidates, type_=ARRAY(String))
    query = select(ServiceRequest.service_request_id).where(
        ServiceRequest.service_request_id == any_(ids)
    )
    return set(session.scalars(query))


def insert_history(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert imported requests (column values by name), skipping ids already stored; how many
    were new. A list of parameter sets makes this an executemany, which SQLAlchemy sends as
    multi-row INSERT ... VALUES pages on the session's own connection and transaction."""
    if not rows:
        return 0
    table = ServiceRequest.__table__
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.service_request_id])
        .returning(table.c.id)
    )
    return len(session.execute(statement, rows).all())


def find_activity(session: Session, request: ServiceRequest) -> Sequence[Activity]:
    return session.scalars(
        select(Activity)
        .where(Activity.service_request_pk == request.id)
        .order_by(Activity.at, Activity.id)
    ).all()


def latest_public_status(session: Session, request_pk: int) -> str | None:
    """The update status of the request's latest public activity entry, if any."""
    return session.scalar(
        select(Activity.status)
        .where(Activity.service_request_pk == request_pk, Activity.public)
        .order_by(Activity.at.desc(), Activity.id.desc())
        .limit(1)
    )


def get_request_by_public_id(session: Session, service_request_id: str) -> ServiceRequest | None:
    """A request by its public id, which is unique across jurisdictions (staff and app updates
    name requests this way), with its service and the request it may duplicate."""
    return session.scalar(
        select(ServiceRequest)
        .where(ServiceRequest.service_request_id == service_request_id)
        .options(selectinload(ServiceRequest.service), selectinload(ServiceRequest.duplicate_of))
    )
