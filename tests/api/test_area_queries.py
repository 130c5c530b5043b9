"""GET requests by area, district, agency, crew, change feed and text, each checked against a
brute-force answer computed in Python (shapely, pyproj) on the same few hundred requests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from pyproj import Geod
from shapely.geometry import Point, box
from sqlalchemy import insert, text

from open311.db import search_queries
from open311.db.models import RequestDistrict
from open311.values import Status, WorkOrderState
from tests.api.helpers import FORMATS, errors, items_of, url
from tests.factories import (
    insert_request_rows,
    make_agency,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_request,
    make_service,
    make_work_order,
)

LIST_FORMATS = (*FORMATS, "geojson")
GEOD = Geod(ellps="WGS84")
NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def pothole(db, city):
    return make_service(db, city, "POT-01", service_name="Pothole")


@pytest.fixture
def scattered(db, pothole):
    """300 requests around downtown Los Angeles over the last 400 days (so most lie outside the
    default 90-day window), a tenth of them without a location, a third closed."""
    rng = random.Random(20261128)
    rows = []
    for i in range(300):
        moment = NOW - timedelta(seconds=rng.randrange(400 * 86400))
        row = {
            "service_request_id": f"AQ-{i:04d}",
            "requested_datetime": moment,
            "updated_datetime": moment + timedelta(hours=rng.randrange(48)),
            "status": Status.closed if rng.random() < 0.33 else Status.open,
        }
        if rng.random() >= 0.1:
            row["lat"] = round(rng.uniform(33.95, 34.15), 6)
            row["long"] = round(rng.uniform(-118.40, -118.15), 6)
        rows.append(row)
    insert_request_rows(db, pothole, rows)
    return rows


def ids_of(client, fmt: str, **query) -> list[str]:
    response = client.get(url("requests", fmt), query_string={"page_size": 1000} | query)
    return [item["service_request_id"] for item in items_of(response, fmt)]


# --- bbox --------------------------------------------------------------------------------------


BOXES = [
    (-118.30, 34.00, -118.20, 34.10),
    (-118.40, 33.95, -118.15, 34.15),  # everything located
    (-118.2501, 34.0499, -118.2499, 34.0501),  # (almost) nothing
    (-118.35, 34.02, -118.30, 34.03),
]


@pytest.mark.parametrize("fmt", LIST_FORMATS)
@pytest.mark.parametrize("bounds", BOXES)
def test_bbox_matches_shapely(client, scattered, fmt, bounds):
    area = box(*bounds)
    expected = {
        row["service_request_id"]
        for row in scattered
        if "lat" in row and area.covers(Point(row["long"], row["lat"]))
    }

    found = ids_of(client, fmt, bbox=",".join(map(str, bounds)))

    assert set(found) == expected
    assert len(found) == len(expected)


@pytest.mark.parametrize("fmt", FORMATS)
def test_bbox_edges_are_inclusive(client, db, pothole, fmt):
    on_edge = make_request(db, pothole, lat=34.0, long=-118.3).service_request_id
    corner = make_request(db, pothole, lat=34.1, long=-118.2).service_request_id
    make_request(db, pothole, lat=34.1000001, long=-118.25)

    assert set(ids_of(client, fmt, bbox="-118.3,34.0,-118.2,34.1")) == {on_edge, corner}


@pytest.mark.parametrize("fmt", FORMATS)
def test_open_requests_in_a_bbox(client, scattered, fmt):
    bounds = (-118.30, 34.00, -118.20, 34.10)
    area = box(*bounds)
    expected = {
        row["service_request_id"]
        for row in scattered
        if "lat" in row
        and row["status"] is Status.open
        and area.covers(Point(row["long"], row["lat"]))
    }

    found = ids_of(client, fmt, bbox=",".join(map(str, bounds)), status="open")

    assert set(found) == expected


# --- lat/long/radius -----------------------------------------------------------------------------


CIRCLES = [(34.05, -118.25, 5000.0), (34.0, -118.3, 12_000.0), (34.1, -118.2, 800.0)]


def geodesic(row: dict, lat: float, long: float) -> float:
    return GEOD.inv(long, lat, row["long"], row["lat"])[2]


@pytest.mark.parametrize("fmt", LIST_FORMATS)
@pytest.mark.parametrize(("lat", "long", "radius"), CIRCLES)
def test_radius_matches_geodesic_distance(client, scattered, fmt, lat, long, radius):
    located = [row for row in scattered if "lat" in row]
    metres = {row["service_request_id"]: geodesic(row, lat, long) for row in located}
    expected = {sr for sr, d in metres.items() if d <= radius}
    # Points within half a metre of the circle may fall either way between two geodesic
    # implementations; none of the seeded ones do, which this keeps true.
    assert not [d for d in metres.values() if abs(d - radius) < 0.5]

    response = client.get(
        url("requests", fmt),
        query_string={"lat": lat, "long": long, "radius": radius, "page_size": 1000},
    )

    items = items_of(response, fmt)
    assert {item["service_request_id"] for item in items} == expected
    for item in items:
        assert abs(float(item["distance"]) - metres[item["service_request_id"]]) < 0.5


@pytest.mark.parametrize("fmt", FORMATS)
def test_sort_by_distance_nearest_first(client, scattered, fmt):
    lat, long = 34.05, -118.25
    response = client.get(
        url("requests", fmt),
        query_string={"lat": lat, "long": long, "radius": 20000, "sort": "distance"},
    )

    distances = [float(item["distance"]) for item in items_of(response, fmt)]
    assert distances == sorted(distances)
    assert len(distances) > 100
    far_first = client.get(
        url("requests", fmt),
        query_string={"lat": lat, "long": long, "radius": 20000, "sort": "-distance"},
    )
    assert [float(i["distance"]) for i in items_of(far_first, fmt)] == distances[::-1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_distance_of_a_request_at_the_point_is_zero(client, db, pothole, fmt):
    sr = make_request(db, pothole, lat=34.05, long=-118.25).service_request_id

    response = client.get(
        url("requests", fmt), query_string={"lat": 34.05, "long": -118.25, "radius": 0}
    )

    items = items_of(response, fmt)
    assert [item["service_request_id"] for item in items] == [sr]
    assert items[0]["distance"] == (0.0 if fmt == "json" else "0.0")


def test_items_carry_distance_only_with_a_radius(client, scattered):
    (plain,) = items_of(client.get(url("requests/AQ-0001", "json")), "json")
    assert "distance" not in plain
    listed = items_of(client.get(url("requests", "json"), query_string={"page_size": 5}), "json")
    assert all("distance" not in item for item in listed)


# --- districts and layers ------------------------------------------------------------------------


@pytest.fixture
def districts(db, city, scattered):
    """Two layers over the scattered requests; district "1" exists in both."""
    council = make_boundary_layer(db, city, "council_districts")
    hoods = make_boundary_layer(db, city, "neighborhoods")
    shapes = {
        "c1": make_district(db, council, "1", (-118.40, 33.95, -118.25, 34.05)),
        "c2": make_district(db, council, "2", (-118.25, 33.95, -118.15, 34.05)),
        "n1": make_district(db, hoods, "1", (-118.30, 34.00, -118.20, 34.10)),
        "n9": make_district(db, hoods, "Downtown", (-118.40, 34.10, -118.30, 34.15)),
    }
    bounds = {
        "c1": (-118.40, 33.95, -118.25, 34.05),
        "c2": (-118.25, 33.95, -118.15, 34.05),
        "n1": (-118.30, 34.00, -118.20, 34.10),
        "n9": (-118.40, 34.10, -118.30, 34.15),
    }
    pks = dict(
        db.execute(
            text("SELECT service_request_id, id FROM service_request WHERE jurisdiction_id = :j"),
            {"j": city.id},
        ).all()
    )
    members: dict[str, set[str]] = {key: set() for key in shapes}
    placements = []
    for row in scattered:
        if "lat" not in row:
            continue
        point = Point(row["long"], row["lat"])
        placed_layers = set()
        for key, district in shapes.items():
            # One district per layer, as routing records it (first match wins here).
            if district.layer_id in placed_layers or not box(*bounds[key]).covers(point):
                continue
            placed_layers.add(district.layer_id)
            members[key].add(row["service_request_id"])
            placements.append(
                {
                    "service_request_pk": pks[row["service_request_id"]],
                    "layer_id": district.layer_id,
                    "district_id": district.id,
                }
            )
    db.execute(insert(RequestDistrict), placements)
    return shapes, members


@pytest.mark.parametrize("fmt", FORMATS)
def test_district_by_name_with_layer_by_name_or_id(client, districts, fmt):
    shapes, members = districts
    council = shapes["c1"].layer_id

    by_name = ids_of(client, fmt, district="1", layer="council_districts")
    by_layer_id = ids_of(client, fmt, district="1", layer=str(council))

    assert set(by_name) == set(by_layer_id) == members["c1"]
    assert set(ids_of(client, fmt, district="2")) == members["c2"]  # only one layer has a "2"
    assert set(ids_of(client, fmt, district="Downtown")) == members["n9"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_district_by_id(client, districts, fmt):
    shapes, members = districts

    assert set(ids_of(client, fmt, district=str(shapes["n1"].id))) == members["n1"]


@pytest.mark.parametrize("fmt", (*FORMATS, "geojson"))
@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"district": "1"}, ["ambiguous", "several layers", "layer"]),
        ({"district": "No such"}, ["district", "No such"]),
        ({"district": "1", "layer": "nope"}, ["layer", "nope"]),
        ({"district": "Downtown", "layer": "council_districts"}, ["Downtown"]),
        ({"layer": "council_districts"}, ["layer", "district"]),
    ],
)
def test_bad_district_or_layer_is_400(client, districts, fmt, query, words):
    response = client.get(url("requests", fmt), query_string=query)

    (description,) = errors(response, "json" if fmt == "geojson" else fmt, 400)
    assert any(word in description for word in words), description


# --- agency_responsible and crew -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_agency_by_code_name_or_service_agency(client, db, city, pothole, fmt):
    make_agency(db, city, "BOS", name="Sanitation Bureau")
    sanitation = make_request(db, pothole, agency_responsible="Sanitation Bureau")
    streets = make_request(db, pothole, agency_responsible="Bureau of Street Services")
    make_request(db, pothole, agency_responsible=None)

    assert ids_of(client, fmt, agency_responsible="BOS") == [sanitation.service_request_id]
    assert ids_of(client, fmt, agency_responsible="sanitation bureau") == [
        sanitation.service_request_id
    ]
    # No agency row, but the service names it: a known agency too.
    assert ids_of(client, fmt, agency_responsible="Bureau of Street Services") == [
        streets.service_request_id
    ]
    (description,) = errors(
        client.get(url("requests", fmt), query_string={"agency_responsible": "Nobody"}), fmt, 400
    )
    assert "agency_responsible" in description


@pytest.mark.parametrize("fmt", FORMATS)
def test_crew_means_an_open_work_order_of_that_crew(client, db, city, pothole, fmt):
    agency = make_agency(db, city, "BOS")
    other_agency = make_agency(db, city, "OCB")
    crew = make_crew(db, agency, "CD14")
    other = make_crew(db, agency, "CD1")
    assigned = make_request(db, pothole)
    in_progress = make_request(db, pothole)
    done = make_request(db, pothole)
    elsewhere = make_request(db, pothole)
    make_work_order(db, assigned, agency, crew=crew)
    make_work_order(db, in_progress, agency, crew=crew, state=WorkOrderState.in_progress)
    make_work_order(db, done, agency, crew=crew, state=WorkOrderState.done)
    make_work_order(db, elsewhere, agency, crew=other)
    wanted = {assigned.service_request_id, in_progress.service_request_id}

    assert set(ids_of(client, fmt, crew="CD14")) == wanted
    assert set(ids_of(client, fmt, crew=str(crew.id))) == wanted
    make_crew(db, other_agency, "CD14")  # now the code is ambiguous, the id is not
    (description,) = errors(
        client.get(url("requests", fmt), query_string={"crew": "CD14"}), fmt, 400
    )
    assert "id" in description
    assert set(ids_of(client, fmt, crew=str(crew.id))) == wanted
    errors(client.get(url("requests", fmt), query_string={"crew": "NOPE"}), fmt, 400)


# --- the change feed and text --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_updated_after_and_before_are_strict(client, scattered, fmt):
    ordered = sorted(scattered, key=lambda r: r["updated_datetime"])
    after = ordered[100]["updated_datetime"]
    before = ordered[200]["updated_datetime"]
    expected = {
        r["service_request_id"] for r in scattered if after < r["updated_datetime"] < before
    }

    found = ids_of(client, fmt, updated_after=stamp(after), updated_before=stamp(before))

    assert set(found) == expected
    only_after = ids_of(client, fmt, updated_after=stamp(after))
    assert set(only_after) == {
        r["service_request_id"] for r in scattered if r["updated_datetime"] > after
    }


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("sort", "field", "reverse"),
    [
        ("requested_datetime", "requested_datetime", False),
        ("-requested_datetime", "requested_datetime", True),
        ("updated_datetime", "updated_datetime", False),
        ("-updated_datetime", "updated_datetime", True),
    ],
)
def test_sort_orders(client, scattered, fmt, sort, field, reverse):
    start = NOW - 89 * DAY
    expected = [
        r["service_request_id"]
        for r in sorted(scattered, key=lambda r: r[field], reverse=reverse)
        if r["requested_datetime"] >= start
    ]

    # sort alone keeps the standard window (here: 90 days from start_date); times are distinct
    # seconds drawn from 400 days, so the order is the sort's, not the tie-break's.
    response = client.get(
        url("requests", fmt), query_string={"sort": sort, "start_date": stamp(start)}
    )
    assert [item["service_request_id"] for item in items_of(response, fmt)] == expected
    assert 40 < len(expected) < 1000


# --- input errors ---------------------------------------------------------------------------------


BAD = [
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "1,2,3,4,5"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "-118.3,34.0,-118.2,nan"}, "bbox"),
    ({"bbox": "-190,34,-118,35"}, "bbox"),
    ({"bbox": "-118,-91,-117,35"}, "bbox"),
    ({"bbox": "-118.2,34.0,-118.3,34.1"}, "bbox"),
    ({"bbox": "-118.3,34.1,-118.2,34.0"}, "bbox"),
    ({"lat": "34", "long": "-118", "radius": "-1"}, "radius"),
    ({"lat": "34", "long": "-118", "radius": "50001"}, "radius"),
    ({"lat": "34", "long": "-118", "radius": "far"}, "radius"),
    ({"radius": "100"}, "radius"),
    ({"lat": "34", "long": "-118"}, "radius"),
    ({"lat": "34", "radius": "100"}, "radius"),
    ({"lat": "91", "long": "-118", "radius": "100"}, "lat"),
    ({"lat": "34", "long": "-181", "radius": "100"}, "long"),
    ({"sort": "distance"}, "sort"),
    ({"sort": "status"}, "sort"),
    ({"updated_after": "yesterday"}, "updated_after"),
    ({"updated_before": "2024-01-01"}, "updated_before"),
    (
        {"updated_after": "2024-01-02T00:00:00Z", "updated_before": "2024-01-01T00:00:00Z"},
        "updated_before",
    ),
    ({"district": "x" * 256}, "district"),
    ({"crew": "x" * 65}, "crew"),
    ({"q": "x" * 501}, "q"),
    ({"extensions": "maybe"}, "extensions"),
]


@pytest.mark.parametrize("fmt", LIST_FORMATS)
@pytest.mark.parametrize(("query", "name"), BAD)
def test_bad_area_and_filter_arguments_are_400(client, pothole, fmt, query, name):
    response = client.get(url("requests", fmt), query_string=query)

    descriptions = errors(response, "json" if fmt == "geojson" else fmt, 400)
    assert any(name in d for d in descriptions), descriptions


@pytest.mark.parametrize("fmt", FORMATS)
def test_service_request_id_still_overrides_the_new_filters(client, scattered, fmt):
    outside = next(r for r in scattered if "lat" in r and r["long"] < -118.35)

    found = ids_of(
        client,
        fmt,
        service_request_id=outside["service_request_id"],
        bbox="-118.3,34.0,-118.2,34.1",
        updated_after=stamp(NOW),
        sort="updated_datetime",
    )

    assert found == [outside["service_request_id"]]


# --- text search (the search_vector column of migration 0003) ----------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_q_searches_description_and_address(client, db, pothole, fmt):
    lamp = make_request(db, pothole, description="Streetlights are out near the school")
    corner = make_request(db, pothole, description="Trash", address="200 N Spring St")
    make_request(db, pothole, description="Pothole on the bike lane")

    assert ids_of(client, fmt, q="streetlight") == [lamp.service_request_id]
    assert ids_of(client, fmt, q="spring street") == []  # websearch: both words, stemmed
    assert ids_of(client, fmt, q="spring") == [corner.service_request_id]
    assert set(ids_of(client, fmt, q="school or spring")) == {
        lamp.service_request_id,
        corner.service_request_id,
    }
    assert ids_of(client, fmt, q='"bike lane" -streetlight') != []


# --- indexes -----------------------------------------------------------------------------------


def plan_of(db, city, search: search_queries.RequestSearch) -> str:
    sql, params = search_queries.page_sql(city, search, "json")
    return explain(db, sql, params)


def explain(db, sql: str, params: dict) -> str:
    cursor = db.connection().connection.cursor()
    # A test table is small enough for a sequential scan to win; what matters here is that
    # each filter *can* use its index, so the planner is told to avoid seq scans.
    cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute("EXPLAIN " + sql, params)
    plan = "\n".join(row[0] for row in cursor.fetchall())
    cursor.execute("SET LOCAL enable_seqscan = on")
    return plan


@pytest.mark.parametrize(
    ("search", "indexes"),
    [
        (
            search_queries.RequestSearch(bbox=search_queries.BBox(-118.3, 34.0, -118.2, 34.1)),
            ("idx_service_request_location",),
        ),
        (
            search_queries.RequestSearch(
                bbox=search_queries.BBox(-118.3, 34.0, -118.2, 34.1), statuses=(Status.open,)
            ),
            ("ix_service_request_location_open",),
        ),
        (
            search_queries.RequestSearch(near=search_queries.Near(34.05, -118.25, 1000)),
            ("idx_service_request_location", "ix_service_request_location_open"),
        ),
        (
            search_queries.RequestSearch(
                near=search_queries.Near(34.05, -118.25, 1000),
                sort=search_queries.Sort("distance", False),
            ),
            ("idx_service_request_location",),  # nearest first: ring by ring
        ),
        (
            search_queries.RequestSearch(
                updated_after=NOW - DAY, sort=search_queries.Sort("updated_datetime", False)
            ),
            ("ix_service_request_updated",),
        ),
        (
            search_queries.RequestSearch(
                sort=search_queries.Sort("updated_datetime", False), after=(NOW - DAY, 10)
            ),
            ("ix_service_request_updated",),
        ),
        (search_queries.RequestSearch(text="pothole"), ("ix_service_request_search_vector",)),
    ],
    ids=["bbox", "bbox-open", "radius", "nearest", "change-feed", "change-feed-cursor", "q"],
)
def test_queries_can_use_their_index(db, city, scattered, search, indexes):
    db.execute(text("ANALYZE service_request"))

    plan = plan_of(db, city, search)

    assert any(index in plan for index in indexes), plan


# --- the jurisdiction, resolved inside the statements ---------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "query, refusal",
    [
        ({}, None),
        ({"district": "1"}, "district: 1 names districts in several layers"),
        ({"crew": "CD14"}, "crew: CD14 is not a crew of this jurisdiction"),
        ({"agency_responsible": "BOS"}, "agency_responsible: BOS is not an agency here"),
        ({"page_size": 5}, None),
    ],
)
def test_wrong_jurisdiction_is_still_404_or_400(client, db, districts, fmt, query, refusal):
    unknown = client.get(url("requests", fmt), query_string=query | {"jurisdiction_id": "x.org"})
    (description,) = errors(unknown, fmt, 404)
    assert "x.org" in description

    make_jurisdiction(db, jurisdiction_id="example.gov", name="Example")
    (description,) = errors(client.get(url("requests", fmt), query_string=query), fmt, 400)
    assert "jurisdiction_id" in description
    # Named, the jurisdiction answers as it would alone: the fixture has two layers with a
    # district "1" and no crews or agencies.
    named = client.get(url("requests", fmt), query_string=query | {"jurisdiction_id": "lacity.org"})
    if refusal is None:
        assert items_of(named, fmt)
    else:
        (description,) = errors(named, fmt, 400)
        assert description.startswith(refusal)


def test_the_cheap_inside_test_never_admits_a_point_outside_the_circle():
    """near_scales bounds the geodesic distance from above; check it against pyproj wherever
    a circle may be (the equator, mid latitudes, near a pole) and for every radius allowed."""
    rng = random.Random(4)
    for _ in range(300):
        near = search_queries.Near(
            rng.uniform(-85, 85), rng.uniform(-179, 179), rng.choice([1, 50, 500, 5000, 50_000])
        )
        kx, ky = search_queries.near_scales(near)
        west, south, east, north = search_queries.near_box(near)
        for _ in range(50):
            long, lat = rng.uniform(west, east), rng.uniform(max(south, -90), min(north, 90))
            bound = ((long - near.long) * kx) ** 2 + ((lat - near.lat) * ky) ** 2
            if bound <= near.radius**2:
                assert GEOD.inv(near.long, near.lat, long, lat)[2] <= near.radius
