"""The demo city seed: Los Angeles' catalogue, its real MyLA311 history, and idempotent re-runs."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from open311.db.models import (
    AttributeValue,
    Jurisdiction,
    Requester,
    Service,
    ServiceAttribute,
    ServiceRequest,
)
from open311.demo import myla311
from open311.demo.catalogue import load_catalogue
from open311.demo.recent import PREFIX as RECENT_PREFIX
from open311.demo.recent import RECENT_COUNT
from open311.demo.seed import city_dir, seed_demo_city
from open311.values import Datatype, ServiceType, Status
from tests.api.helpers import body
from tests.factories import make_jurisdiction

BASE = "/open311/v2"
CITY_TYPES = {
    "BULKY": "Bulky Items",
    "GRAFFITI": "Graffiti Removal",
    "ILLEGAL-DUMPING": "Illegal Dumping Pickup",
    "METAL-APPLIANCES": "Metal/Household Appliances",
    "E-WASTE": "Electronic Waste",
    "HOMELESS-ENCAMPMENT": "Homeless Encampment",
    "DEAD-ANIMAL": "Dead Animal Removal",
    "OTHER": "Other",
    "STREETLIGHT-SINGLE": "Single Streetlight Issue",
    "STREETLIGHT-MULTIPLE": "Multiple Streetlight Issue",
    "WATER-WASTE": "Report Water Waste",
    "FEEDBACK": "Feedback",
    "ABANDONED-VEHICLE": "Abandoned Vehicle",
}


# --- what the geodata files say, read here independently of the seed's own reader -------------


# The imported records, without the recent synthetic requests made from them (demo/recent.py).
HISTORY = ServiceRequest.service_request_id.not_like(f"{RECENT_PREFIX}%")


def city_csv(name: str) -> list[dict[str, str]]:
    with (city_dir() / name).open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def history_rows() -> Iterator[dict[str, str]]:
    """Every MyLA311 row with lower-cased column names (the 2017/18 exports use CamelCase)."""
    for path in sorted(city_dir().glob("myla311_sample_*.csv")):
        for row in city_csv(path.name):
            yield {key.lower(): value for key, value in row.items()}


def first_rows_by_sr_number() -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for row in history_rows():
        rows.setdefault(row["srnumber"], row)
    return rows


def the_jurisdiction(db: Session) -> Jurisdiction:
    return db.scalars(
        select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "lacity.org")
    ).one()


def services_of(db: Session) -> dict[str, Service]:
    return {service.service_code: service for service in db.scalars(select(Service))}


def catalogue_counts(db: Session) -> tuple[int, int, int]:
    return (
        db.scalar(select(func.count()).select_from(Service)),
        db.scalar(select(func.count()).select_from(ServiceAttribute)),
        db.scalar(select(func.count()).select_from(AttributeValue)),
    )


# --- parsing the city's formats ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("12/31/2017 11:59:58 PM", datetime(2018, 1, 1, 7, 59, 58, tzinfo=UTC)),
        ("01/01/2018 12:00:09 AM", datetime(2018, 1, 1, 8, 0, 9, tzinfo=UTC)),
        ("01/03/2018 12:15:00 PM", datetime(2018, 1, 3, 20, 15, tzinfo=UTC)),
        # Daylight saving time: April is PDT, UTC-7.
        ("04/09/2018 09:25:28 AM", datetime(2018, 4, 9, 16, 25, 28, tzinfo=UTC)),
        ("1/1/20 0:05", datetime(2020, 1, 1, 8, 5, tzinfo=UTC)),
        ("2/11/20 13:45", datetime(2020, 2, 11, 21, 45, tzinfo=UTC)),
    ],
)
def test_city_datetimes_are_los_angeles_wall_time(text, utc):
    parsed = myla311.parse_city_datetime(text)
    assert parsed.tzinfo is not None
    assert parsed == utc


@pytest.mark.parametrize(
    "text", ["", "2018-01-01 00:00", "13/45/2018 10:00:00 AM", "1/1/20 13:00 PM"]
)
def test_other_datetime_shapes_are_refused(text):
    with pytest.raises(ValueError):
        myla311.parse_city_datetime(text)


@pytest.mark.parametrize(
    ("source", "channel"),
    [
        ("Call", "call"),
        ("Mobile App", "mobile_app"),
        ("Self Service", "self_service"),
        ("Driver Self Report", "driver_self_report"),
        ("Council's Office", "councils_office"),
        ("Walk-in", "walk_in"),
        ("", None),
    ],
)
def test_request_source_becomes_a_channel_word(source, channel):
    assert myla311.channel_of(source) == channel


def test_the_catalogue_refuses_an_agency_code_agencies_csv_lacks():
    agencies = myla311.read_agencies(city_dir() / "agencies.csv")
    del agencies["LADOT"]
    with pytest.raises(ValueError, match="ABANDONED-VEHICLE: agency LADOT"):
        load_catalogue(agencies)


# --- the catalogue ---------------------------------------------------------------------------


@pytest.fixture
def seeded_catalogue(db: Session) -> list[str]:
    return seed_demo_city(db, with_history=False)


def test_seed_creates_los_angeles(db, seeded_catalogue):
    jurisdiction = the_jurisdiction(db)
    assert (jurisdiction.name, jurisdiction.time_zone) == (
        "City of Los Angeles",
        "America/Los_Angeles",
    )
    assert seeded_catalogue[:2] == [
        "jurisdiction: lacity.org (City of Los Angeles, created)",
        "services: 13 (13 new, 0 updated)",
    ]
    assert "routing rules: 13 services (13 new)" in seeded_catalogue
    assert db.scalar(select(func.count()).select_from(ServiceRequest)) == 0


def test_one_service_per_city_request_type_plus_abandoned_vehicles(db, seeded_catalogue):
    services = services_of(db)
    assert {code: s.service_name for code, s in services.items()} == CITY_TYPES
    # Every type of request_types.csv, by the city's own name for it.
    city_names = {row["data_code"] for row in city_csv("request_types.csv")}
    assert len(city_names) == 12
    assert city_names <= {s.service_name for s in services.values()}
    assert all(s.active and s.jurisdiction_id == the_jurisdiction(db).id for s in services.values())


def test_every_service_has_agency_group_keywords_and_notice(db, seeded_catalogue):
    agency_names = {row["agency_name"] for row in city_csv("agencies.csv")}
    for service in services_of(db).values():
        assert service.agency_responsible in agency_names, service.service_code
        assert service.group in {"sanitation", "streets", "lighting", "water", "general"}
        assert service.keywords and "," in service.keywords
        assert service.description and service.service_notice
    agencies = {code: s.agency_responsible for code, s in services_of(db).items()}
    assert agencies["BULKY"] == "Sanitation Bureau"
    assert agencies["GRAFFITI"] == "Office of Community Beautification"
    assert agencies["STREETLIGHT-SINGLE"] == "Street Lighting Bureau"
    assert agencies["WATER-WASTE"] == "Department of Water & Power"
    assert agencies["ABANDONED-VEHICLE"] == "Transportation Department"


def test_every_datatype_and_service_type_is_demonstrated(db, seeded_catalogue):
    services = services_of(db)
    assert {a.datatype for s in services.values() for a in s.attributes} == set(Datatype)
    assert {s.type for s in services.values()} == set(ServiceType)
    assert services["WATER-WASTE"].type == ServiceType.batch
    assert services["FEEDBACK"].type == ServiceType.blackbox
    assert not services["OTHER"].attributes and not services["FEEDBACK"].attributes


def test_definitions_are_usable(db, seeded_catalogue):
    for service in services_of(db).values():
        attributes = service.attributes
        assert [a.position for a in attributes] == list(range(1, len(attributes) + 1))
        assert sum(a.required for a in attributes) <= 2, service.service_code
        for attribute in attributes:
            is_list = attribute.datatype in (Datatype.singlevaluelist, Datatype.multivaluelist)
            assert bool(attribute.values) == is_list, attribute.code
            assert [v.position for v in attribute.values] == list(
                range(1, len(attribute.values) + 1)
            )
            assert attribute.description
            if attribute.variable:
                assert attribute.datatype_description, attribute.code
            else:
                assert not attribute.required


def test_abandoned_vehicle_definition(client, seeded_catalogue):
    response = client.get(f"{BASE}/services/ABANDONED-VEHICLE.json")
    assert response.status_code == 200
    attributes = {a["code"]: a for a in response.get_json()["attributes"]}
    assert {"MAKE", "MODEL", "COLOR", "LICENSE_PLATE", "DURATION", "HAZARD"} <= set(attributes)
    assert {"YEAR", "BODY_STYLE", "CONDITION"} <= set(attributes)
    for code in ("MAKE", "MODEL", "COLOR", "LICENSE_PLATE"):
        assert attributes[code]["datatype"] == "string"
    duration = attributes["DURATION"]
    assert duration["datatype"] == "singlevaluelist" and duration["required"]
    assert any("72 hours" in value["name"] for value in duration["values"])
    assert {v["name"] for v in attributes["HAZARD"]["values"]} == {"Yes", "No"}
    notes = [a for a in attributes.values() if not a["variable"]]
    assert len(notes) == 1 and "72 hours" in notes[0]["description"]
    assert [a["order"] for a in response.get_json()["attributes"]] == list(range(1, 11))


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_abandoned_vehicle_asks_year_body_style_and_condition(client, seeded_catalogue, fmt):
    """The questions the city's brief lists: hazard, condition, make, model, colour, year and
    body style; the year a number, the body style one of a list of common styles."""
    response = client.get(f"{BASE}/services/ABANDONED-VEHICLE.{fmt}")
    assert response.status_code == 200
    document = body(response, fmt, root="service_definition")
    attributes = {a["code"]: a for a in document["attributes"]}
    year, style, condition = attributes["YEAR"], attributes["BODY_STYLE"], attributes["CONDITION"]
    assert year["datatype"] == "number" and year["variable"] in (True, "true")
    assert style["datatype"] == "singlevaluelist"
    assert {"SEDAN", "SUV", "PICKUP", "VAN", "MOTORCYCLE"} <= {v["key"] for v in style["values"]}
    assert condition["datatype"] == "multivaluelist"
    assert "NO_PLATES" in {v["key"] for v in condition["values"]}
    for code in ("HAZARD", "MAKE", "MODEL", "COLOR"):
        assert code in attributes


def test_services_endpoint_lists_the_catalogue(client, seeded_catalogue):
    response = client.get(f"{BASE}/services.json")
    assert response.status_code == 200
    listed = {item["service_code"]: item for item in response.get_json()}
    assert set(listed) == set(CITY_TYPES)
    assert {code for code, item in listed.items() if not item["metadata"]} == {"OTHER", "FEEDBACK"}
    assert listed["BULKY"]["group"] == "sanitation"


def test_seeding_again_changes_nothing(db, seeded_catalogue):
    jurisdiction = the_jurisdiction(db)
    # An old changeset, so that any bump by the second run would show.
    long_ago = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    jurisdiction.catalogue_changed_at = long_ago
    db.flush()
    before = catalogue_counts(db)

    report = seed_demo_city(db, with_history=False)

    assert report[:2] == [
        "jurisdiction: lacity.org (City of Los Angeles, unchanged)",
        "services: 13 (0 new, 0 updated)",
    ]
    assert "layer council_districts: present" in report
    assert "routing rules: 13 services (0 new)" in report
    assert catalogue_counts(db) == before
    assert not db.dirty and not db.new
    db.expire_all()
    assert the_jurisdiction(db).catalogue_changed_at == long_ago


def test_seeding_restores_an_edited_service_and_bumps_the_changeset(db, seeded_catalogue):
    jurisdiction = the_jurisdiction(db)
    long_ago = datetime(2001, 2, 3, tzinfo=UTC)
    jurisdiction.catalogue_changed_at = long_ago
    bulky = services_of(db)["BULKY"]
    bulky.description = "edited"
    del bulky.attributes[0]
    db.flush()
    db.delete(services_of(db)["GRAFFITI"])
    db.flush()

    report = seed_demo_city(db, with_history=False)

    assert report[1] == "services: 13 (1 new, 1 updated)"
    db.expire_all()
    bulky = services_of(db)["BULKY"]
    assert bulky.description != "edited"
    assert [a.code for a in bulky.attributes][:2] == ["ITEM_TYPES", "ITEM_COUNT"]
    assert "GRAFFITI" in services_of(db)
    assert the_jurisdiction(db).catalogue_changed_at > datetime.now(UTC) - timedelta(minutes=1)


def test_an_existing_jurisdiction_is_reused(db):
    existing = make_jurisdiction(db, name="Los Angeles", time_zone="UTC")
    report = seed_demo_city(db, with_history=False)
    assert report[0] == "jurisdiction: lacity.org (City of Los Angeles, updated)"
    assert the_jurisdiction(db).id == existing.id
    assert existing.time_zone == "America/Los_Angeles"


# --- the history: seeded once for the class, each test rolled back to that point -------------


@pytest.fixture(scope="class")
def seeded_history(engine: Engine) -> Iterator[tuple[Connection, list[str]]]:
    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            report = seed_demo_city(session)
            session.commit()
        yield conn, report
        outer.rollback()


class TestHistory:
    @pytest.fixture
    def connection(self, seeded_history) -> Iterator[Connection]:
        """Overrides conftest's: the seeded connection, with each test inside a savepoint."""
        conn, _report = seeded_history
        savepoint = conn.begin_nested()
        yield conn
        savepoint.rollback()

    @pytest.fixture
    def first_report(self, seeded_history) -> list[str]:
        return seeded_history[1]

    def test_every_distinct_sr_number_is_imported(self, db, first_report):
        expected = first_rows_by_sr_number()
        assert len(expected) == 29_999
        assert "historical requests: 29,999 (29,999 new)" in first_report
        imported = set(db.scalars(select(ServiceRequest.service_request_id).where(HISTORY)))
        assert imported == set(expected)
        assert db.scalar(select(func.count()).select_from(Requester)) == 0

    def test_each_request_has_its_city_type_and_coordinates_when_given(self, db):
        rows = first_rows_by_sr_number().values()
        by_type = Counter(row["requesttype"] for row in rows)
        stored = dict(
            db.execute(
                select(Service.service_name, func.count())
                .join(ServiceRequest.service)
                .where(HISTORY)
                .group_by(Service.service_name)
            ).all()
        )
        assert stored == dict(by_type)
        without_point = sum(1 for row in rows if not row["latitude"] or not row["longitude"])
        assert without_point == 2_866
        assert (
            db.scalar(
                select(func.count())
                .select_from(ServiceRequest)
                .where(ServiceRequest.location.is_(None))
            )
            == without_point
        )

    def test_seeding_again_imports_nothing(self, db):
        jurisdiction = the_jurisdiction(db)
        changed_at = jurisdiction.catalogue_changed_at
        report = seed_demo_city(db)
        assert report[1] == "services: 13 (0 new, 0 updated)"
        assert report[-3:] == [
            "historical requests: 29,999 (0 new)",
            f"recent requests: none added ({RECENT_COUNT:,} already in the last 90 days)",
            "historical requests routed to districts: 0 placements",
        ]
        total = 29_999 + RECENT_COUNT
        assert db.scalar(select(func.count()).select_from(ServiceRequest)) == total
        db.expire_all()
        assert the_jurisdiction(db).catalogue_changed_at == changed_at

    def test_a_2017_request_reads_back(self, client):
        response = client.get(f"{BASE}/requests/1-870704831.json")
        assert response.status_code == 200
        [item] = response.get_json()
        assert item["service_code"] == "HOMELESS-ENCAMPMENT"
        assert item["service_name"] == "Homeless Encampment"
        assert item["status"] == "closed"
        assert item["status_notes"] is None
        assert item["agency_responsible"] == "Sanitation Bureau"
        # 12/31/2017 11:59:58 PM PST and 04/09/2018 09:25:28 AM PDT
        assert item["requested_datetime"] == "2018-01-01T07:59:58Z"
        assert item["updated_datetime"] == "2018-04-09T16:25:28Z"
        assert item["address"] == "2111 W BELLEVUE AVE, 90026"
        assert item["zipcode"] == "90026"
        assert item["lat"] == pytest.approx(34.073216645, abs=1e-9)
        assert item["long"] == pytest.approx(-118.266861909, abs=1e-9)
        assert item["description"] is None and item["media_url"] is None

    def test_a_2020_request_with_short_dates_reads_back(self, client):
        [item] = client.get(f"{BASE}/requests/1-1523590121.json").get_json()
        assert item["service_code"] == "ILLEGAL-DUMPING"
        assert item["requested_datetime"] == "2020-01-01T08:05:00Z"
        assert item["updated_datetime"] == "2020-01-02T16:43:00Z"
        assert item["zipcode"] == "91406"
        assert (item["lat"], item["long"]) == pytest.approx((34.19402846, -118.4994716))

    def test_a_request_without_coordinates_has_null_lat_long(self, client):
        [item] = client.get(f"{BASE}/requests/1-870683382.json").get_json()
        assert item["lat"] is None and item["long"] is None
        assert item["address"] == "8525 N DE SOTO AVE, 91304"
        assert item["agency_responsible"] == "Office of Community Beautification"

    @pytest.mark.parametrize(
        ("sr_number", "status", "notes"),
        [
            ("1-870704831", "closed", None),
            ("1-870687481", "closed", "Cancelled"),
            ("1-870497204", "closed", "Referred Out"),
            ("1-1523805332", "open", None),
            ("1-1523650828", "open", "Pending"),
            ("1-1524903711", "closed", "Information Provided"),
        ],
    )
    def test_city_statuses_map_to_open_or_closed(self, client, sr_number, status, notes):
        [item] = client.get(f"{BASE}/requests/{sr_number}.json").get_json()
        assert (item["status"], item["status_notes"]) == (status, notes)

    def test_channels_come_from_request_source(self, db):
        channels = set(db.scalars(select(ServiceRequest.channel).where(HISTORY).distinct()))
        assert channels == {
            "call",
            "mobile_app",
            "driver_self_report",
            "self_service",
            "email",
            "councils_office",
            "voicemail",
            "walk_in",
            "letter",
        }
        statuses = Counter(db.scalars(select(ServiceRequest.status).where(HISTORY)))
        assert statuses[Status.open] == 5 + 16 + 15

    def test_the_default_window_shows_the_recent_synthetic_requests(self, client, first_report):
        assert any(
            line.startswith(f"recent requests: {RECENT_COUNT} synthetic") for line in first_report
        )
        response = client.get(f"{BASE}/requests.json")  # a newcomer's first call: no dates
        assert response.status_code == 200
        items = response.get_json()
        assert len(items) == RECENT_COUNT
        assert all(item["service_request_id"].startswith(RECENT_PREFIX) for item in items)
        assert all(item["description"].startswith("Synthetic demo request") for item in items)

    def test_a_window_over_the_new_year_gives_1000_newest_first(self, client):
        response = client.get(
            f"{BASE}/requests.json",
            query_string={"start_date": "2017-12-27T00:00:00Z", "end_date": "2018-01-05T00:00:00Z"},
        )
        assert response.status_code == 200
        items = response.get_json()
        assert len(items) == 1000
        moments = [item["requested_datetime"] for item in items]
        assert moments == sorted(moments, reverse=True)
        # The last request of the 2018 extract: 01/04/2018 09:33:23 AM PST.
        assert items[0]["service_request_id"] == "1-875045771"
        assert moments[0] == "2018-01-04T17:33:23Z"


@pytest.mark.skipif(bool(os.environ.get("OPEN311_GEODATA_DIR")), reason="geodata overridden")
def test_geodata_is_inside_the_repository():
    # The seed and these tests read the repository's copy, never a shared folder.
    assert Path(__file__).resolve().parents[2] in city_dir().resolve().parents
