"""The authored Los Angeles catalogue (los_angeles_services.json), checked and kept in the database.

The file names each service's agency by the code the city's records use (BOS, OCB, BSL, ...);
the agency's name comes from geodata's agencies.csv, so the catalogue and the imported history
spell agencies the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from sqlalchemy.orm import Session

from open311 import clock
from open311.db import catalogue_queries
from open311.db.models import Jurisdiction, Service
from open311.domain import catalogue_admin
from open311.domain.catalogue_admin import AttributeDraft
from open311.errors import InvalidInput
from open311.values import Datatype, ServiceType

CATALOGUE_FILE = "los_angeles_services.json"
# The fields the file authors; `active` is the back office's.
SERVICE_FIELDS = catalogue_admin.DESCRIPTIVE_FIELDS


@dataclass(frozen=True)
class ServiceSpec:
    """One service as authored, with the agency already resolved to its name."""

    service_code: str
    request_type: str
    fields: Mapping[str, Any]
    attributes: tuple[AttributeDraft, ...]


@dataclass(frozen=True)
class Catalogue:
    """The whole file: the jurisdiction's fields and its services in authored order."""

    jurisdiction: Mapping[str, str]
    services: tuple[ServiceSpec, ...]


@dataclass(frozen=True)
class CatalogueChange:
    """What a sync did, for the seed's report."""

    total: int
    created: int
    updated: int


def load_catalogue(agencies: Mapping[str, str], text: str | None = None) -> Catalogue:
    """Parse and check the authored file (or `text`); ValueError says what is wrong and where."""
    if text is None:
        text = files("open311.demo").joinpath(CATALOGUE_FILE).read_text(encoding="utf-8")
    document = json.loads(text)
    services = tuple(_service_spec(raw, agencies) for raw in document["services"])
    for key in ("service_code", "request_type"):
        seen = [getattr(spec, key) for spec in services]
        duplicates = sorted({value for value in seen if seen.count(value) > 1})
        if duplicates:
            raise ValueError(f"{CATALOGUE_FILE}: {key} repeated: {', '.join(duplicates)}")
    return Catalogue(jurisdiction=dict(document["jurisdiction"]), services=services)


def _service_spec(raw: Mapping[str, Any], agencies: Mapping[str, str]) -> ServiceSpec:
    code = raw["service_code"]
    where = f"{CATALOGUE_FILE}: service {code}"
    if not code or code != code.upper() or " " in code:
        raise ValueError(f"{where}: service_code must be upper case without spaces")
    if raw["agency"] not in agencies:
        raise ValueError(f"{where}: agency {raw['agency']} is not in agencies.csv")
    fields = {
        "service_name": raw["service_name"],
        "description": raw["description"],
        "group": raw["group"],
        "keywords": raw["keywords"],
        "type": ServiceType(raw["type"]),
        "agency_responsible": agencies[raw["agency"]],
        "service_notice": raw["service_notice"],
    }
    attributes = tuple(_attribute_draft(item) for item in raw["attributes"])
    try:
        catalogue_admin.check_definition(attributes)
    except InvalidInput as error:
        raise ValueError(f"{where}: {error}") from None
    return ServiceSpec(code, raw["request_type"], fields, attributes)


def _attribute_draft(raw: Mapping[str, Any]) -> AttributeDraft:
    return AttributeDraft(
        code=raw["code"],
        datatype=Datatype(raw["datatype"]),
        description=raw["description"],
        required=raw["required"],
        variable=raw.get("variable", True),
        datatype_description=raw.get("datatype_description"),
        values=tuple((value["key"], value["name"]) for value in raw.get("values", ())),
    )


def ensure_jurisdiction(session: Session, catalogue: Catalogue) -> tuple[Jurisdiction, str]:
    """The demo jurisdiction, created or brought to the authored name and time zone."""
    wanted = catalogue.jurisdiction
    jurisdiction = catalogue_queries.get_jurisdiction(session, wanted["jurisdiction_id"])
    if jurisdiction is None:
        jurisdiction = Jurisdiction(
            jurisdiction_id=wanted["jurisdiction_id"],
            name=wanted["name"],
            time_zone=wanted["time_zone"],
            catalogue_changed_at=clock.now(),
        )
        session.add(jurisdiction)
        session.flush()
        return jurisdiction, "created"
    if (jurisdiction.name, jurisdiction.time_zone) == (wanted["name"], wanted["time_zone"]):
        return jurisdiction, "unchanged"
    jurisdiction.name, jurisdiction.time_zone = wanted["name"], wanted["time_zone"]
    session.flush()
    return jurisdiction, "updated"


def sync_services(
    session: Session, jurisdiction: Jurisdiction, specs: Sequence[ServiceSpec]
) -> tuple[CatalogueChange, dict[str, Service]]:
    """Create missing services and bring authored ones back to the file; bump the jurisdiction's
    catalogue_changed_at only when something was written. Services that are not in the file, and
    each service's `active` flag, are the back office's and are left alone."""
    # Inactive services included: a deactivated demo service is still there, not missing.
    existing = {
        service.service_code: service
        for service in catalogue_queries.find_all_services_for_jurisdiction(session, jurisdiction)
    }
    created = updated = 0
    by_code: dict[str, Service] = {}
    for spec in specs:
        service = existing.get(spec.service_code)
        if service is None:
            service = Service(
                jurisdiction_id=jurisdiction.id, service_code=spec.service_code, **spec.fields
            )
            service.attributes = catalogue_admin.build_definition(spec.attributes)
            session.add(service)
            created += 1
        elif _apply(session, service, spec):
            updated += 1
        by_code[spec.service_code] = service
    if created or updated:
        jurisdiction.catalogue_changed_at = clock.now()
    session.flush()
    return CatalogueChange(total=len(specs), created=created, updated=updated), by_code


def _apply(session: Session, service: Service, spec: ServiceSpec) -> bool:
    changed = False
    for name in SERVICE_FIELDS:
        if getattr(service, name) != spec.fields[name]:
            setattr(service, name, spec.fields[name])
            changed = True
    if catalogue_admin.current_definition(service) != spec.attributes:
        # Replace the definition wholesale: answers are stored by code, nothing points at these
        # rows, and deleting first keeps the (service, code) and (service, position) keys unique.
        service.attributes.clear()
        session.flush()
        service.attributes = catalogue_admin.build_definition(spec.attributes)
        changed = True
    return changed
