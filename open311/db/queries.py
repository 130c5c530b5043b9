"""Every select() of the app lives here, so query shapes and their indexes are reviewed together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, selectinload

from open311.db.models import (
    ApiClient,
    Jurisdiction,
    Service,
    ServiceAttribute,
    ServiceRequest,
    Status,
)


def get_jurisdiction(session: Session, jurisdiction_id: str) -> Jurisdiction | None:
    return session.scalar(
        select(Jurisdiction).where(Jurisdiction.jurisdiction_id == jurisdiction_id)
    )


def find_jurisdictions(session: Session, limit: int = 2) -> Sequence[Jurisdiction]:
    return session.scalars(select(Jurisdiction).order_by(Jurisdiction.id).limit(limit)).all()


def find_services(session: Session, jurisdiction: Jurisdiction) -> Sequence[Service]:
    return session.scalars(
        select(Service)
        .where(Service.jurisdiction_id == jurisdiction.id, Service.active)
        .order_by(Service.service_code)
        .options(selectinload(Service.attributes))
    ).all()


def get_service(session: Session, jurisdiction: Jurisdiction, service_code: str) -> Service | None:
    return session.scalar(
        select(Service)
        .where(
            Service.jurisdiction_id == jurisdiction.id,
            Service.service_code == service_code,
            Service.active,
        )
        .options(selectinload(Service.attributes).selectinload(ServiceAttribute.values))
    )


def get_api_client_by_hash(session: Session, key_hash: str) -> ApiClient | None:
    return session.scalar(select(ApiClient).where(ApiClient.key_hash == key_hash))


def get_request_by_token(
    session: Session, jurisdiction: Jurisdiction, token: str
) -> ServiceRequest | None:
    return session.scalar(
        select(ServiceRequest).where(
            ServiceRequest.jurisdiction_id == jurisdiction.id, ServiceRequest.token == token
        )
    )


@dataclass(frozen=True)
class RequestFilter:
    """What GET requests asks for, already validated and with the window's defaults applied."""

    service_request_ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 1000


def find_requests(
    session: Session, jurisdiction: Jurisdiction, wanted: RequestFilter
) -> Sequence[ServiceRequest]:
    """Requests newest first, matching every filter that is set."""
    query = (
        select(ServiceRequest)
        .where(ServiceRequest.jurisdiction_id == jurisdiction.id)
        .options(selectinload(ServiceRequest.service))
    )
    if wanted.service_request_ids:
        query = query.where(ServiceRequest.service_request_id.in_(wanted.service_request_ids))
    if wanted.service_codes:
        query = query.join(Service).where(Service.service_code.in_(wanted.service_codes))
    if wanted.statuses:
        query = query.where(ServiceRequest.status.in_(wanted.statuses))
    if wanted.start is not None:
        query = query.where(ServiceRequest.requested_datetime >= wanted.start)
    if wanted.end is not None:
        query = query.where(ServiceRequest.requested_datetime <= wanted.end)
    query = query.order_by(
        ServiceRequest.requested_datetime.desc(), ServiceRequest.id.desc()
    ).limit(wanted.limit)
    return session.scalars(query).all()


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


def latest_catalogue_change(session: Session) -> datetime | None:
    return session.scalar(select(func.max(Jurisdiction.catalogue_changed_at)))


def find_all_services_for_jurisdiction(
    session: Session, jurisdiction: Jurisdiction
) -> Sequence[Service]:
    """Inactive ones included, with their definitions: for catalogue administration."""
    return session.scalars(
        select(Service)
        .where(Service.jurisdiction_id == jurisdiction.id)
        .options(selectinload(Service.attributes).selectinload(ServiceAttribute.values))
    ).all()


def find_existing_request_ids(session: Session, candidates: list[str]) -> set[str]:
    # One array parameter rather than tens of thousands of IN-list binds.
    ids = bindparam("ids", candidates, type_=ARRAY(String))
    query = select(ServiceRequest.service_request_id).where(
        ServiceRequest.service_request_id == any_(ids)
    )
    return set(session.scalars(query))
