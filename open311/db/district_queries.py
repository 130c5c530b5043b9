"""Boundary layers and districts: which district a point lies in, bulk routing by place,
imports' geometry checks and the service area."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from geoalchemy2 import Geography, Geometry
from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    ScalarSelect,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from open311.db.models import (
    BoundaryLayer,
    District,
    Jurisdiction,
)

# --- routing: which district of each layer a point lies in -------------------------------------

# The one rule, shared by single requests and bulk routing: the district that covers the point
# (its boundary included); among several (overlaps), the smallest, then the lowest id; when none
# covers it (gaps, slivers, street centre-lines), the nearest within the layer's snap tolerance.
# COALESCE evaluates the costly nearest-district search only for the rare uncovered point.
# ST_Covers and ST_DWithin on geometry both use the GiST index; the planar degree distance
# (`{degrees}`: the tolerance as degrees of longitude, the wider kind) is only a prefilter for
# the exact metric test on geography.
_BEST_DISTRICT_ID = """
    COALESCE(
        (SELECT d.id FROM district d
         WHERE d.layer_id = {layer} AND ST_Covers(d.geom, {point})
         ORDER BY d.area_m2, d.id LIMIT 1),
        (SELECT d.id FROM district d
         WHERE d.layer_id = {layer}
           AND ST_DWithin(d.geom, {point}, {degrees})
           AND ST_DWithin(d.geom::geography, ({point})::geography, {tolerance})
         ORDER BY ST_Distance(d.geom::geography, ({point})::geography), d.id LIMIT 1)
    )
"""


_DEGREES = "{tolerance} / (111320.0 * greatest(cos(radians({lat})), 0.01))"


def _best_district_id(point: str, lat: str) -> str:
    tolerance = "l.snap_tolerance_m"
    degrees = _DEGREES.format(tolerance=tolerance, lat=lat)
    return _BEST_DISTRICT_ID.format(layer="l.id", point=point, tolerance=tolerance, degrees=degrees)


DISTRICTS_AT = text(
    f"""
    SELECT placed.layer_id, placed.layer_name, d.id, d.name
    FROM (SELECT l.id AS layer_id, l.name AS layer_name,
                 {_best_district_id("ST_SetSRID(ST_MakePoint(:long, :lat), 4326)", ":lat")}
                 AS district_id
          FROM boundary_layer l WHERE l.jurisdiction_id = :jurisdiction) placed
    JOIN district d ON d.id = placed.district_id
    ORDER BY placed.layer_id
    """
)


def find_districts_at(
    session: Session, jurisdiction: Jurisdiction, lat: float, long: float
) -> list[tuple[int, str, int, str]]:
    """(layer id, layer name, district id, district name) for every layer of the jurisdiction,
    by the rule; layers with no district for the point are left out."""
    params = {"lat": lat, "long": long, "jurisdiction": jurisdiction.id}
    return [tuple(row) for row in session.execute(DISTRICTS_AT, params)]


# DISTRICTS_AT behind the service-area check, in one statement: the first column says whether
# the jurisdiction's service area covers the point (true without one); the districts are looked
# up only when it does (one row of NULLs otherwise, or when no layer has a district there).
PLACES_AT = text(
    f"""
    SELECT area.covered, placed.layer_id, placed.layer_name, d.id, d.name
    FROM (SELECT service_area IS NULL
                 OR ST_Covers(service_area, ST_SetSRID(ST_MakePoint(:long, :lat), 4326))
                 AS covered
          FROM jurisdiction WHERE id = :jurisdiction) area
    LEFT JOIN ((SELECT l.id AS layer_id, l.name AS layer_name,
                       {_best_district_id("ST_SetSRID(ST_MakePoint(:long, :lat), 4326)", ":lat")}
                       AS district_id
                FROM boundary_layer l WHERE l.jurisdiction_id = :jurisdiction) placed
               JOIN district d ON d.id = placed.district_id)
      ON area.covered
    ORDER BY placed.layer_id
    """
)


def find_places_at(
    session: Session, jurisdiction: Jurisdiction, lat: float, long: float
) -> list[tuple[int, str, int, str]] | None:
    """find_districts_at, or None when the point is outside the jurisdiction's service area
    (covers_point): both in one round trip."""
    params = {"lat": lat, "long": long, "jurisdiction": jurisdiction.id}
    rows = session.execute(PLACES_AT, params).all()
    if not rows or not rows[0][0]:
        return None
    return [tuple(row[1:]) for row in rows if row[1] is not None]


def covers_point(session: Session, jurisdiction: Jurisdiction, lat: float, long: float) -> bool:
    """Whether the jurisdiction's service area holds the point; True when it has none."""
    sql = text(
        "SELECT service_area IS NULL "
        "OR ST_Covers(service_area, ST_SetSRID(ST_MakePoint(:long, :lat), 4326)) "
        "FROM jurisdiction WHERE id = :jurisdiction"
    )
    return bool(session.scalar(sql, {"lat": lat, "long": long, "jurisdiction": jurisdiction.id}))


