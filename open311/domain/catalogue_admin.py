"""Catalogue administration: what a valid service, definition, routing rule, workflow, agency or
crew is, and the changeset that tells GeoReport clients to refresh their cached catalogue.

Every function checks everything first and raises InvalidInput listing all the problems before it
writes anything, so a refused change leaves no trace. Functions flush; the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from open311.db import catalogue_admin_queries as admin_queries
from open311.db import catalogue_queries, district_queries
from open311.db.models import (
    Agency,
    AttributeValue,
    Crew,
    District,
    Jurisdiction,
    RoutingRule,
    Service,
    ServiceAttribute,
    Workflow,
    WorkflowStep,
)
from open311.errors import Conflict, InvalidInput
from open311.values import CrewKind, CrewRole, Datatype, ServiceType, SlaClock

# Codes appear in public URLs (services/<code>.json), so no slashes, spaces or leading dots.
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
LIST_DATATYPES = frozenset({Datatype.singlevaluelist, Datatype.multivaluelist})
# What describes a service to the public (the demo's catalogue file authors these) ...
DESCRIPTIVE_FIELDS = (
    "service_name",
    "description",
    "group",
    "keywords",
    "type",
    "agency_responsible",
    "service_notice",
)
# ... and what an administrator may change besides.
SERVICE_FIELDS = (
    *DESCRIPTIVE_FIELDS,
    "active",
)


@dataclass(frozen=True)
class AttributeDraft:
    """One question of a definition as an administrator sends it; its order is its place."""

    code: str
    datatype: Datatype
    description: str
    required: bool = False
    variable: bool = True
    datatype_description: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # (key, name), for list datatypes only


@dataclass(frozen=True)
class RuleDraft:
    """A routing rule with its references by code (agency, layer, workflow) or id (crew)."""

    agency: str
    layer: str | None = None
    fallback_crew_id: int | None = None
    workflow: str | None = None
    sla_days: float | None = None
    sla_clock: SlaClock = SlaClock.business


@dataclass(frozen=True)
class StepDraft:
    """One workflow step; `agency` is a code (None: the routing rule's agency)."""

    code: str
    name: str
    target_hours: float
    crew_role: CrewRole = CrewRole.district
    agency: str | None = None
    crew_id: int | None = None
    wait_hours: float = 0.0
    next_step: str | None = None
    outcomes: Mapping[str, str | None] = field(default_factory=dict)
    public_note: str | None = None


def _fail_if(problems: list[str]) -> None:
    if problems:
        raise InvalidInput(*problems)


def _check_code(name: str, value: str) -> None:
    if not CODE.match(value):
        raise InvalidInput(
            f"{name}: {value!r} must start with a letter or digit and hold only letters, "
            "digits, '.', '_' or '-'"
        )


def _repeated(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    return repeated


def touch_catalogue(jurisdiction: Jurisdiction, now: datetime) -> None:
    """Move the discovery changeset, so clients that cache services and definitions refetch."""
    jurisdiction.catalogue_changed_at = now


# --- services and their definitions -------------------------------------------------------------


def _locked_service(session: Session, service: Service) -> Service:
    locked = admin_queries.lock_service(session, service.id)
    assert locked is not None  # the caller found it; services are never deleted
    return locked


def create_service(
    session: Session,
    jurisdiction: Jurisdiction,
    service_code: str,
    fields: Mapping[str, Any],
    *,
    now: datetime,
) -> Service:
    """A new service (without a definition) in the public catalogue."""
    _check_code("service_code", service_code)
    if admin_queries.get_service(session, jurisdiction, service_code) is not None:
        raise Conflict(f"service_code: {service_code} already exists")
    if "service_name" in fields:
        _check_name_free(session, jurisdiction, fields["service_name"], None)
    service = Service(jurisdiction_id=jurisdiction.id, service_code=service_code, attributes=[])
    service.type = ServiceType.realtime
    service.active = True
    for name in SERVICE_FIELDS:
        if name in fields:
            setattr(service, name, fields[name])
    session.add(service)
    touch_catalogue(jurisdiction, now)
    session.flush()
    return service


def _check_name_free(
    session: Session, jurisdiction: Jurisdiction, name: str, own: Service | None
) -> None:
    """FixMyStreet matches categories by name: a second service of one city with the same name
    (any case, spaces around it) would take the other's reports. Two creations at the same
    moment are stopped by ux_service_jurisdiction_id_name (a 409 too)."""
    other = admin_queries.get_service_named(session, jurisdiction, name)
    if other is not None and other is not own:
        raise Conflict(f"service_name: {name.strip()} is the name of service {other.service_code}")


def change_service(
    session: Session,
    jurisdiction: Jurisdiction,
    service: Service,
    changes: Mapping[str, Any],
    *,
    now: datetime,
) -> None:
    """Apply the given fields; the changeset moves only when a value really changed."""
    changed = False
    if "service_name" in changes:
        _check_name_free(session, jurisdiction, changes["service_name"], service)
    for name in SERVICE_FIELDS:
        if name in changes and getattr(service, name) != changes[name]:
            setattr(service, name, changes[name])
            changed = True
    if changed:
        touch_catalogue(jurisdiction, now)
    session.flush()


def check_definition(attributes: Sequence[AttributeDraft]) -> None:
    """Every problem of a definition at once: repeated codes, list values where they belong and
    only there, repeated keys, informational questions marked required."""
    problems = [
        f"attributes: code {code} is repeated" for code in _repeated(a.code for a in attributes)
    ]
    for attribute in attributes:
        where = f"attributes: {attribute.code}"
        if not CODE.match(attribute.code):
            problems.append(f"{where}: a code holds only letters, digits, '.', '_' or '-'")
        is_list = attribute.datatype in LIST_DATATYPES
        if is_list and not attribute.values:
            problems.append(f"{where}: a {attribute.datatype.value} needs at least one value")
        if not is_list and attribute.values:
            problems.append(f"{where}: only list datatypes have values, not {attribute.datatype}")
        for key in _repeated(key for key, _name in attribute.values):
            problems.append(f"{where}: value key {key} is repeated")
        if not attribute.variable and attribute.required:
            problems.append(
                f"{where}: an informational (variable false) question cannot be required"
            )
    _fail_if(problems)


def current_definition(service: Service) -> tuple[AttributeDraft, ...]:
    return tuple(
        AttributeDraft(
            code=attribute.code,
            datatype=attribute.datatype,
            description=attribute.description,
            required=attribute.required,
            variable=attribute.variable,
            datatype_description=attribute.datatype_description,
            values=tuple((value.key, value.name) for value in attribute.values),
        )
        for attribute in service.attributes
    )


def build_definition(attributes: Sequence[AttributeDraft]) -> list[ServiceAttribute]:
    """New attribute rows for a checked definition; each one's position is its place in it."""
    return [
        ServiceAttribute(
            code=draft.code,
            datatype=draft.datatype,
            description=draft.description,
            required=draft.required,
            variable=draft.variable,
            datatype_description=draft.datatype_description,
            position=position,
            values=[
                AttributeValue(key=key, name=name, position=index)
                for index, (key, name) in enumerate(draft.values, start=1)
            ],
        )
        for position, draft in enumerate(attributes, start=1)
    ]


def replace_definition(
    session: Session,
    jurisdiction: Jurisdiction,
    service: Service,
    attributes: Sequence[AttributeDraft],
    *,
    now: datetime,
) -> None:
    """Make `attributes`, in order, the service's whole definition (empty: none). Compared and
    replaced with the service's row locked: of two replacements at once, the second replaces
    what the first committed (rather than rows already gone, a 500)."""
    check_definition(attributes)
    service = _locked_service(session, service)
    if current_definition(service) == tuple(attributes):
        return
    # Answers are stored by code and nothing points at these rows, so the definition is replaced
    # wholesale; deleting first keeps the (service, code) and (service, position) keys unique.
    service.attributes.clear()
    session.flush()
    service.attributes = build_definition(attributes)
    touch_catalogue(jurisdiction, now)
    session.flush()


# --- routing rules ------------------------------------------------------------------------------


def set_routing_rule(
    session: Session, jurisdiction: Jurisdiction, service: Service, draft: RuleDraft
) -> RoutingRule:
    """Create or replace the service's rule; every reference must exist, and the fallback crew
    must be one of the rule's agency (routing ignores any other)."""
    problems: list[str] = []
    agency = catalogue_queries.get_agency(session, jurisdiction, draft.agency)
    if agency is None:
        problems.append(f"agency: no agency {draft.agency}")
    layer = None
    if draft.layer is not None:
        layer = district_queries.get_layer(session, jurisdiction, draft.layer)
        if layer is None:
            problems.append(f"layer: no boundary layer {draft.layer}")
    crew = None
    if draft.fallback_crew_id is not None:
        crew = admin_queries.get_crew(session, jurisdiction, draft.fallback_crew_id)
        if crew is None:
            problems.append(f"fallback_crew_id: no crew {draft.fallback_crew_id}")
        elif agency is not None and crew.agency_id != agency.id:
            problems.append(
                f"fallback_crew_id: crew {crew.id} belongs to agency {crew.agency.code}, "
                f"not {agency.code}"
            )
    workflow = None
    if draft.workflow is not None:
        workflow = catalogue_queries.get_workflow(session, jurisdiction, draft.workflow)
        if workflow is None:
            problems.append(f"workflow: no workflow {draft.workflow}")
    _fail_if(problems)
    # Locked: of two first rules set at once, the second finds the first's and changes it.
    service = _locked_service(session, service)
    rule = catalogue_queries.get_routing_rule(session, service)
    if rule is None:
        rule = RoutingRule(service=service)
        session.add(rule)
    rule.agency, rule.layer, rule.fallback_crew, rule.workflow = agency, layer, crew, workflow
    rule.sla_days, rule.sla_clock = draft.sla_days, draft.sla_clock
    session.flush()
    return rule


# --- workflows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StepRefs:
    agencies: dict[str, Agency]
    crews: dict[int, Crew]


def _resolve_steps(
    session: Session, jurisdiction: Jurisdiction, steps: Sequence[StepDraft]
) -> _StepRefs:
    """The agencies and crews the steps name, after checking the steps hang together."""
    if not steps:
        raise InvalidInput("steps: a workflow has at least one step")
    codes = {step.code for step in steps}
    problems = [f"steps: code {code} is repeated" for code in _repeated(s.code for s in steps)]
    refs = _StepRefs(agencies={}, crews={})
    for step in steps:
        where = f"steps: {step.code}"
        if not CODE.match(step.code):
            problems.append(f"{where}: a code holds only letters, digits, '.', '_' or '-'")
        if step.next_step is not None and step.next_step not in codes:
            problems.append(f"{where}: next_step {step.next_step} is not a step of the workflow")
        for outcome, target in step.outcomes.items():
            if target is not None and target not in codes:
                problems.append(
                    f"{where}: outcome {outcome} leads to {target}, not a step of the workflow"
                )
        agency = None
        if step.agency is not None:
            agency = refs.agencies.get(step.agency) or catalogue_queries.get_agency(
                session, jurisdiction, step.agency
            )
            if agency is None:
                problems.append(f"{where}: no agency {step.agency}")
            else:
                refs.agencies[agency.code] = agency
        problems += _check_step_crew(session, jurisdiction, step, agency, refs, where)
    _fail_if(problems)
    return refs


def _check_step_crew(
    session: Session,
    jurisdiction: Jurisdiction,
    step: StepDraft,
    agency: Agency | None,
    refs: _StepRefs,
    where: str,
) -> list[str]:
    if step.crew_role is not CrewRole.fixed:
        if step.crew_id is not None:
            return [f"{where}: crew_id is only for crew_role fixed"]
        return []
    if step.crew_id is None:
        return [f"{where}: crew_role fixed needs a crew_id"]
    crew = refs.crews.get(step.crew_id) or admin_queries.get_crew(
        session, jurisdiction, step.crew_id
    )
    if crew is None:
        return [f"{where}: no crew {step.crew_id}"]
    refs.crews[crew.id] = crew
    if agency is not None and crew.agency_id != agency.id:
        return [f"{where}: crew {crew.id} belongs to agency {crew.agency.code}, not {agency.code}"]
    return []


def _fill_step(step: WorkflowStep, draft: StepDraft, position: int, refs: _StepRefs) -> None:
    step.position, step.code, step.name = position, draft.code, draft.name
    step.agency = refs.agencies[draft.agency] if draft.agency is not None else None
    step.crew_role = draft.crew_role
    step.crew = refs.crews[draft.crew_id] if draft.crew_id is not None else None
    step.target_hours, step.wait_hours = draft.target_hours, draft.wait_hours
    step.next_step, step.outcomes = draft.next_step, dict(draft.outcomes)
    step.public_note = draft.public_note


def create_workflow(
    session: Session, jurisdiction: Jurisdiction, code: str, name: str, steps: Sequence[StepDraft]
) -> Workflow:
    _check_code("code", code)
    if catalogue_queries.get_workflow(session, jurisdiction, code) is not None:
        raise Conflict(f"code: workflow {code} already exists")
    refs = _resolve_steps(session, jurisdiction, steps)
    workflow = Workflow(jurisdiction_id=jurisdiction.id, code=code, name=name)
    workflow.steps = []
    for position, draft in enumerate(steps, start=1):
        step = WorkflowStep()
        _fill_step(step, draft, position, refs)
        workflow.steps.append(step)
    session.add(workflow)
    session.flush()
    return workflow


def replace_workflow(
    session: Session,
    jurisdiction: Jurisdiction,
    workflow: Workflow,
    name: str,
    steps: Sequence[StepDraft],
) -> None:
    """Give the workflow this name and these steps, in order. Work orders point at their step's
    row, so a step that keeps its code keeps its row (updated in place), and a step that work
    orders point at cannot be removed. The workflow's row is locked first: two replacements at
    once go one after the other."""
    refs = _resolve_steps(session, jurisdiction, steps)
    locked = admin_queries.lock_workflow(session, workflow.id)
    assert locked is not None  # the caller found it; workflows are never deleted
    workflow = locked
    wanted = {draft.code for draft in steps}
    removed = [step for step in workflow.steps if step.code not in wanted]
    in_use = admin_queries.count_work_orders_by_step(session, [step.id for step in removed])
    _fail_if(
        [
            f"steps: step {step.code} cannot be removed: {in_use[step.id]} work orders are at it"
            for step in removed
            if step.id in in_use
        ]
    )
    kept = {step.code: step for step in workflow.steps if step.code in wanted}
    # Park kept steps at negative positions first, so renumbering them never collides with
    # uq_workflow_step_position halfway through a flush.
    for step in kept.values():
        step.position = -step.position
    for step in removed:
        workflow.steps.remove(step)
    session.flush()
    workflow.name = name
    ordered = []
    for position, draft in enumerate(steps, start=1):
        step = kept.get(draft.code) or WorkflowStep()
        _fill_step(step, draft, position, refs)
        ordered.append(step)
    workflow.steps = ordered
    session.flush()


# --- agencies and crews -------------------------------------------------------------------------


def create_agency(session: Session, jurisdiction: Jurisdiction, code: str, name: str) -> Agency:
    _check_code("code", code)
    if catalogue_queries.get_agency(session, jurisdiction, code) is not None:
        raise Conflict(f"code: agency {code} already exists")
    agency = Agency(jurisdiction_id=jurisdiction.id, code=code, name=name)
    session.add(agency)
    session.flush()
    return agency


def rename_agency(session: Session, agency: Agency, name: str) -> None:
    agency.name = name
    session.flush()


def _districts(session: Session, jurisdiction: Jurisdiction, ids: Sequence[int]) -> list[District]:
    found = admin_queries.find_districts_by_id(session, jurisdiction, ids)
    missing = sorted(set(ids) - {district.id for district in found})
    if missing:
        raise InvalidInput(f"district_ids: no district {', '.join(map(str, missing))}")
    return list(found)


def _check_crew_districts(kind: CrewKind, districts: Sequence[District]) -> None:
    # Routing only looks for field crews by district; districts on a queue would never be used.
    if districts and kind is not CrewKind.field:
        raise InvalidInput(f"district_ids: only field crews cover districts, not a {kind} crew")


def create_crew(
    session: Session,
    jurisdiction: Jurisdiction,
    *,
    agency_code: str,
    code: str,
    name: str,
    kind: CrewKind,
    district_ids: Sequence[int] = (),
) -> Crew:
    agency = catalogue_queries.get_agency(session, jurisdiction, agency_code)
    if agency is None:
        raise InvalidInput(f"agency: no agency {agency_code}")
    _check_code("code", code)
    if any(crew.code == code for crew in agency.crews):
        raise Conflict(f"code: agency {agency_code} already has a crew {code}")
    districts = _districts(session, jurisdiction, district_ids)
    _check_crew_districts(kind, districts)
    crew = Crew(agency=agency, code=code, name=name, kind=kind, districts=districts)
    session.add(crew)
    session.flush()
    return crew


def change_crew(
    session: Session, jurisdiction: Jurisdiction, crew: Crew, changes: Mapping[str, Any]
) -> None:
    """Apply name, kind and district_ids (the whole list of districts the crew covers)."""
    kind = changes.get("kind", crew.kind)
    districts = (
        _districts(session, jurisdiction, changes["district_ids"])
        if "district_ids" in changes
        else list(crew.districts)
    )
    _check_crew_districts(kind, districts)
    crew.name = changes.get("name", crew.name)
    crew.kind, crew.districts = kind, districts
    session.flush()
