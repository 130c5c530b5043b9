"""Hotspots (domain/hotspots.py) against a DBSCAN of our own: the same rows projected with pyproj
to the same UTM zone, clustered in plain Python, the memberships compared exactly."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from pyproj import Transformer

from open311.domain import hotspots
from open311.errors import InvalidInput
from open311.values import ServiceType, Status
from tests.factories import insert_request_rows, make_jurisdiction, make_service

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LA = (-118.2437, 34.0522)  # UTM zone 11N
NEW_YORK = (-73.9857, 40.7484)  # UTM zone 18N


def dbscan(points: dict[str, tuple[float, float]], eps: float, min_points: int):
    """Core points (at least `min_points` within `eps`, itself included) and, for every id in
    a cluster, the core ids of its cluster it could belong to (a border point near two clusters
    may go to either, in PostGIS as in DBSCAN)."""
    ids = list(points)
    near = {i: {j for j in ids if math.dist(points[i], points[j]) <= eps} for i in ids}
    core = {i for i in ids if len(near[i]) >= min_points}
    label: dict[str, int] = {}
    for start in sorted(core):
        if start in label:
            continue
        label[start] = len(set(label.values()))
        stack = [start]
        while stack:
            here = stack.pop()
            for other in near[here] & core:
                if other not in label:
                    label[other] = label[start]
                    stack.append(other)
    clusters: dict[int, set[str]] = {}
    for i, k in label.items():
        clusters.setdefault(k, set()).add(i)
    borders = {
        i: {label[c] for c in near[i] & core} for i in ids if i not in core and near[i] & core
    }
    return clusters, borders


def assert_same_clusters(found: hotspots.Hotspots, points, eps, min_points):
    """Every cluster's core points exactly ours, every border point in one of its options,
    nothing else clustered; largest first."""
    clusters, borders = dbscan(points, eps, min_points)
    got = [set(h.service_request_ids) for h in found.hotspots]
    assert [h.count for h in found.hotspots] == [len(s) for s in got]  # all ids listed here
    assert [h.count for h in found.hotspots] == sorted((len(s) for s in got), reverse=True)
    expected_cores = sorted(sorted(c) for c in clusters.values())
    got_cores = sorted(sorted(s - set(borders)) for s in got)
    assert got_cores == expected_cores
    core_to_cluster = {i: k for k, members in clusters.items() for i in members}
    for members in got:
        core_ids = members - set(borders)
        (k,) = {core_to_cluster[i] for i in core_ids}
        for border in members & set(borders):
            assert k in borders[border]
    clustered = set().union(*got) if got else set()
    assert clustered <= set(points)
    assert set(borders) | set(core_to_cluster) >= clustered


def projected(rows, srid):
    to_metres = Transformer.from_crs(4326, srid, always_xy=True)
    return {r["service_request_id"]: to_metres.transform(r["long"], r["lat"]) for r in rows}


def from_metres(centre, srid, dx, dy):
    """(long, lat) of the point dx, dy metres from `centre` in the zone `srid`."""
    to_metres = Transformer.from_crs(4326, srid, always_xy=True)
    back = Transformer.from_crs(srid, 4326, always_xy=True)
    x, y = to_metres.transform(*centre)
    return back.transform(x + dx, y + dy)


def scatter(seed, centre, srid, *, clusters=6, noise=60, prefix="H"):
    """Rows around a few spots (a dozen reports within ~40 m each) and scattered noise within
    ~3 km, at times spread over 60 days before NOW."""
    rng = random.Random(seed)
    rows = []
    spots = [(rng.uniform(-3000, 3000), rng.uniform(-3000, 3000)) for _ in range(clusters)]
    for n in range(clusters * 9 + noise):
        if n < clusters * 9:
            sx, sy = spots[n % clusters]
            dx, dy = sx + rng.gauss(0, 18), sy + rng.gauss(0, 18)
        else:
            dx, dy = rng.uniform(-3000, 3000), rng.uniform(-3000, 3000)
        long, lat = from_metres(centre, srid, dx, dy)
        moment = NOW - timedelta(days=rng.uniform(0, 60))
        rows.append(
            {
                "service_request_id": f"{prefix}-{n}",
                "long": long,
                "lat": lat,
                "requested_datetime": moment,
                "updated_datetime": moment,
                "status": Status.open if n % 3 else Status.closed,
            }
        )
    return rows


@pytest.fixture
def city(db):
    jurisdiction = make_jurisdiction(db)
    service = make_service(db, jurisdiction, "GRAFFITI")
    return jurisdiction, service


def test_clusters_are_a_plain_dbscan_of_the_same_points(db, city):
    jurisdiction, service = city
    rows = scatter(1, LA, 32611)
    insert_request_rows(db, service, rows)
    found = hotspots.find(db, jurisdiction, now=NOW, min_requests=4, radius_m=30)
    assert found.srid == 32611
    assert found.requests_considered == len(rows)
    assert len(found.hotspots) >= 4
    assert_same_clusters(found, projected(rows, 32611), 30, 4)


@pytest.mark.parametrize(("radius", "minimum"), [(10, 2), (50, 5), (120, 8)])
def test_other_radii_and_minimums(db, city, radius, minimum):
    jurisdiction, service = city
    rows = scatter(radius, LA, 32611)
    insert_request_rows(db, service, rows)
    found = hotspots.find(db, jurisdiction, now=NOW, radius_m=radius, min_requests=minimum)
    assert_same_clusters(found, projected(rows, 32611), radius, minimum)


def test_a_city_in_another_utm_zone(db):
    jurisdiction = make_jurisdiction(db, jurisdiction_id="nyc.gov", name="New York")
    service = make_service(db, jurisdiction, "NOISE")
    rows = scatter(7, NEW_YORK, 32618)
    insert_request_rows(db, service, rows)
    found = hotspots.find(db, jurisdiction, now=NOW, radius_m=40, min_requests=5)
    assert found.srid == 32618
    assert found.hotspots
    assert_same_clusters(found, projected(rows, 32618), 40, 5)


@pytest.mark.parametrize("status", [Status.open, Status.closed])
def test_status(db, city, status):
    jurisdiction, service = city
    rows = scatter(3, LA, 32611)
    insert_request_rows(db, service, rows)
    found = hotspots.find(db, jurisdiction, now=NOW, status=status, min_requests=3, radius_m=40)
    chosen = [r for r in rows if r["status"] is status]
    assert found.requests_considered == len(chosen)
    assert found.hotspots
    assert_same_clusters(found, projected(chosen, 32611), 40, 3)


def test_service_codes_window_and_box(db, city):
    jurisdiction, graffiti = city
    bulky = make_service(db, jurisdiction, "BULKY")
    rows = scatter(4, LA, 32611)
    # Every spot gets both services: the rows go round the six spots, alternately per round.
    graffiti_rows = [r for n, r in enumerate(rows) if (n // 6) % 2 == 0]
    bulky_rows = [r for n, r in enumerate(rows) if (n // 6) % 2 == 1]
    insert_request_rows(db, graffiti, graffiti_rows)
    insert_request_rows(db, bulky, bulky_rows)
    start, end = NOW - timedelta(days=30), NOW - timedelta(days=5)
    box = (-118.26, 34.03, -118.23, 34.06)
    found = hotspots.find(
        db,
        jurisdiction,
        now=NOW,
        service_codes=("BULKY",),
        start=start,
        end=end,
        bbox=box,
        radius_m=60,
        min_requests=2,
    )
    chosen = [
        r
        for r in bulky_rows
        if start <= r["requested_datetime"] <= end
        and box[0] <= r["long"] <= box[2]
        and box[1] <= r["lat"] <= box[3]
    ]
    assert found.requests_considered == len(chosen)
    assert_same_clusters(found, projected(chosen, 32611), 60, 2)
    for spot in found.hotspots:
        assert set(spot.service_codes) == {"BULKY"}
        assert start <= spot.first_requested_datetime <= spot.last_requested_datetime <= end
    both = hotspots.find(
        db,
        jurisdiction,
        now=NOW,
        service_codes=("BULKY", "GRAFFITI"),
        radius_m=60,
        min_requests=2,
    )
    assert both.requests_considered == len(rows)
    mixed = [s for s in both.hotspots if len(s.service_codes) == 2]
    assert mixed and all(sum(s.service_codes.values()) == s.count for s in mixed)


def test_a_point_on_the_boundary_of_eps(db, city):
    # Two anchors 49.99 m apart in the zone's metres are neighbours (DBSCAN's <=), a third
    # 50.01 m from the nearer anchor is not: with min 2, the first pair is a hotspot alone.
    jurisdiction, service = city
    rows = []
    for n, dx in enumerate((0.0, 49.99, 49.99 + 50.01)):
        long, lat = from_metres(LA, 32611, dx, 0.0)
        rows.append(
            {
                "service_request_id": f"E-{n}",
                "long": long,
                "lat": lat,
                "requested_datetime": NOW - timedelta(days=1),
            }
        )
    insert_request_rows(db, service, rows)
    found = hotspots.find(db, jurisdiction, now=NOW, radius_m=50, min_requests=2)
    assert [set(h.service_request_ids) for h in found.hotspots] == [{"E-0", "E-1"}]
    (spot,) = found.hotspots
    assert spot.radius_m == pytest.approx(49.99 / 2, abs=0.01)
    wider = hotspots.find(db, jurisdiction, now=NOW, radius_m=50.02, min_requests=2)
    assert [set(h.service_request_ids) for h in wider.hotspots] == [{"E-0", "E-1", "E-2"}]


def test_facts_of_a_hotspot(db, city):
    jurisdiction, service = city
    times = [NOW - timedelta(days=d) for d in (40, 30, 20, 10, 1)]
    rows = []
    for n, moment in enumerate(times):
        long, lat = from_metres(LA, 32611, 10.0 * n, 0.0)
        rows.append(
            {
                "service_request_id": f"F-{n}",
                "long": long,
                "lat": lat,
                "requested_datetime": moment,
                "updated_datetime": moment,
            }
        )
    insert_request_rows(db, service, rows)
    (spot,) = hotspots.find(db, jurisdiction, now=NOW, radius_m=15, min_requests=2).hotspots
    assert spot.count == 5
    assert spot.service_request_ids == ["F-4", "F-3", "F-2", "F-1", "F-0"]  # newest first
    assert spot.first_requested_datetime == times[0]
    assert spot.last_requested_datetime == times[-1]
    assert spot.service_codes == {"GRAFFITI": 5}
    centre = from_metres(LA, 32611, 20.0, 0.0)
    assert (spot.long, spot.lat) == pytest.approx(centre, abs=1e-7)
    assert spot.radius_m == pytest.approx(20.0, abs=0.01)


def test_ids_are_bounded_and_count_is_the_total(db, city, monkeypatch):
    jurisdiction, service = city
    monkeypatch.setattr(hotspots, "IDS_PER_HOTSPOT", 3)
    rows = [
        {
            "service_request_id": f"B-{n}",
            "long": LA[0],
            "lat": LA[1],
            "requested_datetime": NOW - timedelta(hours=n),
        }
        for n in range(7)
    ]
    insert_request_rows(db, service, rows)
    (spot,) = hotspots.find(db, jurisdiction, now=NOW).hotspots
    assert spot.count == 7
    assert spot.service_request_ids == ["B-0", "B-1", "B-2"]


def test_limit_keeps_the_largest(db, city):
    jurisdiction, service = city
    rows = []
    for spot, size in enumerate((3, 6, 4)):
        for n in range(size):
            long, lat = from_metres(LA, 32611, spot * 1000.0 + n, 0.0)
            rows.append(
                {
                    "service_request_id": f"L-{spot}-{n}",
                    "long": long,
                    "lat": lat,
                    "requested_datetime": NOW - timedelta(days=1),
                }
            )
    insert_request_rows(db, service, rows)
    found = hotspots.find(db, jurisdiction, now=NOW, min_requests=3, limit=2)
    assert [h.count for h in found.hotspots] == [6, 4]


def test_nothing_to_cluster(db, city):
    jurisdiction, service = city
    found = hotspots.find(db, jurisdiction, now=NOW)
    assert (found.hotspots, found.requests_considered, found.srid) == ([], 0, None)
    insert_request_rows(db, service, [{"long": LA[0], "lat": LA[1], "requested_datetime": NOW}])
    assert hotspots.find(db, jurisdiction, now=NOW).hotspots == []


def test_only_published_located_requests_of_the_city(db, city):
    jurisdiction, service = city
    feedback = make_service(db, jurisdiction, "FEEDBACK", type=ServiceType.blackbox)
    other_city = make_jurisdiction(db, jurisdiction_id="other.example", name="Other")
    elsewhere = make_service(db, other_city, "GRAFFITI")
    here = {"long": LA[0], "lat": LA[1], "requested_datetime": NOW - timedelta(days=1)}
    insert_request_rows(db, feedback, [here] * 6)
    insert_request_rows(db, elsewhere, [here] * 6)
    insert_request_rows(db, service, [{"requested_datetime": NOW}] * 6)  # no location
    found = hotspots.find(db, jurisdiction, now=NOW)
    assert (found.hotspots, found.requests_considered) == ([], 0)


def test_the_default_window_is_the_last_90_days(db, city):
    jurisdiction, service = city
    old = {"long": LA[0], "lat": LA[1], "requested_datetime": NOW - timedelta(days=91)}
    insert_request_rows(db, service, [old] * 5)
    found = hotspots.find(db, jurisdiction, now=NOW)
    assert (found.start, found.end) == (NOW - timedelta(days=90), NOW)
    assert found.hotspots == []
    since = hotspots.find(db, jurisdiction, now=NOW, start=NOW - timedelta(days=100))
    assert (since.end, [h.count for h in since.hotspots]) == (NOW - timedelta(days=10), [5])


def test_bounds_are_refused(db, city, monkeypatch):
    jurisdiction, service = city
    with pytest.raises(InvalidInput, match="at most 366 days"):
        hotspots.find(db, jurisdiction, now=NOW, start=NOW - timedelta(days=367), end=NOW)
    year = hotspots.find(db, jurisdiction, now=NOW, start=NOW - timedelta(days=366), end=NOW)
    assert year.end - year.start == timedelta(days=366)
    with pytest.raises(InvalidInput, match="earlier than"):
        hotspots.find(db, jurisdiction, now=NOW, start=NOW, end=NOW - timedelta(days=1))
    monkeypatch.setattr(hotspots, "MAX_REQUESTS", 4)
    here = {"long": LA[0], "lat": LA[1], "requested_datetime": NOW - timedelta(days=1)}
    insert_request_rows(db, service, [here] * 5)
    with pytest.raises(InvalidInput, match="more than 4 requests match"):
        hotspots.find(db, jurisdiction, now=NOW)


def test_the_service_area_chooses_the_zone(db):
    from sqlalchemy import text

    # A city whose area lies in zone 18 while the points asked about are in zone 17's edge:
    # the city's zone is used, so a box never changes the answer.
    jurisdiction = make_jurisdiction(db, jurisdiction_id="nyc.gov", name="New York")
    db.execute(
        text(
            "UPDATE jurisdiction SET service_area = ST_Multi(ST_MakeEnvelope(-74.2, 40.5,"
            " -73.7, 40.9, 4326)) WHERE id = :pk"
        ),
        {"pk": jurisdiction.id},
    )
    service = make_service(db, jurisdiction, "NOISE")
    rows = scatter(9, (-78.5, 40.7), 32617)
    insert_request_rows(db, service, rows)
    found = hotspots.find(db, jurisdiction, now=NOW, radius_m=40, min_requests=5)
    assert found.srid == 32618
    assert_same_clusters(found, projected(rows, 32618), 40, 5)
