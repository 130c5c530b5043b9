"""The demo's recent synthetic requests (open311/demo/recent.py): a newcomer's first GET
requests, in the default 90-day window, finds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from open311 import clock
from open311.db.models import Jurisdiction, Service, ServiceRequest
from open311.demo import myla311, recent
from open311.demo.catalogue import load_catalogue
from open311.demo.seed import HISTORY_FILES, city_dir, seed_demo_city


def add(db: Session, now: datetime) -> list[str]:
    agencies = myla311.read_agencies(city_dir() / "agencies.csv")
    catalogue = load_catalogue(agencies)
    jurisdiction = db.scalar(
        select(Jurisdiction).where(Jurisdiction.jurisdiction_id == "lacity.org")
    )
    codes = {s.service_code: s.id for s in db.scalars(select(Service))}
    service_ids = {spec.request_type: codes[spec.service_code] for spec in catalogue.services}
    records = myla311.read_records(city_dir() / name for name in HISTORY_FILES)
    return recent.add_recent_requests(db, jurisdiction, records, service_ids, agencies, now=now)


def test_recent_synthetic_requests_fill_the_default_window_once(db, client):
    seed_demo_city(db, with_history=False)
    now = clock.now()

    (line,) = add(db, now)

    rows = db.scalars(
        select(ServiceRequest).where(ServiceRequest.service_request_id.like("RECENT-%"))
    ).all()
    assert len(rows) == recent.RECENT_COUNT, line
    assert all(now - timedelta(days=90) < r.requested_datetime <= now for r in rows)
    assert all(r.description.startswith("Synthetic demo request") for r in rows)
    assert all(r.updated_datetime <= now for r in rows)
    assert {r.status.value for r in rows} == {"open", "closed"}

    listed = client.get("/open311/v2/requests.json")  # no dates: the last 90 days
    assert listed.status_code == 200
    ids = [item["service_request_id"] for item in listed.get_json()]
    assert ids and all(i.startswith("RECENT-") for i in ids)
    assert "Synthetic demo request" in listed.get_data(as_text=True)

    # Seeding again while the window holds requests adds nothing.
    assert "none added" in add(db, now + timedelta(days=1))[0]
    # Once the window has emptied (three months on), a seed run fills it again.
    later = now + timedelta(days=120)
    assert "300 synthetic" in add(db, later)[0]
    assert db.scalar(
        select(ServiceRequest.requested_datetime)
        .order_by(ServiceRequest.requested_datetime.desc())
        .limit(1)
    ) > later.astimezone(UTC) - timedelta(days=recent.RECENT_DAYS + 1)
