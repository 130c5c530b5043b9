"""The whole life of a request through the staff API, seen from the public API at each step.

A citizen's app files a pothole; the crew member of its district starts the inspection, leaves
an internal note, finishes it (a repair follows), tells the public something, starts and
finishes the repair. After every step, GET requests/{id} (JSON and XML) shows the status,
status_notes and a later updated_datetime, the public notes (extensions=true) grow by what
citizens should see and never by internal notes, and servicerequestupdates adds the update with
its status.
"""

from __future__ import annotations

from typing import Any

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box

from open311.values import CrewKind, StaffRole
from tests.api.helpers import bearer, body, make_staff, url
from tests.factories import (
    make_agency,
    make_api_key,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_rule,
    make_service,
    make_workflow,
)

API = "/api/v1"
SECRET_NOTE = "Gate code 4711"


@pytest.fixture
def setting(db) -> dict[str, Any]:
    area = from_shape(MultiPolygon([box(-118.6, 33.9, -118.1, 34.2)]), srid=4326)
    city = make_jurisdiction(db, service_area=area)
    layer = make_boundary_layer(db, city, "council_districts")
    district = make_district(db, layer, "CD1", (-118.30, 34.00, -118.20, 34.10))
    bos = make_agency(db, city, "BOS", name="Bureau of Street Services")
    east = make_crew(db, bos, "EAST", districts=[district], name="East crew")
    make_crew(db, bos, "BOSS", CrewKind.supervisor, name="Supervisors")
    workflow = make_workflow(
        db,
        city,
        {"code": "INSPECT", "name": "Inspect the pothole", "outcomes": {"needs_repair": "REPAIR"}},
        {"code": "REPAIR", "name": "Repair the pothole", "public_note": "Repair scheduled"},
        code="POTHOLE",
    )
    pothole = make_service(db, city, "POT", service_name="Pothole")
    make_rule(db, pothole, bos, layer_id=layer.id, workflow=workflow, sla_days=5)
    _user, token = make_staff(db, StaffRole.crew_member, "eve", crews=[east])
    return {"key": make_api_key(db), "crew": bearer(token)}


class Citizen:
    """What an app sees of one request: the request in both formats and the updates feed."""

    def __init__(self, client, request_id: str) -> None:
        self.client, self.request_id = client, request_id
        self.updated: str = ""

    def request(self, fmt: str, **query: str) -> dict[str, Any]:
        response = self.client.get(url(f"requests/{self.request_id}", fmt), query_string=query)
        assert response.status_code == 200, response.data
        (item,) = body(response, fmt, "service_requests")
        return item

    def updates(self, fmt: str) -> list[tuple[str, str]]:
        response = self.client.get(url("servicerequestupdates", fmt))
        assert response.status_code == 200, response.data
        items = body(response, fmt, "service_request_updates")
        return [
            (item["status"], item["description"])
            for item in items
            if item["service_request_id"] == self.request_id
        ]

    def sees(self, status: str, notes: str | None, updates: list[tuple[str, str]]) -> None:
        for fmt in ("json", "xml"):
            item = self.request(fmt)
            assert item["status"] == status
            assert item.get("status_notes") == notes
            assert self.updates(fmt) == updates
            extended = self.request(fmt, extensions="true")
            assert SECRET_NOTE not in str(extended)
        current = self.request("json")["updated_datetime"]
        assert current >= self.updated  # W3C UTC texts compare in time order
        self.updated = current


def test_a_request_from_filing_to_closure(client, setting):
    filed = client.post(
        url("requests", "json"),
        data={
            "api_key": setting["key"],
            "service_code": "POT",
            "lat": "34.05",
            "long": "-118.25",
            "description": "Deep pothole",
            "email": "pat@example.org",
        },
    )
    assert filed.status_code == 200, filed.data
    citizen = Citizen(client, filed.get_json()[0]["service_request_id"])
    # The receipt is no news to the citizen who filed it: not in the feed (activity.AUTOMATIC_KINDS)
    received: list[tuple[str, str]] = []
    citizen.sees("open", None, received)

    crew = setting["crew"]
    (order,) = client.get(f"{API}/work-orders", headers=crew).get_json()
    assert order["request"]["service_request_id"] == citizen.request_id

    def move(work_order: int, to: str, **extra: str) -> dict[str, Any]:
        response = client.post(
            f"{API}/work-orders/{work_order}/transitions",
            json={"to": to, **extra},
            headers=crew,
        )
        assert response.status_code == 200, response.data
        return response.get_json()

    move(order["id"], "in_progress", note=SECRET_NOTE)
    started = ("in_progress", "Work in progress: Inspect the pothole")
    citizen.sees("open", started[1], [*received, started])

    (repair,) = move(order["id"], "done", outcome="needs_repair")["follow_ups"]
    scheduled = ("in_progress", "Repair scheduled")
    citizen.sees("open", "Repair scheduled", [*received, started, scheduled])

    told = client.post(
        f"{API}/requests/{citizen.request_id}/notes",
        json={"note": "Asphalt arrives Monday", "public": True},
        headers=crew,
    )
    assert told.status_code == 201, told.data
    note = ("in_progress", "Asphalt arrives Monday")
    citizen.sees("open", note[1], [*received, started, scheduled, note])

    move(repair["id"], "in_progress")  # work already started: nothing new for citizens
    citizen.sees("open", note[1], [*received, started, scheduled, note])

    move(repair["id"], "done", public_note="Filled and sealed.")
    fixed = ("fixed", "Closed: Filled and sealed.")
    citizen.sees("closed", "Filled and sealed.", [*received, started, scheduled, note, fixed])
    notes = citizen.request("json", extensions="true")["notes"]
    assert [entry["summary"] for entry in notes] == [
        "Request received via api",  # public, in the request's notes; only the feed leaves it out
        *(text for _status, text in [started, scheduled, note, fixed]),
    ]
