"""The second demo city, New York City, next to Los Angeles: its real complaint types as services,
routing by its community districts, one day of its real 311 requests, and idempotent re-runs."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import pytest
from shapely.geometry import Point, shape
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from open311.db.models import (
    Agency,
    Crew,
    District,
    Jurisdiction,
    RequestDistrict,
    Service,
    ServiceRequest,
    WorkOrder,
)
from open311.demo.new_york import (
    SAMPLE_FILE,
    city_dir,
    parse_nyc_datetime,
    repair_text,
    seed_new_york,
)
from open311.demo.seed import seed_demo_city
from open311.values import Status
from tests.api.helpers import body, url
from tests.factories import make_api_key

# Park Slope, Brooklyn: Community District 6 (boro_cd 306), City Council District 39.
PARK_SLOPE = (40.6710, -73.9778)
HISTORY = {"start_date": "2023-02-28T00:00:00-05:00", "end_date": "2023-03-01T00:00:00-05:00"}


@pytest.fixture(scope="module")
def two_cities(engine: Engine) -> Iterator[Connection]:
    """Both demo cities (Los Angeles without its history, which these tests do not read)."""
    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            seed_demo_city(session, with_history=False)
            seed_new_york(session)
            session.commit()
        yield conn
        outer.rollback()


@pytest.fixture
def connection(two_cities: Connection) -> Iterator[Connection]:
    savepoint = two_cities.begin_nested()
    yield two_cities
    savepoint.rollback()


def sample_rows() -> list[dict[str, str]]:
    with (city_dir() / SAMPLE_FILE).open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def containing(file_name: str, field: str, point: tuple[float, float]) -> str:
    """The district of a boundary file that holds `point`, read with shapely, not PostGIS."""
    lat, long = point
    document = json.loads((city_dir() / file_name).read_text())
    (found,) = [
        str(feature["properties"][field])
        for feature in document["features"]
        if shape(feature["geometry"]).contains(Point(long, lat))
    ]
    return found


def test_each_jurisdiction_lists_its_own_services(client) -> None:
    top = [name for name, _ in Counter(r["Complaint Type"] for r in sample_rows()).most_common(30)]
    for fmt in ("json", "xml"):
        response = client.get(url("services", fmt), query_string={"jurisdiction_id": "nyc.gov"})
        assert response.status_code == 200
        services = body(response, fmt)
        names = [service["service_name"] for service in services]
        assert sorted(names) == sorted(top)
        by_name = {service["service_name"]: service for service in services}
        heat = by_name["HEAT/HOT WATER"]
        assert heat["service_code"] == "HEAT-HOT-WATER"
        assert heat["group"] == "housing"
        assert "apartment only" in heat["keywords"]
        assert by_name["Illegal Parking"]["service_code"] == "ILLEGAL-PARKING"
    la = body(
        client.get(url("services", "json"), query_string={"jurisdiction_id": "lacity.org"}), "json"
    )
    la_codes = {service["service_code"] for service in la}
    assert "GRAFFITI" in la_codes
    assert "HEAT-HOT-WATER" not in la_codes
    # Without jurisdiction_id, a call still means Los Angeles, as before New York was added.
    unnamed = body(client.get(url("services", "json")), "json")
    assert {service["service_code"] for service in unnamed} == la_codes


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_brooklyn_request_goes_to_its_community_districts_crew(client, db, fmt) -> None:
    assert containing("community_districts.geojson", "boro_cd", PARK_SLOPE) == "306"
    assert containing("council_districts.geojson", "district_number", PARK_SLOPE) == "39"
    response = client.post(
        url("requests", fmt),
        data={
            "api_key": make_api_key(db),
            "jurisdiction_id": "nyc.gov",
            "service_code": "STREET-CONDITION",
            "lat": PARK_SLOPE[0],
            "long": PARK_SLOPE[1],
            "description": "Pothole by the bus stop",
        },
    )
    assert response.status_code == 200, response.data
    (answer,) = body(response, fmt)
    request = db.scalars(
        select(ServiceRequest).where(
            ServiceRequest.service_request_id == answer["service_request_id"]
        )
    ).one()
    jurisdiction = db.get(Jurisdiction, request.jurisdiction_id)
    assert jurisdiction.jurisdiction_id == "nyc.gov"
    assert request.agency_responsible == "Department of Transportation"
    placed = {
        placement.district.layer.name: placement.district.name
        for placement in db.scalars(
            select(RequestDistrict).where(RequestDistrict.service_request_pk == request.id)
        )
    }
    assert placed == {"community_districts": "306", "council_districts": "39"}
    (work_order,) = db.scalars(
        select(WorkOrder).where(WorkOrder.service_request_pk == request.id)
    ).all()
    assert work_order.crew.code == "DOT-CD306"
    assert [district.name for district in work_order.crew.districts] == ["306"]


def test_nyc_history_is_served_under_its_jurisdiction(client) -> None:
    rows = {row["Unique Key"]: row for row in sample_rows()}
    query = {"jurisdiction_id": "nyc.gov", **HISTORY, "page_size": 1000}
    found = body(client.get(url("requests", "json"), query_string=query), "json")
    assert len(found) == 1000  # the day holds 4,300-odd rows of the catalogue's types
    for item in found[:50]:
        row = rows[item["service_request_id"]]
        assert item["service_name"] == row["Complaint Type"]
        assert item["description"] == (row["Descriptor"] or None)
        assert item["status"] == ("closed" if row["Status"] == "Closed" else "open")
        requested = datetime.fromisoformat(item["requested_datetime"].replace("Z", "+00:00"))
        assert requested == parse_nyc_datetime(row["Created Date"])
    la = body(
        client.get(
            url("requests", "json"), query_string={"jurisdiction_id": "lacity.org", **HISTORY}
        ),
        "json",
    )
    assert la == []


def test_calls_without_jurisdiction_id_still_mean_los_angeles(client, db) -> None:
    """The request lists resolve the jurisdiction inside their statement: with two cities that
    is the default one, not none (they answered [] and 'not a boundary layer here')."""
    response = client.post(
        url("requests", "json"),
        data={
            "api_key": make_api_key(db),
            "service_code": "GRAFFITI",
            "lat": 34.1016,
            "long": -118.3267,
            "attribute[SURFACE]": "WALL",
        },
    )
    assert response.status_code == 200, response.data
    (filed,) = response.get_json()
    listed = body(client.get(url("requests", "json")), "json")
    assert [item["service_request_id"] for item in listed] == [filed["service_request_id"]]
    in_district = client.get(
        url("requests", "json"),
        query_string={"district": "13", "layer": "council_districts", "extensions": "true"},
    )
    assert in_district.status_code == 200, in_district.data
    nyc_day = body(client.get(url("requests", "json"), query_string=HISTORY), "json")
    assert nyc_day == []  # New York's day is not Los Angeles'
    feed = body(client.get(url("servicerequestupdates", "json")), "json")
    la_feed = client.get(
        url("servicerequestupdates", "json"), query_string={"jurisdiction_id": "lacity.org"}
    )
    assert feed == body(la_feed, "json")


def test_history_rows_keep_the_citys_words_and_no_personal_data(db) -> None:
    rows = {row["Unique Key"]: row for row in sample_rows()}
    nyc = db.scalars(select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "nyc.gov")).one()
    imported = db.scalars(select(ServiceRequest).where(ServiceRequest.jurisdiction_id == nyc.id))
    count = 0
    for request in imported:
        count += 1
        row = rows[request.service_request_id]
        assert request.requester is None
        assert request.status is (Status.closed if row["Status"] == "Closed" else Status.open)
        assert request.updated_datetime >= request.requested_datetime
        assert (request.location is None) == (not row["Latitude"])
        if row["Resolution Description"]:
            assert "â€" not in request.status_notes
    top = set(dict(Counter(r["Complaint Type"] for r in rows.values()).most_common(30)))
    assert count == sum(1 for row in rows.values() if row["Complaint Type"] in top)


def test_the_sample_s_double_encoded_text_is_repaired() -> None:
    assert repair_text("Transportationâ€™s website") == "Transportation’s website"
    assert repair_text("plain text, café") == "plain text, café"


def test_agencies_have_a_crew_per_community_district(db) -> None:
    nyc = db.scalars(select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "nyc.gov")).one()
    agencies = {
        a.code: a for a in db.scalars(select(Agency).where(Agency.jurisdiction_id == nyc.id))
    }
    assert {"HPD", "NYPD", "DOT", "DSNY", "DEP", "DOHMH"} <= set(agencies)
    assert "NYC311-PRD" not in agencies  # 311's desk code for DEP rows
    districts = db.scalar(
        select(func.count())
        .select_from(District)
        .where(District.layer.has(name="community_districts", jurisdiction_id=nyc.id))
    )
    assert districts == 59
    for agency in agencies.values():
        field = [crew for crew in agency.crews if crew.districts]
        assert len(field) == 59


def test_seeding_again_changes_nothing(db) -> None:
    def counts() -> tuple[int, ...]:
        return tuple(
            db.scalar(select(func.count()).select_from(model))
            for model in (
                Jurisdiction,
                Service,
                Agency,
                Crew,
                District,
                ServiceRequest,
                RequestDistrict,
            )
        )

    nyc = db.scalars(select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "nyc.gov")).one()
    before, changed_at = counts(), nyc.catalogue_changed_at
    report = seed_new_york(db)
    db.flush()
    assert counts() == before
    assert nyc.catalogue_changed_at == changed_at
    assert "services: 30 (0 new, 0 updated)" in report
    (history,) = [line for line in report if line.startswith("historical requests:")]
    assert history.endswith("(0 new)")