def route_located_requests(session: Session, jurisdiction: Jurisdiction) -> int:
    """Record the districts of every located request that has none yet (imported history), by
    the same rule as single requests. Returns the placements recorded.

    Set-based rather than one lookup per request: joining from each district to the requests it
    covers lets PostGIS prepare each polygon once and probe the requests' GiST index (30,000
    requests in well under a second); then only the few points no district covers take the
    per-point nearest-district search. tests/db/test_routing.py checks both forms agree.
    """
    params = {"jurisdiction": jurisdiction.id}
    unplaced = """
        NOT EXISTS (SELECT 1 FROM request_district x
                    WHERE x.service_request_pk = r.id AND x.layer_id = l.id)
    """
    covered = text(
        f"""
        INSERT INTO request_district (service_request_pk, layer_id, district_id)
        SELECT DISTINCT ON (r.id, l.id) r.id, l.id, d.id
        FROM boundary_layer l
        JOIN district d ON d.layer_id = l.id
        JOIN service_request r
          ON r.jurisdiction_id = l.jurisdiction_id AND ST_Covers(d.geom, r.location)
        WHERE l.jurisdiction_id = :jurisdiction AND {unplaced}
        ORDER BY r.id, l.id, d.area_m2, d.id
        """
    )
    placed = session.execute(covered, params).rowcount
    # The points left over (no district covers them) are found once, then each takes the
    # nearest district inside the layer's tolerance: the cheap planar prefilter first, the
    # geography distance only on what passes it.
    degrees = _DEGREES.format(tolerance="l.snap_tolerance_m", lat="ST_Y(r.location)")
    snapped = text(
        f"""
        INSERT INTO request_district (service_request_pk, layer_id, district_id)
        WITH left_over AS MATERIALIZED (
            SELECT r.id, r.location, l.id AS layer_id
            FROM service_request r
            JOIN boundary_layer l ON l.jurisdiction_id = r.jurisdiction_id
            WHERE r.jurisdiction_id = :jurisdiction AND r.location IS NOT NULL AND {unplaced}
        )
        SELECT r.id, l.id, nearest.id
        FROM left_over r
        JOIN boundary_layer l ON l.id = r.layer_id
        CROSS JOIN LATERAL (
            SELECT d.id, ST_Distance(d.geom::geography, r.location::geography) AS metres
            FROM district d
            WHERE d.layer_id = l.id AND ST_DWithin(d.geom, r.location, {degrees})
            ORDER BY metres, d.id
            LIMIT 1
        ) nearest
        WHERE nearest.metres <= l.snap_tolerance_m
        """
    )
    return placed + session.execute(snapped, params).rowcount


# --- back office: layers, agencies, workflows, the activity log ---------------------------------


def get_layer(session: Session, jurisdiction: Jurisdiction, name: str) -> BoundaryLayer | None:
    return session.scalar(
        select(BoundaryLayer).where(
            BoundaryLayer.jurisdiction_id == jurisdiction.id, BoundaryLayer.name == name
        )
    )


# --- district layers: import, repair, service area (open311 geodata) ----------------------------


def _polygonal(geom: ColumnElement[Any]) -> ColumnElement[Any]:
    """A valid MultiPolygon of what is polygonal in `geom`: repairs drop stray lines and points."""
    return func.ST_Multi(func.ST_CollectionExtract(func.ST_MakeValid(geom), 3))


