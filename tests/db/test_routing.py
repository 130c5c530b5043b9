"""Routing on the real Los Angeles polygons and the city's own 311 points.

The city labelled each MyLA311 row with its council district (`CD`), so where our router puts
the same points is checked against ground truth, on the very rows the demo seed imports.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from geoalchemy2.shape import to_shape
from sqlalchemy import Connection, func, select, text

from open311.config import geodata_dir
from open311.db import catalogue_queries, district_queries, request_queries
from open311.db.models import (
    BoundaryLayer,
    District,
    RequestDistrict,
    Service,
    ServiceRequest,
    WorkOrder,
)
from open311.domain import jurisdictions, routing
from open311.errors import InvalidInput
from open311.values import CrewKind
from tests.factories import make_api_key, make_request

BASE = "/open311/v2"
CITY_FILES = (
    "myla311_sample_2017-12.csv",
    "myla311_sample_2018-01.csv",
    "myla311_sample_2020-01.csv",
)


@pytest.fixture
def connection(demo_connection: Connection) -> Iterator[Connection]:
    savepoint = demo_connection.begin_nested()
    yield demo_connection
    savepoint.rollback()


@pytest.fixture
def la(db):
    return jurisdictions.resolve(db, "lacity.org")


def city_labels() -> dict[str, str]:
    """SR number -> the city's council district, for rows with a point and a label."""
    labels = {}
    for name in CITY_FILES:
        with (geodata_dir() / "los-angeles" / name).open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                row = {k.lower(): v for k, v in row.items()}
                if row["latitude"] and row["longitude"] and row["cd"].strip():
                    labels.setdefault(row["srnumber"], str(int(float(row["cd"]))))
    return labels


def placements(db, layer: str) -> dict[str, str]:
    rows = db.execute(
        select(ServiceRequest.service_request_id, District.name)
        .join(RequestDistrict, RequestDistrict.service_request_pk == ServiceRequest.id)
        .join(District, District.id == RequestDistrict.district_id)
        .join(BoundaryLayer, BoundaryLayer.id == RequestDistrict.layer_id)
        .where(BoundaryLayer.name == layer)
    )
    return dict(rows.all())


def test_council_districts_agree_with_the_city_on_its_own_points(db):
    labels = city_labels()
    placed = placements(db, "council_districts")
    agreeing = sum(1 for sr, cd in labels.items() if placed.get(sr) == cd)
    share = agreeing / len(labels)
    print(f"\nground truth: {agreeing}/{len(labels)} = {share:.4%} in the city's council district")
    assert len(labels) > 27_000
    assert share >= 0.995


def test_single_request_routing_agrees_with_bulk_routing(db, la):
    """Both SQL forms of the rule place a sample of real points identically; times the query."""
    sample = db.execute(
        select(ServiceRequest.id, ServiceRequest.location)
        .where(ServiceRequest.location.is_not(None))
        .order_by(ServiceRequest.id)
    ).all()[::60]
    recorded = {
        (pk, layer): district
        for pk, layer, district in db.execute(
            select(
                RequestDistrict.service_request_pk,
                RequestDistrict.layer_id,
                RequestDistrict.district_id,
            )
        )
    }
    timings = []
    for pk, location in sample:
        point = to_shape(location)
        started = time.perf_counter()
        found = district_queries.find_districts_at(db, la, point.y, point.x)
        timings.append(time.perf_counter() - started)
        assert {layer: district for layer, _, district, _ in found} == {
            layer: district for (p, layer), district in recorded.items() if p == pk
        }
    median_ms = statistics.median(timings) * 1000
    print(f"\nrouting query over {len(sample)} real points: median {median_ms:.2f} ms")
    assert len(sample) > 400
    assert median_ms < 20


def test_district_lookup_uses_the_spatial_index(db, la):
    db.execute(text("ANALYZE district"))
    plan = (
        db.execute(
            text("EXPLAIN " + district_queries.DISTRICTS_AT.text),
            {"lat": 34.0522, "long": -118.2437, "jurisdiction": la.id},
        )
        .scalars()
        .all()
    )
    assert any("idx_district_geom" in line for line in plan), "\n".join(plan)


def district(db, layer: str, name: str) -> District:
    return db.scalar(
        select(District)
        .join(BoundaryLayer)
        .where(BoundaryLayer.name == layer, District.name == name)
    )


def place(db, la, lat: float, long: float) -> dict[str, str]:
    return {
        layer: name for _, layer, _, name in district_queries.find_districts_at(db, la, lat, long)
    }


def post(db, client, **fields: str) -> ServiceRequest:
    """POST a request with a fresh key and load what was stored."""
    response = client.post(f"{BASE}/requests.json", data={"api_key": make_api_key(db), **fields})
    assert response.status_code == 200, response.data
    return db.scalar(
        select(ServiceRequest).where(
            ServiceRequest.service_request_id == response.json[0]["service_request_id"]
        )
    )


