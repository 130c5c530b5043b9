"""The demo city's operations: district layers, agencies and crews, workflows and routing rules.

Read from los_angeles_operations.json. Everything is created when missing and left alone when
present, so a re-run writes nothing; the back office owns later changes.
"""

from __future__ import annotations

import json
from datetime import date, time
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from open311.db import catalogue_queries, district_queries
from open311.db.models import (
    Agency,
    BoundaryLayer,
    CityHoliday,
    Crew,
    Jurisdiction,
    RoutingRule,
    Service,
    Workflow,
    WorkflowStep,
)
from open311.domain import districts
from open311.geodata.reader import read_features
from open311.values import CrewKind, CrewRole

# A crew a demo city wants: (code, name, kind, the district it covers or None).
WantedCrew = tuple[str, str, CrewKind, Any]


def add_missing_crews(session: Session, agency: Agency, wanted: list[WantedCrew]) -> None:
    """Add the crews of `wanted` that `agency` has no crew of that code for (a demo seed run
    again adds nothing; crews changed in the back office are left as they are)."""
    existing = {crew.code for crew in agency.crews}
    for code, name, kind, district in wanted:
        if code not in existing:
            crew = Crew(agency=agency, code=code, name=name, kind=kind)
            if district is not None:
                crew.districts = [district]
            session.add(crew)


def load_operations() -> dict[str, Any]:
    return json.loads(files("open311.demo").joinpath("los_angeles_operations.json").read_text())


def seed_operations(
    session: Session,
    jurisdiction: Jurisdiction,
    services: dict[str, Service],
    agency_names: dict[str, str],
    city_dir: Path,
) -> list[str]:
    """Create what is missing and report it; returns one line per part."""
    plan = load_operations()
    report = [_calendar(session, jurisdiction, plan["jurisdiction"])]
    report += _layers(session, jurisdiction, plan, city_dir)
    agencies, crews = _agencies_and_crews(session, jurisdiction, plan["agencies"], agency_names)
    report.append(f"agencies: {len(agencies)}, crews: {len(crews)}")
    deciding_layer = district_queries.get_layer(session, jurisdiction, plan["routing_layer"])
    created = 0
    for spec in plan["workflows"]:
        workflow = catalogue_queries.get_workflow(session, jurisdiction, spec["code"])
        if workflow is None:
            workflow = _workflow(jurisdiction, spec, agencies, crews)
            session.add(workflow)
            session.flush()
        for code in spec["services"]:
            service = services[code]
            if catalogue_queries.get_routing_rule(session, service) is None:
                session.add(_rule(service, spec, workflow, agencies, crews, deciding_layer))
                created += 1
    session.flush()
    report.append(f"routing rules: {len(services)} services ({created} new)")
    return report


def _calendar(session: Session, jurisdiction: Jurisdiction, spec: dict[str, Any]) -> str:
    jurisdiction.holiday_country = spec["holiday_country"]
    jurisdiction.holiday_subdivision = spec["holiday_subdivision"]
    jurisdiction.business_day_start = time.fromisoformat(spec["business_day_start"])
    jurisdiction.business_day_end = time.fromisoformat(spec["business_day_end"])
    jurisdiction.business_weekdays = spec["business_weekdays"]
    known = {h.day for h in catalogue_queries.find_city_holidays(session, jurisdiction)}
    for holiday in spec["city_holidays"]:
        day = date.fromisoformat(holiday["day"])
        if day not in known:
            session.add(CityHoliday(jurisdiction_id=jurisdiction.id, day=day, name=holiday["name"]))
    hours = f"{spec['business_day_start']}-{spec['business_day_end']} {jurisdiction.time_zone}"
    holidays = f"{spec['holiday_country']}-{spec['holiday_subdivision']}"
    return f"business hours: {hours}, holidays {holidays}"