def lock_boundary_layer(
    session: Session, jurisdiction: Jurisdiction, name: str
) -> BoundaryLayer | None:
    """The layer, locked until commit: two imports of one layer run one after the other."""
    return session.scalar(
        select(BoundaryLayer)
        .where(BoundaryLayer.jurisdiction_id == jurisdiction.id, BoundaryLayer.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def find_boundary_layers_with_counts(
    session: Session, jurisdiction: Jurisdiction
) -> list[tuple[BoundaryLayer, int]]:
    """Every layer of the jurisdiction by name, with its number of districts."""
    query = (
        select(BoundaryLayer, func.count(District.id))
        .outerjoin(District, District.layer_id == BoundaryLayer.id)
        .where(BoundaryLayer.jurisdiction_id == jurisdiction.id)
        .group_by(BoundaryLayer.id)
        .order_by(BoundaryLayer.name)
    )
    return [(layer, count) for layer, count in session.execute(query)]


def district_ids_by_name(session: Session, layer: BoundaryLayer) -> dict[str, int]:
    query = select(District.name, District.id).where(District.layer_id == layer.id)
    return {row.name: row.id for row in session.execute(query)}


def count_districts(session: Session, layer: BoundaryLayer) -> int:
    return session.scalar(select(func.count()).where(District.layer_id == layer.id)) or 0


@dataclass(frozen=True)
class GeometryCheck:
    """What PostGIS says of one geometry about to become a district."""

    invalid_reason: str | None  # ST_IsValidReason, when the input is invalid
    repaired_wkb: bytes | None  # the repaired MultiPolygon, when the input is invalid
    empty: bool  # nothing polygonal is left after the repair
    area_m2: float  # on the spheroid (geography), after the repair


def check_district_geometries(session: Session, wkbs: Sequence[bytes]) -> list[GeometryCheck]:
    """Validate, repair and measure EPSG:4326 geometries in one round trip, in input order.

    Valid input comes back as it went in (no WKB returned); only repaired ones are sent back.
    The CTEs are MATERIALIZED so each geometry is parsed and validated once, not once per use.
    """
    given = (
        func.unnest(bindparam("wkbs", list(wkbs), type_=ARRAY(LargeBinary)))
        .table_valued("wkb", with_ordinality="position")
        .render_derived()
    )
    parsed_geom = func.ST_GeomFromWKB(given.c.wkb, 4326)
    parsed = (
        select(
            given.c.position,
            parsed_geom.label("geom"),
            func.ST_IsValid(parsed_geom).label("valid"),
        )
        .cte("parsed")
        .prefix_with("MATERIALIZED")
    )
    fixed = (
        select(
            parsed.c.position,
            parsed.c.valid,
            case((parsed.c.valid, None), else_=func.ST_IsValidReason(parsed.c.geom)).label(
                "reason"
            ),
            case((parsed.c.valid, parsed.c.geom), else_=_polygonal(parsed.c.geom)).label("geom"),
        )
        .cte("fixed")
        .prefix_with("MATERIALIZED")
    )
    query = select(
        fixed.c.reason,
        case((fixed.c.valid, None), else_=func.ST_AsBinary(fixed.c.geom)),
        func.ST_IsEmpty(fixed.c.geom),
        func.ST_Area(cast(fixed.c.geom, Geography)),
    ).order_by(fixed.c.position)
    return [
        GeometryCheck(reason, bytes(wkb) if wkb is not None else None, empty, area or 0.0)
        for reason, wkb, empty, area in session.execute(query)
    ]


def insert_districts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Many districts in one statement (rows: District attribute names to values)."""
    if rows:
        session.execute(insert(District), rows)


def update_districts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Rewrite districts by primary key (`id` in each row), so links to them stay."""
    if rows:
        session.execute(update(District), rows)


def delete_districts(session: Session, ids: list[int]) -> None:
    """Crew coverage and request placements of these districts go with them (ON DELETE CASCADE)."""
    if ids:
        session.execute(
            delete(District).where(District.id.in_(ids)),
            execution_options={"synchronize_session": False},
        )


def _grown(area: ColumnElement[Any], buffer_m: float | None) -> ColumnElement[Any]:
    # Buffered as geography: PostGIS projects to a metric CRS chosen for the extent (UTM zone or
    # Lambert azimuthal) and back, so `buffer_m` is metres at any latitude.
    if buffer_m:
        area = cast(func.ST_Buffer(cast(area, Geography), buffer_m), Geometry)
    return _polygonal(area)


def union_of_layer(layer: BoundaryLayer, buffer_m: float | None = None) -> ScalarSelect[Any]:
    """The union of the layer's districts, grown by `buffer_m` metres: a service-area value."""
    return (
        select(_grown(func.ST_Union(District.geom), buffer_m))
        .where(District.layer_id == layer.id)
        .scalar_subquery()
    )


def union_of_polygons(wkbs: Sequence[bytes], buffer_m: float | None = None) -> ScalarSelect[Any]:
    """The union of EPSG:4326 polygons (each repaired first), grown by `buffer_m` metres."""
    given = (
        func.unnest(bindparam("area_wkbs", list(wkbs), type_=ARRAY(LargeBinary)))
        .table_valued("wkb")
        .render_derived()
    )
    each = _polygonal(func.ST_GeomFromWKB(given.c.wkb, 4326))
    return select(_grown(func.ST_Union(each), buffer_m)).scalar_subquery()


def service_area_size(session: Session, jurisdiction: Jurisdiction) -> tuple[float, int] | None:
    """(area in m², number of polygons) of the service area; None when it has none."""
    area = Jurisdiction.service_area
    row = session.execute(
        select(func.ST_Area(cast(area, Geography)), func.ST_NumGeometries(area)).where(
            Jurisdiction.id == jurisdiction.id, area.is_not(None)
        )
    ).first()
    return (row[0] or 0.0, row[1] or 0) if row else None
