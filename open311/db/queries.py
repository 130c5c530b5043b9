"""Every select() of the app lives here, so query shapes and their indexes are reviewed together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geoalchemy2 import Geography, Geometry
from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    ScalarSelect,
    String,
    any_,
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
from sqlalchemy.orm import Session, joinedload, selectinload

from open311.db.models import (
    Activity,
    Agency,
    ApiClient,
    AuditEntry,
    BoundaryLayer,
    CityHoliday,
    Crew,
    CrewKind,
    District,
    Jurisdiction,
    RequestDistrict,
    RoutingRule,
    Service,
    ServiceAttribute,
    ServiceRequest,
    StaffToken,
    StaffUser,
    Status,
    Workflow,
    WorkOrder,
    WorkOrderState,
    crew_district,
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


def get_routing_rule(session: Session, service: Service) -> RoutingRule | None:
    return session.scalar(
        select(RoutingRule)
        .where(RoutingRule.service_id == service.id)
        .options(
            selectinload(RoutingRule.agency),
            selectinload(RoutingRule.workflow).selectinload(Workflow.steps),
        )
    )


# --- back office: layers, agencies, workflows, the activity log ---------------------------------


def get_layer(session: Session, jurisdiction: Jurisdiction, name: str) -> BoundaryLayer | None:
    return session.scalar(
        select(BoundaryLayer).where(
            BoundaryLayer.jurisdiction_id == jurisdiction.id, BoundaryLayer.name == name
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


def find_activity(session: Session, request: ServiceRequest) -> Sequence[Activity]:
    return session.scalars(
        select(Activity)
        .where(Activity.service_request_pk == request.id)
        .order_by(Activity.at, Activity.id)
    ).all()


def latest_public_status(session: Session, request_pk: int) -> str | None:
    """The update status of the request's latest public activity entry, if any."""
    return session.scalar(
        select(Activity.status)
        .where(Activity.service_request_pk == request_pk, Activity.public)
        .order_by(Activity.at.desc(), Activity.id.desc())
        .limit(1)
    )


# --- staff users and tokens ----------------------------------------------------------------------


def get_staff_user(session: Session, username: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.username == username))


def find_staff_users(session: Session) -> Sequence[StaffUser]:
    return session.scalars(
        select(StaffUser).options(selectinload(StaffUser.crews)).order_by(StaffUser.username)
    ).all()


def find_crews_by_id(session: Session, ids: Sequence[int]) -> Sequence[Crew]:
    if not ids:
        return []
    return session.scalars(select(Crew).where(Crew.id.in_(ids)).order_by(Crew.id)).all()


def get_crew(
    session: Session, jurisdiction: Jurisdiction, agency_code: str, crew_code: str
) -> Crew | None:
    return session.scalar(
        select(Crew)
        .join(Agency)
        .where(
            Agency.jurisdiction_id == jurisdiction.id,
            Agency.code == agency_code,
            Crew.code == crew_code,
        )
    )


def get_staff_token_by_hash(session: Session, token_hash: str) -> StaffToken | None:
    return session.scalar(
        select(StaffToken)
        .where(StaffToken.token_hash == token_hash)
        .options(joinedload(StaffToken.user).selectinload(StaffUser.crews))
    )


def find_live_staff_tokens(
    session: Session, staff_user_id: int, now: datetime
) -> Sequence[StaffToken]:
    return session.scalars(
        select(StaffToken).where(
            StaffToken.staff_user_id == staff_user_id,
            StaffToken.revoked_at.is_(None),
            StaffToken.expires_at > now,
        )
    ).all()


def find_audit_entries(
    session: Session,
    *,
    actor: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int,
) -> Sequence[AuditEntry]:
    statement = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if actor is not None:
        statement = statement.where(AuditEntry.actor == actor)
    if since is not None:
        statement = statement.where(AuditEntry.at >= since)
    if before_id is not None:
        statement = statement.where(AuditEntry.id < before_id)
    return session.scalars(statement.limit(limit)).all()


# --- work orders: crews, row locks, the escalation scan ------------------------------------------

OPEN_WORK_ORDER_STATES = (WorkOrderState.new, WorkOrderState.assigned, WorkOrderState.in_progress)


def get_crew_of_kind(session: Session, agency_id: int, kind: CrewKind) -> Crew | None:
    """The agency's crew of that kind with the lowest id (its triage or supervisor queue)."""
    return session.scalar(
        select(Crew)
        .where(Crew.agency_id == agency_id, Crew.kind == kind)
        .order_by(Crew.id)
        .limit(1)
    )


def find_district_crew(
    session: Session, agency_id: int, request: ServiceRequest, prefer_layer_id: int | None
) -> Crew | None:
    """The agency's field crew covering one of the request's recorded districts: a district of
    `prefer_layer_id` first, then the lowest crew id."""
    preferred = (
        case((RequestDistrict.layer_id == prefer_layer_id, 0), else_=1)
        if prefer_layer_id is not None
        else None
    )
    query = (
        select(Crew)
        .join(crew_district, crew_district.c.crew_id == Crew.id)
        .join(RequestDistrict, RequestDistrict.district_id == crew_district.c.district_id)
        .where(
            RequestDistrict.service_request_pk == request.id,
            Crew.agency_id == agency_id,
            Crew.kind == CrewKind.field,
        )
    )
    order = [Crew.id] if preferred is None else [preferred, Crew.id]
    return session.scalar(query.order_by(*order).limit(1))


def lock_work_order(session: Session, work_order_id: int) -> WorkOrder | None:
    """SELECT ... FOR UPDATE, reloading the row: whoever waited for the lock sees the state the
    other transaction committed, so two staff cannot complete the same work order twice."""
    return session.scalar(
        select(WorkOrder)
        .where(WorkOrder.id == work_order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def find_open_work_orders(
    session: Session, request: ServiceRequest, *, lock: bool = False
) -> Sequence[WorkOrder]:
    """The request's work orders that are not done or cancelled, oldest first."""
    query = (
        select(WorkOrder)
        .where(
            WorkOrder.service_request_pk == request.id,
            WorkOrder.state.in_(OPEN_WORK_ORDER_STATES),
        )
        .order_by(WorkOrder.id)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).all()


def claim_overdue_work_orders(
    session: Session, *, now: datetime, limit: int
) -> Sequence[WorkOrder]:
    """Open, overdue, never escalated work orders, locked for this transaction.

    SKIP LOCKED: rows another escalator holds are passed over rather than waited for, and a row
    it escalated and committed meanwhile fails the re-checked `escalated_at IS NULL`; so
    concurrent escalators never take the same work order. The WHERE clause repeats the predicate
    of the partial index ix_work_order_escalation_due so the planner can use it.
    """
    return session.scalars(
        select(WorkOrder)
        .where(
            WorkOrder.state.in_(OPEN_WORK_ORDER_STATES),
            WorkOrder.escalated_at.is_(None),
            WorkOrder.due_at < now,
        )
        .order_by(WorkOrder.due_at, WorkOrder.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
        .options(selectinload(WorkOrder.service_request), selectinload(WorkOrder.crew))
    ).all()


def find_work_order_activity(session: Session, work_order: WorkOrder) -> Sequence[Activity]:
    return session.scalars(
        select(Activity)
        .where(Activity.work_order_id == work_order.id)
        .order_by(Activity.at, Activity.id)
    ).all()


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
