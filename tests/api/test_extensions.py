"""`extensions=true`: Chicago-style extended_attributes and public notes, in every format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from open311.domain import activity
from open311.values import WorkOrderState
from tests.api.helpers import FORMATS, items_of, url
from tests.factories import (
    make_agency,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_request,
    make_service,
    make_work_order,
    place_request,
)

LIST_FORMATS = (*FORMATS, "geojson")
T = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
INTERNAL = "Assigned to crew CD14 by staff:jdoe (internal)"


@pytest.fixture
def city(db):
    return make_jurisdiction(db)


@pytest.fixture
def pothole(db, city):
    return make_service(db, city, "POT-01", service_name="Pothole")


@pytest.fixture
def worked(db, city, pothole):
    """A request placed in two layers, worked by a crew, with public and internal history."""
    request = make_request(
        db, pothole, service_request_id="EXT-1", channel="web", requested_datetime=T
    )
    council = make_boundary_layer(db, city, "council_districts")
    hoods = make_boundary_layer(db, city, "neighborhood councils")
    place_request(db, request, make_district(db, council, "14"))
    place_request(db, request, make_district(db, hoods, "Downtown"))
    agency = make_agency(db, city, "BOS")
    make_work_order(
        db, request, agency, crew=make_crew(db, agency, "OLD", name="Old crew"), state="done"
    )
    make_work_order(db, request, agency, crew=make_crew(db, agency, "CD14", name="CD14 crew"))
    for minutes, kind, summary, public, details in [
        (0, "submitted", "Request received via web", True, {"description": "Filed online"}),
        (5, "work_order_assigned", INTERNAL, False, {}),
        (60, "status_notes", "Crew on the way", True, {}),
    ]:
        activity.record(
            db,
            request,
            actor="system",
            kind=kind,
            summary=summary,
            public=public,
            status="open" if public else None,
            details=details,
            at=T + timedelta(minutes=minutes),
        )
    db.flush()
    return request


EXTENDED_JSON = {
    "channel": "web",
    "districts": {"council_districts": "14", "neighborhood councils": "Downtown"},
    "duplicate": False,
    "parent_service_request_id": None,
    "crew": "CD14 crew",
    "media_urls": [],
}
NOTES_JSON = [
    {
        "datetime": "2026-11-02T09:30:00Z",
        "type": "submitted",
        "summary": "Request received via web",
        "description": "Filed online",
    },
    {
        "datetime": "2026-11-02T10:30:00Z",
        "type": "status_notes",
        "summary": "Crew on the way",
        "description": None,
    },
]
# XML: layer names become element names, false is text, nulls are left out.
EXTENDED_XML = {
    "channel": "web",
    "districts": {"council_districts": "14", "neighborhood_councils": "Downtown"},
    "duplicate": "false",
    "crew": "CD14 crew",
    "media_urls": "",
}
NOTES_XML = [{k: v for k, v in note.items() if v is not None} for note in NOTES_JSON]


def fetch(client, fmt: str, single: bool, **query) -> dict:
    if single:
        response = client.get(url("requests/EXT-1", fmt), query_string=query)
    else:
        query = {"start_date": "2026-11-01T00:00:00Z"} | query
        response = client.get(url("requests", fmt), query_string=query)
    (item,) = items_of(response, fmt)
    return item


@pytest.mark.parametrize("fmt", LIST_FORMATS)
@pytest.mark.parametrize("single", [False, True], ids=["list", "single"])
def test_extended_attributes_and_public_notes(client, worked, fmt, single):
    item = fetch(client, fmt, single, extensions="true")

    if fmt == "xml":
        assert item["extended_attributes"] == EXTENDED_XML
        assert item["notes"] == NOTES_XML
    else:
        assert item["extended_attributes"] == EXTENDED_JSON
        assert item["notes"] == NOTES_JSON
    keys = list(item)
    assert keys[-2:] == ["extended_attributes", "notes"]
    assert keys[0] == "service_request_id"


@pytest.mark.parametrize("fmt", LIST_FORMATS)
@pytest.mark.parametrize("single", [False, True], ids=["list", "single"])
def test_internal_activity_never_shows(client, worked, fmt, single):
    path = url("requests/EXT-1", fmt) if single else url("requests", fmt)
    query = {"extensions": "true"} | ({} if single else {"start_date": "2026-11-01T00:00:00Z"})

    response = client.get(path, query_string=query)

    assert response.status_code == 200
    assert b"internal" not in response.data
    assert b"work_order_assigned" not in response.data
    assert b"jdoe" not in response.data


@pytest.mark.parametrize("fmt", LIST_FORMATS)
@pytest.mark.parametrize("value", [None, "false", "0"])
def test_without_extensions_items_are_plain(client, worked, fmt, value):
    query = {} if value is None else {"extensions": value}

    item = fetch(client, fmt, False, **query)

    assert "extended_attributes" not in item and "notes" not in item


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_request_with_nothing_to_add(client, db, pothole, fmt):
    make_request(db, pothole, service_request_id="EXT-2", channel=None)

    (item,) = items_of(
        client.get(url("requests/EXT-2", fmt), query_string={"extensions": "true"}), fmt
    )

    if fmt == "json":
        assert item["extended_attributes"] == {
            "channel": None,
            "districts": {},
            "duplicate": False,
            "parent_service_request_id": None,
            "crew": None,
            "media_urls": [],
        }
        assert item["notes"] == []
    else:
        # Empty containers stay as empty elements; the helper reads them back as "" and [].
        assert item["extended_attributes"] == {
            "districts": "",
            "duplicate": "false",
            "media_urls": "",
        }
        assert item["notes"] == []


def test_crew_is_that_of_the_newest_open_work_order(client, db, city, pothole):
    request = make_request(db, pothole, service_request_id="EXT-3")
    agency = make_agency(db, city, "OCB")
    make_work_order(db, request, agency, crew=make_crew(db, agency, "A", name="Alpha"))
    make_work_order(db, request, agency, crew=None, state=WorkOrderState.new)

    def crew() -> str | None:
        response = client.get(url("requests/EXT-3", "json"), query_string={"extensions": "true"})
        return response.get_json()[0]["extended_attributes"]["crew"]

    assert crew() is None  # the newest open one has no crew yet
    make_work_order(db, request, agency, crew=make_crew(db, agency, "B", name="Bravo"))
    assert crew() == "Bravo"


@pytest.mark.parametrize("fmt", FORMATS)
def test_extensions_with_distance_come_after_it(client, worked, fmt):
    response = client.get(
        url("requests", fmt),
        query_string={"lat": 34.0522, "long": -118.2437, "radius": 10, "extensions": "true"},
    )

    (item,) = items_of(response, fmt)
    assert list(item)[-3:] == ["distance", "extended_attributes", "notes"]


def test_layer_names_that_cannot_be_element_names(client, db, city, pothole):
    request = make_request(db, pothole, service_request_id="EXT-4")
    for name in ("2012 plan", "xml-ish", "a<b>&c"):
        layer = make_boundary_layer(db, city, name)
        place_request(db, request, make_district(db, layer, "D"))

    response = client.get(url("requests/EXT-4", "xml"), query_string={"extensions": "true"})

    (item,) = items_of(response, "xml")
    assert item["extended_attributes"]["districts"] == {
        "_2012_plan": "D",
        "_xml-ish": "D",
        "a_b__c": "D",
    }
