"""The demo city's abandoned-vehicle workflow worked through the staff API to each of its
endings (issue 13): the vehicle gone after the 72-hour notice, retrieved by its owner during
the hold, released to its owner after the holding period, or sold at a lien sale; the notices
and legal periods are the workflow's data (open311/demo/los_angeles_operations.json), and the
work orders' waits and due times are read back against that data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from open311.db.models import WorkOrder
from open311.demo.operations import load_operations
from open311.demo.seed import seed_demo_city
from open311.domain import jurisdictions
from open311.domain.sla import add_business_hours, calendar_for
from open311.values import StaffRole
from tests.api.helpers import bearer, make_staff

API = "/api/v1"
CITY_HALL = (34.0537, -118.2428)  # 200 N Spring St, Council District 14
STEPS = {step["code"]: step for step in load_operations()["workflows"][-1]["steps"]}


@pytest.fixture(scope="module")
def demo_city(engine: Engine) -> Iterator[Connection]:
    """Los Angeles' catalogue and operations without the imported history, once per module."""
    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            seed_demo_city(session, with_history=False)
            session.commit()
        yield conn
        outer.rollback()


@pytest.fixture
def connection(demo_city: Connection) -> Iterator[Connection]:
    savepoint = demo_city.begin_nested()
    yield demo_city
    savepoint.rollback()


@pytest.fixture
def admin(db) -> dict[str, str]:
    return bearer(make_staff(db, StaffRole.administrator)[1])


def test_the_workflow_is_the_towing_process():
    assert load_operations()["workflows"][-1]["code"] == "ABANDONED-VEHICLE"
    assert list(STEPS) == [
        "INSPECT",
        "TAG",
        "REINSPECT",
        "TOW",
        "IMPOUND",
        "STORAGE-NOTICE",
        "RELEASE-DECISION",
        "LIEN-SALE",
    ]
    assert STEPS["REINSPECT"]["wait_hours"] == 72
    assert STEPS["RELEASE-DECISION"]["wait_hours"] >= 15 * 24
    for code in ("TAG", "REINSPECT", "STORAGE-NOTICE", "RELEASE-DECISION", "LIEN-SALE"):
        assert STEPS[code]["_source"], code  # each legal period names its rule


class Tow:
    """One abandoned-vehicle request, worked step by step as an administrator."""

    def __init__(self, client, db: Session, headers: dict[str, str]) -> None:
        self.client, self.db, self.headers = client, db, headers
        response = client.post(
            f"{API}/intake/requests",
            json={
                "service_code": "ABANDONED-VEHICLE",
                "lat": CITY_HALL[0],
                "long": CITY_HALL[1],
                "channel": "phone",
                "description": "Grey sedan, flat tyres, no plates",
                "attributes": {
                    "MAKE": "Honda",
                    "YEAR": "2004",
                    "BODY_STYLE": "SEDAN",
                    "DURATION": "OVER_7_DAYS",
                },
            },
            headers=headers,
        )
        assert response.status_code == 201, response.data
        self.id = response.json["service_request_id"]
        self.order = self.staff_view()["work_orders"][-1]
        self.steps = [self.order["step"]]
        self.city = calendar_for(self.db, jurisdictions.resolve(self.db, "lacity.org"))

    def staff_view(self) -> dict[str, Any]:
        response = self.client.get(f"{API}/requests/{self.id}", headers=self.headers)
        assert response.status_code == 200, response.data
        return response.json

    def public(self) -> dict[str, Any]:
        (item,) = self.client.get(f"/open311/v2/requests/{self.id}.json").json
        return item

    def finish(self, outcome: str | None = None) -> dict[str, Any] | None:
        """Start and finish the current work order; the follow-up, checked against its step."""
        path = f"{API}/work-orders/{self.order['id']}/transitions"
        started = self.client.post(path, json={"to": "in_progress"}, headers=self.headers)
        assert started.status_code == 200, started.data
        body = {"to": "done"} | ({"outcome": outcome} if outcome else {})
        done = self.client.post(path, json=body, headers=self.headers)
        assert done.status_code == 200, done.data
        follow_ups = done.json["follow_ups"]
        if not follow_ups:
            return None
        (self.order,) = follow_ups
        self.steps.append(self.order["step"])
        self.check_periods(self.order)
        return self.order

    def check_periods(self, order: dict[str, Any]) -> None:
        """The wait (elapsed hours) and due time (business hours after it) are the step's."""
        step = STEPS[order["step"]]
        created = datetime.fromisoformat(order["created_at"])
        wait = step.get("wait_hours", 0)
        if wait:
            assert datetime.fromisoformat(order["not_before"]) - created == timedelta(hours=wait)
        else:
            assert order["not_before"] is None
        start = created + timedelta(hours=wait)
        due = add_business_hours(self.city, start, step["target_hours"])
        assert datetime.fromisoformat(order["due_at"]) == due
        crew = step.get("crew")
        if crew is not None:
            assert order["crew"]["code"] == crew

    def to_the_lot(self) -> None:
        """Inspected, tagged, still there after the notice, towed, logged in, owner notified."""
        self.finish("abandoned")
        assert self.public()["status_notes"] == STEPS["TAG"]["public_note"]
        self.finish()
        reinspect = self.db.get(WorkOrder, self.order["id"])
        assert reinspect.not_before - reinspect.created_at == timedelta(hours=72)
        self.finish("still_there")
        self.finish()
        self.finish()
        self.finish()
        assert self.order["step"] == "RELEASE-DECISION"
        assert self.public()["status"] == "open"
        assert self.public()["status_notes"] == STEPS["STORAGE-NOTICE"]["public_note"]


