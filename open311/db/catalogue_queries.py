"""Selects of the catalogue: jurisdictions, services, API clients, routing rules, agencies,
workflows and calendars."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    func,
    select,
    text,
)
from sqlalchemy.orm import Session, joinedload, selectinload

from open311.db.models import (
    Agency,
    ApiClient,
    CityHoliday,
    Jurisdiction,
    RoutingRule,
    Service,
    ServiceAttribute,
    Workflow,
    WorkflowStep,
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
    # One statement: a definition is a few attributes of a few values each.
    query = (
        select(Service)
        .where(
            Service.jurisdiction_id == jurisdiction.id,
            Service.service_code == service_code,
            Service.active,
        )
        .options(joinedload(Service.attributes).joinedload(ServiceAttribute.values))
    )
    return session.execute(query).unique().scalar_one_or_none()


# What the catalogue tables filing a request reads hold, as one value: per table, the sum of a
# hash of every row version's xmin and ctid (the transaction that wrote it and where it lies).
# Every insert, update or delete makes or removes a row version, under another transaction id
# or, within one transaction, at another place, so any change moves it (unless 64-bit hashes
# collide), committed by anyone, in any process; read in the caller's transaction, it also sees
# that transaction's own changes. Hashing the system columns rather than whole rows keeps it
# cheap (well under a millisecond for a thousand rows). Of crews, only those rules and steps
# name: routing looks up the others afresh. The jurisdiction row is not in it: callers read it.
_FINGERPRINTED = (
    "service",
    "service_attribute",
    "attribute_value",
    "routing_rule",
    "agency",
    "workflow",
    "workflow_step",
    "city_holiday",
    "crew WHERE id IN (SELECT fallback_crew_id FROM routing_rule"
    " UNION ALL SELECT crew_id FROM workflow_step)",
)
CATALOGUE_FINGERPRINT = text(
    "SELECT ARRAY["
    + ", ".join(
        f"(SELECT sum(hashtextextended(xmin::text || ctid::text, 0)) FROM {table})"
        for table in _FINGERPRINTED
    )
    + "]::text"
)


def catalogue_fingerprint(session: Session) -> str:
    """A value that changes whenever services, definitions, routing rules, agencies, crews,
    workflows or city holidays change (CATALOGUE_FINGERPRINT): what a cache of them is keyed
    by."""
    return str(session.scalar(CATALOGUE_FINGERPRINT))


def find_services_with_definitions(
    session: Session, jurisdiction: Jurisdiction
) -> Sequence[Service]:
    """The active services with their attributes and values: what intake validates against."""
    return session.scalars(
        select(Service)
        .where(Service.jurisdiction_id == jurisdiction.id, Service.active)
        .options(selectinload(Service.attributes).selectinload(ServiceAttribute.values))
    ).all()


def find_routing_rules(session: Session, jurisdiction: Jurisdiction) -> Sequence[RoutingRule]:
    """Every routing rule of the jurisdiction's services with what routing a request reads:
    the agency, the fallback crew, the workflow and its steps with their agencies and crews."""
    return session.scalars(
        select(RoutingRule)
        .join(Service, Service.id == RoutingRule.service_id)
        .where(Service.jurisdiction_id == jurisdiction.id)
        .options(
            selectinload(RoutingRule.agency),
            selectinload(RoutingRule.fallback_crew),
            selectinload(RoutingRule.workflow)
            .selectinload(Workflow.steps)
            .options(selectinload(WorkflowStep.agency), selectinload(WorkflowStep.crew)),
        )
    ).all()


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
    # One statement: a rule has one agency and one workflow of a few steps.
    query = (
        select(RoutingRule)
        .where(RoutingRule.service_id == service.id)
        .options(
            joinedload(RoutingRule.agency),
            joinedload(RoutingRule.workflow).joinedload(Workflow.steps),
        )
    )
    return session.execute(query).unique().scalar_one_or_none()


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
