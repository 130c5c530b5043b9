"""The per-process catalogue kept for intake (domain/catalogue_cache.py): never stale, and what a
POST writes (one row each, the activity in one INSERT, no UPDATE right after the INSERT)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session

from open311.db import catalogue_queries, district_queries
from open311.db.models import (
    Activity,
    AttributeValue,
    CityHoliday,
    Jurisdiction,
    RoutingRule,
    Service,
    ServiceRequest,
    WorkflowStep,
)
from open311.domain import catalogue_cache, intake
from open311.errors import InvalidInput, UnknownService
from open311.values import ActivityKind, CrewKind
from tests.factories import (
    make_agency,
    make_attribute,
    make_boundary_layer,
    make_crew,
    make_district,
    make_jurisdiction,
    make_rule,
    make_service,
    make_workflow,
)

INSIDE = (34.05, -118.25)  # lat, long in the district below


@pytest.fixture
def city(db: Session) -> Jurisdiction:
    catalogue_cache.clear()  # another test's catalogue may be kept under the same ids
    city = make_jurisdiction(db, jurisdiction_id="cache.example", duplicate_radius_m=0)
    layer = make_boundary_layer(db, city)
    district = make_district(db, layer, "1")
    agency = make_agency(db, city, "STREETS", name="Street Services")
    make_crew(db, agency, "FIELD-1", districts=[district])
    service = make_service(
        db,
        city,
        "POTHOLE",
        attributes=[make_attribute("size", "singlevaluelist", values=[("s", "Small")])],
    )
    workflow = make_workflow(
        db, city, {"code": "inspect", "public_note": "An inspector will come by."}
    )
    make_rule(db, service, agency, layer=layer, workflow=workflow, sla_days=3)
    return city


def submit(db: Session, city: Jurisdiction, **fields) -> ServiceRequest:
    lat, long = INSIDE
    values = {"service_code": "POTHOLE", "lat": lat, "long": long} | fields
    return intake.submit(db, city, None, intake.Submission(**values))


@pytest.fixture
def statements(db: Session) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(" ".join(statement.split()))

    engine = db.get_bind().engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_routed_request_is_written_once_with_its_activity_in_one_insert(
    db: Session, city: Jurisdiction, statements: list[str]
):
    submit(db, city)  # the catalogue is loaded and kept
    db.flush()
    statements.clear()
    request = submit(db, city)
    db.flush()
    writes = [s.split(" (")[0] for s in statements if not s.startswith(("SELECT", "SAVEPOINT"))]
    assert writes == [
        "INSERT INTO service_request",
        "INSERT INTO request_district",
        "INSERT INTO work_order",
        "INSERT INTO activity",
    ]
    entries = db.scalars(
        select(Activity).where(Activity.service_request_pk == request.id).order_by(Activity.id)
    ).all()
    assert [e.kind for e in entries] == [
        ActivityKind.submitted,
        ActivityKind.routed,
        ActivityKind.work_order_created,
        ActivityKind.routed,
    ]
    assert entries[-1].details == {
        "status_notes": {"from": None, "to": "An inspector will come by."}
    }
    db.expire_all()
    stored = db.get(ServiceRequest, request.id)
    assert stored.status_notes == "An inspector will come by."
    assert stored.expected_datetime is not None
    assert stored.agency_responsible == "Street Services"
    assert [d.district.name for d in stored.districts] == ["1"]
    assert stored.work_orders[0].crew.code == "FIELD-1"


def test_a_kept_catalogue_costs_one_small_statement(
    db: Session, city: Jurisdiction, statements: list[str]
):
    submit(db, city)
    statements.clear()
    submit(db, city)
    reads = [s for s in statements if s.startswith("SELECT")]
    catalogue_reads = [s for s in reads if " FROM service " in s or "routing_rule." in s]
    assert catalogue_reads == []
    assert any("hashtextextended" in s for s in reads)


@pytest.mark.parametrize(
    "change",
    ["rename agency", "new rule agency", "step note", "sla", "holiday", "attribute value"],
)
def test_every_change_to_the_catalogue_is_seen_by_the_next_request(
    db: Session, city: Jurisdiction, change: str
):
    before = submit(db, city, attributes={"size": ["s"]})
    rule = db.scalar(select(RoutingRule))
    if change == "rename agency":
        rule.agency.name = "Streets Bureau"
    elif change == "new rule agency":
        other = make_agency(db, city, "SANITATION", name="Sanitation")
        make_crew(db, other, "TRIAGE", kind=CrewKind.triage)
        rule.agency = other
    elif change == "step note":
        db.execute(update(WorkflowStep).values(public_note="Fixed within a week."))
    elif change == "sla":
        rule.sla_days = 30
    elif change == "holiday":
        # Every day of the SLA window closed: the expected time moves later.
        db.add_all(
            CityHoliday(jurisdiction_id=city.id, day=date.fromordinal(d), name="closed")
            for d in range(
                before.requested_datetime.toordinal(), before.requested_datetime.toordinal() + 10
            )
        )
    elif change == "attribute value":
        db.execute(delete(AttributeValue).where(AttributeValue.key == "s"))
    db.flush()
    if change == "attribute value":
        with pytest.raises(InvalidInput, match="not among the allowed values"):
            submit(db, city, attributes={"size": ["s"]})
        return
    after = submit(db, city, attributes={"size": ["s"]})
    if change == "rename agency":
        assert after.agency_responsible == "Streets Bureau"
    elif change == "new rule agency":
        assert after.agency_responsible == "Sanitation"
        assert after.work_orders[0].crew.code == "TRIAGE"
    elif change == "step note":
        assert after.status_notes == "Fixed within a week."
    elif change in ("sla", "holiday"):
        assert after.expected_datetime > before.expected_datetime


def test_a_service_made_inactive_or_added_is_seen_at_once(db: Session, city: Jurisdiction):
    submit(db, city)
    db.execute(update(Service).where(Service.service_code == "POTHOLE").values(active=False))
    make_service(db, city, "GRAFFITI")
    db.flush()
    with pytest.raises(UnknownService):
        submit(db, city)
    assert submit(db, city, service_code="GRAFFITI").service.service_code == "GRAFFITI"


def test_the_fingerprint_moves_with_inserts_updates_and_deletes(db: Session, city: Jurisdiction):
    fingerprint = catalogue_queries.catalogue_fingerprint
    seen = [fingerprint(db)]
    holiday = CityHoliday(jurisdiction_id=city.id, day=date(2026, 12, 24), name="Eve")
    db.add(holiday)
    db.flush()
    seen.append(fingerprint(db))
    holiday.name = "Christmas Eve"
    db.flush()
    seen.append(fingerprint(db))
    assert len(set(seen)) == len(seen)
    assert fingerprint(db) == seen[-1]  # and stays when nothing changes
    db.delete(holiday)
    db.flush()
    # The rows are those of the start again, and so is the fingerprint: what was kept for
    # it then is the catalogue as it is now.
    assert fingerprint(db) == seen[0]


def test_sessions_get_their_own_copies(db: Session, city: Jurisdiction, session_factory):
    kept = catalogue_cache.current(db, city)
    mine = kept.service(db, "POTHOLE")
    with session_factory() as other:
        theirs = kept.service(other, "POTHOLE")
        assert theirs is not mine and theirs in other and mine in db
    mine.service_name = "changed here only"
    assert kept.services["POTHOLE"].service_name != "changed here only"


def test_places_check_the_service_area_and_find_the_districts(db: Session, city: Jurisdiction):
    lat, long = INSIDE
    assert district_queries.find_places_at(db, city, lat, long) == (
        district_queries.find_districts_at(db, city, lat, long)
    )
    db.execute(
        update(Jurisdiction)
        .where(Jurisdiction.id == city.id)
        .values(service_area="SRID=4326;MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0)))")
    )
    assert district_queries.find_places_at(db, city, lat, long) is None
    with pytest.raises(InvalidInput, match="outside the service area"):
        submit(db, city)
    assert district_queries.find_places_at(db, city, 0.5, 0.5) == []