def bulk_place(db, la, points: list[tuple[float, float]]) -> list[dict[str, str]]:
    """Where bulk routing (the seed's form of the rule) puts new requests at (lat, long)s."""
    service = db.scalar(select(Service).where(Service.service_code == "GRAFFITI"))
    requests = [make_request(db, service, lat=lat, long=long) for lat, long in points]
    district_queries.route_located_requests(db, la)
    placed = []
    for request in requests:
        rows = db.execute(
            select(BoundaryLayer.name, District.name)
            .join(RequestDistrict, RequestDistrict.district_id == District.id)
            .join(BoundaryLayer, BoundaryLayer.id == RequestDistrict.layer_id)
            .where(RequestDistrict.service_request_pk == request.id)
        )
        placed.append(dict(rows.all()))
    return placed


def covering(db, layer: str, lat: float, long: float) -> set[str]:
    point = func.ST_SetSRID(func.ST_MakePoint(long, lat), 4326)
    return set(
        db.scalars(
            select(District.name)
            .join(BoundaryLayer)
            .where(BoundaryLayer.name == layer, func.ST_Covers(District.geom, point))
        )
    )


def test_overlapping_neighborhood_councils_pick_the_smaller_one(db, la):
    balboa = district(db, "neighborhood_councils", "LAKE BALBOA NC")
    encino = district(db, "neighborhood_councils", "ENCINO NC")
    overlap = func.ST_PointOnSurface(func.ST_Intersection(balboa.geom, encino.geom))
    x, y = db.execute(select(func.ST_X(overlap), func.ST_Y(overlap))).one()
    assert covering(db, "neighborhood_councils", y, x) == {"LAKE BALBOA NC", "ENCINO NC"}
    assert balboa.area_m2 < encino.area_m2

    assert place(db, la, y, x)["neighborhood_councils"] == "LAKE BALBOA NC"
    assert bulk_place(db, la, [(y, x)])[0]["neighborhood_councils"] == "LAKE BALBOA NC"

    # Balboa also has the lower id: make Encino the smaller, and the choice must follow.
    assert balboa.id < encino.id
    encino.area_m2 = balboa.area_m2 / 2
    db.flush()
    assert place(db, la, y, x)["neighborhood_councils"] == "ENCINO NC"
    assert bulk_place(db, la, [(y, x)])[0]["neighborhood_councils"] == "ENCINO NC"


def test_a_point_on_a_shared_edge_is_routed_the_same_way_every_time(db, la):
    """Vertices of district 14's outline, the first sixteen on its border with district 13:
    covered by both, each goes to the smaller, by single-request and bulk routing alike."""
    cd13 = district(db, "council_districts", "13")
    cd14 = district(db, "council_districts", "14")
    ring = func.ST_ExteriorRing(func.ST_GeometryN(cd14.geom, 1))
    vertices = [
        db.execute(
            select(func.ST_Y(func.ST_PointN(ring, index)), func.ST_X(func.ST_PointN(ring, index)))
        ).one()
        for index in range(1, 40)
    ]
    shared = [
        (lat, long)
        for lat, long in vertices
        if len(covering(db, "council_districts", lat, long)) > 1
    ]
    assert shared == vertices[:16]
    assert all(covering(db, "council_districts", lat, long) == {"13", "14"} for lat, long in shared)
    assert cd13.area_m2 < cd14.area_m2

    def single() -> list[str]:
        return [place(db, la, lat, long)["council_districts"] for lat, long in shared]

    def bulk() -> list[str]:
        return [placed["council_districts"] for placed in bulk_place(db, la, shared)]

    assert single() == bulk() == ["13"] * 16

    # 13 also has the lower id: make 14 the smaller, and both forms must follow the areas.
    assert cd13.id < cd14.id
    cd14.area_m2 = cd13.area_m2 / 2
    db.flush()
    assert single() == bulk() == ["14"] * 16


def test_a_point_in_a_neighborhood_council_gap_gets_a_council_district_only(db, la):
    """Land in the city that no neighborhood council covers, 100 m clear of every council."""
    x, y = db.execute(
        text(
            """
            WITH ncs AS (
                SELECT ST_Buffer(ST_Union(d.geom)::geography, 100)::geometry AS covered
                FROM district d JOIN boundary_layer n ON n.id = d.layer_id
                WHERE n.name = 'neighborhood_councils'
            ), gaps AS (
                SELECT ST_Difference(cd.geom, ncs.covered) AS gap
                FROM district cd JOIN boundary_layer l ON l.id = cd.layer_id, ncs
                WHERE l.name = 'council_districts'
            )
            SELECT ST_X(ST_PointOnSurface(gap)), ST_Y(ST_PointOnSurface(gap))
            FROM gaps WHERE NOT ST_IsEmpty(gap) ORDER BY ST_Area(gap) DESC LIMIT 1
            """
        )
    ).one()
    placed = place(db, la, y, x)
    assert "neighborhood_councils" not in placed
    assert placed["council_districts"]