def _layers(
    session: Session, jurisdiction: Jurisdiction, plan: dict[str, Any], city_dir: Path
) -> list[str]:
    lines = []
    for spec in plan["layers"]:
        if district_queries.get_layer(session, jurisdiction, spec["name"]) is not None:
            lines.append(f"layer {spec['name']}: present")
            continue
        layer_file = read_features(city_dir / spec["file"], spec["name_field"])
        result = districts.replace_layer(
            session,
            jurisdiction,
            spec["name"],
            layer_file.features,
            title=spec["title"],
            source=f"geodata/los-angeles/{spec['file']}",
            snap_tolerance_m=spec["snap_tolerance_m"],
        )
        lines.append(f"layer {spec['name']}: {result.inserted} districts imported")
    area = plan["service_area"]
    if jurisdiction.service_area is None:
        districts.set_service_area_from_layer(
            session, jurisdiction, area["from_layer"], buffer_m=area["buffer_m"]
        )
        lines.append(f"service area: {area['from_layer']} + {area['buffer_m']} m")
    return lines


def _agencies_and_crews(
    session: Session,
    jurisdiction: Jurisdiction,
    specs: list[dict[str, Any]],
    agency_names: dict[str, str],
) -> tuple[dict[str, Agency], dict[str, Crew]]:
    agencies: dict[str, Agency] = {}
    crews: dict[str, Crew] = {}
    for spec in specs:
        code = spec["code"]
        agency = catalogue_queries.get_agency(session, jurisdiction, code)
        if agency is None:
            agency = Agency(
                jurisdiction_id=jurisdiction.id,
                code=code,
                name=spec.get("name") or agency_names.get(code, code),
            )
            session.add(agency)
            session.flush()
        agencies[code] = agency
        wanted = [
            (f"{code}-TRIAGE", f"{agency.name} triage desk", CrewKind.triage, None),
            (f"{code}-SUPERVISOR", f"{agency.name} supervisors", CrewKind.supervisor, None),
            *[(c["code"], c["name"], CrewKind.field, None) for c in spec.get("fixed_crews", [])],
        ]
        layer_name = spec.get("district_crews")
        if layer_name:
            layer = district_queries.get_layer(session, jurisdiction, layer_name)
            for district in layer.districts:
                label = f"{int(district.name):02d}" if district.name.isdigit() else district.name
                wanted.append(
                    (
                        f"{code}-CD{label}",
                        f"{agency.name}, Council District {district.name} crew",
                        CrewKind.field,
                        district,
                    )
                )
        existing = {crew.code: crew for crew in agency.crews}
        for crew_code, name, kind, district in wanted:
            crew = existing.get(crew_code)
            if crew is None:
                crew = Crew(agency=agency, code=crew_code, name=name, kind=kind)
                if district is not None:
                    crew.districts = [district]
                session.add(crew)
            crews[crew_code] = crew
    session.flush()
    return agencies, crews


def _workflow(
    jurisdiction: Jurisdiction,
    spec: dict[str, Any],
    agencies: dict[str, Agency],
    crews: dict[str, Crew],
) -> Workflow:
    workflow = Workflow(jurisdiction_id=jurisdiction.id, code=spec["code"], name=spec["name"])
    workflow.steps = [
        WorkflowStep(
            position=position,
            code=step["code"],
            name=step["name"],
            agency=agencies[step["agency"]] if "agency" in step else None,
            crew_role=CrewRole(step.get("crew_role", "district")),
            crew=crews[step["crew"]] if "crew" in step else None,
            target_hours=step["target_hours"],
            wait_hours=step.get("wait_hours", 0),
            next_step=step.get("next_step"),
            outcomes=step.get("outcomes", {}),
            public_note=step.get("public_note"),
        )
        for position, step in enumerate(spec["steps"], start=1)
    ]
    return workflow


def _rule(
    service: Service,
    spec: dict[str, Any],
    workflow: Workflow,
    agencies: dict[str, Agency],
    crews: dict[str, Crew],
    layer: BoundaryLayer | None,
) -> RoutingRule:
    agency = next(a for a in agencies.values() if a.name == service.agency_responsible)
    return RoutingRule(
        service=service,
        agency=agency,
        layer=layer,
        fallback_crew=crews[f"{agency.code}-TRIAGE"],
        workflow=workflow,
        sla_days=spec["sla_days"],
    )
