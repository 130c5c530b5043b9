"""Selects of the catalogue: jurisdictions, services, API clients, routing rules, agencies,
workflows and calendars."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session, selectinload

from open311.db.models import (
    Agency,
    ApiClient,
    CityHoliday,
    Jurisdiction,
    RoutingRule,
    Service,
    ServiceAttribute,
    Workflow,
)


def get_jurisdiction(session: Session, jurisdiction_id: str) -> Jurisdiction | None:
    return session.scalar(
        select(Jurisdiction).where(Jurisdiction.jurisdiction_id == jurisdiction_id)
    )


def find_jurisdictions(session: Session, limit: int | None = 2) -> Sequence[Jurisdiction]:
    return session.scalars(select(Jurisdiction).order_by(Jurisdiction.id).limit(limit)).all()


def get_default_jurisdiction(session: Session) -> Jurisdiction | None:
    return session.scalar(select(Jurisdiction).where(Jurisdiction.is_default))


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


def get_routing_rule(session: Session, service: Service) -> RoutingRule | None:
    return session.scalar(
        select(RoutingRule)
        .where(RoutingRule.service_id == service.id)
        .options(
            selectinload(RoutingRule.agency),
            selectinload(RoutingRule.workflow).selectinload(Workflow.steps),
        )
    )


def get_agency(session: Session, jurisdiction: Jurisdiction, code: str) -> Agency | None:
    return session.scalar(
        select(Agency)
        .where(Agency.jurisdiction_id == jurisdiction.id, Agency.code == code)
        .options(selectinload(Agency.crews))
    )


def get_workflow(session: Session, jurisdiction: Jurisdiction, code: str) -> Workflow | None:
    return session.scalar(
        select(Workflow).where(Workflow.jurisdiction_id == jurisdiction.id, Workflow.code == code)
    )


def find_city_holidays(session: Session, jurisdiction: Jurisdiction) -> Sequence[CityHoliday]:
    return session.scalars(
        select(CityHoliday)
        .where(CityHoliday.jurisdiction_id == jurisdiction.id)
        .order_by(CityHoliday.day)
    ).all()
