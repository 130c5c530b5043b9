"""The selects of catalogue administration: every service (inactive too), agencies, crews,
workflows, districts and API clients of the one jurisdiction, by code or id."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from open311.db.models import (
    Agency,
    ApiClient,
    BoundaryLayer,
    Crew,
    District,
    Jurisdiction,
    Service,
    ServiceAttribute,
    Workflow,
    WorkflowStep,
    WorkOrder,
)

_SERVICE_DEFINITION = selectinload(Service.attributes).selectinload(ServiceAttribute.values)
_CREW_DETAILS = (
    selectinload(Crew.agency),
    selectinload(Crew.districts).selectinload(District.layer),
)
_WORKFLOW_STEPS = (
    selectinload(Workflow.steps).selectinload(WorkflowStep.agency),
    selectinload(Workflow.steps).selectinload(WorkflowStep.crew),
)


def find_services(session: Session, jurisdiction: Jurisdiction) -> Sequence[Service]:
    """Every service, inactive ones included, by code."""
    return session.scalars(
        select(Service)
        .where(Service.jurisdiction_id == jurisdiction.id)
        .order_by(Service.service_code)
        .options(_SERVICE_DEFINITION)
    ).all()


def get_service(session: Session, jurisdiction: Jurisdiction, service_code: str) -> Service | None:
    """One service whether active or not, with its definition."""
    return session.scalar(
        select(Service)
        .where(Service.jurisdiction_id == jurisdiction.id, Service.service_code == service_code)
        .options(_SERVICE_DEFINITION)
    )


def get_service_named(
    session: Session, jurisdiction: Jurisdiction, service_name: str
) -> Service | None:
    """The jurisdiction's service (active or not) of that name, any case, spaces around it
    ignored: ux_service_jurisdiction_id_name's rule."""
    return session.scalar(
        select(Service).where(
            Service.jurisdiction_id == jurisdiction.id,
            func.lower(func.btrim(Service.service_name)) == service_name.strip().lower(),
        )
    )


def lock_service(session: Session, service_id: int) -> Service | None:
    """The service locked (FOR NO KEY UPDATE) and read again with its definition: two
    administrators changing its definition or routing rule at once go one after the other, the
    second starting from what the first committed."""
    return session.scalar(
        select(Service)
        .where(Service.id == service_id)
        .with_for_update(key_share=True, of=Service)
        .options(_SERVICE_DEFINITION)
        .execution_options(populate_existing=True)
    )


def lock_workflow(session: Session, workflow_id: int) -> Workflow | None:
    """The workflow locked (FOR NO KEY UPDATE) and read again with its steps: two replacements
    of its steps go one after the other."""
    return session.scalar(
        select(Workflow)
        .where(Workflow.id == workflow_id)
        .with_for_update(key_share=True, of=Workflow)
        .options(*_WORKFLOW_STEPS)
        .execution_options(populate_existing=True)
    )


def find_agencies(session: Session, jurisdiction: Jurisdiction) -> Sequence[Agency]:
    return session.scalars(
        select(Agency).where(Agency.jurisdiction_id == jurisdiction.id).order_by(Agency.code)
    ).all()


def find_crews(session: Session, jurisdiction: Jurisdiction) -> Sequence[Crew]:
    """Every crew of the jurisdiction's agencies, by agency code then crew code."""
    return session.scalars(
        select(Crew)
        .join(Agency)
        .where(Agency.jurisdiction_id == jurisdiction.id)
        .order_by(Agency.code, Crew.code)
        .options(*_CREW_DETAILS)
    ).all()


def get_crew(session: Session, jurisdiction: Jurisdiction, crew_id: int) -> Crew | None:
    """A crew by id, only if one of this jurisdiction's agencies has it."""
    return session.scalar(
        select(Crew)
        .join(Agency)
        .where(Crew.id == crew_id, Agency.jurisdiction_id == jurisdiction.id)
        .options(*_CREW_DETAILS)
    )


def find_districts_by_id(
    session: Session, jurisdiction: Jurisdiction, ids: Sequence[int]
) -> Sequence[District]:
    """The districts among `ids` that belong to a layer of this jurisdiction."""
    if not ids:
        return []
    return session.scalars(
        select(District)
        .join(BoundaryLayer)
        .where(District.id.in_(ids), BoundaryLayer.jurisdiction_id == jurisdiction.id)
        .order_by(District.id)
        .options(selectinload(District.layer))
    ).all()


def find_workflows(session: Session, jurisdiction: Jurisdiction) -> Sequence[Workflow]:
    return session.scalars(
        select(Workflow)
        .where(Workflow.jurisdiction_id == jurisdiction.id)
        .order_by(Workflow.code)
        .options(*_WORKFLOW_STEPS)
    ).all()


def get_workflow(session: Session, jurisdiction: Jurisdiction, code: str) -> Workflow | None:
    return session.scalar(
        select(Workflow)
        .where(Workflow.jurisdiction_id == jurisdiction.id, Workflow.code == code)
        .options(*_WORKFLOW_STEPS)
    )


def count_work_orders_by_step(session: Session, step_ids: Sequence[int]) -> dict[int, int]:
    """How many work orders point at each of `step_ids` (steps without any are left out)."""
    if not step_ids:
        return {}
    rows = session.execute(
        select(WorkOrder.step_id, func.count().label("work_orders"))
        .where(WorkOrder.step_id.in_(step_ids))
        .group_by(WorkOrder.step_id)
    )
    return {row.step_id: row.work_orders for row in rows}


def find_api_clients(session: Session) -> Sequence[ApiClient]:
    return session.scalars(select(ApiClient).order_by(ApiClient.id)).all()


def get_api_client(session: Session, client_id: int) -> ApiClient | None:
    return session.get(ApiClient, client_id)