def test_the_vehicle_is_gone_after_the_notice(client, db, admin):
    tow = Tow(client, db, admin)
    tow.finish("abandoned")
    tow.finish()
    assert tow.finish("gone") is None
    assert tow.steps == ["INSPECT", "TAG", "REINSPECT"]
    assert tow.public()["status"] == "closed"


def test_the_owner_retrieves_it_during_the_hold(client, db, admin):
    tow = Tow(client, db, admin)
    tow.to_the_lot()
    # The owner comes for it before the holding period is over: the decision needs no wait.
    assert datetime.fromisoformat(tow.order["not_before"]) > datetime.fromisoformat(
        tow.order["created_at"]
    )
    assert tow.finish("retrieved") is None
    assert tow.steps == list(STEPS)[:-1]
    assert tow.public()["status"] == "closed"


def test_released_to_its_owner_after_the_holding_period(client, db, admin):
    tow = Tow(client, db, admin)
    tow.to_the_lot()
    assert tow.finish("released_to_owner") is None
    item = tow.public()
    assert item["status"] == "closed"
    assert item["status_notes"].startswith("Completed: Decide the vehicle's release")


def test_a_lien_sale_after_the_holding_period(client, db, admin):
    tow = Tow(client, db, admin)
    tow.to_the_lot()
    sale = tow.finish("lien_sale")
    assert sale["step"] == "LIEN-SALE" and sale["crew"]["code"] == "OPG-IMPOUND"
    assert tow.public()["status"] == "open"
    assert tow.finish("sold") is None
    assert tow.steps == list(STEPS)
    assert tow.public()["status"] == "closed"
    outcomes = [order["outcome"] for order in tow.staff_view()["work_orders"] if order["outcome"]]
    assert outcomes == ["abandoned", "still_there", "lien_sale", "sold"]


def test_an_outcome_the_decision_does_not_have_is_refused(client, db, admin):
    tow = Tow(client, db, admin)
    tow.to_the_lot()
    path = f"{API}/work-orders/{tow.order['id']}/transitions"
    client.post(path, json={"to": "in_progress"}, headers=admin)
    refused = client.post(path, json={"to": "done", "outcome": "crushed"}, headers=admin)
    assert refused.status_code == 400
    assert "lien_sale, released_to_owner, retrieved" in refused.json[0]["description"]