def test_points_just_outside_every_council_district_snap_to_the_nearest(db):
    snapped = db.execute(
        text(
            """
            SELECT r.service_request_id,
                   ST_Distance(d.geom::geography, r.location::geography) AS metres,
                   (SELECT min(ST_Distance(o.geom::geography, r.location::geography))
                    FROM district o WHERE o.layer_id = d.layer_id) AS nearest
            FROM request_district rd
            JOIN district d ON d.id = rd.district_id
            JOIN boundary_layer l ON l.id = rd.layer_id AND l.name = 'council_districts'
            JOIN service_request r ON r.id = rd.service_request_pk
            WHERE NOT ST_Covers(d.geom, r.location)
            """
        )
    ).all()
    assert snapped, "the real data has points on the simplified outline's edge"
    for _sr, metres, nearest in snapped:
        assert metres <= 100.0
        assert metres == pytest.approx(nearest)


def test_post_inside_the_city_routes_to_the_district_crew(db, client, la):
    request = post(
        db,
        client,
        **{
            "service_code": "GRAFFITI",
            "lat": "34.0537",
            "long": "-118.2427",
            "attribute[SURFACE]": "WALL",
        },
    )
    placed = {d.district.layer.name: d.district.name for d in request.districts}
    assert placed == {"council_districts": "14", "neighborhood_councils": "DOWNTOWN LOS ANGELES"}
    assert request.agency_responsible == "Office of Community Beautification"
    assert not request.needs_location
    (order,) = request.work_orders
    assert order.crew.kind == CrewKind.field
    assert [d.name for d in order.crew.districts] == ["14"]
    assert order.agency.name == "Office of Community Beautification"
    assert request.expected_datetime is not None and order.due_at is not None
    kinds = [a.kind for a in request_queries.find_activity(db, request)]
    assert kinds[:3] == ["submitted", "routed", "work_order_created"]
    public = client.get(f"{BASE}/requests/{request.service_request_id}.json").json[0]
    assert public["agency_responsible"] == "Office of Community Beautification"


def test_post_outside_the_service_area_is_refused_and_stores_nothing(db, client):
    key = make_api_key(db)
    before = db.scalar(select(func.count()).select_from(ServiceRequest))
    orders = db.scalar(select(func.count()).select_from(WorkOrder))
    for fmt in ("json", "xml"):
        response = client.post(
            f"{BASE}/requests.{fmt}",
            data={
                "api_key": key,
                "service_code": "GRAFFITI",
                "lat": "40.7128",
                "long": "-74.0060",
                "attribute[SURFACE]": "WALL",
            },
        )
        assert response.status_code == 400
        assert b"outside the service area" in response.data
    assert db.scalar(select(func.count()).select_from(ServiceRequest)) == before
    assert db.scalar(select(func.count()).select_from(WorkOrder)) == orders


def test_address_only_goes_to_triage_until_staff_locate_it(db, client, la):
    request = post(
        db,
        client,
        **{
            "service_code": "ABANDONED-VEHICLE",
            "address_string": "200 N Spring St",
            "attribute[MAKE]": "Honda",
            "attribute[DURATION]": "OVER_7_DAYS",
        },
    )
    assert request.needs_location and request.districts == []
    (order,) = request.work_orders
    assert order.crew.kind == CrewKind.triage

    with pytest.raises(InvalidInput):
        routing.locate(
            db, request, la, 40.7128, -74.0060, actor="staff:test", now=datetime.now(UTC)
        )
    assert request.needs_location

    placed = routing.locate(
        db, request, la, 34.0537, -118.2427, actor="staff:test", now=datetime.now(UTC)
    )
    assert placed["council_districts"] == "14"
    db.refresh(order)
    assert order.crew.kind == CrewKind.field
    assert [d.name for d in order.crew.districts] == ["14"]
    assert not request.needs_location


def test_a_service_without_a_routing_rule_keeps_its_own_agency(db, client, la):
    service = db.scalar(select(Service).where(Service.service_code == "GRAFFITI"))
    db.delete(catalogue_queries.get_routing_rule(db, service))
    db.flush()
    request = post(
        db,
        client,
        **{
            "service_code": "GRAFFITI",
            "lat": "34.0537",
            "long": "-118.2427",
            "attribute[SURFACE]": "WALL",
        },
    )
    assert request.work_orders == []
    assert request.agency_responsible == service.agency_responsible
    assert {d.district.name for d in request.districts} == {"14", "DOWNTOWN LOS ANGELES"}
