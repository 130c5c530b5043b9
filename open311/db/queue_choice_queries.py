"""The choices of the console's queue filters and work-order forms: crews and districts of a
set of cities, as plain columns (no geometry, no relationships loaded)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from open311.db.models import Agency, BoundaryLayer, Crew, District


@dataclass(frozen=True)
class CrewChoice:
    id: int
    agency_id: int
    agency_code: str
    code: str
    name: str
    jurisdiction_id: int


@dataclass(frozen=True)
class DistrictChoice:
    id: int
    layer_id: int
    layer: str
    name: str


def find_crew_choices(session: Session, jurisdiction_ids: Sequence[int]) -> list[CrewChoice]:
    """Every crew of the cities' agencies, by agency code then crew code. The catalogue's
    find_crews loads each crew's districts with their polygons, which a list of names does not
    need."""
    rows = session.execute(
        select(Crew.id, Crew.agency_id, Agency.code, Crew.code, Crew.name, Agency.jurisdiction_id)
        .join(Agency)
        .where(Agency.jurisdiction_id.in_(tuple(jurisdiction_ids)))
        .order_by(Agency.code, Crew.code)
    ).all()
    return [CrewChoice(*row) for row in rows]


def find_district_choices(
    session: Session, jurisdiction_ids: Sequence[int]
) -> list[DistrictChoice]:
    """Every district of the cities' boundary layers, by layer then name."""
    rows = session.execute(
        select(
            District.id,
            District.layer_id,
            func.coalesce(BoundaryLayer.title, BoundaryLayer.name),
            func.coalesce(District.title, District.name),
        )
        .join(BoundaryLayer)
        .where(BoundaryLayer.jurisdiction_id.in_(tuple(jurisdiction_ids)))
        .order_by(BoundaryLayer.name, District.name)
    ).all()
    return [DistrictChoice(*row) for row in rows]
