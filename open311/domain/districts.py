"""District layers: replace a layer from a boundary file's features, and set the service area."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from geoalchemy2 import WKBElement
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ScalarSelect

from open311 import clock
from open311.db import district_queries
from open311.db.models import BoundaryLayer, District, Jurisdiction
from open311.errors import InvalidInput, NotFound
from open311.geodata.features import Feature

# Features sent to PostGIS per round trip; also the step of the caller's progress bar.
BATCH_SIZE = 200
MAX_LAYER_NAME = 64  # BoundaryLayer.name
MAX_TEXT = 255  # District.name, District.title, BoundaryLayer.title


@dataclass(frozen=True)
class Repair:
    """A district whose geometry was invalid, and what PostGIS found wrong with it."""

    name: str
    reason: str  # ST_IsValidReason, e.g. "Self-intersection[-118.25 34.05]"


@dataclass
class ImportReport:
    """What an import changed. District ids of `updated` names are the ones they had before."""

    layer: BoundaryLayer
    created_layer: bool = False
    inserted: int = 0
    updated: int = 0
    deleted_names: list[str] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return len(self.deleted_names)

    @property
    def repaired(self) -> int:
        return len(self.repairs)


@dataclass(frozen=True)
class ServiceArea:
    """The service area just set: its size and the number of separate polygons it has."""

    area_m2: float
    parts: int


def replace_layer(
    session: Session,
    jurisdiction: Jurisdiction,
    layer_name: str,
    features: Sequence[Feature],
    *,
    title: str | None = None,
    source: str | None = None,
    snap_tolerance_m: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Make the layer hold exactly `features`, creating the layer if needed.

    Districts are matched by name: a name already in the layer keeps its district id (so crew
    coverage and the districts recorded on requests stay), a new name is inserted, and a name
    missing from `features` is deleted with its coverage and request placements. Invalid
    geometries are repaired in PostGIS (ST_MakeValid, polygonal part only) and reported; one
    with no area left is refused. All of it runs in a savepoint: on any error nothing changes.
    `title`, `snap_tolerance_m` and `source` replace the layer's when given; `source` is
    stored with the import time. `progress(n)` is called after each batch of n features.
    Flushes only; the caller commits.
    """
    _check_features(layer_name, features)
    if title is not None and len(title) > MAX_TEXT:
        raise InvalidInput(f"layer title is longer than {MAX_TEXT} characters")
    if snap_tolerance_m is not None and snap_tolerance_m < 0:
        raise InvalidInput("snap tolerance must be zero or more metres")
    now = clock.now()
    with session.begin_nested():
        layer = district_queries.lock_boundary_layer(session, jurisdiction, layer_name)
        created = layer is None
        if layer is None:
            layer = BoundaryLayer(jurisdiction_id=jurisdiction.id, name=layer_name)
            session.add(layer)
            session.flush()
        report = ImportReport(layer=layer, created_layer=created)
        existing = district_queries.district_ids_by_name(session, layer)
        for batch in _batches(features, BATCH_SIZE):
            _write_batch(session, layer, batch, existing, report)
            if progress is not None:
                progress(len(batch))
        wanted = {feature.name for feature in features}
        gone = sorted(name for name in existing if name not in wanted)
        district_queries.delete_districts(session, [existing[name] for name in gone])
        report.deleted_names = gone
        if title is not None:
            layer.title = title
        if snap_tolerance_m is not None:
            layer.snap_tolerance_m = snap_tolerance_m
        if source is not None:
            layer.source = f"{source}, imported {now:%Y-%m-%d %H:%M:%S} UTC"
        layer.imported_at = now
        session.flush()
    _forget_loaded_districts(session, layer)
    return report


def _batches(features: Sequence[Feature], size: int) -> Iterator[tuple[Feature, ...]]:
    # itertools.batched needs Python 3.12; the project supports 3.11.
    remaining = iter(features)
    while batch := tuple(islice(remaining, size)):
        yield batch


def _check_features(layer_name: str, features: Sequence[Feature]) -> None:
    if not layer_name or len(layer_name) > MAX_LAYER_NAME:
        raise InvalidInput(f"a layer name has 1 to {MAX_LAYER_NAME} characters")
    if not features:
        raise InvalidInput(f"no districts given for layer {layer_name}")
    repeated = sorted(name for name, n in Counter(f.name for f in features).items() if n > 1)
    if repeated:
        raise InvalidInput(f"district names must be unique in a layer; repeated: {repeated}")
    for feature in features:
        if not feature.name or len(feature.name) > MAX_TEXT:
            raise InvalidInput(f"a district name has 1 to {MAX_TEXT} characters: {feature.name!r}")
        if feature.title is not None and len(feature.title) > MAX_TEXT:
            raise InvalidInput(f"district {feature.name}: title longer than {MAX_TEXT} characters")
        if not isinstance(feature.geometry, MultiPolygon) or feature.geometry.is_empty:
            raise InvalidInput(f"district {feature.name}: geometry is not a MultiPolygon")


def _write_batch(
    session: Session,
    layer: BoundaryLayer,
    batch: Sequence[Feature],
    existing: dict[str, int],
    report: ImportReport,
) -> None:
    checks = district_queries.check_district_geometries(session, [f.geometry.wkb for f in batch])
    new_rows: list[dict[str, Any]] = []
    old_rows: list[dict[str, Any]] = []
    for feature, check in zip(batch, checks, strict=True):
        if check.empty:
            raise InvalidInput(
                f"district {feature.name}: no area is left once its geometry is repaired "
                f"({check.invalid_reason})"
            )
        if check.repaired_wkb is not None:
            geom = WKBElement(check.repaired_wkb, srid=4326)
            report.repairs.append(Repair(feature.name, check.invalid_reason or "invalid"))
        else:
            geom = from_shape(feature.geometry, srid=4326)
        row = {
            "name": feature.name,
            "title": feature.title,
            "properties": feature.properties,
            "area_m2": check.area_m2,
            "geom": geom,
        }
        district_id = existing.get(feature.name)
        if district_id is None:
            new_rows.append(row | {"layer_id": layer.id})
        else:
            old_rows.append(row | {"id": district_id})
    district_queries.insert_districts(session, new_rows)
    district_queries.update_districts(session, old_rows)
    report.inserted += len(new_rows)
    report.updated += len(old_rows)


def _forget_loaded_districts(session: Session, layer: BoundaryLayer) -> None:
    # The districts were written by bulk statements, which bypass objects already loaded:
    # expire them so the next access reads what is now in the database.
    session.expire(layer, ["districts"])
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, District):
            session.expire(loaded)


def set_service_area_from_layer(
    session: Session,
    jurisdiction: Jurisdiction,
    layer_name: str,
    *,
    buffer_m: float | None = None,
) -> ServiceArea:
    """Set the service area to the union of the layer's districts, grown by `buffer_m` metres.

    A small buffer keeps points on the city's edge (street centre-lines, simplified outlines)
    inside. Flushes only; the caller commits.
    """
    _check_buffer(buffer_m)
    with session.begin_nested():
        layer = district_queries.lock_boundary_layer(session, jurisdiction, layer_name)
        if layer is None:
            raise NotFound(f"no layer {layer_name} in {jurisdiction.jurisdiction_id}")
        if district_queries.count_districts(session, layer) == 0:
            raise InvalidInput(f"layer {layer_name} has no districts")
        return _set_service_area(
            session, jurisdiction, district_queries.union_of_layer(layer, buffer_m)
        )


def set_service_area(
    session: Session,
    jurisdiction: Jurisdiction,
    polygons: Sequence[MultiPolygon],
    *,
    buffer_m: float | None = None,
) -> ServiceArea:
    """Set the service area to the union of `polygons` (EPSG:4326), each repaired if invalid,
    grown by `buffer_m` metres. Flushes only; the caller commits."""
    if not polygons:
        raise InvalidInput("no polygons given for the service area")
    _check_buffer(buffer_m)
    with session.begin_nested():
        area = district_queries.union_of_polygons([polygon.wkb for polygon in polygons], buffer_m)
        return _set_service_area(session, jurisdiction, area)


def _check_buffer(buffer_m: float | None) -> None:
    if buffer_m is not None and buffer_m < 0:
        raise InvalidInput("the buffer must be zero or more metres")


def _set_service_area(
    session: Session, jurisdiction: Jurisdiction, area: ScalarSelect[Any]
) -> ServiceArea:
    # Assigned as an SQL expression: PostGIS computes it in the UPDATE, and the attribute is
    # expired by the flush, so reading it afterwards gets the new value.
    jurisdiction.service_area = area  # type: ignore[assignment]
    session.flush()
    size = district_queries.service_area_size(session, jurisdiction)
    if size is None or size[0] <= 0:
        raise InvalidInput("the service area would be empty")
    return ServiceArea(area_m2=size[0], parts=size[1])
